/**
 * Applies static routing's re-route (plan/reroute.ts) to a lab that is up (planned first, then
 * applied: prepareReroute, so `kinda link` can plan before it cuts): one batch per device
 * namespace whose routes change (typed route operations through Kernel.apply), all devices in parallel; when one fails, the devices already
 * changed get their inverses and the error is rethrown (the lab keeps the routes it had). The
 * caller records the new routes in the state (`st.routing.routes`).
 */
import { KindaError } from "../core/errors.js";
import type { Runtime } from "../model/container.js";
import type { Kernel } from "../model/kernel.js";
import { carriesGiven, downEnds, partitions, partsText, planReroute, withPods, type LpmChange, type RouteChange } from "../plan/reroute.js";
import type { P4EntryAddOp } from "../model/ops.js";
import { applyP4Ops } from "./p4.js";
import type { LabState, StateStore } from "../state/store.js";

export interface RerouteResult {
  /** Devices whose routes changed, and how many route operations that took. */
  devices: string[];
  operations: number;
  /** The parts of the network that lost each other ([] when it is whole). */
  parts: string[][];
  /** From the first computation to the last batch done, in milliseconds. */
  ms: number;
  /** Where that time went (ms): the plan (pure), finding the devices' namespaces, the kernel batches, the P4 switches' CLI. */
  phases?: { plan: number; inspect: number; kernel: number; p4: number };
  /** The kernel batches and P4 entries alone (ms): with a plan prepared before the cut, the re-route's time after it. */
  applyMs?: number;
  /** In words, for the CLI. */
  summary: string;
}

/**
 * Applies each device's operations (`pick`: ops or undo) through the Kernel, one batch per device
 * namespace, devices in parallel; the devices that succeeded, and the first error. Undo goes on
 * past failing lines.
 */
async function runChanges(
  kernel: Kernel,
  changes: readonly RouteChange[],
  pidOf: Map<string, number>,
  pick: "ops" | "undo",
): Promise<{ done: RouteChange[]; error?: unknown }> {
  const results = await Promise.allSettled(
    changes.map((c) => kernel.apply({ pid: pidOf.get(c.device)! }, c[pick], pick === "undo" ? { force: true } : {})),
  );
  const done = changes.filter((_, i) => results[i]!.status === "fulfilled");
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  return { done, ...(failed ? { error: failed.reason } : {}) };
}

/** Applies each P4 switch's entry changes (`pick`: ops or undo), switches in parallel; the ones that succeeded, and the first error. */
async function runLpm(
  st: LabState,
  runtime: Pick<Runtime, "exec">,
  changes: readonly LpmChange[],
  pick: "ops" | "undo",
): Promise<{ done: LpmChange[]; error?: unknown }> {
  const results = await Promise.allSettled(
    changes.map((c) => {
      const d = st.devices.find((x) => x.name === c.device);
      const id = d?.containerId ?? d?.container;
      if (!id) throw new KindaError(`re-route: P4 switch ${c.device} is not in the state of lab ${st.name}`);
      return applyP4Ops(runtime, id, c.device, c[pick], { force: pick === "undo" });
    }),
  );
  const done = changes.filter((_, i) => results[i]!.status === "fulfilled");
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  return { done, ...(failed ? { error: failed.reason } : {}) };
}

/** A re-route planned (routes computed, namespaces found) and not yet applied. */
export interface PreparedReroute {
  /** Applies the planned difference and records the new routes in `st.routing` (the lab the plan was made for). */
  apply(st: LabState): Promise<RerouteResult | undefined>;
}

/**
 * Plans the re-route of `st` as its links are (cut ends from `st.live`): the routes over what
 * carries traffic, the difference, each changed device's namespace. Nothing is changed; `apply`
 * does that. With `kinda link ... down` the plan is made for the state after the cut before the
 * cut is made, the way routers precompute alternates (IP fast re-route): after the cut only the
 * kernel batches run.
 */
export async function prepareReroute(
  planned: LabState,
  opts: { runtime: Pick<Runtime, "inspect" | "exec">; kernel: Kernel },
): Promise<PreparedReroute> {
  const rec = planned.routing;
  if (!rec) return { apply: () => Promise.resolve(undefined) };
  const t0 = performance.now();
  const down = downEnds(rec, planned, planned.live);
  if (!rec.reroute) {
    // FRR routes (ospf, bgp), or the user asked kinda not to: only say what the change split
    const parts = partitions(rec, carriesGiven(rec, down));
    const ms = performance.now() - t0;
    if (!parts.length) return { apply: () => Promise.resolve(undefined) };
    return {
      apply: () =>
        Promise.resolve({ devices: [], operations: 0, parts, ms, summary: `the network is split: ${partsText(parts)} lost each other` }),
    };
  }
  const plan = planReroute(rec, down);
  const tPlan = performance.now();
  const containerOf = new Map(planned.devices.map((d) => [d.name, d.container]));
  const rt = opts.runtime;
  const pidOf = new Map<string, number>();
  await Promise.all(
    plan.changes.map(async (c) => {
      const container = containerOf.get(c.device);
      if (!container) throw new KindaError(`re-route: device ${c.device} is not in the state of lab ${planned.name}`);
      const info = await rt.inspect(container);
      if (!info?.running || !info.pid) throw new KindaError(`re-route: the container of ${c.device} (${container}) is not running`);
      pidOf.set(c.device, info.pid);
    }),
  );
  const tInspect = performance.now();
  return {
    async apply(st) {
      const { kernel } = opts;
      const tApply = performance.now();
      const r = await runChanges(kernel, plan.changes, pidOf, "ops");
      if (r.error !== undefined) {
        await runChanges(kernel, r.done, pidOf, "undo");
        throw r.error;
      }
      const tKernel = performance.now();
      // P4 switches with lpm: their route entries, through their CLI; a failure undoes both
      const p = await runLpm(st, rt, plan.p4, "ops");
      if (p.error !== undefined) {
        await runLpm(st, rt, p.done, "undo");
        await runChanges(kernel, plan.changes, pidOf, "undo");
        throw p.error;
      }
      const tEnd = performance.now();
      const target = st.routing ?? rec;
      target.routes = plan.routes;
      for (const [sw, entries] of Object.entries(plan.lpm)) if (target.lpm?.[sw]) target.lpm[sw].entries = entries;
      const phases = { plan: tPlan - t0, inspect: tInspect - tPlan, kernel: tKernel - tApply, p4: tEnd - tKernel };
      const ms = phases.plan + phases.inspect + phases.kernel + phases.p4;
      if (process.env["KINDA_TRACE"] === "1")
        process.stderr.write(
          `[trace] re-route ${st.name}: ${Object.entries(phases)
            .map(([k, v]) => `${k} ${v.toFixed(0)} ms`)
            .join(", ")}; ${plan.changes.length} namespaces; applied ${(tEnd - tApply).toFixed(0)} ms after its plan was ready\n`,
        );
      const all = [...plan.changes, ...plan.p4];
      const operations = all.reduce((n, c) => n + c.ops.length, 0);
      const devices = all.map((c) => c.device);
      const what = devices.length
        ? `re-routed ${devices.length} device${devices.length === 1 ? "" : "s"} (${operations} route change${operations === 1 ? "" : "s"}) in ${Math.round(ms)} ms`
        : "routes unchanged";
      const split = plan.parts.length ? `; the network is split: ${partsText(plan.parts)} lost each other` : "";
      return { devices, operations, parts: plan.parts, ms, phases, applyMs: tEnd - tApply, summary: what + split };
    },
  };
}

/**
 * Re-routes a lab after a change of its links (a cut, a restore, a link or device removed or
 * added): computes the routes over what carries traffic, applies the difference, and writes the
 * new routes into `st.routing` (the caller saves `st`). Undefined when the lab has no static
 * routing record or asked not to re-route.
 */
export async function reroute(
  st: LabState,
  opts: { runtime: Pick<Runtime, "inspect" | "exec">; kernel: Kernel },
): Promise<RerouteResult | undefined> {
  return (await prepareReroute(st, opts)).apply(st);
}

/**
 * {@link reroute} after a change that cannot be taken back (a device or link already gone, a
 * device already made): the state is saved whether the re-route succeeds or not.
 */
export async function rerouteAndSave(
  st: LabState,
  store: Pick<StateStore, "update">,
  opts: { runtime: Pick<Runtime, "inspect" | "exec">; kernel: Kernel },
): Promise<RerouteResult | undefined> {
  try {
    return await reroute(st, opts);
  } finally {
    store.update(st);
  }
}

/**
 * With encapsulation none, the devices route the nodes' pod ranges: once the cluster knows them
 * (attach, `kinda node add`), they go into the routing record and the routes to them are made
 * over what carries traffic now (a link already cut is routed around), so that later cuts move
 * them too. The cluster's plan has installed the same routes as `up` computed them; this replaces
 * what differs and records them. Undefined without a routing record or with another encapsulation.
 */
export async function routePods(
  st: LabState,
  pods: Readonly<Record<string, readonly string[]>>,
  opts: { runtime: Pick<Runtime, "inspect" | "exec">; kernel: Kernel },
  written: readonly { device: string; entries: readonly P4EntryAddOp[] }[] = [],
): Promise<RerouteResult | undefined> {
  if (!st.routing || st.cluster?.encapsulation !== "none") return undefined;
  st.routing = withPods(st.routing, pods);
  // the P4 switches' pod entries the cluster wrote are there already
  const ranges = new Set(Object.values(pods).flat());
  for (const { device, entries } of written)
    for (const e of entries) if (ranges.has(e.key) && st.routing.lpm?.[device]) st.routing.lpm[device].entries[e.key] = [...e.params];
  return reroute(st, opts);
}
