/**
 * Bench of routing that reacts to a cut (`npm run bench -- --only reroute`, or `reroute-200`):
 *
 * - `reroute`: the irregular fabric (examples/irregular-fabric.yaml) under routing static, ospf
 *   and bgp, side by side. Per mode the lab is brought up with the CLI; every host pings every
 *   other every 10 ms (30 flows, test/support/probe.ts); `kinda link LAB CABLE down` cuts a
 *   cable; the bench waits until every pair answers again and reads, per flow, the probes lost
 *   and when it was answered again. Figures: the worst flow's probes lost, and the time from the
 *   `kinda link` command to the last flow back. Baseline, measured in the same run on the same
 *   lab: a `kinda link` process that re-routes nothing (a rate set, then cleared on the same
 *   cable), the floor of any cut made with the CLI. Ratios: time back / that baseline.
 * - `reroute-200`: the issue's target, the whole static re-route of a 200-device leaf-spine
 *   (4 spines, 14 leaves, 13 hosts each) applied in under 1 s after the cut: the lab deployed
 *   through the engine, one spine-leaf cable (spine1--leaf1) cut through the library (changeLink), the re-route's
 *   own time (plan + apply, RerouteResult.ms) against 1000 ms, with the plan alone beside it, and
 *   pings every 10 ms across the cut. KINDA_BENCH_REROUTE_SIZE=leaves,perLeaf picks a smaller
 *   leaf-spine where 200 devices do not fit (the plan alone is still timed at 200).
 *
 * Lab names: `${KINDA_BENCH_PREFIX:-bench}-rt-MODE`, `...-rt200`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { changeLink } from "../src/app/live.js";
import { planTopology } from "../src/app/topology.js";
import { deploy, teardown } from "../src/engine/lab.js";
import { downEnds, planReroute } from "../src/plan/reroute.js";
import { DockerRuntime } from "../src/runtime/docker.js";
import { StateStore } from "../src/state/store.js";
import { hostKernel as kernel } from "../src/net/kernel.js";
import { leafSpine } from "../src/topology/generators.js";
import { loadTopologyYaml } from "../src/topology/yaml.js";
import { IMAGE_MAP, IMAGE_MAP_ARGS, ROOT } from "../test/support/env.js";
import { addressOn, kinda, kindaOk } from "../test/support/kinda.js";
import { probe, routesOver, unreachablePairs } from "../test/support/probe.js";

type Mode = "static" | "ospf" | "bgp";
const MODES: Mode[] = ["static", "ospf", "bgp"];
const PREFIX = process.env["KINDA_BENCH_PREFIX"] ?? "bench";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export interface RerouteModeRow {
  mode: Mode;
  cable: string;
  /** `kinda up` of the lab, seconds (this run's measure of the machine, for the convergence bound). */
  upSeconds: number;
  worstLost: number;
  flowsHit: number;
  /** From the `kinda link ... down` command to the last flow answered again. */
  backSeconds: number;
  /** The longest outage a flow saw (its last answer before the gap to its first after). */
  outageSeconds: number;
  /** The `kinda link ... down` process alone. */
  cutCommandSeconds: number;
  /** The baseline: a `kinda link` process that re-routes nothing, median of 4, same lab. */
  baselineSeconds: number;
}

async function until(what: string, seconds: number, f: () => Promise<boolean>): Promise<void> {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > seconds * 1000) throw new Error(`${what}: not within ${seconds.toFixed(0)} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function timedOk(...args: string[]): Promise<[string, number]> {
  const t = performance.now();
  const out = await kindaOk(...args);
  return [out, (performance.now() - t) / 1000];
}

/** One mode on the irregular fabric: up, converge, a baseline, each cable cut with the probes running, down. */
async function fabricMode(mode: Mode, cables: readonly string[]): Promise<RerouteModeRow[]> {
  const file = join(ROOT, "examples", "irregular-fabric.yaml");
  const spec = loadTopologyYaml(file).spec;
  const dir = mkdtempSync(join(tmpdir(), "kinda-bench-rt-"));
  const f = join(dir, `irregular-${mode}.yaml`);
  writeFileSync(f, readFileSync(file, "utf8").replace(/^routing: static$/m, `routing: ${mode}`));
  const hosts = new Map(spec.devices.filter((d) => d.kind === "host").map((d) => [d.name, addressOn(spec, d.name, `l${d.name[1]}`)]));
  const names = new Map([...hosts].map(([h, a]) => [a, h]));
  const lab = `${PREFIX}-rt-${mode}`;
  const rows: RerouteModeRow[] = [];
  const [, upSeconds] = await timedOk("up", f, "--name", lab, ...IMAGE_MAP_ARGS);
  // never an idle-machine bound: the protocol's timers plus ten times this lab's own `up`
  // capped at 3 min a wait, so a loaded machine gives an answer (a mode that did not converge) instead of hanging for half an hour
  const bound = Math.min(180, (mode === "static" ? 0 : mode === "ospf" ? 10 : 20) + 10 * upSeconds);
  const inUse = async (cable: string) => {
    const [a, b] = spec.links.find((l) => l.name === cable)!.endpoints;
    await until(`${lab}: ${a} and ${b} route over ${cable}`, bound, async () =>
      (await Promise.all([routesOver(lab, a, addressOn(spec, a, b), mode), routesOver(lab, b, addressOn(spec, b, a), mode)])).every(
        Boolean,
      ),
    );
  };
  try {
    await until(`${lab}: every pair reaches each other after up`, bound, async () => (await unreachablePairs(lab, hosts)).length === 0);
    for (const l of spec.links) if (l.endpoints.every((e) => /^[sl]\d$/.test(e))) await inUse(l.name!);
    for (const cable of cables) {
      const base: number[] = [];
      for (let i = 0; i < 2; i++)
        for (const args of [["--rate", "10gbit"], ["--clear"]]) base.push((await timedOk("link", lab, cable, ...args))[1]);
      const p = probe(lab, new Map([...hosts.keys()].map((h) => [h, [...hosts].filter(([o]) => o !== h).map(([, a]) => a)])), names);
      await p.started;
      const t0 = Date.now() / 1000;
      const [, cutCommandSeconds] = await timedOk("link", lab, cable, "down");
      await until(
        `${lab}: every pair reaches each other after cutting ${cable}`,
        bound,
        async () => (await unreachablePairs(lab, hosts)).length === 0,
      );
      await new Promise((r) => setTimeout(r, 1000));
      const lost = await p.stop();
      const hit = lost.filter((l) => l.longest > 0);
      rows.push({
        mode,
        cable,
        upSeconds,
        worstLost: Math.max(0, ...lost.map((l) => l.longest)),
        flowsHit: hit.length,
        backSeconds: Math.max(0, ...hit.map((l) => l.backAt! - t0)),
        outageSeconds: Math.max(0, ...hit.map((l) => l.outageSeconds!)),
        cutCommandSeconds,
        baselineSeconds: median(base),
      });
      await kindaOk("link", lab, cable, "up");
      await inUse(cable);
    }
  } finally {
    await kinda("down", lab);
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** KINDA_BENCH_REROUTE_CUTS (default s2-l1,s1-l2): the cables cut in each mode; KINDA_BENCH_REROUTE_MODES (default static,ospf,bgp): the modes. */
export async function rerouteScenario(onMode: (rows: readonly RerouteModeRow[]) => void = () => undefined): Promise<RerouteModeRow[]> {
  const cables = (process.env["KINDA_BENCH_REROUTE_CUTS"] ?? "s2-l1,s1-l2").split(",").filter(Boolean);
  const modes = (process.env["KINDA_BENCH_REROUTE_MODES"] ?? MODES.join(","))
    .split(",")
    .filter((m): m is Mode => MODES.includes(m as Mode));
  const rows: RerouteModeRow[] = [];
  for (const m of modes) {
    const t = performance.now();
    try {
      const mine = await fabricMode(m, cables);
      rows.push(...mine);
      onMode(mine);
      process.stderr.write(`reroute: ${m} done in ${((performance.now() - t) / 1000).toFixed(0)} s\n`);
    } catch (e) {
      // one mode that does not converge in its bound is a result too; the other modes still run
      process.stderr.write(
        `reroute: ${m} did not finish after ${((performance.now() - t) / 1000).toFixed(0)} s: ${(e as Error).message}\n`,
      );
    }
  }
  return rows;
}

export function formatReroute(rows: readonly RerouteModeRow[]): string {
  const out = [
    "re-route on the irregular fabric, one cable cut, 30 flows pinged every 10 ms; back = from the `kinda link ... down` command to the last flow answered again; baseline = a `kinda link` process that re-routes nothing (rate set and cleared on the same cable), same lab, same run",
    "mode    cable   lost(worst flow)  outage s  flows hit  back s  cut cmd s  baseline s  back/baseline",
  ];
  for (const r of rows)
    out.push(
      `${r.mode.padEnd(7)} ${r.cable.padEnd(7)} ${String(r.worstLost).padStart(16)}  ${r.outageSeconds.toFixed(2).padStart(8)}  ${String(r.flowsHit).padStart(9)}  ${r.backSeconds.toFixed(2).padStart(6)}  ${r.cutCommandSeconds.toFixed(2).padStart(9)}  ${r.baselineSeconds.toFixed(2).padStart(10)}  ${(r.backSeconds / r.baselineSeconds).toFixed(2).padStart(13)}`,
    );
  const byMode = (m: Mode) => rows.filter((r) => r.mode === m);
  const st = byMode("static");
  if (st.length)
    for (const m of ["ospf", "bgp"] as const)
      if (byMode(m).length)
        out.push(
          `${m} / static, time back (median over the cuts): ${(median(byMode(m).map((r) => r.backSeconds)) / Math.max(0.001, median(st.map((r) => r.backSeconds)))).toFixed(1)}x`,
        );
  return out.join("\n");
}

/** One cut of the before/after rounds: the re-route planned after the cut (preplan false, as before) or before it. */
export interface RerouteRound {
  preplan: boolean;
  /** From the cut made to the last batch applied: plan + inspect + kernel + p4 (planned after), or kernel + p4 (planned before). */
  afterCutMs: number;
  phases?: { plan: number; inspect: number; kernel: number; p4: number };
  changeMs: number;
  worstLost: number;
  outageSeconds: number;
}

export interface Reroute200Row {
  devices: number;
  /** The re-route's own time after the cut: plan + apply (RerouteResult.ms). */
  rerouteMs: number;
  /** The re-route's phases (plan, inspect, kernel, p4), ms. */
  phases?: { plan: number; inspect: number; kernel: number; p4: number };
  /** The whole changeLink call: resolve, cut, re-route, state saved. */
  changeMs: number;
  routeDevices: number;
  operations: number;
  /** The plan alone (pure), median of 5, on the deployed lab's record. */
  planMs: number;
  /** The longest outage a flow saw across the cut. */
  outageSeconds: number;
  /** The plan alone at 200 devices (without deploying them), when the deployed lab is smaller. */
  plan200Ms?: number;
  worstLost: number;
  flowsHit: number;
  /** The cut four times: planned after it, before it, after, before. */
  rounds?: RerouteRound[];
}

function planAloneMs(spec: ReturnType<typeof leafSpine>): number {
  const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-bench-rt200-plan-")));
  try {
    const rec = planTopology({ ...spec, name: "plan-only" }, { imageMap: IMAGE_MAP, store }).plan.routing!;
    const down = [{ device: "spine1", link: rec.links.find((l) => l.endpoints.includes("spine1") && l.endpoints.includes("leaf1"))!.name }];
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      planReroute(rec, down);
      ms.push(performance.now() - t);
    }
    return median(ms);
  } finally {
    rmSync(store.root, { recursive: true, force: true });
  }
}

export async function reroute200Scenario(parallelism: number): Promise<Reroute200Row> {
  const size = (process.env["KINDA_BENCH_REROUTE_SIZE"] ?? "14,13").split(",").map(Number);
  const full = leafSpine({ spines: 4, leaves: 14, perLeaf: 13 });
  const spec = leafSpine({ spines: 4, leaves: size[0]!, perLeaf: size[1]! });
  const lab = `${PREFIX}-rt200`;
  const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-bench-rt200-")));
  const runtime = new DockerRuntime();
  const plan = planTopology({ ...spec, name: lab }, { imageMap: IMAGE_MAP, store }).plan;
  const d = await deploy(plan, { runtime, store, kernel, parallelism });
  try {
    if (d.failedDevices.length) throw new Error(`reroute-200: start-up failed on ${d.failedDevices.join(" ")}`);
    const cable = spec.links.find((l) => l.endpoints.includes("spine1") && l.endpoints.includes("leaf1"))!;
    const hostsOf = (leaf: string) =>
      spec.links
        .filter((l) => l.endpoints.includes(leaf) && l.endpoints.some((e) => e.startsWith("h")))
        .map((l) => l.endpoints.find((e) => e !== leaf)!);
    const addr = (h: string) => {
      const l = spec.links.find((x) => x.endpoints.includes(h))!;
      return l.addresses![l.endpoints.indexOf(h)]!.split("/")[0]!;
    };
    // flows both ways across the cut leaf: its first hosts to hosts under other leaves, and back
    const mine = hostsOf("leaf1").slice(0, 4);
    const theirs = ["leaf2", "leaf5", "leaf9", "leaf14"].filter((l) => spec.devices.some((x) => x.name === l)).map((l) => hostsOf(l)[0]!);
    const flows = new Map<string, string[]>([
      ...mine.map((h) => [h, theirs.map(addr)] as [string, string[]]),
      ...theirs.map((h) => [h, mine.map(addr)] as [string, string[]]),
    ]);
    const names = new Map([...mine, ...theirs].map((h) => [addr(h), h]));
    const cableName = `${cable.endpoints[0]}--${cable.endpoints[1]}`;
    // before/after in this run: the cut with the re-route planned after it (as before), then planned
    // before it, twice each, alternating; the cable restored between cuts
    const rounds: RerouteRound[] = [];
    let first:
      | { r: Awaited<ReturnType<typeof changeLink>>; changeMs: number; lost: Awaited<ReturnType<ReturnType<typeof probe>["stop"]>> }
      | undefined;
    for (const preplan of [false, true, false, true]) {
      const p = probe(lab, flows, names);
      await p.started;
      const t = performance.now();
      const r = await changeLink(lab, cableName, { state: "down" }, { store, preplan });
      const changeMs = performance.now() - t;
      await new Promise((res) => setTimeout(res, 1500));
      const lost = await p.stop();
      first ??= { r, changeMs, lost };
      const hit = lost.filter((l) => l.longest > 0);
      rounds.push({
        preplan,
        afterCutMs: preplan ? (r.reroute?.applyMs ?? NaN) : (r.reroute?.ms ?? NaN),
        ...(r.reroute?.phases ? { phases: r.reroute.phases } : {}),
        changeMs,
        worstLost: Math.max(0, ...lost.map((l) => l.longest)),
        outageSeconds: Math.max(0, ...hit.map((l) => l.outageSeconds!)),
      });
      await changeLink(lab, cableName, { state: "up" }, { store });
      await new Promise((res) => setTimeout(res, 500));
    }
    const { r, changeMs, lost } = first!;
    const st = store.read(lab)!;
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t1 = performance.now();
      planReroute(st.routing!, downEnds(st.routing!, st, st.live));
      ms.push(performance.now() - t1);
    }
    const small = plan.devices.length < 200;
    return {
      devices: plan.devices.length,
      rerouteMs: r.reroute?.ms ?? NaN,
      ...(r.reroute?.phases ? { phases: r.reroute.phases } : {}),
      changeMs,
      routeDevices: r.reroute?.devices.length ?? 0,
      operations: r.reroute?.operations ?? 0,
      planMs: median(ms),
      ...(small ? { plan200Ms: planAloneMs(full) } : {}),
      worstLost: Math.max(0, ...lost.map((l) => l.longest)),
      flowsHit: lost.filter((l) => l.longest > 0).length,
      outageSeconds: Math.max(0, ...lost.filter((l) => l.longest > 0).map((l) => l.outageSeconds!)),
      rounds,
    };
  } finally {
    await teardown(lab, { runtime, store, kernel, parallelism });
    rmSync(store.root, { recursive: true, force: true });
  }
}

export function formatReroute200(r: Reroute200Row): string {
  return [
    `reroute-200: leaf-spine of ${r.devices} devices, spine1--leaf1 cut: re-route (plan + apply) ${r.rerouteMs.toFixed(0)} ms (/1000 ms target = ${(r.rerouteMs / 1000).toFixed(2)}), ${r.routeDevices} devices, ${r.operations} route operations; the whole change (cut, re-route, state) ${r.changeMs.toFixed(0)} ms; plan alone ${r.planMs.toFixed(0)} ms`,
    ...(r.phases
      ? [
          `  where the re-route's time went: ${Object.entries(r.phases)
            .map(([k, v]) => `${k} ${v.toFixed(0)} ms`)
            .join(", ")}`,
        ]
      : []),
    `  pings every 10 ms across the cut: worst flow lost ${r.worstLost} probes (outage ${r.outageSeconds.toFixed(2)} s), ${r.flowsHit} flows hit`,
    ...(r.rounds?.length
      ? [
          "  before/after, same lab, same run (the cable restored between cuts): time from the cut to the re-route applied",
          ...r.rounds.map(
            (x) =>
              `    re-route planned ${x.preplan ? "before the cut" : "after the cut "}: ${x.afterCutMs.toFixed(0).padStart(5)} ms after the cut (/1000 ms target = ${(x.afterCutMs / 1000).toFixed(2)}); ${
                x.phases
                  ? Object.entries(x.phases)
                      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
                      .join(", ")
                  : ""
              }; changeLink ${x.changeMs.toFixed(0)} ms; worst flow lost ${x.worstLost} probes (outage ${x.outageSeconds.toFixed(2)} s)`,
          ),
          (() => {
            const m = (pre: boolean) => median(r.rounds!.filter((x) => x.preplan === pre).map((x) => x.afterCutMs));
            const o = (pre: boolean) => median(r.rounds!.filter((x) => x.preplan === pre).map((x) => x.outageSeconds));
            return `  after the cut, the worse of two: planned after ${m(false).toFixed(0)} ms, planned before ${m(true).toFixed(0)} ms (after/before = ${(m(false) / Math.max(1, m(true))).toFixed(2)}); worst outage ${o(false).toFixed(2)} s vs ${o(true).toFixed(2)} s`;
          })(),
        ]
      : []),
    ...(r.plan200Ms !== undefined
      ? [`  (the machine hosted ${r.devices} devices, not 200; the plan alone at 200 devices: ${r.plan200Ms.toFixed(0)} ms)`]
      : []),
  ].join("\n");
}
