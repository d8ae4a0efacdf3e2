// Runs with the Dart SDK: PYAGENT_LIBRARY=../../build/libpyagent.so.1 dart test
// (from bindings/dart, after `ninja -C build` at the repository root).
import 'dart:io';

import 'package:pyagent/pyagent.dart';
import 'package:test/test.dart';

final String dataDir = Platform.environment['PYAGENT_TEST_DATA'] ?? '../../tests/data';
final String modelPath = '$dataDir/stories260K.gguf';

/// run.c's generated ids for [prompt] in stories260K-greedy.txt.
List<int> referenceIds(String prompt) {
  final lines = File('$dataDir/stories260K-greedy.txt').readAsLinesSync();
  var state = 0;
  for (final line in lines) {
    if (state == 0 && line.startsWith('PROMPT: "$prompt"')) {
      state = 1;
    } else if (state == 1 && line.contains('--- llama2.c run.c')) {
      state = 2;
    } else if (state == 2 && line.startsWith('generated_ids')) {
      return line.split(':')[1].trim().split(' ').map(int.parse).toList();
    }
  }
  throw StateError('no reference for "$prompt"');
}

void main() {
  late Engine engine;

  setUp(() => engine = Engine.open(modelPath, params: {'n_threads': 1}));
  tearDown(() => engine.close());

  test('greedy output equals run.c', () async {
    final agent = engine.createAgent(sampler: {'temperature': 0});
    agent.feedText('Once upon a time');
    final text = await agent.generate(maxTokens: 64).join();
    expect(agent.lastTokens, referenceIds('Once upon a time'));
    expect(agent.lastFinishReason, FinishReason.length);
    expect(text, engine.detokenize(agent.lastTokens));
  });

  test('stop strings end the stream without their text', () async {
    final agent = engine.createAgent(sampler: {'temperature': 0});
    agent.feedText('Once upon a time');
    final text = await agent.complete(maxTokens: 64, stop: ['Lily']);
    expect(text, ', there was a little girl named ');
    expect(agent.lastFinishReason, FinishReason.stop);
  });

  test('errors carry the status and the message', () {
    expect(
        () => Engine.open('/nonexistent.gguf'),
        throwsA(isA<PyagentException>()
            .having((e) => e.status, 'status', PYAGENT_ERR_IO)
            .having((e) => e.message, 'message', contains('/nonexistent.gguf'))));
    expect(() => engine.createAgent(sampler: {'temperatur': 1}),
        throwsA(isA<PyagentException>().having((e) => e.status, 'status', PYAGENT_ERR_UNKNOWN_KEY)));
  });

  test('an ABI mismatch is refused with both numbers', () {
    expect(
        () => PyagentLibrary.open(
            path: PyagentLibrary.instance.path, abiVersion: PYAGENT_ABI_VERSION + 1),
        throwsA(isA<AbiMismatchException>()
            .having((e) => e.message, 'message', contains('ABI $PYAGENT_ABI_VERSION'))));
  });

  test('a busy agent refuses other calls until the stream is done', () async {
    final agent = engine.createAgent(sampler: {'temperature': 0});
    agent.feedText('Once upon a time');
    final stream = agent.generate(maxTokens: 16);
    expect(() => agent.feedText('more'),
        throwsA(isA<PyagentException>().having((e) => e.status, 'status', PYAGENT_ERR_BUSY)));
    await stream.drain<void>();
    agent.feedText(' and');
    agent.close();
  });
}
