/**
 * A P4 switch with `lpm: true` follows static routing's re-route: h1 - sw (P4) - two ways to rc
 * (over ra, cost 1, or rb, cost 3) - h2. Cutting sw--ra, the way in use, makes kinda replace the
 * switch's entries toward h2's side (delete and add by key through its CLI, the inverses recorded)
 * as it replaces the routers' kernel routes: h1 reaches h2 again over rb. Restored: over ra again.
 *
 * By default the image is the STAND-IN kinda-test/p4-standin (scripts/test-env/p4-standin/; not
 * BMv2): its CLI keeps the entries (add, find by key, delete by handle, as BMv2's) and its
 * lpm_forward forwards by them, so a stale entry stops the traffic. About 40 s here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { up as upTopology } from "../../src/app/up.js";
import type { TopologySpec } from "../../src/model/spec.js";
import { StateStore } from "../../src/state/store.js";
import { IMAGE_MAP, P4_IMAGE } from "../support/env.js";
import { assertNothingLeft, kindaOk, ping, stateDir } from "../support/kinda.js";
import { STANDIN, beforeP4Tests, p4Env } from "../support/p4.js";

beforeP4Tests();
const LAB = "pr4-p4rr";

function topology(): TopologySpec {
  return {
    name: LAB,
    routing: "static",
    devices: [
      { name: "h1", kind: "host" },
      {
        name: "sw",
        kind: "p4-switch",
        program: join(p4Env.build, "ipv4_lpm.json"),
        p4info: join(p4Env.build, "ipv4_lpm.p4info.txt"),
        lpm: true,
      },
      { name: "ra", kind: "router" },
      { name: "rb", kind: "router" },
      { name: "rc", kind: "router" },
      { name: "h2", kind: "host" },
    ],
    links: [
      { endpoints: ["h1", "sw"], addresses: ["10.78.1.2/24", "10.78.1.1/24"] },
      { name: "sw--ra", endpoints: ["sw", "ra"], addresses: ["10.78.0.1/30", "10.78.0.2/30"] },
      { name: "sw--rb", endpoints: ["sw", "rb"], addresses: ["10.78.0.5/30", "10.78.0.6/30"], cost: 3 },
      { endpoints: ["ra", "rc"], addresses: ["10.78.0.9/30", "10.78.0.10/30"] },
      { endpoints: ["rb", "rc"], addresses: ["10.78.0.13/30", "10.78.0.14/30"], cost: 3 },
      { endpoints: ["rc", "h2"], addresses: ["10.78.2.1/24", "10.78.2.2/24"] },
    ],
  };
}

/** The stand-in's entry for a prefix ("MAC PORT"), from its table; undefined when it has none. */
async function entryFor(prefix: string): Promise<string | undefined> {
  const lines = (await kindaOk("exec", "--lab", LAB, "sw", "--", "cat", "/run/kinda-p4-standin/lpm")).trim().split("\n");
  const l = lines.find((x) => x.split(" ").includes(prefix));
  return l?.split(" ").slice(-2).join(" ");
}

/** Pings until one is answered: how many went unanswered first (at most `max`). */
async function lostBeforeAnswer(max: number): Promise<number> {
  for (let i = 0; i < max; i++) if (await ping(LAB, "h1", "10.78.2.2")) return i;
  return max;
}

describe(`a P4 switch's LPM entries follow a re-route (image ${P4_IMAGE}${STANDIN ? ": a stand-in, not BMv2" : ""})`, () => {
  it("sw--ra cut: the switch's entries toward h2 move to rb's port and h1 reaches h2 again; restored: back to ra", async () => {
    const store = new StateStore(stateDir);
    const h = await upTopology(topology(), { imageMap: IMAGE_MAP });
    try {
      const lpm = () => store.read(LAB)!.routing!.lpm!["sw"]!;
      const ra = lpm().neighbours.find((n) => n.name === "ra")!;
      const rb = lpm().neighbours.find((n) => n.name === "rb")!;
      const viaRa = `${ra.mac} ${ra.port}`;
      const viaRb = `${rb.mac} ${rb.port}`;
      assert.deepEqual(lpm().entries["10.78.2.0/24"], [ra.mac, String(ra.port)], "recorded at up: h2's subnet over ra");
      assert.ok(await ping(LAB, "h1", "10.78.2.2"), "h1 reaches h2 before the cut");
      if (STANDIN) assert.equal(await entryFor("10.78.2.0/24"), viaRa);

      const out = await kindaOk("link", LAB, "sw--ra", "down");
      assert.match(out, /re-routed \d+ devices/, out);
      const lost = await lostBeforeAnswer(6);
      console.log(`# pr4: sw--ra cut: ${lost} pings unanswered after kinda link returned`);
      assert.ok(lost < 3, `h1 reaches h2 over rb within a few pings (${lost} unanswered)`);
      if (STANDIN) assert.equal(await entryFor("10.78.2.0/24"), viaRb, "the switch's entry was replaced");
      assert.deepEqual(lpm().entries["10.78.2.0/24"], [rb.mac, String(rb.port)], "and recorded");
      // the subnet of the cut link's far side goes over rb too
      assert.deepEqual(lpm().entries["10.78.0.8/30"], [rb.mac, String(rb.port)]);

      await kindaOk("link", LAB, "sw--ra", "up");
      assert.ok((await lostBeforeAnswer(6)) < 3, "h1 reaches h2 after the restore");
      if (STANDIN) assert.equal(await entryFor("10.78.2.0/24"), viaRa, "back over ra");
      assert.deepEqual(lpm().entries["10.78.2.0/24"], [ra.mac, String(ra.port)]);
    } finally {
      await h.down();
    }
    assert.equal(store.read(LAB), undefined, "the lab's state is gone");
    await assertNothingLeft(LAB, p4Env.linksBefore);
  });
});
