/**
 * Applies static routing's re-route (plan/reroute.ts) to a lab that is up: one batch per device
 * namespace whose routes change (typed route operations through Kernel.apply), all devices in parallel; when one fails, the devices already
 * changed get their inverses and the error is rethrown (the lab keeps the routes it had). The
 * caller records the new routes in the state (`st.routing.routes`).
 */
import { KindaError } from "../core/errors.js";
import type { Runtime } from "../model/container.js";
import type { Kernel } from "../model/kernel.js";
import { carriesGiven, downEnds, partitions, partsText, planReroute, type RouteChange } from "../plan/reroute.js";
import type { LabState, StateStore } from "../state/store.js";

export interface RerouteResult {
  /** Devices whose routes changed, and how many route operations that took. */
  devices: string[];
  operations: number;
  /** The parts of the network that lost each other ([] when it is whole). */
  parts: string[][];
  /** From the first computation to the last batch done, in milliseconds. */
  ms: number;
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

/**
 * Re-routes a lab after a change of its links (a cut, a restore, a link or device removed or
 * added): computes the routes over what carries traffic, applies the difference, and writes the
 * new routes into `st.routing` (the caller saves `st`). Undefined when the lab has no static
 * routing record or asked not to re-route.
 */
export async function reroute(
  st: LabState,
  opts: { runtime: Pick<Runtime, "inspect">; kernel: Kernel },
): Promise<RerouteResult | undefined> {
  const rec = st.routing;
  if (!rec) return undefined;
  const t0 = performance.now();
  const down = downEnds(rec, st, st.live);
  if (!rec.reroute) {
    // FRR routes (ospf, bgp), or the user asked kinda not to: only say what the change split
    const parts = partitions(rec, carriesGiven(rec, down));
    if (!parts.length) return undefined;
    return {
      devices: [],
      operations: 0,
      parts,
      ms: performance.now() - t0,
      summary: `the network is split: ${partsText(parts)} lost each other`,
    };
  }
  const plan = planReroute(rec, down);
  const containerOf = new Map(st.devices.map((d) => [d.name, d.container]));
  const rt = opts.runtime;
  const pidOf = new Map<string, number>();
  await Promise.all(
    plan.changes.map(async (c) => {
      const container = containerOf.get(c.device);
      if (!container) throw new KindaError(`re-route: device ${c.device} is not in the state of lab ${st.name}`);
      const info = await rt.inspect(container);
      if (!info?.running || !info.pid) throw new KindaError(`re-route: the container of ${c.device} (${container}) is not running`);
      pidOf.set(c.device, info.pid);
    }),
  );
  const { kernel } = opts;
  const r = await runChanges(kernel, plan.changes, pidOf, "ops");
  if (r.error !== undefined) {
    await runChanges(kernel, r.done, pidOf, "undo");
    throw r.error;
  }
  rec.routes = plan.routes;
  const ms = performance.now() - t0;
  const operations = plan.changes.reduce((n, c) => n + c.ops.length, 0);
  const devices = plan.changes.map((c) => c.device);
  const what = devices.length
    ? `re-routed ${devices.length} device${devices.length === 1 ? "" : "s"} (${operations} route change${operations === 1 ? "" : "s"}) in ${Math.round(ms)} ms`
    : "routes unchanged";
  const split = plan.parts.length ? `; the network is split: ${partsText(plan.parts)} lost each other` : "";
  return { devices, operations, parts: plan.parts, ms, summary: what + split };
}

/**
 * {@link reroute} after a change that cannot be taken back (a device or link already gone, a
 * device already made): the state is saved whether the re-route succeeds or not.
 */
export async function rerouteAndSave(
  st: LabState,
  store: Pick<StateStore, "update">,
  opts: { runtime: Pick<Runtime, "inspect">; kernel: Kernel },
): Promise<RerouteResult | undefined> {
  try {
    return await reroute(st, opts);
  } finally {
    store.update(st);
  }
}
