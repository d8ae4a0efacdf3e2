// pyagent-server through the official `openai` npm client, as an outside program would use it:
// chat and legacy completions, with and without streaming, models, and the errors the client
// turns into its exception classes. Exits non-zero on the first failed check.
//
// usage: node openai_client.mjs BASE_URL API_KEY      (BASE_URL like http://127.0.0.1:8080/)
import assert from "node:assert/strict";
import OpenAI from "openai";

const [base, apiKey] = process.argv.slice(2);
if (!base || !apiKey) {
  console.error("usage: node openai_client.mjs BASE_URL API_KEY");
  process.exit(2);
}
const baseURL = new URL("v1", base).href;
const client = new OpenAI({ apiKey, baseURL, maxRetries: 0, timeout: 60_000 });
const prompt = "Once upon a time";
const checks = [];

function check(name, fn) {
  checks.push([name, fn]);
}

async function metric(name) {
  const r = await fetch(new URL("metrics", base), { headers: { Authorization: `Bearer ${apiKey}` } });
  const line = (await r.text()).split("\n").find((l) => l.startsWith(name + " "));
  return Number(line.split(" ")[1]);
}

check("models.list and retrieve", async () => {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  assert.deepEqual(ids, ["stories260K"]);
  const one = await client.models.retrieve("stories260K");
  assert.equal(one.object, "model");
});

let chatText;
check("chat.completions.create", async () => {
  const r = await client.chat.completions.create({
    model: "stories260K",
    messages: [{ role: "user", content: prompt }],
    max_tokens: 32,
    temperature: 0,
  });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices[0].message.role, "assistant");
  chatText = r.choices[0].message.content;
  assert.ok(chatText.startsWith(", there was"), chatText);
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.usage.completion_tokens, 32);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 32);
  assert.equal(typeof r.usage.prompt_tokens_details.cached_tokens, "number");
});

check("chat.completions.create with stream", async () => {
  const stream = await client.chat.completions.create({
    model: "stories260K",
    messages: [{ role: "user", content: prompt }],
    max_tokens: 32,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, "chat.completion.chunk");
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? "";
      finish = choice.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(chunks > 10, `${chunks} chunks`);
  assert.equal(text, chatText);
  assert.equal(finish, "length");
  assert.equal(usage.completion_tokens, 32);
});

check("chat stream read through the client's helper", async () => {
  const runner = client.chat.completions.stream({
    model: "stories260K",
    messages: [{ role: "system", content: "Stories." }, { role: "user", content: prompt }],
    max_tokens: 16,
    temperature: 0,
  });
  const done = await runner.finalChatCompletion();
  assert.equal(done.choices[0].message.role, "assistant");
  assert.ok(done.choices[0].message.content.length > 0);
});

check("completions.create, plain and streamed", async () => {
  const r = await client.completions.create({
    model: "stories260K",
    prompt,
    max_tokens: 16,
    temperature: 0,
    stop: [" Lily"],
  });
  assert.equal(r.object, "text_completion");
  assert.equal(r.choices[0].finish_reason, "stop");
  assert.ok(!r.choices[0].text.includes(" Lily"), r.choices[0].text);
  const stream = await client.completions.create({
    model: "stories260K",
    prompt,
    max_tokens: 16,
    temperature: 0,
    stop: [" Lily"],
    stream: true,
  });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
  assert.equal(text, r.choices[0].text);
});

check("a repeated long prompt is served from the prefix cache", async () => {
  const long = `${prompt}, there was a little girl named Lily. She loved to play outside in the park.`;
  const body = { model: "stories260K", prompt: long, max_tokens: 4, temperature: 0 };
  await client.completions.create(body);
  const again = await client.completions.create(body);
  assert.ok(again.usage.prompt_tokens_details.cached_tokens >= 16, JSON.stringify(again.usage));
});

check("wrong key is AuthenticationError", async () => {
  const bad = new OpenAI({ apiKey: "wrong", baseURL, maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError, e.constructor.name);
    assert.equal(e.status, 401);
    assert.equal(e.code, "invalid_api_key");
    return true;
  });
});

check("bad values are BadRequestError naming the parameter", async () => {
  const cases = [
    [{ temperature: -1 }, "temperature"],
    [{ n: 2 }, "n"],
    [{ max_tokens: 0 }, "max_tokens"],
    [{ messages: [{ role: "wizard", content: "x" }] }, "messages[0]"],
  ];
  for (const [override, param] of cases) {
    const body = { model: "stories260K", messages: [{ role: "user", content: "x" }], ...override };
    await assert.rejects(client.chat.completions.create(body), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `${param}: ${e.constructor.name}`);
      assert.equal(e.status, 400);
      assert.equal(e.param, param);
      assert.equal(e.type, "invalid_request_error");
      return true;
    });
  }
  await assert.rejects(client.models.retrieve("gpt-4o"), (e) => e instanceof OpenAI.NotFoundError);
});

check("aborting a stream cancels the generation on the server", async () => {
  const before = await metric("pyagent_client_disconnects_total");
  const controller = new AbortController();
  const stream = await client.completions.create(
    { model: "stories260K", prompt, max_tokens: 4000, temperature: 0, stream: true },
    { signal: controller.signal },
  );
  let n = 0;
  try {
    for await (const chunk of stream) {
      void chunk;
      if (++n === 3) controller.abort(); // the client ends the iteration (or throws an abort)
    }
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === "AbortError", e.stack);
  }
  assert.ok(n >= 3 && n < 4000, `${n} chunks`); // buffered chunks may still come out
  for (let i = 0; i < 100; i++) {
    if ((await metric("pyagent_client_disconnects_total")) > before &&
        (await metric("pyagent_requests_processing")) === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail("the server did not notice the aborted stream");
});

let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n${e.stack}`);
  }
}
console.log(`${checks.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
