part of 'engine.dart';

/// Why a generation ended (PYAGENT_FINISH_*).
enum FinishReason {
  length(PYAGENT_FINISH_LENGTH),
  eos(PYAGENT_FINISH_EOS),
  stop(PYAGENT_FINISH_STOP),
  cancelled(PYAGENT_FINISH_CANCELLED),
  context(PYAGENT_FINISH_CONTEXT);

  const FinishReason(this.value);
  final int value;

  static FinishReason? fromValue(int value) {
    for (final reason in FinishReason.values) {
      if (reason.value == value) return reason;
    }
    return null;
  }
}

/// pyagent_agent_stats: counts and times since the agent was created or reset.
class AgentStats {
  final int nPromptTokens;
  final int nGeneratedTokens;
  final double prefillSeconds;
  final double decodeSeconds;

  const AgentStats(
      {required this.nPromptTokens,
      required this.nGeneratedTokens,
      required this.prefillSeconds,
      required this.decodeSeconds});

  @override
  String toString() => 'AgentStats(prompt $nPromptTokens tokens in ${prefillSeconds}s, '
      'generated $nGeneratedTokens tokens in ${decodeSeconds}s)';
}

/// One conversation on an [Engine] (`pyagent_agent`): feed text or tokens, then [generate].
///
/// An agent does one thing at a time: while a generation runs, other calls on it throw
/// [PyagentException] with PYAGENT_ERR_BUSY; [cancel] is the exception. A dropped agent is
/// destroyed by a [ffi.NativeFinalizer] calling pyagent_agent_destroy.
class Agent implements ffi.Finalizable {
  final Engine engine;
  final ffi.Pointer<pyagent_agent> _handle;
  Map<String, num> _sampler;
  List<String> _stops = const [];
  bool _generating = false;
  bool _closeRequested = false;
  bool _destroyed = false;

  /// Why the last generation ended, once its stream is done.
  FinishReason? lastFinishReason;

  /// The token ids of the last generation (EOS included), once its stream is done.
  List<int> lastTokens = const [];

  Agent._(this.engine, this._handle, this._sampler) {
    engine.library.agentFinalizer.attach(this, _handle.cast(), detach: this);
  }

  factory Agent._create(Engine engine, Map<String, num> sampler, List<String> stop) {
    final lib = engine.library;
    final b = lib.bindings;
    final params = lib.createParams(PYAGENT_PARAMS_SAMPLER, sampler);
    final out = calloc<ffi.Pointer<pyagent_agent>>();
    try {
      engine._check(b.pyagent_agent_create(engine.handle, params, out));
      final agent = Agent._(engine, out.value, Map.of(sampler));
      if (stop.isNotEmpty) agent.stops = stop;
      return agent;
    } finally {
      b.pyagent_params_destroy(params);
      calloc.free(out);
    }
  }

  PyagentBindings get _b => engine.library.bindings;

  /// The pyagent_agent pointer, for calls through [PyagentLibrary.bindings].
  ffi.Pointer<pyagent_agent> get handle {
    if (isClosed) {
      throw PyagentException(PYAGENT_ERR_INVALID_ARGUMENT, 'the agent is closed');
    }
    return _handle;
  }

  bool get isClosed => _destroyed || _closeRequested;
  bool get isGenerating => _generating;

  ffi.Pointer<pyagent_agent> _idleHandle() {
    final h = handle;
    if (_generating) {
      throw PyagentException(PYAGENT_ERR_BUSY, 'the agent is generating');
    }
    return h;
  }

  void _check(int status) {
    if (status != PYAGENT_OK) {
      throw PyagentException(
          status, _b.pyagent_agent_last_error(_handle).cast<Utf8>().toDartString());
    }
  }

  /// Frees the agent; a running generation is cancelled first and the agent freed when it
  /// has stopped.
  void close() {
    if (isClosed) return;
    if (_generating) {
      _closeRequested = true;
      _b.pyagent_agent_cancel(_handle);
      return;
    }
    _destroy();
  }

  void _destroy() {
    _destroyed = true;
    engine.library.agentFinalizer.detach(this);
    _b.pyagent_agent_destroy(_handle);
    engine._agentDestroyed(this);
  }

  // -- input ----------------------------------------------------------------------------------

  /// Queues [text]; on an empty agent the model's BOS comes first.
  void feedText(String text) {
    final h = _idleHandle();
    final bytes = utf8.encode(text);
    final data = calloc<ffi.Uint8>(bytes.length + 1);
    try {
      data.asTypedList(bytes.length).setAll(0, bytes);
      _check(_b.pyagent_agent_feed_text(h, data.cast(), bytes.length));
    } finally {
      calloc.free(data);
    }
  }

  /// Queues token ids as they are.
  void feedTokens(List<int> tokens) {
    final h = _idleHandle();
    final ids = calloc<ffi.Int32>(tokens.isEmpty ? 1 : tokens.length);
    try {
      ids.asTypedList(tokens.length).setAll(0, tokens);
      _check(_b.pyagent_agent_feed_tokens(h, ids, tokens.length));
    } finally {
      calloc.free(ids);
    }
  }

  /// Computes every queued token now (generate does this by itself).
  void prefill() => _check(_b.pyagent_agent_prefill(_idleHandle()));

  /// The n_vocab logits of the last computed position.
  Float32List logits() {
    final h = _idleHandle();
    final n = calloc<ffi.Size>();
    try {
      final status = _b.pyagent_agent_logits(h, ffi.nullptr, 0, n);
      if (status != PYAGENT_OK && status != PYAGENT_ERR_BUFFER_TOO_SMALL) _check(status);
      final values = calloc<ffi.Float>(n.value == 0 ? 1 : n.value);
      try {
        _check(_b.pyagent_agent_logits(h, values, n.value, n));
        return Float32List.fromList(values.asTypedList(n.value));
      } finally {
        calloc.free(values);
      }
    } finally {
      calloc.free(n);
    }
  }

  /// Every token of the sequence, computed and queued.
  List<int> get tokens {
    final h = _idleHandle();
    final n = calloc<ffi.Size>();
    try {
      final status = _b.pyagent_agent_tokens(h, ffi.nullptr, 0, n);
      if (status != PYAGENT_OK && status != PYAGENT_ERR_BUFFER_TOO_SMALL) _check(status);
      final ids = calloc<ffi.Int32>(n.value == 0 ? 1 : n.value);
      try {
        _check(_b.pyagent_agent_tokens(h, ids, n.value, n));
        return List<int>.of(ids.asTypedList(n.value));
      } finally {
        calloc.free(ids);
      }
    } finally {
      calloc.free(n);
    }
  }

  /// Forgets the sequence; sampler settings and stop strings stay.
  void reset() => _check(_b.pyagent_agent_reset(_idleHandle()));

  /// A new agent that continues from this one (the same tokens, sampler settings and stop
  /// strings), sharing every KV block copy-on-write, so nothing is computed again.
  Agent fork() {
    final h = _idleHandle();
    final out = calloc<ffi.Pointer<pyagent_agent>>();
    try {
      _check(_b.pyagent_agent_fork(h, out));
      final child = Agent._(engine, out.value, Map.of(_sampler)).._stops = List.of(_stops);
      engine._agents.add(child);
      return child;
    } finally {
      calloc.free(out);
    }
  }

  // -- settings -------------------------------------------------------------------------------

  Map<String, num> get sampler => Map.unmodifiable(_sampler);

  /// Replaces the sampler settings (defaults plus [values]); reseeds the agent's RNG.
  set sampler(Map<String, num> values) {
    _applySampler(_idleHandle(), values);
    _sampler = Map.of(values);
  }

  void _applySampler(ffi.Pointer<pyagent_agent> h, Map<String, num> values) {
    final params = engine.library.createParams(PYAGENT_PARAMS_SAMPLER, values);
    try {
      _check(_b.pyagent_agent_set_sampler(h, params));
    } finally {
      _b.pyagent_params_destroy(params);
    }
  }

  List<String> get stops => List.unmodifiable(_stops);

  set stops(List<String> stops) {
    _applyStops(_idleHandle(), stops);
    _stops = List.of(stops);
  }

  void _applyStops(ffi.Pointer<pyagent_agent> h, List<String> stops) {
    _check(_b.pyagent_agent_clear_stops(h));
    for (final stop in stops) {
      final s = stop.toNativeUtf8(allocator: calloc);
      try {
        _check(_b.pyagent_agent_add_stop(h, s.cast(), -1));
      } finally {
        calloc.free(s);
      }
    }
  }

  AgentStats stats() {
    final h = _idleHandle();
    final s = calloc<pyagent_agent_stats>();
    try {
      s.ref.struct_size = ffi.sizeOf<pyagent_agent_stats>();
      _check(_b.pyagent_agent_stats_get(h, s));
      return AgentStats(
          nPromptTokens: s.ref.n_prompt_tokens,
          nGeneratedTokens: s.ref.n_generated_tokens,
          prefillSeconds: s.ref.prefill_seconds,
          decodeSeconds: s.ref.decode_seconds);
    } finally {
      calloc.free(s);
    }
  }

  // -- generation -----------------------------------------------------------------------------

  /// Makes a running generation stop after its next token. Any isolate, any time.
  void cancel() {
    if (!_destroyed) _b.pyagent_agent_cancel(_handle);
  }

  /// The text pieces of up to [maxTokens] new tokens (-1: until EOS, a stop string,
  /// [cancel] or n_ctx), as the library releases them (never part of a stop string, never
  /// half a UTF-8 character). [stop] and [sampler] apply to this generation only.
  ///
  /// The C call runs on a helper isolate, whose token callback is a
  /// `NativeCallable.isolateLocal`: the library calls it synchronously on the generating
  /// thread, so the text, valid only during the call, is copied before it returns, and sent
  /// to this isolate. Cancelling the subscription cancels the generation. When the stream is
  /// done, [lastFinishReason] and [lastTokens] tell how it ended; a failure arrives as a
  /// [PyagentException] error event.
  Stream<String> generate(
      {int maxTokens = -1, List<String>? stop, Map<String, num>? sampler}) {
    final h = _idleHandle();
    if (stop != null) _applyStops(h, stop);
    if (sampler != null) _applySampler(h, {..._sampler, ...sampler});
    _generating = true;
    lastFinishReason = null;
    lastTokens = const [];

    final port = ReceivePort();
    final controller = StreamController<String>(onCancel: cancel);
    var finished = false;

    void finish(int status, int finishReason, String message, List<int> tokens) {
      if (finished) return;
      finished = true;
      port.close();
      _generating = false;
      lastTokens = tokens;
      try {
        if (stop != null) _applyStops(_handle, _stops);
        if (sampler != null) _applySampler(_handle, _sampler);
      } on PyagentException catch (e) {
        controller.addError(e);
      }
      if (status == PYAGENT_OK) {
        lastFinishReason = FinishReason.fromValue(finishReason);
      } else {
        controller.addError(PyagentException(status, message));
      }
      controller.close();
      if (_closeRequested) _destroy();
    }

    port.listen((Object? message) {
      if (message is Uint8List) {
        controller.add(utf8.decode(message, allowMalformed: true));
      } else if (message is _GenerateDone) {
        finish(message.status, message.finishReason, message.message, message.tokens);
      } else if (message is List) {
        // An uncaught error of the helper isolate: [error, stack trace].
        finish(PYAGENT_ERR_INTERNAL, 0, 'generation isolate failed: ${message.first}', const []);
      }
    });
    Isolate.spawn(_generateOnHelperIsolate,
            _GenerateRequest(port.sendPort, engine.library.path, h.address, maxTokens),
            onError: port.sendPort, debugName: 'pyagent-generate')
        .catchError((Object e) {
      finish(PYAGENT_ERR_INTERNAL, 0, 'cannot start the generation isolate: $e', const []);
      return Isolate.current;
    });
    return controller.stream;
  }

  /// Generates and returns the whole text (see [generate]).
  Future<String> complete(
          {int maxTokens = -1, List<String>? stop, Map<String, num>? sampler}) =>
      generate(maxTokens: maxTokens, stop: stop, sampler: sampler).join();
}

class _GenerateRequest {
  final SendPort port;
  final String? libraryPath;
  final int agentAddress;
  final int maxTokens;

  _GenerateRequest(this.port, this.libraryPath, this.agentAddress, this.maxTokens);
}

class _GenerateDone {
  final int status;
  final int finishReason;
  final String message;
  final List<int> tokens;

  _GenerateDone(this.status, this.finishReason, this.message, this.tokens);
}

/// Runs pyagent_agent_generate on this (helper) isolate and sends each released text piece
/// (as bytes), then a [_GenerateDone], to the agent's isolate.
void _generateOnHelperIsolate(_GenerateRequest request) {
  final b = PyagentLibrary.open(path: request.libraryPath).bindings;
  final agent = ffi.Pointer<pyagent_agent>.fromAddress(request.agentAddress);
  final tokens = <int>[];
  final onToken = ffi.NativeCallable<pyagent_token_fnFunction>.isolateLocal(
      (ffi.Pointer<ffi.Void> userData, int token, ffi.Pointer<ffi.Char> text, int textLen) {
    tokens.add(token);
    if (textLen > 0) {
      request.port.send(Uint8List.fromList(text.cast<ffi.Uint8>().asTypedList(textLen)));
    }
  });
  final finishReason = calloc<ffi.Int32>();
  try {
    final status = b.pyagent_agent_generate(
        agent, request.maxTokens, onToken.nativeFunction, ffi.nullptr, finishReason);
    final message = status == PYAGENT_OK
        ? ''
        : b.pyagent_agent_last_error(agent).cast<Utf8>().toDartString();
    request.port.send(_GenerateDone(status, finishReason.value, message, tokens));
  } finally {
    calloc.free(finishReason);
    onToken.close();
  }
}
