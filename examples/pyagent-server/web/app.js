// pyagent-server dashboard: plain JavaScript over the server's own API (no build step).
// Libraries, served from node_modules: uPlot (charts), Cytoscape.js (graphs), Drawflow (the
// workflow editor). Every call carries the API key kept in localStorage ("pyagent.key").
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const c of children) node.append(c);
  return node;
};
const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits }) : "–";

// ---------------------------------------------------------------------------------------------
// API

let apiKey = localStorage.getItem("pyagent.key") || "";

let keyPrompt = null; // one dialog for every call that got a 401 meanwhile

function askKey() {
  keyPrompt ||= new Promise((resolve) => {
    const dialog = $("#key-dialog");
    $("#key-input").value = apiKey;
    dialog.onclose = () => {
      apiKey = $("#key-input").value.trim();
      localStorage.setItem("pyagent.key", apiKey);
      keyPrompt = null;
      resolve();
    };
    dialog.showModal();
  });
  return keyPrompt;
}

async function api(path, { method = "GET", body, signal } = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = { "Content-Type": "application/json" };
    if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
    const r = await fetch(path, {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status === 401 && attempt === 0) {
      await askKey();
      continue;
    }
    return r;
  }
}

async function apiJson(path, opts) {
  const r = await api(path, opts);
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new Error(data?.error?.message || `${r.status} ${r.statusText}`);
  return data;
}

// The data payloads of a Server-Sent Events response, as they arrive.
async function* sse(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of block.split("\n")) if (line.startsWith("data: ")) yield line.slice(6);
    }
  }
}

// Streams a completion: onText(piece) per token; resolves with the final usage and timings.
async function streamCompletion(path, body, onText, signal) {
  const r = await api(path, { method: "POST", body: { ...body, stream: true,
    stream_options: { include_usage: true } }, signal });
  if (!r.ok) {
    const data = await r.json().catch(() => null);
    throw new Error(data?.error?.message || `${r.status}`);
  }
  let usage = null;
  let timings = null;
  let finish = null;
  for await (const data of sse(r)) {
    if (data === "[DONE]") break;
    const chunk = JSON.parse(data);
    if (chunk.error) throw new Error(chunk.error.message);
    for (const choice of chunk.choices || []) {
      const piece = choice.delta ? choice.delta.content : choice.text;
      if (piece) onText(piece);
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
    if (chunk.timings) timings = chunk.timings;
  }
  return { usage, timings, finish };
}

// Calls draw() at most once per frame however many tokens arrive: at thousands of tokens per
// second, drawing each one would starve the page.
function perFrame(draw) {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      draw();
    });
  };
}

function usageLine({ usage, timings, finish }) {
  if (!usage) return "";
  const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
  let line = `${usage.prompt_tokens} prompt tokens (${cached} cached) · ${usage.completion_tokens} generated`;
  if (timings) {
    line += ` · ${fmt(timings.predicted_per_second)} tokens/s · first token ${fmt(timings.ttft_ms, 1)} ms`;
  }
  return finish ? `${line} · ${finish}` : line;
}

// ---------------------------------------------------------------------------------------------
// Panels: one strip, scroll-snapped; the tabs follow the panel in view

const panels = $("#panels");
const tabs = [...document.querySelectorAll("#tabs button")];
for (const tab of tabs) {
  tab.addEventListener("click", () => {
    $(`#panel-${tab.dataset.panel}`).scrollIntoView({ behavior: "smooth", inline: "start" });
  });
}
const panelObserver = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (e.isIntersecting && e.intersectionRatio > 0.6) {
      for (const t of tabs) t.classList.toggle("active", t.dataset.panel === e.target.dataset.panel);
      onPanelShown(e.target.dataset.panel);
    }
  }
}, { root: panels, threshold: [0.6] });
for (const p of document.querySelectorAll(".panel")) panelObserver.observe(p);

const shownOnce = new Set();
let activePanel = null;
function onPanelShown(name) {
  activePanel = name;
  if (name === "kv") {
    kvGraph.resize();
    kvTree.resize();
    loadKvTree();
  }
  if (name === "model") modelGraph?.resize();
  if (shownOnce.has(name)) return;
  shownOnce.add(name);
  if (name === "registry") loadRegistry();
  if (name === "model") loadModel();
}

// ---------------------------------------------------------------------------------------------
// Chat

const chat = { messages: [], controller: null };

function addBubble(role, text) {
  const bubble = el("div", { className: `msg ${role}`, textContent: text });
  $("#chat-log").append(bubble);
  bubble.scrollIntoView({ block: "end" });
  return bubble;
}

$("#chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#chat-input");
  const content = input.value.trim() || input.placeholder;
  input.value = "";
  chat.messages.push({ role: "user", content });
  addBubble("user", content);
  const bubble = addBubble("assistant streaming", "");
  let text = "";
  const draw = perFrame(() => {
    bubble.textContent = text;
    bubble.scrollIntoView({ block: "end" });
  });
  chat.controller = new AbortController();
  $("#chat-send").disabled = true;
  $("#chat-stop").disabled = false;
  try {
    const result = await streamCompletion("/v1/chat/completions", {
      messages: chat.messages,
      max_tokens: Number($("#chat-max").value) || 96,
      temperature: Number($("#chat-temp").value),
    }, (piece) => {
      text += piece;
      draw();
    }, chat.controller.signal);
    bubble.textContent = text;
    chat.messages.push({ role: "assistant", content: text });
    $("#chat-usage").textContent = usageLine(result);
  } catch (e) {
    if (e.name !== "AbortError") {
      bubble.classList.add("error");
      bubble.textContent = `${text}\n[${e.message}]`;
    } else {
      chat.messages.push({ role: "assistant", content: text });
    }
  } finally {
    bubble.classList.remove("streaming");
    $("#chat-send").disabled = false;
    $("#chat-stop").disabled = true;
  }
});
$("#chat-input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("#chat-form").requestSubmit();
  }
});
$("#chat-stop").addEventListener("click", () => chat.controller?.abort());
$("#chat-clear").addEventListener("click", () => {
  chat.messages = [];
  $("#chat-log").replaceChildren();
  $("#chat-usage").textContent = "";
});

// ---------------------------------------------------------------------------------------------
// Live feed: every request's tokens as they are generated (GET /v1/events)

const live = new Map(); // request id -> card
const recentTtft = []; // [time, ms] of finished requests, for the rolling chart

function liveCard(e) {
  const text = el("div", { className: "text" });
  const card = el("div", { className: "card" },
    el("header", {}, el("span", { textContent: `${e.agent}` }),
      el("span", { className: "badge", textContent: e.kind })),
    text);
  if (e.prompt) text.append(el("i", { textContent: e.prompt }));
  $("#live").prepend(card);
  while ($("#live").children.length > 24) $("#live").lastChild.remove();
  let pending = "";
  const draw = perFrame(() => {
    text.append(pending);
    pending = "";
    text.scrollTop = text.scrollHeight;
  });
  card.addText = (piece) => {
    pending += piece;
    draw();
  };
  return card;
}

async function followEvents() {
  for (;;) {
    try {
      const r = await api("/v1/events");
      if (!r.ok) throw new Error(`${r.status}`);
      for await (const data of sse(r)) {
        const e = JSON.parse(data);
        if (e.type === "start") {
          live.set(e.id, liveCard(e));
        } else if (e.type === "token") {
          live.get(e.id)?.addText(e.text);
        } else if (e.type === "end") {
          const card = live.get(e.id);
          live.delete(e.id);
          recentTtft.push([Date.now() / 1000, e.ttft_ms]);
          if (card) {
            card.classList.add("done");
            const badge = card.querySelector(".badge");
            badge.textContent = `${e.completion_tokens} tokens · ${e.finish}`;
            badge.classList.add("good");
          }
        } else if (e.type === "agent") {
          refreshSoon();
        }
      }
    } catch (e) {
      console.warn("event feed:", e.message);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics: polled every second; tiles, charts, tables, the agents' graph

const WINDOW = 180; // points kept in the charts (seconds)
const series = { t: [], tps: [], running: [], p50: [], p99: [], used: [], cached: [], free: [], hit: [],
  drafted: [], acceptance: [] };
let lastSpec = null; // the previous poll's speculative counters
const charts = {};

function makeChart(target, title, lines, scales) {
  const width = Math.max(280, target.clientWidth - 14);
  return new uPlot({
    title, width, height: 200, scales: scales || {},
    axes: [{}, { size: 60 }, ...[...new Set(lines.map((l) => l.scale).filter(Boolean))]
      .map((scale) => ({ scale, side: 1, grid: { show: false }, size: 50 }))],
    series: [{}, ...lines],
  }, [[]].concat(lines.map(() => [])), target);
}

function setupCharts() {
  charts.tps = makeChart($("#chart-tps"), "generated tokens/s (last 10 s) and requests running", [
    { label: "tokens/s", stroke: "#3358d4", width: 2 },
    { label: "running", stroke: "#e08a1e", scale: "count" },
  ], { count: { range: (u, min, max) => [0, Math.max(4, max)] } });
  charts.ttft = makeChart($("#chart-ttft"), "time to first token, ms (requests of the last 10 s)", [
    { label: "p50", stroke: "#1f8a4c", width: 2 },
    { label: "p99", stroke: "#c23b3b" },
  ]);
  charts.kv = makeChart($("#chart-kv"), "KV blocks; prefix-hit ratio (right)", [
    { label: "used", stroke: "#3358d4", width: 2 },
    { label: "cached", stroke: "#1f8a4c" },
    { label: "free", stroke: "#9aa3b5" },
    { label: "prefix hits", stroke: "#c23b3b", scale: "ratio" },
  ], { ratio: { range: [0, 1] } });
  charts.spec = makeChart($("#chart-spec"), "draft tokens verified per second; acceptance (right)", [
    { label: "drafted/s", stroke: "#3358d4", width: 2 },
    { label: "accepted / drafted", stroke: "#1f8a4c", scale: "ratio" },
  ], { ratio: { range: [0, 1] } });
  window.addEventListener("resize", () => {
    for (const [name, chart] of Object.entries(charts)) {
      chart.setSize({ width: Math.max(280, $(`#chart-${name}`).clientWidth - 14), height: 200 });
    }
  });
}

function quantile(values, q) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

function pushPoint(stats) {
  const now = stats.time;
  while (recentTtft.length && recentTtft[0][0] < now - 10) recentTtft.shift();
  const ttfts = recentTtft.map((x) => x[1]);
  const kv = stats.kv || {};
  const spec = stats.spec || { drafted: 0, accepted: 0 };
  const drafted = lastSpec ? spec.drafted - lastSpec.drafted : 0;
  const accepted = lastSpec ? spec.accepted - lastSpec.accepted : 0;
  lastSpec = spec;
  const values = {
    drafted, acceptance: drafted > 0 ? accepted / drafted : null,
    t: now, tps: stats.tokens_per_second, running: stats.processing,
    p50: quantile(ttfts, 0.5), p99: quantile(ttfts, 0.99),
    used: kv.used, cached: kv.cached, free: kv.free, hit: kv.prefix_hit_ratio,
  };
  for (const [k, v] of Object.entries(values)) {
    series[k].push(v);
    if (series[k].length > WINDOW) series[k].shift();
  }
  charts.tps.setData([series.t, series.tps, series.running]);
  charts.ttft.setData([series.t, series.p50, series.p99]);
  charts.kv.setData([series.t, series.used, series.cached, series.free, series.hit]);
  charts.spec.setData([series.t, series.drafted, series.acceptance]);
}

function fillTable(tbody, rows) {
  tbody.replaceChildren(...rows.map(([k, v]) =>
    el("tr", {}, el("th", { textContent: k }), el("td", { textContent: v }))));
}

let agentsKey = "";
function renderAgents(stats) {
  $("#tile-agents").textContent = stats.agents.length;
  const key = JSON.stringify(stats.agents);
  if (key === agentsKey) return;
  agentsKey = key;
  const rows = stats.agents.map((a) => {
    const actions = el("td");
    actions.append(
      el("button", { className: "quiet", textContent: "fork", onclick: () => forkAgent(a.id) }),
      " ",
      el("button", { className: "quiet", textContent: "delete", onclick: () => deleteAgent(a.id) }));
    return el("tr", {},
      ...[a.id, a.agent_id, a.session_id, a.parent, a.prompt_tokens, a.generated_tokens,
        a.cached_tokens, a.generating ? "generating" : "idle"]
        .map((v) => el("td", { textContent: v })),
      actions);
  });
  $("#agents-table tbody").replaceChildren(...rows);
  const select = $("#turn-agent");
  const chosen = select.value;
  select.replaceChildren(...stats.agents.map((a) =>
    el("option", { value: a.id, textContent: `${a.id}${a.agent_id ? ` (${a.agent_id})` : ""}` })));
  if (stats.agents.some((a) => a.id === chosen)) select.value = chosen;
  renderKvGraph(stats.agents);
}

async function refresh() {
  try {
    const stats = await apiJson("/v1/stats");
    $("#model-name").textContent = stats.model;
    $("#tile-tps").textContent = fmt(stats.tokens_per_second);
    $("#tile-running").textContent = stats.processing;
    if (stats.kv) {
      $("#tile-hit").textContent = `${fmt(100 * stats.kv.prefix_hit_ratio)}%`;
      $("#tile-kv").textContent = `${fmt(100 * stats.kv.used / Math.max(1, stats.kv.blocks))}%`;
      fillTable($("#kv-table tbody"), [
        ["blocks (used / cached / free)", `${stats.kv.used} / ${stats.kv.cached} / ${stats.kv.free} of ${stats.kv.blocks}`],
        ["block size", `${stats.kv.block_size} tokens, ${fmt(stats.kv.block_bytes / 1024, 1)} KiB`],
        ["prompt tokens from the prefix cache", `${fmt(stats.kv.prefix_hit_tokens)} (${fmt(100 * stats.kv.prefix_hit_ratio, 1)}%)`],
        ["prompt tokens computed", fmt(stats.kv.prompt_tokens_computed)],
        ["evictions", fmt(stats.kv.evictions)],
        ["copy-on-write copies", fmt(stats.kv.cow_copies)],
        ["peak bytes in use", `${fmt(stats.kv.peak_used_bytes / 1048576, 2)} MiB`],
      ]);
    }
    fillTable($("#counters tbody"), [
      ["tokens generated", fmt(stats.tokens.generated)],
      ["prompt tokens (cached)", `${fmt(stats.tokens.prompt)} (${fmt(stats.tokens.cached)})`],
      ["requests (chat / completions)", `${stats.requests.chat} / ${stats.requests.completions}`],
      ["time to first token p50 / p99 since start", `${fmt(stats.ttft.p50 * 1000, 1)} / ${fmt(stats.ttft.p99 * 1000, 1)} ms`],
      ["rejected (429) / disconnected / timed out", `${stats.rejected} / ${stats.disconnected} / ${stats.timed_out}`],
      ["speculative: drafted / accepted", `${fmt(stats.spec.drafted)} / ${fmt(stats.spec.accepted)} (${fmt(100 * stats.spec.accepted / Math.max(1, stats.spec.drafted), 1)}%)`],
      ["uptime", `${fmt(stats.uptime_s)} s`],
    ]);
    pushPoint(stats);
    renderAgents(stats);
    if (activePanel === "kv") loadKvTree();
  } catch (e) {
    console.warn("stats:", e.message);
  }
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 100);
}

// ---------------------------------------------------------------------------------------------
// Agents

$("#agent-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {};
  if ($("#agent-id").value) body.agent_id = $("#agent-id").value;
  if ($("#agent-session").value) body.session_id = $("#agent-session").value;
  if ($("#agent-prompt").value) body.prompt = $("#agent-prompt").value;
  try {
    await apiJson("/v1/agents", { method: "POST", body });
    $("#agent-prompt").value = "";
  } catch (e) {
    alert(e.message);
  }
  refreshSoon();
});

async function forkAgent(id) {
  try {
    await apiJson(`/v1/agents/${id}/fork`, { method: "POST", body: {} });
  } catch (e) {
    alert(e.message);
  }
  refreshSoon();
}

async function deleteAgent(id) {
  await api(`/v1/agents/${id}`, { method: "DELETE" });
  refreshSoon();
}

$("#turn-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const id = $("#turn-agent").value;
  if (!id) return;
  const out = $("#turn-output");
  out.textContent = "";
  try {
    let text = "";
    const draw = perFrame(() => { out.textContent = text; });
    const result = await streamCompletion(`/v1/agents/${id}/completions`, {
      prompt: $("#turn-prompt").value, max_tokens: 64,
    }, (piece) => { text += piece; draw(); });
    text += `\n\n[${usageLine(result)}]`; // a frame still to come draws the same
    out.textContent = text;
  } catch (e) {
    out.textContent += `\n[${e.message}]`;
  }
  refreshSoon();
});

// ---------------------------------------------------------------------------------------------
// KV: the agents and their fork parents, sized by their tokens

const kvGraph = cytoscape({
  container: $("#kv-graph"),
  style: [
    { selector: "node", style: {
      label: "data(label)", "font-size": 10, "text-valign": "bottom", "text-margin-y": 4,
      width: "data(size)", height: "data(size)", "background-color": "#3358d4",
      "border-width": "data(ring)", "border-color": "#1f8a4c" } },
    { selector: "node.generating", style: { "background-color": "#e08a1e" } },
    { selector: "node.pool", style: { "background-color": "#9aa3b5", shape: "round-rectangle" } },
    { selector: "edge", style: { width: 2, "line-color": "#c7cede", "target-arrow-shape": "triangle",
      "target-arrow-color": "#c7cede", "curve-style": "bezier" } },
  ],
  layout: { name: "breadthfirst" },
  userZoomingEnabled: true,
});

function renderKvGraph(agents) {
  const ids = new Set(agents.map((a) => a.id));
  const elements = [{ data: { id: "pool", label: "KV pool", size: 26, ring: 0 }, classes: "pool" }];
  for (const a of agents) {
    const tokens = a.prompt_tokens + a.generated_tokens;
    elements.push({
      data: { id: a.id, label: `${a.id}${a.agent_id ? ` ${a.agent_id}` : ""}\n${tokens} tokens`,
        size: 18 + Math.min(60, Math.sqrt(tokens) * 3), ring: Math.min(8, a.cached_tokens / 8) },
      classes: a.generating ? "generating" : "",
    });
    const parent = a.parent && ids.has(a.parent) ? a.parent : "pool";
    elements.push({ data: { id: `${parent}->${a.id}`, source: parent, target: a.id } });
  }
  kvGraph.elements().remove();
  kvGraph.add(elements);
  kvGraph.layout({ name: "breadthfirst", directed: true, roots: ["pool"], spacingFactor: 1.1 }).run();
}

// The radix index: blocks and the blocks that continue them

const kvTree = cytoscape({
  container: $("#kv-tree"),
  style: [
    { selector: "node", style: {
      label: "data(label)", "font-size": 9, "text-wrap": "wrap", "text-max-width": 120,
      "text-valign": "bottom", "text-margin-y": 3, width: "data(size)", height: "data(size)",
      "background-color": "#3358d4" } },
    { selector: "node.cached", style: { "background-color": "#9aa3b5" } },
    { selector: "node.root", style: { "background-color": "#1f8a4c", shape: "round-rectangle" } },
    { selector: "edge", style: { width: 1.5, "line-color": "#c7cede", "target-arrow-shape": "triangle",
      "target-arrow-color": "#c7cede", "curve-style": "bezier" } },
  ],
  layout: { name: "breadthfirst" },
  minZoom: 0.1,
  maxZoom: 3,
});

let kvTreeShape = "";
async function loadKvTree() {
  let tree;
  try {
    tree = await apiJson("/v1/kv/tree");
  } catch (e) {
    $("#kv-tree-facts").textContent = e.message;
    return;
  }
  const shape = tree.nodes.map((n) => `${n.id}:${n.refcount}`).join(",");
  $("#kv-tree-facts").textContent = `${tree.n_nodes} blocks of ${tree.block_size} tokens in the ` +
    `index${tree.truncated ? " (the first 400 drawn)" : ""}`;
  $("#kv-tree").dataset.nodes = tree.nodes.length;
  if (shape === kvTreeShape) return; // unchanged: keep the user's pan and zoom
  kvTreeShape = shape;
  // a radix tree draws a run of blocks without branches as one node ("n blocks: text…")
  const byId = new Map(tree.nodes.map((n) => [n.id, n]));
  const children = new Map([["root", []]]);
  for (const n of tree.nodes) {
    const parent = byId.has(n.parent) ? n.parent : "root";
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(n.id);
  }
  const elements = [{ data: { id: "root", label: "start of a sequence", size: 16 }, classes: "root" }];
  const addRun = (first, parent) => {
    const run = [byId.get(first)];
    for (let at = first; (children.get(at) || []).length === 1;) {
      at = children.get(at)[0];
      run.push(byId.get(at));
    }
    const last = run[run.length - 1].id;
    const text = run.map((n) => n.text).join("").replace(/\s+/g, " ").trim();
    const holders = Math.max(...run.map((n) => n.refcount));
    elements.push({
      data: { id: first, size: 10 + Math.min(30, 6 * holders),
        label: `${run.length > 1 ? `${run.length} blocks: ` : ""}` +
          `${text.length > 36 ? `${text.slice(0, 36)}…` : text}${holders ? ` (${holders})` : ""}` },
      classes: holders ? "" : "cached",
    });
    elements.push({ data: { id: `${parent}->${first}`, source: parent, target: first } });
    for (const child of children.get(last) || []) addRun(child, first);
  };
  for (const child of children.get("root")) addRun(child, "root");
  kvTree.elements().remove();
  kvTree.add(elements);
  kvTree.layout({ name: "breadthfirst", directed: true, roots: ["root"], spacingFactor: 1.2 }).run();
}

// ---------------------------------------------------------------------------------------------
// Model: the layers as a network

let modelGraph = null;
async function loadModel() {
  try {
    const m = await apiJson("/v1/model/layout");
    const types = [...new Set(m.tensors.map((t) => t.type))].join(", ");
    $("#model-facts").textContent = `${m.name || m.id} · ${m.architecture} · ${fmt(m.n_params)} parameters · ` +
      `${m.n_layer} layers · width ${m.n_embd} · ${m.n_head} heads (${m.n_head_kv} KV heads, ` +
      `${m.head_dim} each) · FFN ${m.n_ff} · vocabulary ${m.n_vocab} · context ${m.n_ctx} · ` +
      `chat template ${m.chat_template} · ${m.tensors.length} tensors (${types})`;
    const tensor = (name) => m.layer_tensors.find((t) => t.name === name);
    const shape = (name) => `${tensor(name).shape.join("×")} ${tensor(name).type}`;
    const at = (x, row) => ({ x, y: row * 70 });
    const elements = [
      { data: { id: "tokens", label: `tokens\n(vocab ${m.n_vocab})` }, classes: "io", position: at(0, 0) },
      { data: { id: "embd", label: `embedding\n${m.n_vocab}×${m.n_embd} ${m.tensors.find((t) => t.name === "token_embd.weight")?.type ?? ""}` }, position: at(0, 1) },
    ];
    let prev = "embd";
    elements.push({ data: { source: "tokens", target: "embd" } });
    for (let i = 0; i < m.n_layer; i++) {
      const attn = `attn${i}`;
      const ffn = `ffn${i}`;
      elements.push(
        { data: { id: attn, label: `layer ${i} attention\nq ${shape("attn_q")} k,v ${shape("attn_k")}\n${m.n_head} heads / ${m.n_head_kv} KV` }, classes: "attn", position: at(-90, i + 2) },
        { data: { id: ffn, label: `layer ${i} SwiGLU\n${shape("ffn_up")} ×2, ${shape("ffn_down")}` }, classes: "ffn", position: at(90, i + 2) },
        { data: { source: prev, target: attn } },
        { data: { source: attn, target: ffn } });
      prev = ffn;
    }
    elements.push(
      { data: { id: "out", label: `norm + output\n${m.n_embd}→${m.n_vocab}` }, position: at(0, m.n_layer + 2) },
      { data: { id: "logits", label: "logits" }, classes: "io", position: at(0, m.n_layer + 3) },
      { data: { source: prev, target: "out" } },
      { data: { source: "out", target: "logits" } });
    modelGraph = cytoscape({
      container: $("#model-graph"),
      elements,
      style: [
        { selector: "node", style: { label: "data(label)", "text-wrap": "wrap", "font-size": 9,
          "text-valign": "center", shape: "round-rectangle", width: 160, height: 50,
          "background-color": "#e8edfc", "border-width": 1, "border-color": "#3358d4" } },
        { selector: "node.attn", style: { "background-color": "#dcefe3", "border-color": "#1f8a4c" } },
        { selector: "node.ffn", style: { "background-color": "#fbeedd", "border-color": "#e08a1e" } },
        { selector: "node.io", style: { shape: "ellipse", width: 90 } },
        { selector: "edge", style: { width: 2, "line-color": "#c7cede", "target-arrow-shape": "triangle",
          "target-arrow-color": "#c7cede", "curve-style": "bezier" } },
      ],
      layout: { name: "preset", fit: true, padding: 20 },
      minZoom: 0.2,
      maxZoom: 2.5,
    });
  } catch (e) {
    $("#model-facts").textContent = e.message;
  }
}

// ---------------------------------------------------------------------------------------------
// Registry

function valueOf(entry, key) {
  return entry.pyagent?.values?.[key]?.value;
}

async function loadRegistry() {
  let reg;
  let due = [];
  try {
    reg = await apiJson("/v1/registry/models");
    due = (await apiJson("/v1/registry/due")).due;
  } catch (e) {
    $("#registry-status").textContent = e.message;
    return;
  }
  const names = Object.keys(reg.models).sort();
  $("#registry-status").textContent = `${names.length} models, ${due.length} due for a re-check`;
  const perMillion = (v) => (v === undefined ? "–" : fmt(v * 1e6, 3));
  const date = (t) => (t ? new Date(t * 1000).toISOString().slice(0, 10) : "never");
  $("#registry-table tbody").replaceChildren(...names.map((name) => {
    const m = reg.models[name];
    return el("tr", {}, ...[
      name, m.pyagent?.provider ?? m.litellm_provider, fmt(m.max_input_tokens),
      fmt(m.max_output_tokens), perMillion(m.input_cost_per_token),
      perMillion(m.output_cost_per_token), fmt(valueOf(m, "tokens_per_second")),
      date(m.pyagent?.checked?.capabilities), due.includes(name) ? "due" : "",
    ].map((v) => el("td", { textContent: v })));
  }));
}

$("#route-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    context_tokens: Number($("#route-context").value), output_tokens: Number($("#route-output").value),
    need_tools: $("#route-tools").checked, local_only: $("#route-local").checked,
  };
  try {
    const r = await apiJson("/v1/registry/route", { method: "POST", body });
    const lines = [r.model ? `→ ${r.model}` : "no model qualifies", r.reason];
    for (const x of r.rejected) lines.push(`  ${x.model}: ${x.reason}`);
    $("#route-output-text").textContent = lines.join("\n");
  } catch (e) {
    $("#route-output-text").textContent = e.message;
  }
});

// ---------------------------------------------------------------------------------------------
// Documents: one reader agent, forks that ask

const doc = { reader: null };

$("#doc-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (file) $("#doc-text").value = await file.text();
});

$("#doc-read").addEventListener("click", async () => {
  const text = $("#doc-text").value.trim();
  if (!text) return;
  if (doc.reader) await api(`/v1/agents/${doc.reader}`, { method: "DELETE" });
  $("#doc-status").textContent = "reading…";
  const t0 = performance.now();
  try {
    const a = await apiJson("/v1/agents", { method: "POST", body: {
      agent_id: "reader", session_id: "documents", prompt: `${text}\n`, temperature: 0.2 } });
    doc.reader = a.id;
    $("#doc-status").textContent = `${a.id} read ${a.stats.prompt_tokens} tokens in ` +
      `${fmt(performance.now() - t0)} ms`;
    $("#doc-ask").disabled = false;
  } catch (e) {
    $("#doc-status").textContent = e.message;
  }
  refreshSoon();
});

$("#doc-ask").addEventListener("click", async () => {
  const questions = $("#doc-questions").value.split("\n").map((q) => q.trim()).filter(Boolean);
  if (!doc.reader || !questions.length) return;
  $("#doc-answers").replaceChildren();
  // the forks one after another (a fork holds its parent for a moment: two at once would find
  // it busy), then every question at once
  const asks = [];
  for (const q of questions) {
    const card = el("div", { className: "card" }, el("header", {}, el("span", { textContent: q }),
      el("span", { className: "badge", textContent: "forking" })), el("div", { className: "text" }));
    $("#doc-answers").append(card);
    try {
      const fork = await apiJson(`/v1/agents/${doc.reader}/fork`, { method: "POST",
        body: { agent_id: "asker" } });
      card.querySelector(".badge").textContent = fork.id;
      asks.push({ q, card, fork });
    } catch (e) {
      card.querySelector(".text").textContent = `[${e.message}]`;
    }
  }
  await Promise.all(asks.map(async ({ q, card, fork }) => {
    const text = card.querySelector(".text");
    try {
      let answer = "";
      const draw = perFrame(() => { text.textContent = answer; });
      const result = await streamCompletion(`/v1/agents/${fork.id}/completions`,
        { prompt: `\nQuestion: ${q}\nAnswer:`, max_tokens: 48 },
        (piece) => { answer += piece; draw(); });
      text.textContent = answer;
      card.querySelector(".badge").textContent =
        `${fork.id}: computed ${result.usage.prompt_tokens} question tokens, shared the document`;
      card.querySelector(".badge").classList.add("good");
      await api(`/v1/agents/${fork.id}`, { method: "DELETE" });
    } catch (e) {
      text.textContent += `[${e.message}]`;
    }
  }));
  refreshSoon();
});

// ---------------------------------------------------------------------------------------------
// Workflow editor: nodes are agents with prompts. An edge passes the text of one node to the
// next ({input} in its prompt), or, for a node in "handoff" mode, the incoming agent itself: its
// KV goes through the latent link to the new agent, which continues it with its own prompt.

const editor = new Drawflow($("#drawflow"));
editor.reroute = true;
editor.start();

function nodeHtml() {
  return `<div class="wf-node">
    <input df-name placeholder="name">
    <select df-mode title="what the incoming edge passes">
      <option value="text">input: the text</option>
      <option value="handoff">input: the agent (latent handoff)</option>
    </select>
    <textarea df-prompt rows="3" placeholder="prompt; {input} = the text of the incoming edges"></textarea>
    <input df-max type="number" min="1" max="512" title="max tokens">
    <div class="wf-out"></div>
  </div>`;
}

function addAgentNode(name, prompt, x, y, mode = "text", max = 48) {
  return editor.addNode("agent", 1, 1, x, y, "agent", { name, prompt, mode, max }, nodeHtml());
}

function loadExample() {
  editor.clear();
  const a = addAgentNode("writer", "Once upon a time, there was a little dog named Max.", 30, 40);
  const b = addAgentNode("continuer", " The next day,", 330, 40, "handoff");
  const c = addAgentNode("ender", "{input} In the end,", 330, 280);
  editor.addConnection(a, b, "output_1", "input_1");
  editor.addConnection(a, c, "output_1", "input_1");
  saveLocal();
}

function saveLocal() {
  localStorage.setItem("pyagent.workflow", JSON.stringify(editor.export()));
}
editor.on("nodeCreated", saveLocal);
editor.on("nodeRemoved", saveLocal);
editor.on("connectionCreated", saveLocal);
editor.on("connectionRemoved", saveLocal);
editor.on("nodeDataChanged", saveLocal);

// POST that retries while the agent is busy (two nodes handing off from one agent at once).
async function postRetrying(path, body) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await apiJson(path, { method: "POST", body });
    } catch (e) {
      if (attempt > 20 || !/serving another request/.test(e.message)) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const workflowAgents = []; // agents of the last run, deleted by the next one

// Nodes in waves: a node runs when every node feeding it has finished; a wave runs at once.
// Every node is a persistent agent, so that a later node can take it over by handoff.
async function runWorkflow() {
  const nodes = editor.export().drawflow.Home.data;
  const ids = Object.keys(nodes);
  const inputsOf = (id) => (nodes[id].inputs.input_1?.connections || []).map((c) => String(c.node));
  const outputs = {};
  const agentOf = {};
  const log = $("#wf-log");
  log.textContent = "";
  $("#wf-status").textContent = "running…";
  await Promise.all(workflowAgents.splice(0).map((id) => api(`/v1/agents/${id}`, { method: "DELETE" })));
  for (const id of ids) {
    const box = $(`#node-${id} .wf-node`);
    box.classList.remove("running", "finished");
    box.querySelector(".wf-out").textContent = "";
  }
  const t0 = performance.now();
  const remaining = new Set(ids);
  while (remaining.size) {
    const wave = [...remaining].filter((id) => inputsOf(id).every((p) => p in outputs));
    if (!wave.length) {
      $("#wf-status").textContent = "the workflow has a cycle";
      return;
    }
    await Promise.all(wave.map(async (id) => {
      const node = nodes[id];
      const name = node.data.name || `node-${id}`;
      const box = $(`#node-${id} .wf-node`);
      const out = box.querySelector(".wf-out");
      const inputs = inputsOf(id);
      const handoff = node.data.mode === "handoff" && inputs.length > 0 && agentOf[inputs[0]];
      const input = inputs.map((p) => outputs[p]).join("\n");
      const template = node.data.prompt || (handoff ? "" : "{input}");
      const prompt = handoff ? template.replaceAll("{input}", "")
        : template.includes("{input}") ? template.replaceAll("{input}", input)
          : input ? `${template}\n${input}` : template;
      box.classList.add("running");
      let text = "";
      const draw = perFrame(() => { out.textContent = text; });
      try {
        const labels = { agent_id: name, session_id: "workflow" };
        const agent = handoff
          ? await postRetrying(`/v1/agents/${agentOf[inputs[0]]}/handoff`, labels)
          : await apiJson("/v1/agents", { method: "POST", body: { ...labels, temperature: 0.7 } });
        workflowAgents.push(agent.id);
        agentOf[id] = agent.id;
        const result = await streamCompletion(`/v1/agents/${agent.id}/completions`, {
          prompt, max_tokens: Number(node.data.max) || 48,
        }, (piece) => { text += piece; draw(); });
        out.textContent = text;
        const how = handoff ? `handoff of ${agent.handoff_tokens} tokens from ${agentOf[inputs[0]]}, ` : "";
        log.textContent += `${name} (${agent.id}, ${how}${usageLine(result)})\n`;
      } catch (e) {
        log.textContent += `${name}: ${e.message}\n`;
      }
      outputs[id] = `${prompt}${text}`;
      box.classList.remove("running");
      box.classList.add("finished");
    }));
    wave.forEach((id) => remaining.delete(id));
  }
  $("#wf-status").textContent = `done in ${fmt(performance.now() - t0)} ms`;
  refreshSoon();
}

$("#wf-add").addEventListener("click", () =>
  addAgentNode(`agent ${Object.keys(editor.export().drawflow.Home.data).length + 1}`, "{input}",
    60 + Math.random() * 200, 60 + Math.random() * 150));
$("#wf-example").addEventListener("click", loadExample);
$("#wf-run").addEventListener("click", runWorkflow);
$("#wf-clear").addEventListener("click", () => { editor.clear(); saveLocal(); });
$("#wf-save").addEventListener("click", () => {
  const blob = new Blob([JSON.stringify(editor.export(), null, 2)], { type: "application/json" });
  const link = el("a", { href: URL.createObjectURL(blob), download: "workflow.json" });
  link.click();
  URL.revokeObjectURL(link.href);
});
$("#wf-load").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    editor.import(JSON.parse(await file.text()));
    saveLocal();
  } catch (e) {
    $("#wf-status").textContent = `not a workflow: ${e.message}`;
  }
});

// ---------------------------------------------------------------------------------------------
// Start

$("#key-button").addEventListener("click", askKey);
setupCharts();
const saved = localStorage.getItem("pyagent.workflow");
try {
  if (saved) editor.import(JSON.parse(saved));
  else loadExample();
} catch {
  loadExample();
}
refresh();
setInterval(refresh, 1000);
followEvents();
