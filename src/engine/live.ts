/**
 * Run-time experiments on a lab that is up (`kinda link`, `kinda capture`, `kinda status --links`):
 * resolves an endpoint through the lab's state, checks the request, then runs one command per
 * namespace and tool (tc/ip/nft batches, in parallel). A failure rolls back what was applied, so a
 * rejected or failed change leaves the lab as it was. Changes are recorded in the state.
 */
import { spawn } from "node:child_process";
import { requirePrograms, type HostNeed } from "../core/host.js";
import { readFileSync } from "node:fs";
import { KindaError, PreflightError } from "../core/errors.js";
import { NETEM_FIELDS, describeShaping, shapingProblems, usesNetem, type Shaping } from "../core/tc.js";
import type { LabShaping } from "../model/lab.js";
import { run } from "../net/exec.js";
import {
  checkIfNames,
  nsBatches,
  cutOps,
  ensureSlot,
  ifKey,
  inverse,
  planLinkAdd,
  planLinkRemove,
  nsKey,
  phaseOf,
  resolveEndpoint,
  shapeOps,
  tcpdumpArgv,
  type IfRef,
  type LinkTarget,
  type LiveOp,
  type NsBatch,
  type NsRef,
  newLinkEnds,
} from "../plan/live.js";
import type { Runtime } from "../model/container.js";
import type { Kernel } from "../model/kernel.js";
import type { Netns } from "../model/netns.js";
import type { StateStore, LabState, LiveState } from "../state/store.js";
import { withLink, withoutLink } from "../plan/reroute.js";
import { prepareReroute, rerouteAndSave, type PreparedReroute, type RerouteResult } from "./reroute.js";
import { inNamedNetns, renderInvocations } from "../plan/ops.js";

export interface LiveOptions {
  store: StateStore;
  /** Finds containers' PIDs (app/ passes the light Engine API client, app/root.ts lightRuntime). */
  runtime: Pick<Runtime, "inspect" | "exec">;
  /** Applies the operations (app/root.ts passes the host's). */
  kernel: Kernel;
  /** false: a cut's re-route is planned after the cut, not before (the bench's baseline). */
  preplan?: boolean;
}

export type LinkChange = { shape: Shaping; from?: string } | { clear: true; from?: string } | { state: "down" | "up" };

export interface LinkChangeResult {
  target: LinkTarget;
  ops: LiveOp[];
  /** What was done, in words. */
  summary: string;
  /** Static routing's re-route after the change (labs with routing: static that re-route). */
  reroute?: RerouteResult;
}

/**
 * Applies a re-route of `st` after a change that `undo` takes back: if planning (a pending
 * `prepared`) or applying fails, the change is undone too and the error rethrown, so the lab is
 * left as it was. `kinda link ... down|up` passes a re-route planned before the change; other
 * changes pass {@link replanned}, planned after it.
 */
async function appliedOrUndo(
  st: LabState,
  prepared: PreparedReroute | Promise<PreparedReroute>,
  undo: () => Promise<void>,
): Promise<RerouteResult | undefined> {
  try {
    return await (await prepared).apply(st);
  } catch (e) {
    await undo().catch(() => undefined);
    throw e;
  }
}

/** The re-route of `st`, planned now (after the change), for {@link appliedOrUndo}. */
const replanned = (st: LabState, opts: LiveOptions) => prepareReroute(st, { runtime: opts.runtime, kernel: opts.kernel });

function withReroute(r: LinkChangeResult, rr: RerouteResult | undefined): LinkChangeResult {
  return rr ? { ...r, reroute: rr, summary: `${r.summary}; ${rr.summary}` } : r;
}

export function readLab(lab: string, store: StateStore, need: HostNeed = "live"): LabState {
  requirePrograms([need]);
  const st = store.read(lab);
  if (!st) throw new KindaError(`LAB ${JSON.stringify(lab)}: no lab of that name is up`, { hint: "kinda status lists the labs that are" });
  if (st.phase !== "up") throw new KindaError(`lab ${lab} is ${st.phase}, not up`);
  return st;
}

/** Whether this kernel has the netem qdisc: tried on the loopback of a throwaway namespace. */
export async function netemAvailable(): Promise<boolean> {
  const [inv] = renderInvocations([{ op: "netem", dev: "lo", args: ["delay", "1ms"] }]);
  const r = await run(["unshare", "-n", ...inv!.argv], inv!.input);
  return r.exitCode === 0;
}

/** Checks a shaping request; throws naming the option (--rate, --delay...) that is wrong. */
export async function checkShaping(s: Shaping, probe: () => Promise<boolean> = netemAvailable): Promise<void> {
  const problems = shapingProblems(s);
  if (problems.length) {
    const [p, ...more] = problems;
    throw new KindaError(
      `--${p!.field} ${p!.message}${more.length ? `; also ${more.map((m) => `--${m.field} ${m.message}`).join("; ")}` : ""}`,
    );
  }
  if (usesNetem(s) && !(await probe())) {
    const asked = (["delay", "jitter", "loss", "duplicate", "reorder", "corrupt"] as const).filter((f) => s[f] !== undefined);
    throw new KindaError(`--${asked.join(", --")}: this kernel has no netem qdisc (sch_netem), which these options need`, {
      hint: "use a kernel with CONFIG_NET_SCH_NETEM (modprobe sch_netem); rate, burst and latency work without it (tbf)",
    });
  }
}

/** Container PIDs, looked up once per change. */
class Pids {
  private readonly cache = new Map<string, number>();
  constructor(private readonly rt: Pick<Runtime, "inspect">) {}

  async resolve(ns: NsRef): Promise<number> {
    if ("netns" in ns) return 0;
    let pid = this.cache.get(ns.container);
    if (pid === undefined) {
      const c = await this.rt.inspect(ns.container);
      if (!c?.running || !c.pid) throw new KindaError(`container ${ns.container} is not running`);
      pid = c.pid;
      this.cache.set(ns.container, pid);
    }
    return pid;
  }

  get(ns: NsRef): number {
    return "netns" in ns ? 0 : (this.cache.get(ns.container) ?? 0);
  }

  prefix(ns: NsRef): string[] {
    return "netns" in ns ? [] : ["nsenter", "-t", String(this.get(ns)), "-n"];
  }
}

/** Deleting a qdisc, link or address that is not there is the goal reached, not a failure. */
const BENIGN = /Cannot delete qdisc with handle of zero|Cannot find specified qdisc|No such file or directory|Command failed -:\d+/;

/** Applies one namespace's batch through the Kernel; a tolerant one fails only on what is not benign. */
async function applyBatch(kernel: Kernel, b: NsBatch, pids: Pids): Promise<void> {
  const ns: Netns = "netns" in b.ns ? { name: b.ns.netns } : { pid: pids.get(b.ns) };
  if (!b.tolerant) return void (await kernel.apply(ns, b.ops));
  const stderr = await kernel.apply(ns, b.ops, { force: true });
  const bad = stderr.split("\n").filter((l) => l.trim() && !BENIGN.test(l));
  if (bad.length) throw new KindaError(`in ${nsKey(b.ns)}: ${bad.join("; ")}`);
}

/** Runs ops one batch per namespace (and tolerance), namespaces in parallel; the groups that ran, and the first failure. */
async function runGroups(kernel: Kernel, ops: LiveOp[], pids: Pids): Promise<{ ran: LiveOp[][]; error?: unknown }> {
  const groups = new Map<string, LiveOp[]>();
  for (const op of ops) groups.set(nsKey(op.at.ns), [...(groups.get(nsKey(op.at.ns)) ?? []), op]);
  const results = await Promise.allSettled(
    [...groups.values()].map(async (g) => {
      for (const b of nsBatches(g, (ns) => pids.get(ns))) await applyBatch(kernel, b, pids);
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  return { ran: [...groups.values()], ...(failed ? { error: failed.reason } : {}) };
}

/**
 * Applies operations phase by phase (plan/live.ts phaseOf), one batch per namespace through the
 * Kernel, namespaces in parallel. When one fails, everything applied gets its inverse, last first
 * (`previous` gives the shaping to restore), and the error is rethrown.
 */
export async function applyOps(
  ops: LiveOp[],
  opts: { runtime: Pick<Runtime, "inspect">; kernel: Kernel; previous?: (at: IfRef) => Shaping | undefined },
): Promise<void> {
  checkIfNames(ops);
  const { kernel } = opts;
  const pids = new Pids(opts.runtime);
  for (const op of ops) {
    await pids.resolve(op.at.ns);
    if (op.kind === "veth") await pids.resolve(op.peer);
  }
  const done: LiveOp[][] = [];
  for (const phase of [...new Set(ops.map(phaseOf))].sort()) {
    const r = await runGroups(
      kernel,
      ops.filter((o) => phaseOf(o) === phase),
      pids,
    );
    done.push(...r.ran);
    if (r.error === undefined) continue;
    for (const g of done.reverse()) {
      const inv = g.map((op) => inverse(op, opts.previous?.(op.at))).reverse();
      for (const b of nsBatches(inv, (ns) => pids.get(ns))) await applyBatch(kernel, { ...b, tolerant: true }, pids).catch(() => undefined);
    }
    throw r.error;
  }
}

export function previousShaping(live: LiveState | undefined): (at: IfRef) => Shaping | undefined {
  return (at) => live?.shaping.find((s) => s.key === ifKey(at))?.shaping as Shaping | undefined;
}

/** Records a change in the lab's state (live: cuts and shaping), as `status` shows them. */
export function record(st: LabState, target: LinkTarget, change: LinkChange, ops: LiveOp[]): void {
  const live: LiveState = st.live ?? { cuts: [], shaping: [] };
  const keys = new Set(ops.map((o) => ifKey(o.at)));
  if ("state" in change) {
    live.cuts = live.cuts.filter((c) => !keys.has(c.key));
    if (change.state === "down") for (const c of target.cut) live.cuts.push({ key: ifKey(c.at), endpoint: target.endpoint, how: c.how });
  } else {
    live.shaping = live.shaping.filter((s) => !keys.has(s.key));
    if ("shape" in change)
      for (const d of target.directions.filter((x) => keys.has(ifKey(x.at))))
        live.shaping.push({
          key: ifKey(d.at),
          endpoint: target.endpoint,
          direction: `${d.from} -> ${d.to}`,
          shaping: { ...change.shape } as Record<string, string>,
        });
  }
  st.live = live;
}

/** Refuses deploy-time netem options, with where they were written, on a kernel without netem. */
export async function checkDeployShaping(entries: readonly LabShaping[], probe: () => Promise<boolean> = netemAvailable): Promise<void> {
  if (entries.length) requirePrograms(["live"]);
  const netem = entries.filter((e) => usesNetem(e.shaping));
  if (!netem.length || (await probe())) return;
  throw new PreflightError(
    netem.map((e) => ({
      ...(e.place ?? {}),
      ...(e.field ? { field: e.field } : {}),
      message: `${NETEM_FIELDS.filter((f) => e.shaping[f] !== undefined).join(", ")}: this kernel has no netem qdisc (sch_netem)`,
    })),
    { hint: "use a kernel with CONFIG_NET_SCH_NETEM; rate, burst and latency work without it (tbf)" },
  );
}

/** Shapes the links a lab asked for once its devices are up; recorded like run-time changes. */
export async function shapeAtDeploy(st: LabState, entries: readonly LabShaping[], runtime: Runtime, kernel: Kernel): Promise<void> {
  for (const e of entries) {
    const target = resolveEndpoint(st, e.endpoint);
    const ops = shapeOps(target, e.shaping, e.from);
    await applyOps(ops, { runtime, kernel });
    record(st, target, { shape: e.shaping, ...(e.from ? { from: e.from } : {}) }, ops);
  }
}

/** `kinda link LAB ENDPOINT ...`: shape, clear, cut or restore a link of a lab that is up. */
export async function changeLink(lab: string, endpoint: string, change: LinkChange, opts: LiveOptions): Promise<LinkChangeResult> {
  const store = opts.store;
  const st = readLab(lab, store);
  const target = resolveEndpoint(st, endpoint);
  let ops: LiveOp[];
  let summary: string;
  if ("shape" in change) {
    await checkShaping(change.shape);
    ops = shapeOps(target, change.shape, change.from);
    summary = `shaped ${target.description}: ${describeShaping(change.shape)}`;
  } else if ("clear" in change) {
    ops = shapeOps(target, undefined, change.from);
    summary = `cleared the shaping of ${target.description}`;
  } else {
    ops = cutOps(target, change.state === "down");
    summary = `${change.state === "down" ? "cut" : "restored"} ${target.description}`;
  }
  const previous = previousShaping(st.live);
  // a cut or a restore: the re-route is planned for the links as they will be before the change is
  // made (nothing is changed by planning), so after it only the kernel batches run
  let prepared: PreparedReroute | undefined;
  if ("state" in change && opts.preplan !== false) {
    const next: LabState = { ...st, ...(st.live ? { live: structuredClone(st.live) } : {}) };
    record(next, target, change, ops);
    prepared = await prepareReroute(next, { runtime: opts.runtime, kernel: opts.kernel });
  }
  await applyOps(ops, { runtime: opts.runtime, kernel: opts.kernel, previous });
  record(st, target, change, ops);
  const undo = () =>
    applyOps(
      ops.map((o) => inverse(o, previous(o.at))),
      { runtime: opts.runtime, kernel: opts.kernel },
    );
  const plan = prepared ?? ("state" in change ? replanned(st, opts) : undefined);
  const rr = plan ? await appliedOrUndo(st, plan, undo) : undefined;
  store.update(st);
  return withReroute({ target, ops, summary }, rr);
}

export interface CaptureOptions extends LiveOptions {
  /** File to write pcap to, or "-" for standard output; absent: decoded text. */
  write?: string;
  count?: number;
  filter?: string[];
  stdout?: "inherit" | "pipe";
}

/** `kinda capture`: tcpdump on the host side of a link (lab namespace or the node's veth). */
export async function captureArgv(lab: string, endpoint: string, opts: CaptureOptions): Promise<string[]> {
  const store = opts.store;
  const st = readLab(lab, store, "capture");
  const t = resolveEndpoint(st, endpoint);
  if (opts.count !== undefined && (!Number.isInteger(opts.count) || opts.count < 1))
    throw new KindaError(`-c ${opts.count}: the packet count must be a positive integer`);
  const argv = tcpdumpArgv(t.capture.dev, {
    ...(opts.write !== undefined ? { write: opts.write } : {}),
    ...(opts.count !== undefined ? { count: opts.count } : {}),
    ...(opts.filter ? { filter: opts.filter } : {}),
  });
  const ns = t.capture.ns;
  if ("netns" in ns) return inNamedNetns(ns.netns, argv, { exec: true });
  const pids = new Pids(opts.runtime);
  await pids.resolve(ns);
  return [...pids.prefix(ns), ...argv];
}

/** Runs a capture with the caller's standard streams; resolves with tcpdump's exit code. */
export async function capture(lab: string, endpoint: string, opts: CaptureOptions): Promise<number> {
  const argv = await captureArgv(lab, endpoint, opts);
  return new Promise((res, rej) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "inherit", "inherit"] });
    const stop = () => child.kill("SIGINT");
    process.once("SIGINT", stop);
    child.on("error", rej);
    child.on("close", (code) => {
      process.off("SIGINT", stop);
      res(code ?? 1);
    });
  });
}

export interface AddLinkOptions extends LiveOptions {
  /** Addresses with prefix length, by device (e.g. { r1: "10.9.0.1/24" }). */
  addresses?: Record<string, string>;
  /** Name of the new collision domain (default A--B, made unique). */
  domain?: string;
}

/** Interface numbers in use inside a process's network namespace (read from /proc, no process). */
function ethNumbers(pid: number): number[] {
  return readFileSync(`/proc/${pid}/net/dev`, "utf8")
    .split("\n")
    .flatMap((l) => {
      const m = /^\s*eth(\d+):/.exec(l);
      return m ? [Number(m[1])] : [];
    });
}

/** `kinda link LAB A--B add`: a new link (its own collision domain) between two devices of a lab that is up. */
export async function addLink(lab: string, endpoint: string, opts: AddLinkOptions): Promise<LinkChangeResult> {
  const store = opts.store;
  const st = readLab(lab, store);
  const { a, b, domain } = newLinkEnds(
    lab,
    endpoint,
    { devices: st.devices.map((d) => d.name), domains: st.domains.map((d) => d.name) },
    opts,
  );
  const used = new Set(st.domains.map((d) => d.bridge));
  let n = st.domains.length;
  while (used.has(`cd-${n}`)) n++;
  const pids = new Pids(opts.runtime);
  const ends = await Promise.all(
    [a, b].map(async (device) => {
      const d = st.devices.find((x) => x.name === device)!;
      const pid = await pids.resolve({ container: d.container });
      const taken = [...ethNumbers(pid), ...d.interfaces.map((x) => Number(x.name.slice(3)))];
      const cidr = opts.addresses?.[device];
      // named by the device's slot, not its place in st.devices (which `device remove` shifts)
      return { device, slot: ensureSlot(st, d), ifIndex: Math.max(-1, ...taken) + 1, ...(cidr ? { cidr } : {}) };
    }),
  );
  const planned = planLinkAdd(st, { a, b, domain, bridge: `cd-${n}`, ends });
  await applyOps(planned.ops, { runtime: opts.runtime, kernel: opts.kernel });
  st.domains.push({ name: domain, bridge: `cd-${n}` });
  for (const i of planned.interfaces)
    st.devices.find((d) => d.name === i.device)!.interfaces.push({ name: i.name, domain, hostIf: i.hostIf });
  const live: LiveState = st.live ?? { cuts: [], shaping: [] };
  (live.added ??= []).push({ domain, endpoints: [a, b] });
  st.live = live;
  const [ca, cb] = [opts.addresses?.[a], opts.addresses?.[b]];
  // a link carries routed traffic once both its ends have addresses
  if (st.routing && ca && cb) st.routing = withLink(st.routing, { name: domain, endpoints: [a, b], addresses: [ca, cb] });
  const rr = await appliedOrUndo(st, replanned(st, opts), () =>
    applyOps(planned.ops.map((o) => inverse(o)).reverse(), { runtime: opts.runtime, kernel: opts.kernel }),
  );
  store.update(st);
  const target = resolveEndpoint(st, domain);
  return withReroute(
    {
      target,
      ops: planned.ops,
      summary: `added ${planned.interfaces.map((i) => `${i.device}:${i.name}`).join(" -- ")} (collision domain ${domain})`,
    },
    rr,
  );
}

/** `kinda link LAB ENDPOINT remove`: removes a link (a collision domain, or the one A--B share) and its interfaces. */
export async function removeLink(lab: string, endpoint: string, opts: LiveOptions): Promise<LinkChangeResult> {
  const store = opts.store;
  const st = readLab(lab, store);
  const target = resolveEndpoint(st, endpoint);
  const domain = target.domain;
  if (!domain)
    throw new KindaError(
      `ENDPOINT ${JSON.stringify(endpoint)}: only links through a collision domain can be removed (not a node's own link)`,
    );
  const ops = planLinkRemove(st, domain);
  await applyOps(ops, { runtime: opts.runtime, kernel: opts.kernel });
  const gone = new Set(ops.map((o) => ifKey(o.at)));
  st.domains = st.domains.filter((d) => d.name !== domain);
  for (const d of st.devices) d.interfaces = d.interfaces.filter((i) => i.domain !== domain);
  if (st.live) {
    st.live.cuts = st.live.cuts.filter((c) => !gone.has(c.key));
    st.live.shaping = st.live.shaping.filter((c) => !gone.has(c.key));
    if (st.live.added) st.live.added = st.live.added.filter((x) => x.domain !== domain);
  }
  if (st.routing) st.routing = withoutLink(st.routing, domain);
  // the link is gone: a failed re-route cannot bring it back, so the state records its removal either way
  const rr = await rerouteAndSave(st, store, { runtime: opts.runtime, kernel: opts.kernel });
  return withReroute({ target, ops, summary: `removed collision domain ${domain} and its ${ops.length - 1} interfaces` }, rr);
}
