// Browser test of the web console against the real server: login, a customer message arriving
// live, the cross-channel timeline after a second channel, take/reply/resolve, reconnecting after
// the server restarts, a message arriving while a conversation loads, language switch and logout.
// Runs with `node --test` and Debian's chromium.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer, postInbound, serveConsoleFrom, AGENT_EMAIL, DEMO_PASSWORD, CHROMIUM_ARGS, CHROMIUM_PATH } from "./server.js";

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "artifacts");
const DAY_MS = 24 * 3600 * 1000;
// The first message is sent yesterday, the second one a day later (today).
const FIRST_SENT = new Date(Date.now() - DAY_MS - 2 * 3600 * 1000);
const SECOND_SENT = new Date(FIRST_SENT.getTime() + DAY_MS);
const FIRST_TEXT = "我的订单 A1024 还没到，能帮我查一下吗？";
const SECOND_TEXT = "还是没有收到快递，请尽快处理";
const REPLY_TEXT = "您好，我马上为您查询物流。";

describe("web console", { timeout: 120000 }, () => {
  let server;
  let browser;
  let context;
  let page;
  let customerId;
  let mobileConversationId;
  const pageErrors = [];
  const frameWaiters = [];
  /** Resolves when the page receives a live frame containing `needle`. */
  const frameWith = (needle) => new Promise((ok) => frameWaiters.push({ check: (t) => t.includes(needle) && (ok(), true) }));

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer();
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    context = await browser.newContext({ locale: "en-US", viewport: { width: 1440, height: 900 } });
    if (process.env.E2E_CONSOLE_DIR) await serveConsoleFrom(context, server, process.env.E2E_CONSOLE_DIR);
    page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
    // Failed requests (the 401 after logout, refused connections while the server restarts) are
    // logged by the browser itself; anything else logged as an error is a bug in the console.
    page.on("console", (m) => {
      if (m.type() === "error" && !/Failed to load resource|WebSocket connection to/.test(m.text())) pageErrors.push(m.text());
    });
    // Every frame the live stream delivers to the page (the socket after a restart too).
    page.on("websocket", (ws) => ws.on("framereceived", (f) => {
      const text = String(f.payload);
      for (const w of frameWaiters.splice(0)) if (!w.check(text)) frameWaiters.push(w);
    }));
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it("logs in and shows a customer message live on the list", async () => {
    await page.goto(server.baseUrl + "/");
    await page.getByTestId("login-page").waitFor();
    assert.equal(await page.getByTestId("login-submit").textContent(), "Sign in");
    await page.getByTestId("login-email").fill(AGENT_EMAIL);
    await page.getByTestId("login-password").fill(DEMO_PASSWORD);
    await page.getByTestId("login-submit").click();
    await page.getByTestId("app").waitFor();
    await page.locator('[data-testid=connection-status][data-status="live"]').waitFor({ timeout: 5000 });
    assert.equal(await page.getByTestId("conversation-row").count(), 0);

    // A marker that a reload would wipe out.
    await page.evaluate(() => { window.__sameDocument = true; });
    const res = await postInbound(server, "wechat_official", {
      message_id: "wx-msg-1",
      sent_at: FIRST_SENT.toISOString(),
      customer: { identifiers: [{ kind: "phone", value: "13812345678" }], display_name: "李雷" },
      content: { type: "text", text: FIRST_TEXT },
    });
    assert.equal(res.conversation_created, true);
    customerId = res.customer_id;

    const row = page.locator('[data-testid=conversation-row][data-channel="wechat_official"]');
    await row.waitFor({ timeout: 3000 });
    await row.getByTestId("row-customer").filter({ hasText: "李雷" }).waitFor({ timeout: 3000 });
    assert.equal(await row.getByTestId("channel-badge").textContent(), "WeChat");
    assert.equal(await row.getAttribute("data-state"), "bot");
    assert.equal(await row.getByTestId("new-marker").count(), 1, "the new conversation is marked new");
    assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was not reloaded");
  });

  it("shows both channels of the customer in one timeline, in time order", async () => {
    const res = await postInbound(server, "mobile_app", {
      message_id: "app-msg-1",
      sent_at: SECOND_SENT.toISOString(),
      customer: { identifiers: [{ kind: "phone", value: "+86 138-1234-5678" }] },
      content: { type: "text", text: SECOND_TEXT },
    });
    assert.equal(res.customer_id, customerId, "the same phone, spelled differently, is the same customer");
    assert.equal(res.conversation_created, true);
    mobileConversationId = res.conversation_id;

    const row = page.locator(`[data-testid=conversation-row][data-conversation-id="${mobileConversationId}"]`);
    await row.waitFor({ timeout: 3000 });
    assert.equal(await page.getByTestId("conversation-row").count(), 2);
    await row.click();

    const items = page.getByTestId("customer-panel").getByTestId("timeline-item");
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=timeline-item]").length === 2, null, { timeout: 3000 });
    const seen = await items.evaluateAll((els) => els.map((e) => ({
      channel: e.dataset.channel,
      sentAt: e.dataset.sentAt,
      badge: e.querySelector("[data-testid=channel-badge]").textContent,
      text: e.querySelector("[data-testid=timeline-text]").textContent,
    })));
    assert.deepEqual(seen.map((s) => s.channel), ["wechat_official", "mobile_app"]);
    assert.deepEqual(seen.map((s) => s.badge), ["WeChat", "App"]);
    assert.deepEqual(seen.map((s) => s.text), [FIRST_TEXT, SECOND_TEXT]);
    assert.ok(Date.parse(seen[0].sentAt) < Date.parse(seen[1].sentAt), "time order");
    assert.equal(Date.parse(seen[0].sentAt), FIRST_SENT.getTime());
    // The earlier WeChat conversation is highlighted as what this one continues.
    const linked = page.getByTestId("timeline-linked");
    assert.equal(await linked.count(), 1);
    assert.equal(await linked.getAttribute("data-channel"), "wechat_official");
    assert.match(await linked.textContent(), /Earlier on WeChat/);
    assert.equal(await page.getByTestId("timeline-boundary").count(), 1, "the open conversation's boundary");
    // Identifiers in the panel: the phone, normalised once.
    assert.equal(await page.getByTestId("customer-name").textContent(), "李雷");
    assert.match(await page.getByTestId("customer-identifiers").textContent(), /13812345678/);
  });

  it("takes the conversation, replies and resolves it", async () => {
    const stateBadge = page.getByTestId("conversation-state");
    assert.equal(await stateBadge.getAttribute("data-state"), "bot");
    await page.getByTestId("action-take").click();
    await page.locator('[data-testid=conversation-state][data-state="assigned"]').waitFor({ timeout: 3000 });
    assert.equal(await stateBadge.textContent(), "Assigned to me");

    await page.getByTestId("reply-input").fill(REPLY_TEXT);
    await page.getByTestId("reply-send").click();
    const mine = page.locator('[data-testid=message][data-sender="agent"]');
    await mine.waitFor({ timeout: 3000 });
    assert.equal(await mine.getByTestId("message-text").textContent(), REPLY_TEXT);
    assert.equal(await page.getByTestId("reply-input").inputValue(), "");
    // The reply joins the customer's timeline as well.
    await page.locator('[data-testid=timeline-item][data-sender="agent"]').waitFor({ timeout: 3000 });

    await page.screenshot({ path: join(ARTIFACTS, "console-assigned.png"), fullPage: true });

    await page.getByTestId("action-resolve").click();
    await page.locator('[data-testid=conversation-state][data-state="resolved"]').waitFor({ timeout: 3000 });
    const row = page.locator(`[data-testid=conversation-row][data-conversation-id="${mobileConversationId}"]`);
    await page.waitForFunction((id) => document.querySelector(`[data-testid=conversation-row][data-conversation-id="${id}"]`)?.dataset.state === "resolved", mobileConversationId, { timeout: 3000 });
    assert.equal(await row.getAttribute("data-state"), "resolved");
    assert.equal(await page.getByTestId("action-resolve").count(), 0, "resolve is not offered twice");

    // The filters ask the server: "resolved" shows it, "bot" shows only the WeChat one.
    await page.getByTestId("filter-resolved").click();
    await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=conversation-row]")].every((r) => r.dataset.state === "resolved") && document.querySelectorAll("[data-testid=conversation-row]").length === 1, null, { timeout: 3000 });
    await page.getByTestId("filter-all").click();
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=conversation-row]").length === 2, null, { timeout: 3000 });
  });

  it("reconnects after the server restarts and keeps showing new messages live", async () => {
    await server.stop({ keepData: true });
    await page.locator('[data-testid=connection-status][data-status="offline"]').waitFor({ timeout: 5000 });
    server = await startServer({ dataDir: server.dataDir, port: server.port });
    await page.locator('[data-testid=connection-status][data-status="live"]').waitFor({ timeout: 20000 });
    const res = await postInbound(server, "wechat_official", {
      message_id: "wx-msg-2",
      customer: { identifiers: [{ kind: "phone", value: "13900001111" }], display_name: "韩梅梅" },
      content: { type: "text", text: "你好" },
    });
    await page.locator(`[data-testid=conversation-row][data-conversation-id="${res.conversation_id}"]`).waitFor({ timeout: 3000 });
    assert.equal(await page.getByTestId("conversation-row").count(), 3);
  });

  it("shows a message that arrives while the conversation is loading", async () => {
    const customer = { identifiers: [{ kind: "phone", value: "13700002222" }], display_name: "赵敏" };
    const first = await postInbound(server, "wechat_official", { message_id: "wx-load-1", customer, content: { type: "text", text: "在吗" } });
    const row = page.locator(`[data-testid=conversation-row][data-conversation-id="${first.conversation_id}"]`);
    await row.waitFor({ timeout: 3000 });
    // The first load of the conversation is answered with what the server read before the
    // customer's second message, whose live event reaches the page while that load is on its
    // way (a bot reply landing just as an agent opens the conversation is the same race). No
    // later event comes (the bot is off here): the view must fetch again by itself.
    const LATE = "order A2048 please";
    const path = `/api/v1/conversations/${first.conversation_id}`;
    let held = false;
    const hold = async (route) => {
      if (held) return route.continue();
      held = true;
      const stale = await route.fetch();
      const seen = frameWith(LATE);
      await postInbound(server, "wechat_official", { message_id: "wx-load-2", customer, content: { type: "text", text: LATE } });
      await seen;
      await route.fulfill({ response: stale });
    };
    const detail = (url) => url.pathname === path;
    await page.route(detail, hold);
    await row.click();
    await page.locator('[data-testid=message][data-sender="customer"]').filter({ hasText: LATE }).waitFor({ timeout: 3000 });
    assert.equal(held, true, "the first load was held");
    await page.unroute(detail, hold);
  });

  it("switches the language and logs out", async () => {
    const logout = page.getByTestId("logout");
    assert.equal(await logout.textContent(), "Log out");
    await page.getByTestId("lang-toggle").click();
    assert.equal(await logout.textContent(), "退出登录");
    assert.equal(await page.getByTestId("filter-mine").textContent(), "我的");
    assert.equal(await page.evaluate(() => document.documentElement.lang), "zh-CN");
    await page.screenshot({ path: join(ARTIFACTS, "console-zh.png"), fullPage: true });

    await logout.click();
    await page.getByTestId("login-page").waitFor({ timeout: 3000 });
    assert.equal(await page.getByTestId("app").isVisible(), false);
    assert.equal(await page.getByTestId("login-submit").textContent(), "登录", "the choice of language is kept");
    const status = await page.evaluate(async () => (await fetch("/api/v1/me")).status);
    assert.equal(status, 401, "the session is gone on the server too");
    await page.screenshot({ path: join(ARTIFACTS, "console-login.png") });
  });

  it("defaults to Chinese for a Chinese browser", async () => {
    const zh = await browser.newContext({ locale: "zh-CN" });
    const p = await zh.newPage();
    await p.goto(server.baseUrl + "/");
    await p.getByTestId("login-page").waitFor();
    assert.equal(await p.getByTestId("login-submit").textContent(), "登录");
    await zh.close();
  });

  it("raised no script errors", () => {
    assert.deepEqual(pageErrors, []);
  });
});
