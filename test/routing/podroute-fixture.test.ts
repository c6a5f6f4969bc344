/**
 * Native pod routing (encapsulation none) under the generated routing protocols, with fixture
 * nodes (containers standing in for Kind nodes: test/support/fixture.ts, so that it runs in a
 * few seconds without Kubernetes; the real-Kind form is test/k8s/kind-podroute.test.ts). Two
 * leaves (la: cp and w1; lb: w2) over two spines, `routing: ospf` and then `routing: bgp`: the
 * node's leaf routes its pod range toward the node and FRR announces it, so the other leaf learns
 * it over both spines. A pod on w1 pings a pod on w2 every 100 ms while one spine link is cut and
 * restored, then the other: the pods keep talking (the loss is printed), the far leaf's route to
 * the pods leaves the cut spine and comes back to both. `npm run test:routing:podroute`: about
 * 3 min here (load 20-40, both modes); not in the default CI run (the Kind form is).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { up as upTopology } from "../../src/app/up.js";
import { hostLinkPrefix } from "../../src/core/names.js";
import { IMAGE_MAP, ensureTestEnv } from "../support/env.js";
import { FixtureProvider } from "../support/fixture.js";
import { assertNothingLeft, eventually, hostLinks, kindaOk, stateDir } from "../support/kinda.js";
import { SPINE_HOP, pingLoss, podrouteSpec, spineCarrying } from "../support/podroute.js";

process.env["KINDA_STATE_DIR"] = stateDir;
const PREFIX = process.env["KINDA_PODROUTE_FIXTURE_PREFIX"] ?? "t-podroute";

let linksBefore: string[];
before(() => {
  ensureTestEnv();
  linksBefore = hostLinks();
});

for (const mode of ["ospf", "bgp"] as const) {
  describe(`encapsulation none, routing: ${mode}, fixture nodes: pods keep talking across a cut spine link`, { timeout: 600_000 }, () => {
    const lab = `${PREFIX}-${mode}`;
    const provider = new FixtureProvider(`kfxp${mode}`);
    let down: (() => Promise<unknown>) | undefined;
    const route = async (device: string, dst: string) =>
      (await kindaOk("exec", "--lab", lab, device, "--", "ip", "route", "show", dst)).trim();
    const ping = (count: number, interval = "0.1") =>
      new Promise<{ sent: number; lost: number; longest: number }>((res) => {
        const child = spawn("ip", [
          "netns",
          "exec",
          provider.podNs("w1", 0),
          "ping",
          "-n",
          "-i",
          interval,
          "-W",
          "1",
          "-c",
          String(count),
          provider.podIp("w2", 0),
        ]);
        let out = "";
        child.stdout.on("data", (b: Buffer) => (out += b.toString()));
        child.on("close", () => res(pingLoss(out, count)));
      });

    before(async () => {
      const h = await upTopology(podrouteSpec(lab, mode), { provider, imageMap: IMAGE_MAP });
      down = () => h.down();
    });
    after(async () => {
      await down?.();
      await provider.delete();
      await assertNothingLeft(lab);
      // only this lab's links: other engineers' labs come and go on a shared machine
      const mine = hostLinks().filter((l) => !linksBefore.includes(l) && l.startsWith(hostLinkPrefix(lab)));
      assert.deepEqual(mine, [], `host links of ${lab} remain`);
    });

    it("the leaves announce their nodes' pod ranges: lb learns w1's over both spines, the pods reach each other", async () => {
      const w1 = provider.fact("w1").podCidrs[0]!;
      const proto = mode === "ospf" ? "ospf" : "bgp";
      const s = await eventually(`lb learns w1's pods (${w1}) from ${mode} over both spines`, 120, async () => {
        const r = await route("lb", w1);
        return r.includes(`proto ${proto}`) && (r.match(/nexthop via/g)?.length ?? 0) === 2;
      });
      console.log(`# ${lab}: lb routes w1's pods over both spines ${s.toFixed(1)} s after up`);
      await eventually("w1's pod reaches w2's", 60, async () => (await ping(1)).lost === 0);
    });

    for (const cable of ["la--s1", "la--s2"]) {
      it(`${cable} cut, then restored: the pods keep talking; the leaves' routes leave the cut spine and come back`, async () => {
        const spine = cable.slice(-2);
        const w2 = provider.fact("w2").podCidrs[0]!;
        const used = await spineCarrying(lab, () => ping(50, "0.02"), 100);
        console.log(`# ${lab}: the pings cross ${used.spine} (s1 sent ${used.carried[0]} packets, s2 ${used.carried[1]} for 50 pings)`);
        const flow = ping(150);
        await new Promise((r) => setTimeout(r, 2000));
        await kindaOk("link", lab, cable, "down");
        await eventually(`la routes w2's pods off ${spine}`, 30, async () => {
          const r = await route("la", w2);
          return r !== "" && !r.includes("nexthop") && !r.includes(`${SPINE_HOP[spine]} `);
        });
        await new Promise((r) => setTimeout(r, 3000));
        await kindaOk("link", lab, cable, "up");
        const cut = await flow;
        console.log(
          `# ${lab}: ${cable} cut and restored, pings every 100 ms: ${cut.lost} of ${cut.sent} unanswered, longest outage ${cut.longest} (~${(cut.longest / 10).toFixed(1)} s)`,
        );
        assert.ok(
          cut.sent - cut.lost > 0 && cut.longest < 50,
          `the pods talk across the cut (longest outage ${cut.longest} probes of 100 ms)`,
        );
        await eventually(
          `la routes w2's pods over both spines again after ${cable} is back`,
          60,
          async () => ((await route("la", w2)).match(/nexthop via/g)?.length ?? 0) === 2,
        );
        const back = await ping(20);
        assert.equal(back.lost, 0, `the pods talk after ${cable} is back (${back.lost} of ${back.sent} lost)`);
      });
    }
  });
}
