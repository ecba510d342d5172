// Customers rate the bot's answers in the chat widget, in a real browser: a customer on the
// demo shop page asks a demo FAQ question, presses 👎 under the answer, and the question shows
// up in the admin's knowledge-gap list; the choice is still shown after a reload, and changing
// it to 👍 counts once. Runs with `node --test` and Debian's chromium against `lingxi serve --demo`.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer, SUPERVISOR_EMAIL, DEMO_PASSWORD, CHROMIUM_ARGS, CHROMIUM_PATH } from "./server.js";

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "artifacts");
const QUESTION = "怎么申请退货";

async function json(res) {
  const body = await res.json();
  if (!res.ok) throw new Error(`${res.status}: ${JSON.stringify(body)}`);
  return body;
}

describe("rating answers in the widget", { timeout: 120000 }, () => {
  let server;
  let browser;
  let page;
  let admin;
  const errors = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer({ bot: true });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    const login = await json(await fetch(server.baseUrl + "/api/v1/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: SUPERVISOR_EMAIL, password: DEMO_PASSWORD }),
    }));
    admin = login.token;
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const gaps = async () =>
    json(await fetch(server.baseUrl + "/api/v1/knowledge/gaps", { headers: { Authorization: `Bearer ${admin}` } }));
  const answer = () => page.locator('[data-testid=lingxi-message][data-sender="bot"]').filter({ hasText: "申请售后" }).last();

  async function openWidget() {
    await page.getByTestId("lingxi-launcher").click();
    await page.locator('[data-testid=lingxi-status][data-state="online"]').waitFor({ timeout: 5000 });
  }

  it("👎 under an answer puts the question on the gap list", async () => {
    const context = await browser.newContext({ locale: "zh-CN", viewport: { width: 1280, height: 860 } });
    await context.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => route.fulfill({ status: 204, body: "" }));
    page = await context.newPage();
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(server.baseUrl + "/demo");
    await openWidget();
    const before = await gaps();
    assert.ok(!JSON.stringify(before.clusters).includes(QUESTION), "not a gap before the rating");

    await page.getByTestId("lingxi-input").fill(QUESTION);
    await page.getByTestId("lingxi-input").press("Enter");
    await answer().waitFor({ timeout: 5000 });
    // Accessible buttons, labelled in the widget's language; nothing chosen yet.
    const down = answer().getByRole("button", { name: "没用" });
    const up = answer().getByRole("button", { name: "有用" });
    assert.equal(await down.textContent(), "👎");
    assert.equal(await down.getAttribute("aria-pressed"), "false");
    assert.equal(await up.getAttribute("aria-pressed"), "false");
    // The greeting is no answer: no thumbs under it.
    assert.equal(await page.locator(".msg").first().getByTestId("lingxi-rate").count(), 0);

    await down.click();
    await page.waitForFunction(() => {
      const root = document.querySelector("[data-testid=lingxi-widget]").shadowRoot;
      return root.querySelector("[data-testid=lingxi-rate-down][aria-pressed=true]") !== null;
    }, null, { timeout: 5000 });
    assert.equal(await up.getAttribute("aria-pressed"), "false");
    await page.screenshot({ path: join(ARTIFACTS, "rating-not-useful.png") });

    const after = await gaps();
    const cluster = after.clusters.find((c) => c.examples.includes(QUESTION));
    assert.ok(cluster, JSON.stringify(after.clusters));
    assert.equal(cluster.kinds.not_useful, 1);
    assert.equal(after.feedback.answers.not_useful, before.feedback.answers.not_useful + 1);
  });

  it("the rating survives a reload, and changing it counts once", async () => {
    const before = await gaps();
    await page.reload();
    await openWidget();
    await answer().waitFor({ timeout: 5000 });
    assert.equal(await answer().getByTestId("lingxi-rate-down").getAttribute("aria-pressed"), "true");
    assert.equal(await answer().getByTestId("lingxi-rate-up").getAttribute("aria-pressed"), "false");

    await answer().getByTestId("lingxi-rate-up").click();
    await page.waitForFunction(() => {
      const root = document.querySelector("[data-testid=lingxi-widget]").shadowRoot;
      return root.querySelector("[data-testid=lingxi-rate-up][aria-pressed=true]") !== null;
    }, null, { timeout: 5000 });
    assert.equal(await answer().getByTestId("lingxi-rate-down").getAttribute("aria-pressed"), "false");
    const after = await gaps();
    assert.equal(after.feedback.answers.not_useful, before.feedback.answers.not_useful - 1);
    assert.equal(after.feedback.answers.useful, before.feedback.answers.useful + 1);
    assert.deepEqual(errors, []);
  });
});
