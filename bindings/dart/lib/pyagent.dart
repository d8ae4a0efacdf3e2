/// Dart bindings of libpyagent: embeddable multi-agent LLM inference.
///
/// ```dart
/// final engine = Engine.open('stories260K.gguf', params: {'n_threads': 2});
/// final agent = engine.createAgent(sampler: {'temperature': 0});
/// agent.feedText('Once upon a time');
/// await for (final piece in agent.generate(maxTokens: 32)) {
///   stdout.write(piece);
/// }
/// engine.close(); // closes its agents first
/// ```
///
/// The raw C functions, generated from the headers, are in [PyagentBindings]
/// (`PyagentLibrary.instance.bindings`).
library pyagent;

export 'src/engine.dart' show Agent, AgentStats, Engine, FinishReason;
export 'src/errors.dart' show PyagentException, AbiMismatchException;
export 'src/library.dart' show PyagentLibrary;
export 'src/pyagent_bindings.g.dart';
