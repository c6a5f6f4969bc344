/**
 * Per-link counters of a lab that is up (`kinda status LAB --links`, `kinda top LAB`): packets,
 * bytes and drops of every device and node interface, read on the host side of its link (one
 * `ip -s -json link` and one `tc -s -json qdisc` in the lab namespace; nodes linked straight into
 * a device are read in the node's namespace), plus rates between two samples.
 */
import { KindaError } from "../core/errors.js";
import { run } from "../net/exec.js";
import { ifKey, labMembers, type NsRef } from "../plan/live.js";
import type { Runtime } from "../model/container.js";
import { StateStore, type LabState } from "../state/store.js";
import { inNamedNetns, readArgv } from "../plan/ops.js";

export interface LinkCounters {
  /** DEVICE:IFACE, as `kinda link` takes it. */
  endpoint: string;
  /** Collision domain, or the peer interface of a node linked straight into a device. */
  link: string;
  /** From the device's point of view. */
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  /** Dropped on the link (interface and shaping queue). */
  drops: number;
  /** Receive and transmit errors of the interface. */
  errors?: number;
  /** Of `drops`, those of the shaping queue (qdisc). */
  qdiscDrops?: number;
  /** Bytes waiting in the shaping queue. */
  backlog?: number;
  cut: boolean;
  shaped?: string;
  /** Bits per second since the previous sample (absent in the first). */
  txBps?: number;
  rxBps?: number;
}

interface IpStats {
  ifname: string;
  stats64?: {
    rx: { bytes: number; packets: number; dropped: number; errors?: number };
    tx: { bytes: number; packets: number; dropped: number; errors?: number };
  };
}

interface QdiscStats {
  dev: string;
  drops?: number;
  backlog?: number;
  root?: boolean;
}

async function json<T>(argv: string[]): Promise<T[]> {
  const r = await run(argv);
  if (r.exitCode !== 0) throw new KindaError(`${argv.join(" ")} failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout || "[]") as T[];
}

/**
 * Runs a command in a device's network namespace where kinda cannot enter it from this machine
 * (the Kubernetes runtime: the pod's exec API); its standard output.
 */
export type NsExec = (ns: NsRef, argv: string[]) => Promise<string>;

async function nsPrefix(ns: NsRef, runtime: Pick<Runtime, "inspect">, pids: Map<string, number>): Promise<string[]> {
  if ("netns" in ns) return inNamedNetns(ns.netns, [], { exec: true });
  let pid = pids.get(ns.container);
  if (pid === undefined) {
    pid = (await runtime.inspect(ns.container))?.pid ?? 0;
    pids.set(ns.container, pid);
  }
  if (!pid) throw new KindaError(`container ${ns.container} is not running`);
  return ["nsenter", "-t", String(pid), "-n"];
}

/** One sample of every link's counters. */
export async function sampleLinks(
  st: LabState,
  opts: { runtime: Pick<Runtime, "inspect">; pids?: Map<string, number>; exec?: NsExec },
): Promise<LinkCounters[]> {
  const members = labMembers(st).filter((m) => m.labIf || st.cluster?.nodes.some((n) => n.name === m.device));
  const pids = opts.pids ?? new Map<string, number>();
  // on the Kubernetes runtime kinda's end of a link (kvN) is in the device's own pod, read through exec
  const inPod = st.runtime?.kind === "kubernetes";
  if (inPod && !opts.exec) throw new KindaError(`lab ${st.name} is on the Kubernetes runtime: its counters are read through the pods`);
  const labNs = (m: (typeof members)[number]): NsRef => (m.labIf && !inPod ? { netns: st.netns } : m.ns);
  const byNs = new Map<string, { ns: NsRef; devs: string[] }>();
  for (const m of members) {
    const ns = labNs(m);
    const k = JSON.stringify(ns);
    const e = byNs.get(k) ?? { ns, devs: [] };
    e.devs.push(m.labIf ?? m.ifname);
    byNs.set(k, e);
  }
  const stats = new Map<string, { link: IpStats; drops: number; backlog: number }>();
  await Promise.all(
    [...byNs.values()].map(async ({ ns }) => {
      const read = async <T>(argv: string[]): Promise<T[]> =>
        opts.exec
          ? (JSON.parse((await opts.exec(ns, argv)) || "[]") as T[])
          : json<T>([...(await nsPrefix(ns, opts.runtime, pids)), ...argv]);
      const [links, qdiscs] = await Promise.all([
        read<IpStats>(readArgv({ read: "links", stats: true })),
        read<QdiscStats>(readArgv({ read: "qdisc-stats" })),
      ]);
      for (const l of links) {
        const mine = qdiscs.filter((x) => x.dev === l.ifname);
        const q = mine.reduce((a, x) => a + (x.drops ?? 0), 0);
        const backlog = mine.reduce((a, x) => a + (x.backlog ?? 0), 0);
        stats.set(ifKey({ ns, dev: l.ifname }), { link: l, drops: q, backlog });
      }
    }),
  );
  const live = st.live ?? { cuts: [], shaping: [] };
  return members.flatMap((m): LinkCounters[] => {
    const ns = labNs(m);
    const at = { ns, dev: m.labIf ?? m.ifname };
    const s = stats.get(ifKey(at));
    if (!s?.link.stats64) return [];
    const { rx, tx } = s.link.stats64;
    // the lab-side end sees the device's traffic mirrored: what it receives, the device sent
    const [out, inn] = m.labIf ? [rx, tx] : [tx, rx];
    const keys = new Set([
      ifKey(at),
      ifKey({ ns: m.ns, dev: m.ifname }),
      ...(m.peer ? [ifKey({ ns: m.peer.ns, dev: m.peer.ifname })] : []),
    ]);
    const shaped = live.shaping
      .filter((x) => keys.has(x.key))
      .map(
        (x) =>
          `${x.direction}: ${Object.entries(x.shaping)
            .map(([k, v]) => `${k} ${v}`)
            .join(" ")}`,
      );
    const c: LinkCounters = {
      endpoint: `${m.device}:${m.ifname}`,
      link: m.domain ? `domain ${m.domain}` : `${m.peer?.device}:${m.peer?.ifname}`,
      txPackets: out.packets,
      txBytes: out.bytes,
      rxPackets: inn.packets,
      rxBytes: inn.bytes,
      drops: rx.dropped + tx.dropped + s.drops,
      errors: (rx.errors ?? 0) + (tx.errors ?? 0),
      qdiscDrops: s.drops,
      backlog: s.backlog,
      cut: live.cuts.some((x) => keys.has(x.key)),
    };
    if (shaped.length) c.shaped = shaped.join("; ");
    return [c];
  });
}

/** Adds rates (bits per second) from the previous sample taken `seconds` earlier. */
export function withRates(now: LinkCounters[], prev: LinkCounters[] | undefined, seconds: number): LinkCounters[] {
  if (!prev || seconds <= 0) return now;
  return now.map((c) => {
    const p = prev.find((x) => x.endpoint === c.endpoint);
    if (!p) return c;
    return {
      ...c,
      txBps: Math.max(0, ((c.txBytes - p.txBytes) * 8) / seconds),
      rxBps: Math.max(0, ((c.rxBytes - p.rxBytes) * 8) / seconds),
    };
  });
}

function human(n: number | undefined, unit: string): string {
  if (n === undefined) return "-";
  const steps = ["", "k", "M", "G", "T"];
  let i = 0;
  while (n >= 1000 && i < steps.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(n < 10 && i ? 1 : 0)}${steps[i]}${unit}`;
}

/** A table of link counters, one line per interface. */
export function formatLinks(lab: string, rows: LinkCounters[]): string {
  const w = Math.max(8, ...rows.map((r) => r.endpoint.length));
  const lw = Math.max(4, ...rows.map((r) => r.link.length));
  const head = `${"ENDPOINT".padEnd(w)}  ${"LINK".padEnd(lw)}  STATE  ${"TX PKTS".padStart(9)} ${"TX".padStart(7)} ${"RX PKTS".padStart(9)} ${"RX".padStart(7)} ${"DROPS".padStart(7)} ${"TX RATE".padStart(9)} ${"RX RATE".padStart(9)}  SHAPING`;
  const lines = rows.map(
    (r) =>
      `${r.endpoint.padEnd(w)}  ${r.link.padEnd(lw)}  ${(r.cut ? "CUT" : "up").padEnd(5)}  ${String(r.txPackets).padStart(9)} ${human(r.txBytes, "B").padStart(7)} ${String(r.rxPackets).padStart(9)} ${human(r.rxBytes, "B").padStart(7)} ${String(r.drops).padStart(7)} ${human(r.txBps, "bit/s").padStart(9)} ${human(r.rxBps, "bit/s").padStart(9)}  ${r.shaped ?? ""}`,
  );
  return [`lab ${lab}: links (counters as the device sees them)`, head, ...lines].join("\n");
}

/** Two samples `seconds` apart, with rates (for --json). */
export async function linkCounters(
  lab: string,
  opts: { store: StateStore; runtime: Pick<Runtime, "inspect">; seconds?: number; exec?: NsExec },
): Promise<LinkCounters[]> {
  const store = opts.store;
  const st = store.read(lab);
  if (!st) throw new KindaError(`LAB ${JSON.stringify(lab)}: no lab of that name is up`, { hint: "kinda status lists the labs that are" });
  const pids = new Map<string, number>();
  const seconds = opts.seconds ?? 1;
  const o = { pids, runtime: opts.runtime, ...(opts.exec ? { exec: opts.exec } : {}) };
  const first = await sampleLinks(st, o);
  if (seconds <= 0) return first;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const second = await sampleLinks(st, o);
  return withRates(second, first, seconds);
}
