// The customer chat widget, tested as people use it: a customer on the demo shop page talks to
// the bot, asks for a person, and an agent in the console sees the conversation with its
// hand-off summary within a second and answers into the widget; the widget keeps its history
// across a reload and catches up after the server restarts. Then routing under load: three
// agents with capacity 1, five waiting customers, and a resolve hands the oldest waiting
// customer to the freed agent at once. Runs with `node --test` and Debian's chromium.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer, AGENT_EMAIL, DEMO_PASSWORD, CHROMIUM_ARGS, CHROMIUM_PATH } from "./server.js";

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "artifacts");
const QUESTION = "退款多久到账？";
const HUMAN = "转人工";
const REPLY = "您好，我是客服小王，马上为您查询退款进度。";
const LATE_REPLY = "退款已经原路退回，请留意银行通知。";

async function json(res) {
  const body = await res.json();
  if (!res.ok) throw new Error(`${res.status}: ${JSON.stringify(body)}`);
  return body;
}

async function login(server, email) {
  const r = await fetch(server.baseUrl + "/api/v1/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password: DEMO_PASSWORD }),
  });
  return (await json(r)).token;
}

async function apiCall(server, token, method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body) headers["Content-Type"] = "application/json";
  return json(await fetch(server.baseUrl + path, { method, headers, body: body && JSON.stringify(body) }));
}

/** Opens the console in a fresh browser context and logs in; resolves when the stream is live. */
async function consoleAs(browser, server, email, errors) {
  const context = await browser.newContext({ locale: "zh-CN", viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`${email}: ${e.message}`));
  await page.goto(server.baseUrl + "/");
  await page.getByTestId("login-email").fill(email);
  await page.getByTestId("login-password").fill(DEMO_PASSWORD);
  await page.getByTestId("login-submit").click();
  await page.locator('[data-testid=connection-status][data-status="live"]').waitFor({ timeout: 5000 });
  return { context, page };
}

describe("customer chat widget", { timeout: 180000 }, () => {
  let server;
  let browser;
  let customer;
  let agent;
  let conversationId;
  const errors = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer({ bot: true });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ locale: "zh-CN", viewport: { width: 1280, height: 860 } });
    customer = await context.newPage();
    customer.on("pageerror", (e) => errors.push(`customer: ${e.message}`));
    customer.on("console", (m) => {
      if (m.type() === "error" && !/Failed to load resource|WebSocket connection to|ERR_CONNECTION_REFUSED/.test(m.text())) errors.push(m.text());
    });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it("prints the demo page's address and serves it with the widget", async () => {
    assert.match(server.output(), new RegExp(`Demo shop with the chat widget: http://127\\.0\\.0\\.1:${server.port}/demo`));
    await customer.goto(server.baseUrl + "/demo");
    await customer.getByTestId("demo-hint").waitFor();
    assert.equal(await customer.getByTestId("lingxi-launcher").textContent(), "联系客服", "Chinese for a Chinese browser");
  });

  it("the customer asks a question and the bot answers in the widget", async () => {
    await customer.getByTestId("lingxi-launcher").click();
    await customer.getByTestId("lingxi-panel").waitFor();
    await customer.locator('[data-testid=lingxi-status][data-state="online"]').waitFor({ timeout: 5000 });
    await customer.getByTestId("lingxi-input").fill(QUESTION);
    await customer.getByTestId("lingxi-input").press("Enter");
    const mine = customer.locator('[data-testid=lingxi-message][data-sender="customer"]');
    await mine.filter({ hasText: QUESTION }).waitFor({ timeout: 3000 });
    const bot = customer.locator('[data-testid=lingxi-message][data-sender="bot"]');
    await bot.first().waitFor({ timeout: 5000 });
    assert.match(await bot.first().textContent(), /工作日/, "the knowledge base's refund answer");
  });

  it("an agent sees the hand-off with its summary within a second and the reply reaches the widget", async () => {
    agent = await consoleAs(browser, server, AGENT_EMAIL, errors);
    const row = agent.page.locator('[data-testid=conversation-row][data-channel="web_chat"]');
    await row.waitFor({ timeout: 3000 });
    conversationId = await row.getAttribute("data-conversation-id");

    const asked = Date.now();
    await customer.getByTestId("lingxi-input").fill(HUMAN);
    await customer.getByTestId("lingxi-input").press("Enter");
    // The agent is online with free capacity: routing assigns the hand-off to them at once.
    const assigned = agent.page.locator(`[data-testid=conversation-row][data-conversation-id="${conversationId}"][data-state="assigned"]`);
    await assigned.waitFor({ timeout: 5000 });
    const seenAfter = Date.now() - asked;
    await assigned.click();
    const summary = agent.page.getByTestId("handoff-summary");
    await summary.waitFor({ timeout: 3000 });
    const summaryAfter = Date.now() - asked;
    assert.ok(seenAfter < 1000, `the agent saw the conversation ${seenAfter} ms after the request`);
    assert.ok(summaryAfter < 1500, `the summary was on screen ${summaryAfter} ms after the request`);
    const text = await summary.textContent();
    assert.match(text, /客户要求人工服务/, text);
    assert.match(text, /退款/, "what the customer asked before: " + text);
    // The customer is told honestly, in the widget, that a person is coming.
    await customer.locator('[data-testid=lingxi-message][data-sender="bot"]').filter({ hasText: "人工" }).waitFor({ timeout: 3000 });

    await agent.page.getByTestId("reply-input").fill(REPLY);
    await agent.page.getByTestId("reply-send").click();
    const reply = customer.locator('[data-testid=lingxi-message][data-sender="agent"]').filter({ hasText: REPLY });
    await reply.waitFor({ timeout: 3000 });
    await customer.getByTestId("lingxi-note").filter({ hasText: "人工客服已接入" }).waitFor({ timeout: 3000 });
    await customer.screenshot({ path: join(ARTIFACTS, "widget-demo.png") });
    await agent.page.screenshot({ path: join(ARTIFACTS, "widget-agent.png") });
  });

  it("keeps the history across a reload, without duplicates", async () => {
    const before = await customer.getByTestId("lingxi-message").allTextContents();
    await customer.reload();
    await customer.getByTestId("lingxi-launcher").click();
    await customer.locator('[data-testid=lingxi-status][data-state="online"]').waitFor({ timeout: 5000 });
    await customer.locator('[data-testid=lingxi-message][data-sender="agent"]').filter({ hasText: REPLY }).waitFor({ timeout: 3000 });
    const after = await customer.getByTestId("lingxi-message").allTextContents();
    assert.deepEqual(after, before);
    assert.equal(after.filter((t) => t.includes(QUESTION)).length, 1);
  });

  it("reconnects after the server restarts and catches up on a reply sent meanwhile, once", async () => {
    await server.stop({ keepData: true });
    await customer.locator('[data-testid=lingxi-status][data-state="offline"]').waitFor({ timeout: 5000 });
    server = await startServer({ bot: true, dataDir: server.dataDir, port: server.port });
    // Sent through the API at once, most likely before the widget's backoff lets it reconnect.
    const token = await login(server, AGENT_EMAIL);
    await apiCall(server, token, "POST", `/api/v1/conversations/${conversationId}/messages`, { content: { type: "text", text: LATE_REPLY } });
    const late = customer.locator('[data-testid=lingxi-message][data-sender="agent"]').filter({ hasText: LATE_REPLY });
    await late.waitFor({ timeout: 20000 });
    await customer.locator('[data-testid=lingxi-status][data-state="online"]').waitFor({ timeout: 5000 });
    await customer.waitForTimeout(300);
    assert.equal(await late.count(), 1, "caught up exactly once");
    // And the live path works again on the new process.
    await apiCall(server, token, "POST", `/api/v1/conversations/${conversationId}/messages`, { content: { type: "text", text: "还有其他问题吗？" } });
    await customer.locator('[data-testid=lingxi-message][data-sender="agent"]').filter({ hasText: "还有其他问题吗？" }).waitFor({ timeout: 3000 });
  });

  it("speaks English on an English page", async () => {
    const en = await browser.newContext({ locale: "en-US" });
    const p = await en.newPage();
    await p.goto(server.baseUrl + "/demo");
    await p.getByTestId("lingxi-launcher").click();
    assert.equal(await p.getByTestId("lingxi-send").textContent(), "Send");
    assert.equal(await p.getByTestId("lingxi-input").getAttribute("placeholder"), "Type a message…");
    await p.locator('[data-testid=lingxi-status][data-state="online"]').waitFor({ timeout: 5000 });
    assert.equal(await p.getByTestId("lingxi-message").count(), 0, "a new visitor starts with an empty history");
    await en.close();
  });

  it("shows a message once when the stream delivers it before the send's answer", async () => {
    const ctx = await browser.newContext({ locale: "zh-CN" });
    const p = await ctx.newPage();
    p.on("pageerror", (e) => errors.push(`race: ${e.message}`));
    // The send's answer is held back 1.5 s: the stream (and the bot's reply) arrive first.
    await p.route("**/api/v1/widget/messages", async (route) => {
      if (route.request().method() !== "POST") return route.continue();
      const res = await route.fetch();
      await new Promise((r) => setTimeout(r, 1500));
      await route.fulfill({ response: res });
    });
    await p.goto(server.baseUrl + "/demo");
    await p.getByTestId("lingxi-launcher").click();
    await p.locator('[data-testid=lingxi-status][data-state="online"]').waitFor({ timeout: 5000 });
    await p.getByTestId("lingxi-input").fill(QUESTION);
    await p.getByTestId("lingxi-input").press("Enter");
    const mine = p.locator('[data-testid=lingxi-message][data-sender="customer"]');
    // The stored copy (it has an id) replaces the pending bubble as soon as the stream brings it.
    await p.locator('[data-testid=lingxi-message][data-sender="customer"][data-id]').waitFor({ timeout: 3000 });
    await p.locator('[data-testid=lingxi-message][data-sender="bot"]').first().waitFor({ timeout: 5000 });
    assert.equal(await mine.count(), 1, "the customer's message shown once while the send's answer is late");
    await p.waitForTimeout(1800);
    assert.equal(await mine.count(), 1, "and once after it arrives");
    await ctx.close();
  });

  it("raised no script errors", () => {
    assert.deepEqual(errors, []);
  });
});

describe("routing from the widget: three agents with capacity 1, five waiting customers", { timeout: 180000 }, () => {
  let server;
  let browser;
  const errors = [];

  before(async () => {
    server = await startServer({ bot: true, env: { LINGXI_AGENT_CHAT_CAPACITY: "1" } });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it("a resolve hands the oldest waiting customer to the freed agent at once", async () => {
    // Two more agents besides the demo one, created by the demo admin.
    const admin = await login(server, "admin@demo.lingxi.dev");
    const { teams } = await apiCall(server, admin, "GET", "/api/v1/teams");
    const emails = [AGENT_EMAIL];
    for (const n of [2, 3]) {
      const email = `agent${n}@demo.lingxi.dev`;
      await apiCall(server, admin, "POST", "/api/v1/users", { email, name: `客服 ${n}`, role: "agent", password: DEMO_PASSWORD, team_ids: [teams[0].id] });
      emails.push(email);
    }
    const agents = [];
    for (const email of emails) {
      const a = await consoleAs(browser, server, email, errors);
      const me = await a.page.evaluate(async () => (await (await fetch("/api/v1/me")).json()).user.id);
      agents.push({ ...a, email, id: me });
    }

    // Five customers ask for a person through the widget API, one after the other.
    const sup = await login(server, "supervisor@demo.lingxi.dev");
    const channel = server.channels.web_chat;
    const convs = [];
    for (let i = 0; i < 5; i++) {
      const s = await json(await fetch(server.baseUrl + "/api/v1/widget/sessions", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ channel_id: channel, name: `顾客${i + 1}` }),
      }));
      const sent = await apiCall(server, s.token, "POST", "/api/v1/widget/messages", {
        client_message_id: `c${i}`, content: { type: "text", text: i % 2 ? "I want a human agent" : "转人工" },
      });
      const id = sent.message.conversation_id;
      convs.push(id);
      // Wait until routing has it (assigned or queued) so that the waiting order is this order.
      for (let tries = 0; ; tries++) {
        const { conversation } = await apiCall(server, sup, "GET", `/api/v1/conversations/${id}`);
        if (conversation.state === "assigned" || conversation.state === "queued") break;
        if (tries > 100) throw new Error(`conversation ${i} stuck in ${conversation.state}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const stateOf = async (id) => (await apiCall(server, sup, "GET", `/api/v1/conversations/${id}`)).conversation;
    const first = await Promise.all(convs.map(stateOf));
    assert.deepEqual(first.map((c) => c.state), ["assigned", "assigned", "assigned", "queued", "queued"]);
    assert.equal(new Set(first.slice(0, 3).map((c) => c.assignee_id)).size, 3, "one chat per agent");

    // Each agent sees their one chat, marked as theirs, in the console.
    for (const a of agents) {
      const owned = first.filter((c) => c.assignee_id === a.id);
      assert.equal(owned.length, 1, `${a.email} owns one chat`);
      await a.page.locator(`[data-testid=conversation-row][data-conversation-id="${owned[0].id}"][data-state="assigned"] .mine-mark`).waitFor({ timeout: 3000 });
    }

    // The owner of the second customer resolves it in the console.
    const owner = agents.find((a) => a.id === first[1].assignee_id);
    await owner.page.locator(`[data-testid=conversation-row][data-conversation-id="${convs[1]}"]`).click();
    await owner.page.locator('[data-testid=conversation-state][data-state="assigned"]').waitFor({ timeout: 3000 });
    const resolvedAt = Date.now();
    await owner.page.getByTestId("action-resolve").click();
    // The oldest waiting customer (the fourth) lands in that agent's list at once.
    await owner.page
      .locator(`[data-testid=conversation-row][data-conversation-id="${convs[3]}"][data-state="assigned"] .mine-mark`)
      .waitFor({ timeout: 3000 });
    const after = Date.now() - resolvedAt;
    assert.ok(after < 1200, `assigned and shown ${after} ms after the resolve`);
    const [fourth, fifth] = [await stateOf(convs[3]), await stateOf(convs[4])];
    assert.equal(fourth.assignee_id, owner.id);
    assert.equal(fifth.state, "queued", "the fifth still waits: every agent is at capacity");
    for (const a of agents.filter((x) => x !== owner)) {
      assert.equal(await a.page.locator(`[data-testid=conversation-row][data-conversation-id="${convs[3]}"] .mine-mark`).count(), 0);
    }
    await owner.page.screenshot({ path: join(ARTIFACTS, "widget-routing.png") });
    assert.deepEqual(errors, []);
  });
});
