/// <reference lib="dom" />
/**
 * `kinda ui` in a real browser (Debian's Chromium, headless, driven by puppeteer-core) against a
 * real lab (h1 -lan1- r1 -core- r2 -lan2- h2): the page draws the lab's devices; the rate shown on
 * r1--r2 rises while iperf3 runs through it; a cut made from the page stops a ping and a restore
 * brings it back; the page refuses to load without its token. `kinda metrics` is scraped and its
 * counters move with the traffic. A screenshot is saved (KINDA_ARTIFACTS, default a temp dir).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { IMAGE_MAP_ARGS, ROOT, ensureTestEnv } from "../support/env.js";
import { eventually, kinda, kindaOk, kindaSpawn, ping, stateDir } from "../support/kinda.js";

process.env["KINDA_STATE_DIR"] = stateDir;
const LAB = "uit";
const CHROMIUM = process.env["KINDA_CHROMIUM"] ?? "/usr/bin/chromium";
const ARTIFACTS = process.env["KINDA_ARTIFACTS"] ?? mkdtempSync(join(tmpdir(), "kinda-artifacts-"));

/** Starts `kinda VERB LAB` and returns its URL and token once it prints them. */
async function startServer(verb: "ui" | "metrics") {
  const child = kindaSpawn([verb, LAB]);
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  await eventually(`kinda ${verb} prints its URL`, 60, async () => /http:\/\/127\.0\.0\.1:\d+\/\S*token=\S+/.test(out));
  const url = /(http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(out)![1]!;
  return { child, url, token: new URL(url).searchParams.get("token")! };
}

async function edgeOf(page: Page, a: string, b: string): Promise<number> {
  return page.evaluate(
    (a, b) =>
      [...document.querySelectorAll("line.link")].findIndex(
        (l) =>
          (l.getAttribute("data-a") === a && l.getAttribute("data-b") === b) ||
          (l.getAttribute("data-a") === b && l.getAttribute("data-b") === a),
      ),
    a,
    b,
  );
}

describe("kinda ui in a browser, kinda metrics scraped", { timeout: 600_000 }, () => {
  let browser: Browser;
  let ui: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    ensureTestEnv();
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/test-env/setup.sh installs Debian's chromium`);
    await kindaOk("up", join(ROOT, "examples", "labs", "two-routers"), "--name", LAB, ...IMAGE_MAP_ARGS);
    await eventually("h1 reaches h2", 90, () => ping(LAB, "h1", "10.2.0.10"));
    await kindaOk("exec", "--lab", LAB, "h2", "--", "iperf3", "-s", "-D");
    ui = await startServer("ui");
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
  });
  after(async () => {
    await browser?.close();
    ui?.child.kill("SIGINT");
    await kinda("down", LAB);
  });

  it("without the token the page is refused", async () => {
    const page = await browser.newPage();
    const r = await page.goto(ui.url.replace(/\?token=.*/, ""));
    assert.equal(r?.status(), 401);
    await page.close();
  });

  it("draws the devices, shows the rate of r1--r2 rising under iperf3, and cuts and restores it from the page", async () => {
    const page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 700 });
    await page.goto(ui.url);
    await page.waitForSelector("#graph svg g.device");
    const drawn = await page.$$eval("#graph svg g.device", (gs) => gs.map((g) => g.getAttribute("data-name")).sort());
    assert.deepEqual(drawn, ["h1", "h2", "r1", "r2"]);
    const i = await edgeOf(page, "r1", "r2");
    assert.ok(i >= 0, "an edge r1--r2 is drawn");
    const bps = () => page.$eval(`text.rate[data-edge="${i}"]`, (t) => Number(t.getAttribute("data-bps") ?? "0"));
    await eventually(
      "the page has refreshed once",
      30,
      async () => (await page.evaluate(() => document.body.dataset["updated"])) !== undefined,
    );
    const idle = await bps();
    const iperf = kinda("exec", "--lab", LAB, "h1", "--", "iperf3", "-c", "10.2.0.10", "-t", "12");
    let seen = 0;
    await eventually("the rate on r1--r2 rises above 1 Mbit/s while iperf3 runs", 30, async () => {
      seen = await bps();
      return seen > 1e6;
    });
    assert.ok(seen > idle, `rate ${seen} > idle ${idle}`);
    await page.screenshot({ path: join(ARTIFACTS, "kinda-ui.png") });
    await iperf;

    // cut from the page: click the link, press Cut
    await page.evaluate(
      (i) => (document.querySelectorAll("line.link")[i] as SVGElement).dispatchEvent(new MouseEvent("click", { bubbles: true })),
      i,
    );
    await page.waitForSelector("#panel", { visible: true });
    assert.equal(await page.$eval("#p-title", (e) => e.textContent), "r1--r2");
    await page.click("#p-down");
    await page.waitForFunction(() => document.getElementById("p-result")?.textContent === "done", { timeout: 30_000 });
    assert.equal(await ping(LAB, "h1", "10.2.0.10"), false, "no answer across the cut");
    await page.waitForFunction(
      (i) => document.querySelectorAll("line.link")[i]?.getAttribute("data-cut") === "true",
      { timeout: 30_000 },
      i,
    );
    const status = await kindaOk("status", LAB, "--links", "--json");
    assert.ok(
      (JSON.parse(status) as { endpoint: string; cut: boolean }[]).some((r) => r.endpoint.startsWith("r1:") && r.cut),
      "kinda status sees the cut",
    );
    await page.click("#p-up");
    await page.waitForFunction(() => document.getElementById("p-result")?.textContent === "done", { timeout: 30_000 });
    await eventually("h1 reaches h2 again after the restore", 30, () => ping(LAB, "h1", "10.2.0.10"));
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.close();
  });

  it("kinda metrics: refused without the token; its byte counters on r1 grow with traffic", async () => {
    const m = await startServer("metrics");
    try {
      const base = m.url.replace(/\?.*$/, "");
      assert.equal((await fetch(base)).status, 401);
      const scrape = async () => {
        const text = await (await fetch(base, { headers: { authorization: `Bearer ${m.token}` } })).text();
        const v = /kinda_interface_transmit_bytes_total\{lab="uit",device="r1",interface="eth1",link="domain core"\} (\d+)/.exec(text);
        assert.ok(v, text.slice(0, 2000));
        return Number(v[1]);
      };
      const before = await scrape();
      await kindaOk("exec", "--lab", LAB, "h1", "--", "ping", "-c", "20", "-i", "0.05", "-s", "1000", "10.2.0.10");
      const afterBytes = await scrape();
      assert.ok(afterBytes >= before + 20 * 1000, `r1's eth1 sent ${afterBytes - before} bytes for 20 pings of 1000 bytes`);
    } finally {
      m.child.kill("SIGINT");
    }
  });
});
