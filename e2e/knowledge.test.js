// Browser test of the console's knowledge section against the real server with the AI first
// line on: a supervisor finds and edits a demo FAQ entry (phrasings, answer, tags) and sees the
// new version in its history and in what the bot would answer; a question the bot cannot answer
// becomes a gap and, in one click, a draft that goes through review to published; an agent's
// answer to a resolved conversation becomes a candidate that is accepted as a draft; an agent
// reads entries and tests questions but sees no edit controls. Runs with `node --test` and
// Debian's chromium.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer, postInbound, openConsole, AGENT_EMAIL, SUPERVISOR_EMAIL, DEMO_PASSWORD, CHROMIUM_ARGS, CHROMIUM_PATH } from "./server.js";

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "artifacts");
const ENTRY = "zh-return-refund-time";
const NEW_PHRASING = "退的钱大概要等几天";
const NEW_ANSWER = "仓库签收退货后 1–2 个工作日内退款，原路退回到支付账户。";
const GAP_QUESTION = "你们支持数字人民币付款吗";
const CAND_QUESTION = "门店可以帮忙寄存行李吗？";
const CAND_ANSWER = "可以，门店服务台提供免费行李寄存，当天营业结束前取回即可。";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("knowledge base in the console", { timeout: 180000 }, () => {
  let server;
  let browser;
  let sup;
  const pageErrors = [];

  const open = (email) => openConsole(browser, server, email, pageErrors);

  /** Calls the API as a demo user (bearer token), for what the test does outside the console. */
  async function asUser(email) {
    const res = await fetch(server.baseUrl + "/api/v1/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email, password: DEMO_PASSWORD }),
    });
    const { token, user } = await res.json();
    const call = async (method, path, body) => {
      const r = await fetch(server.baseUrl + path, {
        method, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = await r.json();
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    };
    return { user, call };
  }

  /** Clicks `refresh` until `locator` shows up (gaps and candidates are made in the background). */
  async function until(page, locator, refresh, ms = 15000) {
    const deadline = Date.now() + ms;
    while (!(await locator.count())) {
      if (Date.now() > deadline) throw new Error("timed out waiting for " + locator);
      await sleep(300);
      await refresh();
    }
  }

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer({ bot: true });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    sup = await open(SUPERVISOR_EMAIL);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it("finds and edits a FAQ entry and shows the new version in its history", async () => {
    await sup.getByTestId("kb-toggle").click();
    await sup.getByTestId("kb-view").waitFor({ state: "visible" });
    await sup.getByTestId("kb-row").first().waitFor({ timeout: 5000 });
    // 172 demo entries, 100 a page.
    assert.equal(await sup.getByTestId("kb-row").count(), 100);
    await sup.getByTestId("kb-more").click();
    await sup.waitForFunction(() => document.querySelectorAll("[data-testid=kb-row]").length === 172, null, { timeout: 5000 });
    assert.equal(await sup.getByTestId("kb-more").isHidden(), true);

    await sup.getByTestId("kb-search").fill("退款多久");
    const row = sup.locator(`[data-testid=kb-row][data-entry-id="${ENTRY}"]`);
    await sup.waitForFunction(() => document.querySelectorAll("[data-testid=kb-row]").length < 10, null, { timeout: 5000 });
    await row.click();
    await sup.getByTestId("kb-status-filter").selectOption("archived");
    await sup.getByTestId("kb-list-empty").waitFor({ state: "visible", timeout: 5000 });
    await sup.getByTestId("kb-status-filter").selectOption("published");
    await row.waitFor({ timeout: 5000 });

    const editor = sup.getByTestId("kb-editor");
    await sup.locator(`[data-testid=kb-editor][data-entry-id="${ENTRY}"][data-version="1"]`).waitFor({ timeout: 5000 });
    assert.equal(await editor.getAttribute("data-status"), "published");
    assert.equal(await sup.getByTestId("kb-question").inputValue(), "退款多久到账");
    assert.deepEqual(await sup.getByTestId("kb-similar").locator(".kb-similar-text").allTextContents(), ["钱什么时候退回来", "退款怎么还没到", "退款几天能到"]);
    // Published: back to draft or archive, not publish again.
    assert.equal(await sup.getByTestId("kb-status-to-draft").count(), 1);
    assert.equal(await sup.getByTestId("kb-status-to-archived").count(), 1);
    assert.equal(await sup.getByTestId("kb-status-to-published").count(), 0);

    await sup.getByTestId("kb-similar-input").fill(NEW_PHRASING);
    await sup.getByTestId("kb-similar-input").press("Enter");
    await sup.getByTestId("kb-similar").filter({ hasText: "退款怎么还没到" }).getByTestId("kb-similar-remove").click();
    await sup.getByTestId("kb-answer").fill(NEW_ANSWER);
    await sup.getByTestId("kb-tags").fill("退换, 退款, 时效");
    await sup.getByTestId("kb-save").click();

    await sup.locator(`[data-testid=kb-editor][data-entry-id="${ENTRY}"][data-version="2"]`).waitFor({ timeout: 5000 });
    assert.deepEqual(await sup.getByTestId("kb-similar").locator(".kb-similar-text").allTextContents(), ["钱什么时候退回来", "退款几天能到", NEW_PHRASING]);
    assert.equal(await editor.getAttribute("data-status"), "published", "an edit keeps the status");
    const versions = sup.getByTestId("kb-version-item");
    await sup.locator('[data-testid=kb-version-item][data-version="2"]').waitFor({ timeout: 5000 });
    assert.deepEqual(await versions.evaluateAll((els) => els.map((e) => e.dataset.version)), ["2", "1"]);
    await versions.first().locator("summary").click();
    assert.equal(await versions.first().getByTestId("kb-version-answer").textContent(), NEW_ANSWER);
    await versions.nth(1).locator("summary").click();
    assert.match(await versions.nth(1).getByTestId("kb-version-answer").textContent(), /1–3 个工作日/);
    await sup.screenshot({ path: join(ARTIFACTS, "knowledge-editor.png"), fullPage: true });

    // The export carries the new version (a download with the session cookie).
    const [download] = await Promise.all([sup.waitForEvent("download"), sup.getByTestId("kb-export-csv").click()]);
    assert.equal(download.suggestedFilename(), "knowledge.csv");
    const csv = readFileSync(await download.path(), "utf8");
    assert.ok(csv.includes(NEW_PHRASING) && csv.includes(NEW_ANSWER) && !csv.includes("退款怎么还没到"), "export has version 2");

    // The server has it, and the bot answers the new phrasing from the edited entry (the index
    // is rebuilt in the background, so ask until it is).
    const stored = await sup.evaluate(async (id) => (await (await fetch("/api/v1/knowledge/faqs/" + id)).json()).entry, ENTRY);
    assert.deepEqual(stored.similar, ["钱什么时候退回来", "退款几天能到", NEW_PHRASING]);
    assert.deepEqual(stored.tags, ["退换", "退款", "时效"]);
    await sup.getByTestId("kb-tab-test").click();
    await sup.getByTestId("kb-test-input").fill(NEW_PHRASING);
    const firstHit = sup.getByTestId("kb-test-hit").first();
    await until(sup, sup.locator(`[data-testid=kb-test-hit][data-entry-id="${ENTRY}"]`).filter({ hasText: "1–2 个工作日" }),
      () => sup.getByTestId("kb-test-submit").click());
    assert.equal(await firstHit.getAttribute("data-entry-id"), ENTRY);
    assert.match(await sup.getByTestId("kb-test-decision").getAttribute("data-decision"), /^(answer|suggest)$/);
    assert.match(await firstHit.getByTestId("kb-test-hit-confidence").textContent(), /^\d+\.\d %$/);
    await sup.screenshot({ path: join(ARTIFACTS, "knowledge-test.png"), fullPage: true });
  });

  it("turns a knowledge gap into a draft that goes through review to published", async () => {
    await postInbound(server, "wechat_official", {
      message_id: "kb-gap-1", customer: { identifiers: [{ kind: "phone", value: "13855550001" }] },
      content: { type: "text", text: GAP_QUESTION },
    });
    await sup.getByTestId("kb-tab-gaps").click();
    const gap = sup.getByTestId("kb-gap").filter({ has: sup.getByTestId("kb-gap-example").filter({ hasText: GAP_QUESTION }) });
    await until(sup, gap, () => sup.getByTestId("kb-gaps-refresh").click());
    assert.equal(await gap.getAttribute("data-size"), "1");
    await gap.getByTestId("kb-gap-draft").click();

    const editor = sup.locator('[data-testid=kb-editor][data-status="draft"]');
    await editor.waitFor({ timeout: 5000 });
    const id = await editor.getAttribute("data-entry-id");
    assert.match(id, /^gap-/);
    assert.equal(await sup.getByTestId("kb-question").inputValue(), GAP_QUESTION);
    assert.equal(await sup.getByTestId("kb-tags").inputValue(), "from-gaps");
    assert.equal(await sup.getByTestId("kb-status-to-published").count(), 0, "a draft is reviewed before it is published");
    await sup.getByTestId("kb-answer").fill("目前支持微信支付、支付宝和银行卡，暂不支持数字人民币。");
    await sup.getByTestId("kb-save").click();
    await sup.locator(`[data-testid=kb-editor][data-entry-id="${id}"][data-version="2"]`).waitFor({ timeout: 5000 });
    await sup.getByTestId("kb-status-to-in_review").click();
    await sup.locator(`[data-testid=kb-editor][data-entry-id="${id}"][data-status="in_review"]`).waitFor({ timeout: 5000 });
    await sup.getByTestId("kb-status-to-published").click();
    await sup.locator(`[data-testid=kb-editor][data-entry-id="${id}"][data-status="published"]`).waitFor({ timeout: 5000 });
    // The history came with the entry: no waiting for a fourth version to appear.
    assert.deepEqual(await sup.getByTestId("kb-version-item").evaluateAll((els) => els.map((e) => e.dataset.status)),
      ["published", "in_review", "draft", "draft"]);
    await sup.getByTestId("kb-search").fill(id);
    await sup.locator(`[data-testid=kb-row][data-entry-id="${id}"][data-status="published"]`).waitFor({ timeout: 5000 });

    // The cluster's gaps were closed with the draft.
    await sup.getByTestId("kb-tab-gaps").click();
    await sup.getByTestId("kb-gaps-empty").waitFor({ state: "visible", timeout: 5000 });
    assert.equal(await gap.count(), 0);
  });

  it("accepts a candidate learnt from an agent's answer as a draft", async () => {
    const { user, call } = await asUser(AGENT_EMAIL);
    const asked = await postInbound(server, "wechat_official", {
      message_id: "kb-cand-1", customer: { identifiers: [{ kind: "phone", value: "13855550002" }] },
      content: { type: "text", text: CAND_QUESTION },
    });
    const conv = asked.conversation_id;
    // The bot has its turn first (not understood); then the agent takes over as the console's
    // "Take" does: a hand-off to people (unless the bot handed off already), then the assignment.
    let detail;
    for (const deadline = Date.now() + 10000; ; await sleep(200)) {
      detail = await call("GET", `/api/v1/conversations/${conv}`);
      if (detail.messages.some((m) => m.sender && m.sender.kind === "bot")) break;
      if (Date.now() > deadline) throw new Error("the bot did not reply: " + JSON.stringify(detail));
    }
    if (detail.conversation.state === "bot") {
      await call("POST", `/api/v1/conversations/${conv}/transitions`, { transition: "hand_off", reason: "taken over by an agent" });
    }
    await call("POST", `/api/v1/conversations/${conv}/transitions`, { transition: "assign", assignee_id: user.id });
    await call("POST", `/api/v1/conversations/${conv}/messages`, { content: { type: "text", text: CAND_ANSWER } });
    await call("POST", `/api/v1/conversations/${conv}/transitions`, { transition: "resolve" });

    await sup.getByTestId("kb-tab-candidates").click();
    const cand = sup.getByTestId("kb-candidate").filter({ has: sup.getByTestId("kb-candidate-question").filter({ hasText: "寄存行李" }) });
    await until(sup, cand, () => sup.getByTestId("kb-tab-candidates").click());
    assert.equal(await cand.getAttribute("data-kind"), "new_entry");
    assert.equal(await cand.getByTestId("kb-candidate-answer").textContent(), CAND_ANSWER);
    assert.match(await cand.getByTestId("kb-candidate-occurrences").textContent(), /seen 1×/);
    await sup.screenshot({ path: join(ARTIFACTS, "knowledge-candidates.png"), fullPage: true });
    await cand.getByTestId("kb-candidate-accept").click();

    const editor = sup.locator('[data-testid=kb-editor][data-status="draft"]');
    await editor.waitFor({ timeout: 5000 });
    assert.match(await editor.getAttribute("data-entry-id"), /^agent-/);
    assert.match(await sup.getByTestId("kb-question").inputValue(), /寄存行李/);
    assert.equal(await sup.getByTestId("kb-answer").inputValue(), CAND_ANSWER);
    assert.equal(await sup.getByTestId("kb-tags").inputValue(), "from-agent");
    await sup.getByTestId("kb-tab-candidates").click();
    await sup.getByTestId("kb-cands-empty").waitFor({ state: "visible", timeout: 5000 });
    assert.equal(await cand.count(), 0, "accepted: no longer open");
    await sup.getByTestId("kb-cand-status").selectOption("accepted");
    await cand.waitFor({ timeout: 5000 });
    assert.equal(await cand.getAttribute("data-status"), "accepted");
  });

  it("lets an agent read entries and test questions without edit controls", async () => {
    const agent = await open(AGENT_EMAIL);
    await agent.getByTestId("kb-toggle").click();
    await agent.getByTestId("kb-row").first().waitFor({ timeout: 5000 });
    assert.deepEqual(await agent.getByTestId("kb-tabs").locator("button").evaluateAll((els) => els.map((e) => e.dataset.testid)),
      ["kb-tab-entries", "kb-tab-test"]);
    assert.equal(await agent.getByTestId("kb-new").isHidden(), true);
    await agent.getByTestId("kb-search").fill("退款多久");
    await agent.locator(`[data-testid=kb-row][data-entry-id="${ENTRY}"]`).click();
    await agent.locator(`[data-testid=kb-editor][data-entry-id="${ENTRY}"]`).waitFor({ timeout: 5000 });
    await agent.getByTestId("kb-read-only").waitFor();
    for (const control of ["kb-save", "kb-delete", "kb-status-actions", "kb-similar-input", "kb-similar-remove"]) {
      assert.equal(await agent.getByTestId(control).count(), 0, control);
    }
    assert.equal(await agent.getByTestId("kb-question").getAttribute("readonly"), "");
    assert.equal(await agent.getByTestId("kb-answer").getAttribute("readonly"), "");
    assert.equal(await agent.getByTestId("kb-version-item").count(), 2, "history is readable");

    await agent.getByTestId("kb-tab-test").click();
    await agent.getByTestId("kb-test-input").fill("退款几天能到");
    await agent.getByTestId("kb-test-submit").click();
    await agent.getByTestId("kb-test-decision").waitFor({ timeout: 5000 });
    assert.equal(await agent.getByTestId("kb-test-hit").first().getAttribute("data-entry-id"), ENTRY);

    // The section speaks Chinese too, and the workspace is one click away.
    await agent.getByTestId("lang-toggle").click();
    assert.equal(await agent.getByTestId("kb-tab-test").textContent(), "测试问题");
    assert.equal(await agent.getByTestId("kb-toggle").textContent(), "会话");
    await agent.getByTestId("kb-toggle").click();
    assert.equal(await agent.getByTestId("kb-view").isHidden(), true);
    assert.equal(await agent.getByTestId("filters").isVisible(), true);
    assert.deepEqual(pageErrors, []);
  });
});
