// A guided troubleshooting flow in the customer chat widget, as a customer uses it: the demo
// shop's bot walks a robot-vacuum charging problem step by step, each choice offered as
// buttons; clicking them advances the flow until it is solved. Then order tracking with slot
// filling: asked without a number, the bot asks for it and answers with the live status.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer, CHROMIUM_ARGS, CHROMIUM_PATH } from "./server.js";

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "artifacts");

describe("guided flows and tools in the widget", { timeout: 120000 }, () => {
  let server;
  let browser;
  let page;
  const errors = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer({ bot: true });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ locale: "zh-CN", viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(server.baseUrl + "/demo");
    await page.getByTestId("lingxi-launcher").click();
    await page.locator('[data-testid=lingxi-status][data-state="online"]').waitFor({ timeout: 5000 });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const bot = () => page.locator('[data-testid=lingxi-message][data-sender="bot"]');
  const say = async (text) => {
    await page.getByTestId("lingxi-input").fill(text);
    await page.getByTestId("lingxi-input").press("Enter");
  };
  const buttons = () => page.getByTestId("lingxi-suggestions").last().locator("button");

  it("walks the vacuum charging flow with buttons until solved", async () => {
    await say("扫地机器人不充电了");
    await bot().filter({ hasText: "充电触点" }).waitFor({ timeout: 5000 });
    await bot().filter({ hasText: "指示灯亮吗" }).waitFor({ timeout: 5000 });
    await buttons().first().waitFor({ timeout: 3000 });
    assert.deepEqual(await buttons().allTextContents(), ["亮", "不亮"]);
    await buttons().filter({ hasText: /^亮$/ }).click();
    await bot().filter({ hasText: "靠墙" }).waitFor({ timeout: 5000 });
    await bot().filter({ hasText: "现在开始充电了吗" }).waitFor({ timeout: 5000 });
    await buttons().filter({ hasText: "在充电了" }).waitFor({ timeout: 3000 });
    assert.deepEqual(await buttons().allTextContents(), ["在充电了", "还是不充"]);
    await buttons().filter({ hasText: "在充电了" }).click();
    await bot().filter({ hasText: "问题解决" }).waitFor({ timeout: 5000 });
    await page.screenshot({ path: join(ARTIFACTS, "widget-flow.png") });
  });

  it("asks for the order number, then answers with the live status", async () => {
    await say("我的快递到哪了");
    await bot().filter({ hasText: "请提供订单号" }).waitFor({ timeout: 5000 });
    await say("LX20261118002");
    await bot().filter({ hasText: "杭州转运中心" }).waitFor({ timeout: 5000 });
    assert.deepEqual(errors, []);
  });
});
