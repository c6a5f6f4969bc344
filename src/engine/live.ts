/**
 * Run-time experiments on a lab that is up (`kinda link`, `kinda capture`, `kinda status --links`):
 * resolves an endpoint through the lab's state, checks the request, then runs one command per
 * namespace and tool (tc/ip/nft batches, in parallel). A failure rolls back what was applied, so a
 * rejected or failed change leaves the lab as it was. Changes are recorded in the state.
 */
import { spawn } from "node:child_process";
import { requirePrograms, type HostNeed } from "../core/host.js";
import { KindaError, PreflightError } from "../core/errors.js";
import { NETEM_FIELDS, describeShaping, shapingProblems, usesNetem, type Shaping } from "../core/tc.js";
import type { LabShaping } from "../model/lab.js";
import { run } from "../net/exec.js";
import {
  checkIfNames,
  commandsFor,
  cutOps,
  ifKey,
  inverse,
  nsKey,
  resolveEndpoint,
  shapeOps,
  tcpdumpArgv,
  type IfRef,
  type LinkTarget,
  type LiveOp,
  type NsCommand,
  type NsRef,
} from "../plan/live.js";
import type { Runtime } from "../model/container.js";
import { StateStore, type LabState, type LiveState } from "../state/store.js";

export interface LiveOptions {
  store?: StateStore;
  runtime?: Runtime;
}

export type LinkChange = { shape: Shaping; from?: string } | { clear: true; from?: string } | { state: "down" | "up" };

export interface LinkChangeResult {
  target: LinkTarget;
  ops: LiveOp[];
  /** What was done, in words. */
  summary: string;
}

function readLab(lab: string, store: StateStore, need: HostNeed = "live"): LabState {
  requirePrograms([need]);
  const st = store.read(lab);
  if (!st) throw new KindaError(`LAB ${JSON.stringify(lab)}: no lab of that name is up`, { hint: "kinda status lists the labs that are" });
  if (st.phase !== "up") throw new KindaError(`lab ${lab} is ${st.phase}, not up`);
  return st;
}

/** Whether this kernel has the netem qdisc: tried on the loopback of a throwaway namespace. */
export async function netemAvailable(): Promise<boolean> {
  const r = await run(["unshare", "-n", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]);
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

/** Resolves a container namespace to its PID once per change. */
async function pidResolver(runtime: Pick<Runtime, "inspect"> | undefined): Promise<(ns: NsRef) => Promise<string[]>> {
  const cache = new Map<string, number>();
  let rt: Pick<Runtime, "inspect"> | undefined = runtime;
  return async (ns) => {
    if ("netns" in ns) return [];
    let pid = cache.get(ns.container);
    if (pid === undefined) {
      if (!rt) rt = new (await import("../runtime/engine-api.js")).EngineApi();
      const c = await rt.inspect(ns.container);
      if (!c?.running || !c.pid) throw new KindaError(`container ${ns.container} is not running`);
      pid = c.pid;
      cache.set(ns.container, pid);
    }
    return ["nsenter", "-t", String(pid), "-n"];
  };
}

/** argv of one namespace command. */
export function commandArgv(c: NsCommand, prefix: string[]): string[] {
  const force = c.tolerant ? ["-force"] : [];
  if ("netns" in c.ns) {
    if (c.tool === "nft") return ["ip", "netns", "exec", c.ns.netns, "nft", "-f", "-"];
    return [c.tool, "-n", c.ns.netns, ...force, "-batch", "-"];
  }
  return [...prefix, ...(c.tool === "nft" ? ["nft", "-f", "-"] : [c.tool, ...force, "-batch", "-"])];
}

/** Deleting a qdisc that is not there is the goal reached, not a failure. */
const BENIGN = /Cannot delete qdisc with handle of zero|Cannot find specified qdisc|No such file or directory|Command failed -:\d+/;

async function runCommand(c: NsCommand, prefix: string[]): Promise<void> {
  const argv = commandArgv(c, prefix);
  const input = c.lines.join("\n") + "\n";
  const r = await run(argv, input);
  if (r.exitCode === 0) return;
  if (c.tolerant && r.stderr.split("\n").every((l) => !l.trim() || BENIGN.test(l))) return;
  const { CommandError } = await import("../core/errors.js");
  throw new CommandError(argv, r.exitCode, r.stderr || r.stdout, input);
}

/**
 * Applies operations: one command per namespace and tool, namespaces in parallel. When one fails,
 * every namespace gets the inverse of its operations (`previous` gives the shaping to restore).
 */
export async function applyOps(
  ops: LiveOp[],
  opts: { runtime?: Runtime; previous?: (at: IfRef) => Shaping | undefined } = {},
): Promise<void> {
  checkIfNames(ops);
  const prefixOf = await pidResolver(opts.runtime);
  const groups = new Map<string, LiveOp[]>();
  for (const op of ops) groups.set(nsKey(op.at.ns), [...(groups.get(nsKey(op.at.ns)) ?? []), op]);
  const prefixes = new Map<string, string[]>();
  for (const [k, g] of groups) prefixes.set(k, await prefixOf(g[0]!.at.ns));
  const results = await Promise.allSettled(
    [...groups].map(async ([k, g]) => {
      for (const c of commandsFor(g)) await runCommand(c, prefixes.get(k)!);
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (!failed) return;
  const undo = [...groups].map(async ([k, g]) => {
    const inv = g.map((op) => inverse(op, opts.previous?.(op.at))).reverse();
    for (const c of commandsFor(inv)) await runCommand({ ...c, tolerant: true }, prefixes.get(k)!).catch(() => undefined);
  });
  await Promise.all(undo);
  throw failed.reason;
}

function previousShaping(live: LiveState | undefined): (at: IfRef) => Shaping | undefined {
  return (at) => live?.shaping.find((s) => s.key === ifKey(at))?.shaping as Shaping | undefined;
}

function record(st: LabState, target: LinkTarget, change: LinkChange, ops: LiveOp[]): void {
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
export async function shapeAtDeploy(st: LabState, entries: readonly LabShaping[], runtime?: Runtime): Promise<void> {
  for (const e of entries) {
    const target = resolveEndpoint(st, e.endpoint);
    const ops = shapeOps(target, e.shaping, e.from);
    await applyOps(ops, runtime ? { runtime } : {});
    record(st, target, { shape: e.shaping, ...(e.from ? { from: e.from } : {}) }, ops);
  }
}

/** `kinda link LAB ENDPOINT ...`: shape, clear, cut or restore a link of a lab that is up. */
export async function changeLink(lab: string, endpoint: string, change: LinkChange, opts: LiveOptions = {}): Promise<LinkChangeResult> {
  const store = opts.store ?? new StateStore();
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
  await applyOps(ops, { ...(opts.runtime ? { runtime: opts.runtime } : {}), previous: previousShaping(st.live) });
  record(st, target, change, ops);
  store.write(st);
  return { target, ops, summary };
}

export interface CaptureOptions extends LiveOptions {
  /** File to write pcap to, or "-" for standard output; absent: decoded text. */
  write?: string;
  count?: number;
  filter?: string[];
  stdout?: "inherit" | "pipe";
}

/** `kinda capture`: tcpdump on the host side of a link (lab namespace or the node's veth). */
export async function captureArgv(lab: string, endpoint: string, opts: CaptureOptions = {}): Promise<string[]> {
  const store = opts.store ?? new StateStore();
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
  if ("netns" in ns) return ["ip", "netns", "exec", ns.netns, ...argv];
  return [...(await (await pidResolver(opts.runtime))(ns)), ...argv];
}

/** Runs a capture with the caller's standard streams; resolves with tcpdump's exit code. */
export async function capture(lab: string, endpoint: string, opts: CaptureOptions = {}): Promise<number> {
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
