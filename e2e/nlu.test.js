// Browser test of the console's understanding section against the real server: an admin tries a
// message and sees its intent and order number; a training set with a bad line is refused with
// that line shown; a small good set trains, its report shows, the new version is in use and the
// "try" box answers with its intent; the admin goes back to the built-in intents; a pattern that
// does not compile is refused at its field; a brand term, once saved, repairs a homophone typo
// of itself in the "try" box; an agent tries messages but sees no training or settings controls.
// Runs with `node --test` and Debian's chromium.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer, openConsole, AGENT_EMAIL, CHROMIUM_ARGS, CHROMIUM_PATH } from "./server.js";

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "artifacts");
const ADMIN_EMAIL = "admin@demo.lingxi.dev";
const ORDER = "LX20261101001";

// Line 4 is neither a heading nor an example.
const BAD_SET = "## intent:plant_care\n- 绿萝叶子发黄了\n- 多肉烂根了怎么办\n多浇水有用吗\n## intent:delivery_time\n- 花什么时候能送到\n";
const GOOD_SET = [
  "## intent:plant_care",
  "- 绿萝叶子发黄了", "- 多肉烂根了怎么办", "- 发财树掉叶子怎么回事", "- 花盆里长虫了", "- 月季花苞不开", "- 兰花叶子有黑斑",
  "- 植物叶子蔫了怎么救", "- 多久浇一次水",
  "## intent:delivery_time",
  "- 花什么时候能送到", "- 配送要几天", "- 今天下单明天能到吗", "- 同城送花多久到", "- 能指定送达时间吗", "- 周末配送吗",
  "- 快递几天能到", "- 最快什么时候送到",
  "## intent:greeting",
  "- 你好", "- 您好", "- 在吗", "- 有人吗", "- 早上好", "- 哈喽", "- 客服你好", "- 亲在吗",
  "",
].join("\n");

describe("understanding in the console", { timeout: 180000 }, () => {
  let server;
  let browser;
  let admin;
  const pageErrors = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer();
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    admin = await openConsole(browser, server, ADMIN_EMAIL, pageErrors);
    await admin.getByTestId("nlu-toggle").click();
    await admin.getByTestId("nlu-view").waitFor({ state: "visible" });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  /** Types `text` into the "try" tab and waits for the answer to it. */
  async function tryMessage(page, text) {
    await page.getByTestId("nlu-tab-try").click();
    await page.getByTestId("nlu-try-input").fill(text);
    const answered = page.waitForResponse((r) => r.url().endsWith("/api/v1/nlu/parse"));
    await page.getByTestId("nlu-try-submit").click();
    assert.equal((await answered).status(), 200);
    const result = page.locator(`[data-testid=nlu-try-result][data-text="${text}"]`);
    await result.getByTestId("nlu-try-intent").waitFor();
    return result;
  }

  it("shows the intent and the order number of a message", async () => {
    const r = await tryMessage(admin, `我的订单${ORDER}到哪了`);
    assert.equal(await r.getByTestId("nlu-try-model").getAttribute("data-source"), "default");
    assert.equal(await r.getByTestId("nlu-intent-top").getAttribute("data-intent"), "order_status");
    const order = r.locator('[data-testid=nlu-entity][data-kind="order_number"]');
    assert.equal(await order.count(), 1);
    // The matched text is the normalised text's (lower case); the value is the order number.
    assert.equal((await order.getByTestId("nlu-entity-text").textContent()).toUpperCase(), ORDER);
    assert.equal((await order.getByTestId("nlu-entity-value").textContent()).toUpperCase(), ORDER);
    assert.equal(await r.getByTestId("nlu-language").getAttribute("data-language"), "chinese");
    assert.ok((await r.getByTestId("nlu-token").allTextContents()).includes("订单"));
    assert.equal(await r.getByTestId("nlu-emotion").count(), 4);
    await admin.screenshot({ path: join(ARTIFACTS, "nlu-try.png") });
  });

  it("refuses a bad training set and shows the problem's line", async () => {
    await admin.getByTestId("nlu-tab-models").click();
    await admin.getByTestId("nlu-models-empty").waitFor();
    assert.equal(await admin.getByTestId("nlu-active").getAttribute("data-version"), "");
    // The built-in intents are one click away as a starting point.
    await admin.getByTestId("nlu-train-defaults").click();
    await admin.waitForFunction(() => document.querySelector("[data-testid=nlu-train-input]").value.includes("## intent:order_status"));

    await admin.getByTestId("nlu-train-input").fill(BAD_SET);
    const refused = admin.waitForResponse((r) => r.url().endsWith("/api/v1/nlu/intent-models") && r.request().method() === "POST");
    await admin.getByTestId("nlu-train-submit").click();
    assert.equal((await refused).status(), 422);
    const problem = admin.getByTestId("nlu-train-problem");
    await problem.first().waitFor();
    assert.equal(await problem.count(), 1);
    assert.equal(await problem.getAttribute("data-line"), "4");
    assert.match(await problem.textContent(), /Line 4/);
    assert.equal(await admin.getByTestId("nlu-model-row").count(), 0, "nothing was trained");

    // A problem of a whole intent (too few examples) points at the intent's heading.
    await admin.getByTestId("nlu-train-input").fill("## intent:plant_care\n- 绿萝叶子发黄了\n- 多肉烂根了怎么办\n\n## intent:delivery_time\n- 花什么时候能送到\n");
    await admin.getByTestId("nlu-train-submit").click();
    await admin.locator('[data-testid=nlu-train-problem][data-path="intents[1].examples"]').waitFor();
    assert.equal(await admin.getByTestId("nlu-train-problem").getAttribute("data-line"), "5");
    assert.match(await admin.getByTestId("nlu-train-problem").textContent(), /Line 5.*delivery_time/);
  });

  it("trains a small set, shows the report and uses the new version", async () => {
    await admin.getByTestId("nlu-train-input").fill(GOOD_SET);
    await admin.getByTestId("nlu-train-submit").click();
    const report = admin.getByTestId("nlu-train-report");
    await report.waitFor({ timeout: 30000 });
    assert.equal(await report.getAttribute("data-version"), "1");
    assert.match(await report.textContent(), /3 intents, 24 examples/);
    assert.match(await report.getByTestId("nlu-report-accuracy").textContent(), /Held-out accuracy \d+\.\d % on \d+ examples/);
    assert.equal(await admin.getByTestId("nlu-train-problem").count(), 0);
    assert.ok(!(await admin.getByTestId("nlu-train").innerText()).includes("null"));
    await admin.locator('[data-testid=nlu-active][data-version="1"]').waitFor();
    const row = admin.locator('[data-testid=nlu-model-row][data-version="1"]');
    assert.equal(await row.getAttribute("data-active"), "true");
    await admin.screenshot({ path: join(ARTIFACTS, "nlu-models.png") });

    // The export is the version's training data, ready to post back.
    const download = admin.waitForEvent("download");
    await row.getByTestId("nlu-export").click();
    const exported = JSON.parse(readFileSync(await (await download).path(), "utf8"));
    assert.deepEqual(exported.intents.map((x) => x.intent), ["plant_care", "delivery_time", "greeting"]);
    assert.equal(exported.intents[0].examples[0], "绿萝叶子发黄了");

    const r = await tryMessage(admin, "绿萝叶子发黄了怎么办");
    assert.equal(await r.getByTestId("nlu-try-model").getAttribute("data-source"), "tenant");
    assert.equal(await r.getByTestId("nlu-try-model").getAttribute("data-version"), "1");
    assert.equal(await r.getByTestId("nlu-intent-top").getAttribute("data-intent"), "plant_care");
  });

  it("goes back to the built-in intents", async () => {
    await admin.getByTestId("nlu-tab-models").click();
    await admin.getByTestId("nlu-use-defaults").click();
    await admin.locator('[data-testid=nlu-active][data-version=""]').waitFor();
    assert.equal(await admin.locator('[data-testid=nlu-model-row][data-version="1"]').getAttribute("data-active"), "false");
    assert.equal(await admin.getByTestId("nlu-use-defaults").count(), 0);
    const r = await tryMessage(admin, `我的订单${ORDER}到哪了`);
    assert.equal(await r.getByTestId("nlu-try-model").getAttribute("data-source"), "default");
    assert.equal(await r.getByTestId("nlu-intent-top").getAttribute("data-intent"), "order_status");
  });

  it("shows a bad pattern at its field, then a saved brand term repairs a typo", async () => {
    await admin.getByTestId("nlu-tab-vocab").click();
    const patterns = admin.getByTestId("nlu-set-order_patterns");
    await patterns.waitFor();
    assert.equal(await admin.getByTestId("nlu-set-order_example").inputValue(), ORDER);
    assert.ok(Number(await admin.getByTestId("nlu-from-products").getAttribute("data-n")) > 0, "the demo's products records");

    await patterns.fill("LX\\d{11}\nSO-(\\d{6}");
    const refused = admin.waitForResponse((r) => r.url().endsWith("/api/v1/nlu/settings") && r.request().method() === "PUT");
    await admin.getByTestId("nlu-settings-save").click();
    assert.equal((await refused).status(), 422);
    const error = admin.getByTestId("nlu-error-order_patterns");
    await error.waitFor();
    assert.equal(await error.getByTestId("nlu-field-problem").getAttribute("data-path"), "order_patterns[1]");
    assert.match(await error.textContent(), /Line 2 \(SO-\(\\d\{6\}\)/);
    assert.equal(await patterns.getAttribute("aria-invalid"), "true");
    // Before the term is saved the typo stays.
    let r = await tryMessage(admin, "集光扫地机充不进电");
    assert.ok(!(await r.getByTestId("nlu-normalized").textContent()).startsWith("极光扫地机"));

    await admin.getByTestId("nlu-tab-vocab").click();
    await admin.getByTestId("nlu-set-order_patterns").fill("");
    await admin.getByTestId("nlu-set-terms").fill("极光扫地机");
    const saved = admin.waitForResponse((r) => r.url().endsWith("/api/v1/nlu/settings") && r.request().method() === "PUT");
    await admin.getByTestId("nlu-settings-save").click();
    const savedRes = await saved;
    assert.equal(savedRes.status(), 200, await savedRes.text());
    await admin.getByTestId("nlu-error-order_patterns").waitFor({ state: "detached" });

    r = await tryMessage(admin, "集光扫地机充不进电");
    assert.match(await r.getByTestId("nlu-normalized").textContent(), /^极光扫地机/);
    assert.ok((await r.getByTestId("nlu-correction").evaluateAll((els) => els.map((e) => e.dataset.to))).some((to) => to.includes("极光")));
    assert.ok((await r.getByTestId("nlu-token").allTextContents()).includes("极光扫地机"), "the term is one word");
    await admin.screenshot({ path: join(ARTIFACTS, "nlu-term.png") });
  });

  it("lets an agent try messages but not train or change settings", async () => {
    // In Chinese: every string of the section is translated (an untranslated key shows as itself).
    const agent = await openConsole(browser, server, AGENT_EMAIL, pageErrors, { locale: "zh-CN" });
    await agent.getByTestId("nlu-toggle").click();
    const r = await tryMessage(agent, "集光扫地机充不进电");
    assert.match(await r.getByTestId("nlu-normalized").textContent(), /^极光扫地机/);
    const untranslated = async () => assert.doesNotMatch(await agent.getByTestId("nlu-view").innerText(), /nlu\.[a-z]/);
    await untranslated();

    await agent.getByTestId("nlu-tab-models").click();
    await agent.locator('[data-testid=nlu-model-row][data-version="1"]').waitFor();
    for (const control of ["nlu-train-input", "nlu-train-submit", "nlu-train-defaults", "nlu-activate", "nlu-use-defaults", "nlu-edit-copy"]) {
      assert.equal(await agent.getByTestId(control).count(), 0, control);
    }
    assert.equal(await agent.getByTestId("nlu-export").count(), 1);
    await untranslated();

    await agent.getByTestId("nlu-tab-vocab").click();
    await agent.getByTestId("nlu-read-only").waitFor();
    assert.equal(await agent.getByTestId("nlu-settings-save").count(), 0);
    assert.equal(await agent.getByTestId("nlu-set-terms").getAttribute("readonly"), "");
    assert.equal(await agent.getByTestId("nlu-set-terms").inputValue(), "极光扫地机");
    await untranslated();
    await agent.context().close();
  });

  it("raised no errors in the page", () => {
    assert.deepEqual(pageErrors, []);
  });
});
