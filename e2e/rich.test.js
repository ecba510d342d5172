// Rich answers in the customer chat widget, in a real browser: a knowledge-base answer shows
// its link (opening in a new tab, without access to the page), "did you mean" shows the
// suggested questions as buttons and pressing one gets that question's answer, and an agent's
// rich reply shows its image and buttons while a hostile URL or markup never becomes a link or
// HTML. Runs with `node --test` and Debian's chromium against `lingxi serve --demo`.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer, AGENT_EMAIL, DEMO_PASSWORD, CHROMIUM_ARGS, CHROMIUM_PATH } from "./server.js";

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "artifacts");

async function json(res) {
  const body = await res.json();
  if (!res.ok) throw new Error(`${res.status}: ${JSON.stringify(body)}`);
  return body;
}

describe("rich answers in the widget", { timeout: 120000 }, () => {
  let server;
  let browser;
  let page;
  const errors = [];

  /** A new visitor (own browser context, so own widget token and customer) with the widget open. */
  async function visitor() {
    const context = await browser.newContext({ locale: "zh-CN", viewport: { width: 1280, height: 860 } });
    // Nothing leaves the machine: image URLs outside the test server are answered empty.
    await context.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => route.fulfill({ status: 204, body: "" }));
    const p = await context.newPage();
    p.on("pageerror", (e) => errors.push(e.message));
    p.on("dialog", (d) => { errors.push("a dialog opened: " + d.message()); d.dismiss(); });
    await p.goto(server.baseUrl + "/demo");
    await p.getByTestId("lingxi-launcher").click();
    await p.locator('[data-testid=lingxi-status][data-state="online"]').waitFor({ timeout: 5000 });
    return p;
  }

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer({ bot: true });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const bots = () => page.locator('[data-testid=lingxi-message][data-sender="bot"]');

  async function say(text) {
    const n = await bots().count();
    await page.getByTestId("lingxi-input").fill(text);
    await page.getByTestId("lingxi-input").press("Enter");
    await bots().nth(n).waitFor({ timeout: 5000 });
    return bots().nth(n);
  }

  it("an answer shows its link, opening in a new tab without access to the page", async () => {
    page = await visitor();
    const answer = await say("怎么申请退货");
    assert.match(await answer.textContent(), /申请售后/);
    const link = answer.getByTestId("lingxi-link");
    assert.equal(await link.textContent(), "退换货政策");
    assert.equal(await link.getAttribute("href"), "https://help.lingxi.example/returns");
    assert.equal(await link.getAttribute("target"), "_blank");
    assert.match(await link.getAttribute("rel"), /noopener/);
  });

  it("did-you-mean offers buttons, and pressing one gets that question's answer", async () => {
    // A fresh customer: after a return question, two more about warranty read as a complaint
    // and the hand-off policy (rightly) hands over instead of answering.
    page = await visitor();
    await say("保修怎么弄");
    const box = page.getByTestId("lingxi-suggestions").last();
    const button = box.getByRole("button", { name: "怎么申请保修" });
    await button.waitFor({ timeout: 3000 });
    const n = await bots().count();
    await button.click();
    // The button sent its question as the customer's message, and the bot answered that entry.
    await page.locator('[data-testid=lingxi-message][data-sender="customer"]').filter({ hasText: "怎么申请保修" }).last().waitFor({ timeout: 3000 });
    await bots().nth(n).waitFor({ timeout: 5000 });
    const answer = await bots().nth(n).textContent();
    assert.doesNotMatch(answer, /您是想问/, answer);
    assert.match(answer, /保修/, answer);
    assert.equal(await box.count(), 0, "the buttons are gone once one was pressed");
  });

  it("an agent's rich reply shows its image and buttons, never markup or a script URL", async () => {
    const login = await json(await fetch(server.baseUrl + "/api/v1/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: AGENT_EMAIL, password: DEMO_PASSWORD }),
    }));
    const auth = { Authorization: `Bearer ${login.token}`, "Content-Type": "application/json" };
    // This visitor's conversation, read with its own widget token.
    const token = await page.evaluate(() => Object.entries(localStorage).find(([k]) => k.startsWith("lingxi.widget."))[1]);
    const history = await json(await fetch(server.baseUrl + "/api/v1/widget/messages", { headers: { Authorization: `Bearer ${token}` } }));
    const conv = { id: history.messages[0].conversation_id };
    // The API refuses a javascript: link outright…
    const bad = await fetch(`${server.baseUrl}/api/v1/conversations/${conv.id}/messages`, {
      method: "POST", headers: auth,
      body: JSON.stringify({ content: { type: "rich", text: "x", links: [{ title: "x", url: "javascript:alert(1)" }] } }),
    });
    assert.equal(bad.status, 400);
    // …and markup in text and labels stays text.
    const rich = {
      type: "rich", text: "<img src=x onerror=alert(1)>看看这款",
      images: [{ url: server.baseUrl + "/demo/none.png", alt: "扫地机器人" }],
      buttons: [{ label: "<b>要这个</b>", payload: "要这个" }, { label: "商品页", url: "https://shop.lingxi.example/s1" }],
    };
    const sent = await fetch(`${server.baseUrl}/api/v1/conversations/${conv.id}/messages`, { method: "POST", headers: auth, body: JSON.stringify({ content: rich }) });
    assert.equal(sent.status, 201, await sent.text());
    const msg = page.locator('[data-testid=lingxi-message][data-sender="agent"]').last();
    await msg.waitFor({ timeout: 5000 });
    assert.match(await msg.textContent(), /<img src=x onerror=alert\(1\)>看看这款/);
    assert.equal(await msg.locator("b").count(), 0);
    const img = msg.getByTestId("lingxi-image");
    assert.equal(await img.getAttribute("alt"), "扫地机器人");
    assert.equal(await msg.getByTestId("lingxi-link").getAttribute("href"), "https://shop.lingxi.example/s1");
    const quick = page.getByTestId("lingxi-suggestions").last().getByRole("button");
    assert.deepEqual(await quick.allTextContents(), ["<b>要这个</b>"]);
    await page.screenshot({ path: join(ARTIFACTS, "widget-rich.png") });
    assert.deepEqual(errors, []);
  });
});
