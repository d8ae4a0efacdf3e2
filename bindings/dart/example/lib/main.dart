// A Flutter host for libpyagent: one engine, several agents; the main screen swipes between
// the agents (PageView) and each page is a chat with its agent.
//
//   flutter run -d linux --dart-define=PYAGENT_MODEL=/path/to/model.gguf
//
// with PYAGENT_LIBRARY pointing at libpyagent.so.1 (see bindings/dart/README.md).
import 'dart:async';

import 'package:flutter/material.dart';
import 'package:pyagent/pyagent.dart';

const String modelPath =
    String.fromEnvironment('PYAGENT_MODEL', defaultValue: 'stories260K.gguf');

void main() => runApp(const AgentsApp());

class AgentsApp extends StatelessWidget {
  const AgentsApp({super.key});

  @override
  Widget build(BuildContext context) {
    return MaterialApp(
      title: 'pyagent',
      theme: ThemeData(colorSchemeSeed: Colors.indigo, useMaterial3: true),
      home: const AgentsPage(),
    );
  }
}

/// One message of a chat; the agent's reply grows while it streams.
class Message {
  final bool fromUser;
  String text;

  Message(this.fromUser, this.text);
}

/// An agent and its conversation. Kept outside the widgets, so that swiping a page out of
/// view and back loses nothing, and a reply keeps streaming while its page is not shown.
class Chat {
  final String name;
  final Agent agent;
  final List<Message> messages = [];
  StreamSubscription<String>? reply;

  Chat(this.name, this.agent);

  bool get isReplying => reply != null;
}

class AgentsPage extends StatefulWidget {
  const AgentsPage({super.key});

  @override
  State<AgentsPage> createState() => _AgentsPageState();
}

class _AgentsPageState extends State<AgentsPage> {
  final PageController _pages = PageController();
  final List<Chat> _chats = [];
  Engine? _engine;
  Object? _error;
  int _page = 0;

  @override
  void initState() {
    super.initState();
    Engine.openInBackground(modelPath, params: {'n_threads': 2}).then((engine) {
      if (!mounted) {
        engine.close();
        return;
      }
      setState(() {
        _engine = engine;
        _addAgent();
        _addAgent();
      });
    }, onError: (Object e) => setState(() => _error = e));
  }

  @override
  void dispose() {
    for (final chat in _chats) {
      chat.reply?.cancel();
    }
    _engine?.close(); // closes the agents first
    _pages.dispose();
    super.dispose();
  }

  void _addAgent() {
    final n = _chats.length + 1;
    final agent = _engine!.createAgent(sampler: {'temperature': 0.8, 'top_k': 40, 'seed': n});
    _chats.add(Chat('Agent $n', agent));
  }

  void _addAndShowAgent() {
    setState(_addAgent);
    _pages.animateToPage(_chats.length - 1,
        duration: const Duration(milliseconds: 300), curve: Curves.easeOut);
  }

  @override
  Widget build(BuildContext context) {
    final Widget body;
    if (_error != null) {
      body = Center(child: Text('Cannot open $modelPath:\n$_error', textAlign: TextAlign.center));
    } else if (_engine == null) {
      body = const Center(child: CircularProgressIndicator());
    } else {
      body = Column(children: [
        Expanded(
          child: PageView.builder(
            controller: _pages,
            itemCount: _chats.length,
            onPageChanged: (i) => setState(() => _page = i),
            itemBuilder: (context, i) => ChatView(key: ObjectKey(_chats[i]), chat: _chats[i]),
          ),
        ),
        PageDots(count: _chats.length, current: _page),
      ]);
    }
    return Scaffold(
      appBar: AppBar(
        title: Text(_chats.isEmpty ? 'pyagent' : _chats[_page].name),
        actions: [
          IconButton(
            tooltip: 'New agent',
            icon: const Icon(Icons.add),
            onPressed: _engine == null ? null : _addAndShowAgent,
          ),
        ],
      ),
      body: body,
    );
  }
}

class PageDots extends StatelessWidget {
  final int count;
  final int current;

  const PageDots({super.key, required this.count, required this.current});

  @override
  Widget build(BuildContext context) {
    final color = Theme.of(context).colorScheme.primary;
    return Padding(
      padding: const EdgeInsets.only(bottom: 8),
      child: Row(
        mainAxisAlignment: MainAxisAlignment.center,
        children: [
          for (var i = 0; i < count; i++)
            Container(
              width: 8,
              height: 8,
              margin: const EdgeInsets.all(3),
              decoration: BoxDecoration(
                shape: BoxShape.circle,
                color: i == current ? color : color.withOpacity(0.25),
              ),
            ),
        ],
      ),
    );
  }
}

class ChatView extends StatefulWidget {
  final Chat chat;

  const ChatView({super.key, required this.chat});

  @override
  State<ChatView> createState() => _ChatViewState();
}

class _ChatViewState extends State<ChatView> with AutomaticKeepAliveClientMixin {
  final TextEditingController _input = TextEditingController();

  Chat get chat => widget.chat;

  @override
  bool get wantKeepAlive => true;

  @override
  void dispose() {
    _input.dispose();
    super.dispose();
  }

  void _refresh() {
    if (mounted) setState(() {});
  }

  void _send() {
    final text = _input.text.trim();
    if (text.isEmpty || chat.isReplying) return;
    _input.clear();
    final reply = Message(false, '');
    chat.messages
      ..add(Message(true, text))
      ..add(reply);
    try {
      chat.agent.feedText(chat.messages.length == 2 ? text : '\n$text');
    } on PyagentException catch (e) {
      reply.text = '[${e.message}]';
      _refresh();
      return;
    }
    chat.reply = chat.agent.generate(maxTokens: 128, stop: ['\n\n']).listen(
      (piece) {
        reply.text += piece;
        _refresh();
      },
      onError: (Object e) {
        reply.text += '\n[$e]';
        _refresh();
      },
      onDone: () {
        chat.reply = null;
        _refresh();
      },
    );
    _refresh();
  }

  void _stop() => chat.agent.cancel();

  @override
  Widget build(BuildContext context) {
    super.build(context);
    final scheme = Theme.of(context).colorScheme;
    return Column(children: [
      Expanded(
        child: ListView.builder(
          padding: const EdgeInsets.all(12),
          itemCount: chat.messages.length,
          itemBuilder: (context, i) {
            final m = chat.messages[i];
            return Align(
              alignment: m.fromUser ? Alignment.centerRight : Alignment.centerLeft,
              child: Container(
                margin: const EdgeInsets.symmetric(vertical: 4),
                padding: const EdgeInsets.all(10),
                constraints: const BoxConstraints(maxWidth: 480),
                decoration: BoxDecoration(
                  color: m.fromUser ? scheme.primaryContainer : scheme.surfaceVariant,
                  borderRadius: BorderRadius.circular(12),
                ),
                child: Text(m.text.isEmpty ? '…' : m.text),
              ),
            );
          },
        ),
      ),
      SafeArea(
        top: false,
        child: Padding(
          padding: const EdgeInsets.fromLTRB(12, 0, 4, 8),
          child: Row(children: [
            Expanded(
              child: TextField(
                controller: _input,
                decoration: InputDecoration(hintText: 'Message ${chat.name}'),
                onSubmitted: (_) => _send(),
              ),
            ),
            chat.isReplying
                ? IconButton(tooltip: 'Stop', icon: const Icon(Icons.stop), onPressed: _stop)
                : IconButton(tooltip: 'Send', icon: const Icon(Icons.send), onPressed: _send),
          ]),
        ),
      ),
    ]);
  }
}
