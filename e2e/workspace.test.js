// Browser test of the agent workspace against the real server with the AI first line on: the
// bot hands a customer over and the agent sees the hand-off package, adds an internal note,
// fills the reply box from a suggestion and sees the emotion alert live; a supervisor checks
// the queues, transfers the conversation with a note (the agent sees it live) and hands it
// back to the bot. Runs with `node --test` and Debian's chromium.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer, postInbound, openConsole, AGENT_EMAIL, SUPERVISOR_EMAIL, CHROMIUM_ARGS, CHROMIUM_PATH } from "./server.js";

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "artifacts");
const ORDER = "DD20261124001";
const CUSTOMER = { identifiers: [{ kind: "phone", value: "13866667777" }], display_name: "王芳" };

describe("agent workspace", { timeout: 120000 }, () => {
  let server;
  let browser;
  let agent;
  let sup;
  let conversationId;
  const pageErrors = [];

  const open = (email) => openConsole(browser, server, email, pageErrors);

  const say = (id, text) => postInbound(server, "wechat_official", { message_id: id, customer: CUSTOMER, content: { type: "text", text } });

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer({ bot: true });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    agent = await open(AGENT_EMAIL);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it("shows the hand-off package when the bot hands the customer over", async () => {
    const first = await say("w1", `我的订单 ${ORDER} 到哪了？`);
    conversationId = first.conversation_id;
    const row = agent.locator(`[data-testid=conversation-row][data-conversation-id="${conversationId}"]`);
    await row.click({ timeout: 5000 });
    // Generous: a fresh server's first turn shares the CPU with the start-up encoding of the
    // default intent twins. (Two CI misses here, at 5 s and at 15 s, fit the console dropping
    // a reply that landed while the conversation was opening, fixed since and covered in
    // console.test.js; they were not reproduced here.)
    await agent.locator('[data-testid=message][data-sender="bot"]').first().waitFor({ timeout: 15000 });
    assert.equal(await agent.getByTestId("handoff-summary").isHidden(), true, "no package while the bot talks");
    // Beside the customer's message: the intent the bot read in it (stored with the bot's turn).
    const read = agent.locator('[data-testid=message][data-sender="customer"]').first().getByTestId("message-intent");
    await read.waitFor({ timeout: 3000 });
    assert.match(await read.textContent(), /^(logistics|order_status)$/);

    await say("w2", "转人工");
    // The agent is online: routing gives them the conversation at once.
    await agent.locator('[data-testid=conversation-state][data-state="assigned"]').waitFor({ timeout: 5000 });
    // The bot's last word tells the customer a person is coming (stored with the hand-off).
    await agent.locator('[data-testid=message][data-sender="bot"]').nth(1).waitFor({ timeout: 3000 });
    const pkg = agent.getByTestId("handoff-summary");
    await pkg.waitFor({ state: "visible", timeout: 3000 });
    assert.equal(await pkg.getAttribute("data-reason"), "customer_request");
    assert.match(await agent.getByTestId("handoff-why").textContent(), /客户要求人工服务/);
    assert.match(await agent.getByTestId("handoff-fact").first().textContent(), new RegExp(ORDER));
    assert.match(await agent.getByTestId("handoff-bot").textContent(), /Bot already said/);
  });

  it("adds an internal note shown apart from the customer's messages", async () => {
    const before = await agent.getByTestId("message").count();
    await agent.getByTestId("note-input").fill("老客户，上次退款慢过一次");
    await agent.getByTestId("note-add").click();
    const note = agent.locator('[data-testid=note][data-kind="note"]');
    await note.waitFor({ timeout: 3000 });
    assert.match(await note.getByTestId("note-text").textContent(), /上次退款慢过一次/);
    assert.match(await note.textContent(), /Internal note · You/);
    assert.equal(await agent.getByTestId("message").count(), before, "a note is not a message");
    assert.equal(await agent.getByTestId("note-input").inputValue(), "");
  });

  it("fills the reply box from a suggested reply with its variables filled in", async () => {
    const canned = agent.locator('[data-testid=suggestion][data-kind="canned"]').filter({ hasText: ORDER });
    await canned.first().waitFor({ timeout: 3000 });
    const text = await canned.first().locator(".sg-text").textContent();
    assert.ok(text.includes(ORDER) && !text.includes("{{"), text);
    await canned.first().click();
    assert.equal(await agent.getByTestId("reply-input").inputValue(), text);
    await agent.getByTestId("reply-send").click();
    await agent.locator('[data-testid=message][data-sender="agent"]').filter({ hasText: ORDER }).waitFor({ timeout: 3000 });
  });

  it("raises the emotion alert live when the customer turns angry", async () => {
    assert.equal(await agent.getByTestId("emotion-banner").isHidden(), true);
    await say("w3", "气死我了！！都几天了还没到，垃圾客服，我要投诉😡");
    await agent.getByTestId("emotion-banner").waitFor({ state: "visible", timeout: 10000 });
    const row = agent.locator(`[data-testid=conversation-row][data-conversation-id="${conversationId}"]`);
    await row.getByTestId("emotion-badge").waitFor({ timeout: 3000 });
    await agent.screenshot({ path: join(ARTIFACTS, "workspace-agent.png"), fullPage: true });
  });

  it("lets a supervisor see the queues, transfer with a note and hand back to the bot", async () => {
    sup = await open(SUPERVISOR_EMAIL);
    await sup.getByTestId("queues-open").click();
    await sup.getByTestId("queue-view").waitFor({ state: "visible" });
    const agentEntry = sup.locator('[data-testid=queue-agent][data-presence="online"]').filter({ hasText: "客服 Agent" });
    await agentEntry.first().waitFor({ timeout: 3000 });
    assert.match(await agentEntry.first().textContent(), /1\/\d+ chats/);
    await sup.getByTestId("queues-close").click();
    assert.equal(await agent.getByTestId("queues-open").isHidden(), true, "agents have no queue view");

    await sup.locator(`[data-testid=conversation-row][data-conversation-id="${conversationId}"]`).click();
    await sup.getByTestId("handoff-summary").waitFor({ state: "visible", timeout: 3000 });
    await sup.getByTestId("action-transfer").click();
    await sup.getByTestId("transfer-form").waitFor({ state: "visible" });
    await sup.getByTestId("transfer-agent").selectOption({ label: "主管 Supervisor" });
    await sup.getByTestId("transfer-note").fill("客户要投诉，我来处理");
    await sup.getByTestId("transfer-submit").click();
    await sup.locator('[data-testid=conversation-state][data-state="assigned"]').filter({ hasText: "Assigned to me" }).waitFor({ timeout: 3000 });

    // The agent sees the transfer and its note live, and no longer owns the conversation.
    const note = agent.locator('[data-testid=note][data-kind="transfer"]');
    await note.waitFor({ timeout: 3000 });
    assert.match(await note.textContent(), /客户要投诉，我来处理/);
    await agent.waitForFunction(() => document.querySelector("[data-testid=conversation-state]")?.textContent === "Assigned", null, { timeout: 3000 });

    await sup.getByTestId("action-hand-back").click();
    await sup.locator('[data-testid=conversation-state][data-state="bot"]').waitFor({ timeout: 3000 });
    await agent.locator('[data-testid=conversation-state][data-state="bot"]').waitFor({ timeout: 3000 });
    assert.equal(await sup.getByTestId("handoff-summary").isHidden(), true);
    await sup.screenshot({ path: join(ARTIFACTS, "workspace-supervisor.png"), fullPage: true });
    assert.deepEqual(pageErrors, []);
  });
});
