/**
 * The k=4 fat tree (4 cores, 8 aggregation and 8 edge routers, 16 hosts; topology/generators.ts
 * fatTree) with one cable cut at a time, every one of its 32 cables between routers in turn,
 * through the CLI: after each cut every host reaches every other (240 ordered pairs), and pings
 * every 10 ms on 16 flows across pods (each host to the host in the same place of the next pod)
 * measure the worst flow's loss and the time from `kinda link` to the last flow back.
 * Its own command, not in the integration run (36 devices, 32 cuts per mode):
 * `npm run test:routing:fat-tree` (KINDA_ROUTING_MODES=static,ospf,bgp for the protocols; default
 * static). scripts/test.sh runs static with every cable and OSPF, BGP with pod 1's cables.
 * KINDA_FATTREE_CABLES (a regular expression over the cable names, e.g. `agg1_|edge1_` for the cables of pod
 * 1: its 4 edge cables and its 4 core cables) cuts only the cables it matches (the CI form);
 * KINDA_FATTREE_LAB names the labs (default rt4-ft, a lab per mode: rt4-ft-static, ...).
 */
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { fatTree } from "../../src/topology/generators.js";
import { IMAGE_MAP_ARGS, ensureTestEnv } from "../support/env.js";
import { addressOn, assertNothingLeft, converge, kinda, kindaOk, stateDir } from "../support/kinda.js";
import { probe, routesOver, unreachablePairs } from "../support/probe.js";

process.env["KINDA_STATE_DIR"] = stateDir;
type Mode = "static" | "ospf" | "bgp";
const PROTOCOL_SECONDS: Record<Mode, number> = { static: 0, ospf: 10, bgp: 20 };

before(() => ensureTestEnv());

function suite(mode: Mode): void {
  const spec = { ...fatTree({ k: 4 }), routing: mode };
  const isHost = (n: string) => spec.devices.find((d) => d.name === n)?.kind === "host";
  const edgeOf = (h: string) => spec.links.find((l) => l.endpoints.includes(h))!.endpoints.find((e) => e !== h)!;
  const hosts = new Map(spec.devices.filter((d) => d.kind === "host").map((d) => [d.name, addressOn(spec, d.name, edgeOf(d.name))]));
  const names = new Map([...hosts].map(([h, a]) => [a, h]));
  const only = new RegExp(process.env["KINDA_FATTREE_CABLES"] ?? "");
  const cables = spec.links
    .filter((l) => !l.endpoints.some(isHost))
    .map((l) => l.name!)
    .filter((c) => only.test(c));
  assert.ok(cables.length, `KINDA_FATTREE_CABLES=${process.env["KINDA_FATTREE_CABLES"]} matches no cable of the fat tree`);
  // h<pod>_<edge>_<n> pings h<pod+1>_<edge>_<n>: 16 flows over the cores
  const next = (h: string) => h.replace(/^h(\d+)/, (_, p: string) => `h${(Number(p) % 4) + 1}`);
  const flows = new Map([...hosts.keys()].map((h) => [h, [hosts.get(next(h))!]]));

  describe(`the k=4 fat tree, routing: ${mode}, one cable cut at a time`, () => {
    const LAB = `${process.env["KINDA_FATTREE_LAB"] ?? "rt4-ft"}-${mode}`;
    let upSeconds = 0;
    const results: { cable: string; worstLost: number; outageSeconds: number; backSeconds: number }[] = [];
    const bound = {
      protocolSeconds: PROTOCOL_SECONDS[mode],
      get measuredSeconds() {
        return upSeconds;
      },
      factor: 10,
    };
    const allReach = async (what: string) => {
      if (mode === "static") return assert.deepEqual(await unreachablePairs(LAB, hosts), [], what);
      await converge(`${what}: every host pair reaches each other`, bound, async () => (await unreachablePairs(LAB, hosts)).length === 0);
    };
    const inUse = async (cable: string) => {
      const [a, b] = spec.links.find((x) => x.name === cable)!.endpoints;
      await converge(`${cable}: ${a} and ${b} route over it`, bound, async () =>
        (await Promise.all([routesOver(LAB, a, addressOn(spec, a, b), mode), routesOver(LAB, b, addressOn(spec, b, a), mode)])).every(
          Boolean,
        ),
      );
    };
    before(async () => {
      const f = join(mkdtempSync(join(tmpdir(), "kinda-rt-ft-")), `fat-tree-${mode}.yaml`);
      writeFileSync(f, stringify(spec));
      const t0 = Date.now();
      await kindaOk("up", f, "--name", LAB, ...IMAGE_MAP_ARGS);
      upSeconds = (Date.now() - t0) / 1000;
    });
    after(async () => {
      await kinda("down", LAB);
      await assertNothingLeft(LAB);
      if (!results.length) return;
      const worst = Math.max(...results.map((r) => r.worstLost));
      const slowest = Math.max(...results.map((r) => r.backSeconds));
      console.log(
        `# fat tree ${mode}: ${results.length} cuts; worst flow lost ${worst} probes (~${worst * 10} ms), slowest back ${slowest.toFixed(2)} s`,
      );
      if (process.env["KINDA_ROUTING_RESULTS"])
        appendFileSync(process.env["KINDA_ROUTING_RESULTS"], JSON.stringify({ mode, lab: "fat-tree-4", results }) + "\n");
    });

    it("before any cut every host reaches every other", async () => {
      await allReach("after up");
      if (mode !== "static") for (const c of cables) await inUse(c);
    });

    for (const cable of cables)
      it(`cut ${cable}: every host pair still reaches each other`, async () => {
        const p = probe(LAB, flows, names);
        await p.started;
        const t0 = Date.now() / 1000;
        let stopped = false;
        try {
          const said = await kindaOk("link", LAB, cable, "down");
          assert.doesNotMatch(said, /split/, said);
          if (mode === "static") assert.match(said, /re-routed \d+ devices?|routes unchanged/, said);
          await allReach(`after cutting ${cable}`);
          stopped = true;
          const lost = await p.stop();
          const hit = lost.filter((l) => l.longest > 0);
          results.push({
            cable,
            worstLost: Math.max(0, ...lost.map((l) => l.longest)),
            outageSeconds: Math.max(0, ...hit.map((l) => l.outageSeconds!)),
            backSeconds: Math.max(0, ...hit.map((l) => l.backAt! - t0)),
          });
          console.log(`# fat tree ${mode} ${cable}: ${JSON.stringify(results.at(-1))}`);
        } finally {
          if (!stopped) await p.stop().catch(() => undefined);
          await kindaOk("link", LAB, cable, "up");
          if (mode !== "static") await inUse(cable);
        }
      });

    it("with every cable restored every pair reaches each other", async () => {
      await allReach("after every cable was restored");
    });
  });
}

for (const mode of (process.env["KINDA_ROUTING_MODES"] ?? "static").split(",") as Mode[]) suite(mode);
