/**
 * Kathara's run-time verbs on a real lab (examples/labs/two-routers): list, connect, restart of
 * one device and of the lab, wipe (refused without confirmation; with it, everything of the lab
 * goes). The wipe here is limited to this test's lab: the machine is shared with other labs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { wipe, wipePlan } from "../../src/app/verbs.js";
import { StateStore } from "../../src/state/store.js";
import { IMAGE_MAP_ARGS, ROOT, ensureTestEnv } from "../support/env.js";
import { assertNothingLeft, docker, kinda, kindaOk, ping, stateDir } from "../support/kinda.js";

const LAB = "t-verbs";
const DIR = join(ROOT, "examples", "labs", "two-routers");
const containerId = async (device: string) =>
  (await docker.listContainers({ filters: { label: [`kinda.lab=${LAB}`, `kinda.device=${device}`] } }))[0]?.Id;

before(async () => {
  ensureTestEnv();
  await kindaOk("up", DIR, "--name", LAB, ...IMAGE_MAP_ARGS);
});
after(async () => {
  await kinda("down", LAB);
});

describe("run-time verbs", () => {
  it("kinda list shows the lab with its devices running", async () => {
    const labs = JSON.parse(await kindaOk("list", "--json")) as { name: string; manager: string; running: number; devices: number }[];
    const l = labs.find((x) => x.name === LAB);
    assert.deepEqual([l?.manager, l?.running, l?.devices], ["kinda", 4, 4]);
  });

  it("kinda connect runs the device's shell (commands from standard input when not on a terminal)", async () => {
    const r = await kindaOk("connect", "--lab", LAB, "r1");
    // stdin of the spawned CLI is empty: the shell starts and ends at once, successfully
    assert.equal(r, "");
  });

  it("kinda restart LAB DEVICE makes the device again, with its links and start-up", async () => {
    const before = await containerId("r1");
    await kindaOk("restart", LAB, "r1");
    const now = await containerId("r1");
    assert.ok(now && now !== before, "a new container");
    assert.ok(await ping(LAB, "h1", "10.2.0.10"), "h1 reaches h2 through the restarted r1 (its links, addresses and routes)");
  });

  it("kinda restart LAB makes the whole lab again", async () => {
    const before = await containerId("h1");
    await kindaOk("restart", LAB);
    assert.notEqual(await containerId("h1"), before);
    const st = JSON.parse(await kindaOk("status", LAB, "--json")) as { devices: { running: boolean }[] }[];
    assert.ok(st[0]!.devices.every((d) => d.running));
  });

  it("kinda wipe without --yes and without a terminal removes nothing", async () => {
    const r = await kinda("wipe");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not confirmed: nothing removed/);
    assert.match(r.stdout, new RegExp(`lab ${LAB}`));
    assert.ok(await containerId("r1"));
  });

  it("wipe removes every object of the labs it is given", async () => {
    const plan = await wipePlan({ store: new StateStore(stateDir), only: (l) => l === LAB });
    assert.deepEqual(plan.labs, [LAB]);
    const r = await wipe(plan, { store: new StateStore(stateDir) });
    assert.deepEqual(r.failed, []);
    await assertNothingLeft(LAB);
  });
});
