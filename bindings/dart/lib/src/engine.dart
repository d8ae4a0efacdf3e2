import 'dart:convert';
import 'dart:ffi' as ffi;
import 'dart:async';
import 'dart:isolate';
import 'dart:typed_data';

import 'package:ffi/ffi.dart';

import 'errors.dart';
import 'library.dart';
import 'pyagent_bindings.g.dart';

part 'agent.dart';

/// One loaded model, its tokenizer and worker threads (`pyagent_engine`).
///
/// An engine is thread-safe: agents of one engine may generate on several isolates at once.
///
/// Close it with [close], which closes its agents first. An engine dropped without [close] is
/// destroyed by a [ffi.NativeFinalizer] calling pyagent_engine_destroy; finalizers run in no
/// particular order, which the C library allows: an engine destroyed before its agents lives
/// on until the last of them is destroyed (and an [Agent] holds its engine anyway).
class Engine implements ffi.Finalizable {
  final PyagentLibrary library;
  final String modelPath;
  final ffi.Pointer<pyagent_engine> _handle;
  final Set<Agent> _agents = {};
  bool _closed = false;
  bool _closeWhenIdle = false;

  Engine._(this.library, this._handle, this.modelPath) {
    library.engineFinalizer.attach(this, _handle.cast(), detach: this);
  }

  void _destroy() {
    _closed = true;
    library.engineFinalizer.detach(this);
    library.bindings.pyagent_engine_destroy(_handle);
  }

  /// Opens the GGUF model at [modelPath] with engine [params] (n_threads, n_ctx, n_batch,
  /// seed, log_level; see pyagent.h). Throws [PyagentException] with the library's message,
  /// e.g. status PYAGENT_ERR_IO and "model.gguf: cannot open: No such file or directory".
  factory Engine.open(String modelPath,
      {Map<String, num> params = const {}, PyagentLibrary? library}) {
    final lib = library ?? PyagentLibrary.instance;
    final b = lib.bindings;
    final nativeParams = lib.createParams(PYAGENT_PARAMS_ENGINE, params);
    final path = modelPath.toNativeUtf8(allocator: calloc);
    final out = calloc<ffi.Pointer<pyagent_engine>>();
    try {
      final status = b.pyagent_engine_open(path.cast(), nativeParams, out);
      final handle = out.value;
      if (status != PYAGENT_OK) {
        final message = b.pyagent_engine_last_error(handle).cast<Utf8>().toDartString();
        b.pyagent_engine_destroy(handle);
        throw PyagentException(status, message);
      }
      return Engine._(lib, handle, modelPath);
    } finally {
      b.pyagent_params_destroy(nativeParams);
      calloc.free(path);
      calloc.free(out);
    }
  }

  /// [Engine.open] on a helper isolate, so that a UI isolate does not wait for the model.
  static Future<Engine> openInBackground(String modelPath,
      {Map<String, num> params = const {}, PyagentLibrary? library}) async {
    final lib = library ?? PyagentLibrary.instance;
    final libraryPath = lib.path;
    final address = await Isolate.run(() => Engine.open(modelPath,
            params: params, library: PyagentLibrary.open(path: libraryPath))
        ._handle
        .address);
    return Engine._(lib, ffi.Pointer<pyagent_engine>.fromAddress(address), modelPath);
  }

  /// The pyagent_engine pointer, for calls through [PyagentLibrary.bindings].
  ffi.Pointer<pyagent_engine> get handle {
    if (_closed) {
      throw PyagentException(PYAGENT_ERR_INVALID_ARGUMENT, 'the engine is closed');
    }
    return _handle;
  }

  bool get isClosed => _closed;

  /// Closes every agent of this engine (cancelling generations), then the engine.
  void close() {
    if (_closed) return;
    for (final agent in _agents.toList()) {
      agent.close();
    }
    if (_agents.isEmpty) {
      _destroy();
    } else {
      _closeWhenIdle = true; // generations are still stopping; the last one closes the engine
    }
  }

  void _agentDestroyed(Agent agent) {
    _agents.remove(agent);
    if (_closeWhenIdle && _agents.isEmpty && !_closed) _destroy();
  }

  void _check(int status) {
    if (status != PYAGENT_OK) {
      throw PyagentException(
          status, library.bindings.pyagent_engine_last_error(_handle).cast<Utf8>().toDartString());
    }
  }

  /// A new agent with [sampler] params (temperature, top_k, top_p, min_p, repeat_penalty,
  /// seed, ...) and [stop] strings.
  Agent createAgent({Map<String, num> sampler = const {}, List<String> stop = const []}) {
    final agent = Agent._create(this, sampler, stop);
    _agents.add(agent);
    return agent;
  }

  /// pyagent_engine_info: n_vocab, n_ctx, n_ctx_train, n_embd, n_layer, n_head, n_head_kv,
  /// n_ff, n_batch, n_threads, token_bos, token_eos, n_params.
  int info(String key) {
    final k = key.toNativeUtf8(allocator: calloc);
    final value = calloc<ffi.Int64>();
    try {
      _check(library.bindings.pyagent_engine_info(handle, k.cast(), value));
      return value.value;
    } finally {
      calloc.free(k);
      calloc.free(value);
    }
  }

  int get nVocab => info('n_vocab');
  int get nCtx => info('n_ctx');

  /// The token ids of [text].
  List<int> tokenize(String text, {bool addSpecial = false, bool parseSpecial = false}) {
    final bytes = utf8.encode(text);
    final flags = (addSpecial ? PYAGENT_TOKENIZE_ADD_SPECIAL : 0) |
        (parseSpecial ? PYAGENT_TOKENIZE_PARSE_SPECIAL : 0);
    final data = calloc<ffi.Uint8>(bytes.length + 1);
    final needed = calloc<ffi.Size>();
    var capacity = bytes.length + 8;
    var tokens = calloc<ffi.Int32>(capacity);
    try {
      data.asTypedList(bytes.length).setAll(0, bytes);
      var status = library.bindings.pyagent_engine_tokenize(
          handle, data.cast(), bytes.length, flags, tokens, capacity, needed);
      if (status == PYAGENT_ERR_BUFFER_TOO_SMALL) {
        calloc.free(tokens);
        capacity = needed.value;
        tokens = calloc<ffi.Int32>(capacity);
        status = library.bindings.pyagent_engine_tokenize(
            handle, data.cast(), bytes.length, flags, tokens, capacity, needed);
      }
      _check(status);
      return List<int>.of(tokens.asTypedList(needed.value));
    } finally {
      calloc.free(data);
      calloc.free(needed);
      calloc.free(tokens);
    }
  }

  /// The text of [tokens]; bytes that are not valid UTF-8 become U+FFFD.
  String detokenize(List<int> tokens, {bool special = false, bool stripLeadingSpace = false}) {
    final flags = (special ? PYAGENT_DETOKENIZE_SPECIAL : 0) |
        (stripLeadingSpace ? PYAGENT_DETOKENIZE_STRIP_LEADING_SPACE : 0);
    final ids = calloc<ffi.Int32>(tokens.isEmpty ? 1 : tokens.length);
    final needed = calloc<ffi.Size>();
    var capacity = 16 * tokens.length + 16;
    var text = calloc<ffi.Uint8>(capacity);
    try {
      ids.asTypedList(tokens.length).setAll(0, tokens);
      var status = library.bindings.pyagent_engine_detokenize(
          handle, ids, tokens.length, flags, text.cast(), capacity, needed);
      if (status == PYAGENT_ERR_BUFFER_TOO_SMALL) {
        calloc.free(text);
        capacity = needed.value;
        text = calloc<ffi.Uint8>(capacity);
        status = library.bindings.pyagent_engine_detokenize(
            handle, ids, tokens.length, flags, text.cast(), capacity, needed);
      }
      _check(status);
      return utf8.decode(Uint8List.fromList(text.asTypedList(needed.value)),
          allowMalformed: true);
    } finally {
      calloc.free(ids);
      calloc.free(needed);
      calloc.free(text);
    }
  }
}
