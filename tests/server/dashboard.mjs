// The dashboard in a real browser: playwright-core driving Debian's Chromium (headless, no
// sandbox, no background networking). Opens the dashboard, starts a chat and sees its tokens
// stream in, creates an agent and forks it, builds and runs a workflow (an edge that passes text,
// one that hands the agent over through the latent link), has a document
// read once and asked two questions by forks, checks the charts, the KV, registry and model
// panels, takes screenshots (desktop and phone), and fails on any error in the page.
//
// usage: node dashboard.mjs BASE_URL API_KEY OUT_DIR
import assert from "node:assert/strict";
import path from "node:path";
import { chromium } from "playwright-core";

const [base, apiKey, outDir] = process.argv.slice(2);
if (!base || !apiKey || !outDir) {
  console.error("usage: node dashboard.mjs BASE_URL API_KEY OUT_DIR");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"],
});
const problems = [];
let step = "start";

async function run(viewport, name, fn) {
  const context = await browser.newContext({ viewport });
  await context.addInitScript((key) => localStorage.setItem("pyagent.key", key), apiKey);
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`${name}: console error: ${m.text()}`);
  });
  page.on("requestfailed", (r) => {
    // streams the page itself aborts on navigation are not failures
    if (!r.url().endsWith("/v1/events")) problems.push(`${name}: ${r.url()}: ${r.failure()?.errorText}`);
  });
  try {
    await page.goto(base);
    await page.waitForFunction(() => document.querySelector("#model-name").textContent === "stories260K");
    await fn(page);
  } finally {
    await context.close();
  }
}

async function show(page, panel) {
  await page.click(`#tabs button[data-panel="${panel}"]`);
  await page.waitForFunction((p) => {
    const r = document.querySelector(`#panel-${p}`).getBoundingClientRect();
    return Math.abs(r.left) < 2;
  }, panel);
}

try {
  await run({ width: 1280, height: 860 }, "desktop", async (page) => {
    step = "chat";
    await page.fill("#chat-input", "Once upon a time");
    await page.fill("#chat-max", "3000");
    // the lengths the answer is drawn with while it is still streaming
    await page.evaluate(() => {
      window.streamedLengths = [];
      new MutationObserver(() => {
        const b = [...document.querySelectorAll(".msg.assistant")].pop();
        if (b && b.classList.contains("streaming") && b.textContent.length > 0)
          window.streamedLengths.push(b.textContent.length);
      }).observe(document.querySelector("#chat-log"), { subtree: true, childList: true, characterData: true });
    });
    await page.click("#chat-send");
    const bubble = page.locator(".msg.assistant").last();
    await page.waitForFunction(() => {
      const b = [...document.querySelectorAll(".msg.assistant")].pop();
      return b && !b.classList.contains("streaming") && b.textContent.length > 0;
    }, null, { timeout: 60_000 });
    const lengths = await page.evaluate(() => window.streamedLengths);
    const answerLength = (await bubble.textContent()).length;
    assert.ok(lengths.some((n) => n < answerLength),
      `the answer was never seen in part while it streamed (${lengths.length} draws)`);
    const answer = await bubble.textContent();
    assert.ok(answer.length > 20, `answer: ${answer}`);
    assert.match(await page.textContent("#chat-usage"), /prompt tokens .* generated/);
    await page.screenshot({ path: path.join(outDir, "dashboard-chat.png") });

    step = "live feed and agents";
    await show(page, "agents");
    await page.waitForSelector("#live .card.done");
    await page.fill("#agent-id", "planner");
    await page.fill("#agent-prompt", "Once upon a time, there was a little girl named Lily.");
    await page.click("#agent-form button[type=submit]");
    await page.waitForSelector("#agents-table tbody tr");
    await page.locator("#agents-table tbody tr button", { hasText: "fork" }).first().click();
    await page.waitForFunction(() => document.querySelectorAll("#agents-table tbody tr").length === 2);
    await page.fill("#turn-prompt", " She");
    await page.click("#turn-form button[type=submit]");
    step = "a turn on the agent";
    await page.waitForFunction(() => document.querySelector("#turn-output").textContent.includes("prompt tokens"));
    await page.screenshot({ path: path.join(outDir, "dashboard-agents.png") });

    step = "workflow";
    await show(page, "workflow");
    await page.click("#wf-clear");
    await page.evaluate(() => {
      // three nodes and two edges, as a user would wire them: one passes text, one the agent
      const first = editor.addNode("agent", 1, 1, 40, 40, "agent",
        { name: "writer", prompt: "Once upon a time, there was a cat.", mode: "text", max: 24 },
        nodeHtml());
      const second = editor.addNode("agent", 1, 1, 360, 40, "agent",
        { name: "reader", prompt: "{input} Then", mode: "text", max: 24 }, nodeHtml());
      const third = editor.addNode("agent", 1, 1, 360, 300, "agent",
        { name: "continuer", prompt: " The next day,", mode: "handoff", max: 24 }, nodeHtml());
      editor.addConnection(first, second, "output_1", "input_1");
      editor.addConnection(first, third, "output_1", "input_1");
    });
    assert.equal(await page.locator(".drawflow-node").count(), 3);
    assert.equal(await page.locator(".drawflow .connection").count(), 2);
    await page.click("#wf-run");
    await page.waitForFunction(() => /done in/.test(document.querySelector("#wf-status").textContent),
      null, { timeout: 60_000 });
    const outs = await page.locator(".wf-out").allTextContents();
    assert.equal(outs.length, 3);
    assert.ok(outs.every((t) => t.length > 0), JSON.stringify(outs));
    const log = await page.textContent("#wf-log");
    assert.match(log, /writer \(agent-\d+, .*generated/);
    assert.match(log, /reader \(agent-\d+, .*generated/);
    assert.match(log, /continuer \(agent-\d+, handoff of \d+ tokens from agent-\d+, .*generated/);
    await page.screenshot({ path: path.join(outDir, "dashboard-workflow.png") });

    step = "documents";
    await show(page, "docs");
    await page.fill("#doc-text", "Once upon a time, there was a little girl named Lily. She had a red " +
      "ball and a small dog named Max. Every day, Lily and Max played in the park near the big tree.");
    await page.click("#doc-read");
    await page.waitForFunction(() => /read \d+ tokens/.test(document.querySelector("#doc-status").textContent));
    await page.fill("#doc-questions", "Who is Max?\nWhere did they play?");
    await page.click("#doc-ask");
    await page.waitForFunction(() => document.querySelectorAll("#doc-answers .badge.good").length === 2,
      null, { timeout: 30_000 });
    const badges = await page.locator("#doc-answers .badge").allTextContents();
    assert.ok(badges.every((b) => /computed \d+ question tokens/.test(b)), badges.join(" | "));
    await page.screenshot({ path: path.join(outDir, "dashboard-documents.png") });

    step = "metrics";
    await show(page, "metrics");
    await page.waitForTimeout(1500);
    assert.equal(await page.locator("#panel-metrics canvas").count() >= 4, true);
    await page.screenshot({ path: path.join(outDir, "dashboard-metrics.png") });

    step = "kv, model, registry";
    await show(page, "kv");
    await page.waitForFunction(() => document.querySelector("#kv-table tbody").children.length > 3);
    // the radix tree: the document the agents read is in it, block after block
    await page.waitForFunction(() => /blocks of \d+ tokens/.test(document.querySelector("#kv-tree-facts").textContent));
    assert.ok(Number(await page.locator("#kv-tree").getAttribute("data-nodes")) > 0,
              await page.locator("#kv-tree-facts").textContent());
    await page.locator("#kv-tree").scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
    await page.locator("#kv-tree").screenshot({ path: path.join(outDir, "dashboard-kv-tree.png") });
    await show(page, "model");
    await page.waitForFunction(() => /parameters/.test(document.querySelector("#model-facts").textContent));
    assert.match(await page.locator("#model-facts").textContent(), /tensors \(f32\)/);
    await page.screenshot({ path: path.join(outDir, "dashboard-model.png") });
    await show(page, "registry");
    await page.waitForFunction(() => document.querySelector("#registry-status").textContent.length > 0);
  });

  step = "phone";
  await run({ width: 390, height: 800 }, "phone", async (page) => {
    // panels are swiped: scrolling the strip by one screen shows the next panel
    await page.evaluate(() => document.querySelector("#panels").scrollBy({ left: 390, behavior: "instant" }));
    await page.waitForFunction(() =>
      document.querySelector("#tabs button.active").dataset.panel === "agents");
    await page.screenshot({ path: path.join(outDir, "dashboard-phone.png") });
  });
} catch (e) {
  problems.push(`${step}: ${e.stack || e.message}`);
} finally {
  await browser.close();
}

if (problems.length) {
  console.log(`FAIL\n${problems.join("\n")}`);
  process.exit(1);
}
console.log(`dashboard: chat streamed, agents forked, workflow with text and handoff edges ran, documents read; screenshots in ${outDir}`);
