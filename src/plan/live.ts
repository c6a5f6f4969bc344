/**
 * Run-time experiments on a lab that is up: which kernel interfaces a link endpoint means, and the
 * typed operations (each with its inverse) that shape, cut or restore it. Pure: from the lab's
 * state record and the user's words to operations and their command lines; unit-tested without
 * root. The engine side (engine/live.ts) resolves containers to PIDs and runs the commands.
 *
 * Where things happen, so that a device never sees kinda's hand:
 * - A device interface's veth has a lab-side end in the lab namespace. Egress there is traffic
 *   *into* the device; cutting sets that end down, so the device sees its carrier drop (NO-CARRIER)
 *   and keeps its addresses and routes (an admin-down inside the device deletes them).
 * - A Kubernetes node linked straight into a device has no lab-side end: its veth runs from the
 *   node's namespace into the device's. Each direction is shaped at its sender's end, and a cut is
 *   an nftables netdev filter that drops everything in and out of both ends (carrier cannot be
 *   dropped on a veth without setting one end down, which would delete that side's routes).
 */
import { KindaError } from "../core/errors.js";
import { isCidr } from "../core/addr.js";
import { deviceIfName, hostVeth, hostVethAltname, hostVethSlot } from "../core/names.js";
import { qdiscArgs, type Shaping } from "../core/tc.js";
import { LOAD_BALANCER } from "../model/cluster.js";
import { CUT_TABLE, type KernelOp } from "../model/ops.js";
import { addrAdd, deviceVethOps, domainBridgeOps, linkDown, linkUp, renderBatches, type Tool } from "./ops.js";

/** A device of a lab that is up, as its state records it. */
export interface LabDevice {
  name: string;
  container: string;
  interfaces: { name: string; domain: string; hostIf: string }[];
  /** Its number in its lab-side veth names (absent in states written before slots were recorded). */
  slot?: number;
}

/** What endpoints are resolved against: the parts of a lab's state record that say where links are. */
export interface LabLinks {
  name: string;
  netns: string;
  domains: { name: string; bridge: string }[];
  devices: LabDevice[];
  /** Device slots handed out so far (see nextSlot). */
  nextSlot?: number;
  cluster?: {
    nodes: { name: string; container: string }[];
    loadBalancer?: { container: string };
    links?: { node: string; device?: string; domain?: string; nodeIf?: string; deviceIf?: string; labIf?: string }[];
  };
}

/** A namespace: the lab's named one, or a container's (resolved to its PID at run time). */
export type NsRef = { netns: string } | { container: string };

export interface IfRef {
  ns: NsRef;
  dev: string;
}

/** Egress on `at` carries the traffic from `from` to `to`. */
export interface Direction {
  from: string;
  to: string;
  at: IfRef;
}

export interface LinkTarget {
  /** As the user wrote it. */
  endpoint: string;
  /** What it is, for messages: "r1:eth0 (collision domain A)". */
  description: string;
  directions: Direction[];
  /** Lab-side ends whose admin state is the cable (carrier), or veth ends to filter. */
  cut: { at: IfRef; how: "carrier" | "filter" }[];
  /** Where a capture sees both directions. */
  capture: IfRef;
  /** The collision domain the link goes through (absent for a node linked straight into a device). */
  domain?: string;
}

export type LiveOp =
  | { kind: "shape"; at: IfRef; shaping: Shaping }
  | { kind: "unshape"; at: IfRef }
  | { kind: "carrier"; at: IfRef; up: boolean }
  | { kind: "filter-cut"; at: IfRef; cut: boolean }
  /** A collision domain's bridge in the lab namespace (`at.dev`), its altname the domain. */
  | { kind: "bridge"; at: IfRef; domain: string; add: boolean }
  /** A device interface: lab-side end `at.dev` on `bridge`, device end `ifname` in `peer`. */
  | { kind: "veth"; at: IfRef; altname: string; bridge: string; peer: NsRef; ifname: string; add: boolean }
  /** An address on an interface (added with the interface brought up). */
  | { kind: "addr"; at: IfRef; cidr: string; add: boolean };

/** Operations run in phases: the lab namespace's links first, then what goes inside devices. */
export function phaseOf(op: LiveOp): number {
  return op.kind === "addr" ? 1 : 0;
}

export function nsKey(ns: NsRef): string {
  return "netns" in ns ? `netns:${ns.netns}` : `container:${ns.container}`;
}

export function ifKey(r: IfRef): string {
  return `${nsKey(r.ns)}/${r.dev}`;
}

/** The operation that undoes `op`; `previous` is the shaping the interface had before (if any). */
export function inverse(op: LiveOp, previous?: Shaping): LiveOp {
  switch (op.kind) {
    case "shape":
    case "unshape":
      return previous ? { kind: "shape", at: op.at, shaping: previous } : { kind: "unshape", at: op.at };
    case "carrier":
      return { ...op, up: !op.up };
    case "filter-cut":
      return { ...op, cut: !op.cut };
    case "bridge":
    case "veth":
    case "addr":
      return { ...op, add: !op.add };
  }
}

// ---------------------------------------------------------------- endpoints

interface Member {
  device: string;
  /** Interface inside the device or node. */
  ifname: string;
  ns: NsRef;
  /** Lab-side end in the lab namespace (absent for a node linked straight into a device). */
  labIf?: string;
  domain?: string;
  /** For a node linked straight into a device: the device and its interface. */
  peer?: { device: string; ifname: string; ns: NsRef };
}

/** Every interface of the lab's devices and nodes, with where its other end is. */
export function labMembers(st: LabLinks): Member[] {
  const out: Member[] = st.devices.flatMap((d) =>
    d.interfaces.map((i) => ({ device: d.name, ifname: i.name, ns: { container: d.container }, labIf: i.hostIf, domain: i.domain })),
  );
  const c = st.cluster;
  for (const l of c?.links ?? []) {
    const container =
      c?.nodes.find((n) => n.name === l.node)?.container ?? (l.node === LOAD_BALANCER ? c?.loadBalancer?.container : undefined);
    if (!container || !l.nodeIf) continue;
    const m: Member = { device: l.node, ifname: l.nodeIf, ns: { container } };
    if (l.domain && l.labIf) Object.assign(m, { domain: l.domain, labIf: l.labIf });
    const dev = l.device ? st.devices.find((d) => d.name === l.device) : undefined;
    if (dev && l.deviceIf) {
      m.peer = { device: dev.name, ifname: l.deviceIf, ns: { container: dev.container } };
      out.push({
        device: dev.name,
        ifname: l.deviceIf,
        ns: { container: dev.container },
        peer: { device: l.node, ifname: l.nodeIf, ns: { container } },
      });
    }
    out.push(m);
  }
  return out;
}

function memberTarget(st: LabLinks, m: Member, endpoint: string): LinkTarget {
  const labNs: NsRef = { netns: st.netns };
  const here: IfRef = { ns: m.ns, dev: m.ifname };
  if (m.labIf) {
    const lab: IfRef = { ns: labNs, dev: m.labIf };
    return {
      endpoint,
      description: `${m.device}:${m.ifname} (collision domain ${m.domain})`,
      directions: [
        { from: m.device, to: `domain ${m.domain}`, at: here },
        { from: `domain ${m.domain}`, to: m.device, at: lab },
      ],
      cut: [{ at: lab, how: "carrier" }],
      capture: lab,
      ...(m.domain ? { domain: m.domain } : {}),
    };
  }
  const p = m.peer!;
  const there: IfRef = { ns: p.ns, dev: p.ifname };
  return {
    endpoint,
    description: `${m.device}:${m.ifname} (linked to ${p.device}:${p.ifname})`,
    directions: [
      { from: m.device, to: p.device, at: here },
      { from: p.device, to: m.device, at: there },
    ],
    cut: [
      { at: here, how: "filter" },
      { at: there, how: "filter" },
    ],
    capture: here,
  };
}

function domainTarget(st: LabLinks, domain: string, members: Member[], endpoint: string, label: string): LinkTarget {
  const labNs: NsRef = { netns: st.netns };
  const bridge = st.domains.find((d) => d.name === domain)?.bridge;
  if (!bridge) throw new KindaError(`collision domain ${domain} has no bridge in the state of lab ${st.name}`);
  const onIt = members.filter((m) => m.domain === domain && m.labIf);
  // traffic into each member leaves the bridge through that member's lab-side end; on a segment
  // of two, that is the traffic from the other one (so `from` can pick a direction)
  const other = (m: Member) => (onIt.length === 2 ? onIt.find((x) => x !== m)!.device : `domain ${domain}`);
  return {
    endpoint,
    description: label,
    directions: onIt.map((m) => ({ from: other(m), to: m.device, at: { ns: labNs, dev: m.labIf! } })),
    cut: onIt.map((m) => ({ at: { ns: labNs, dev: m.labIf! }, how: "carrier" as const })),
    capture: { ns: labNs, dev: bridge },
    domain,
  };
}

const IF_ENDPOINT = /^([^:\s]+):([^:\s]+)$/;
const PAIR_ENDPOINT = /^(\S+?)--(\S+)$/;

/** What an ENDPOINT argument names in a lab: `r1:eth0`, `r1--w1`, or a collision domain. */
export function resolveEndpoint(st: LabLinks, endpoint: string): LinkTarget {
  const members = labMembers(st);
  const names = [...new Set(members.map((m) => m.device))];
  const unknown = (what: string, hint: string) => new KindaError(`ENDPOINT ${JSON.stringify(endpoint)}: ${what}`, { hint });
  const ifm = IF_ENDPOINT.exec(endpoint);
  if (ifm) {
    const [, dev, ifname] = ifm as unknown as [string, string, string];
    const mine = members.filter((m) => m.device === dev);
    if (!mine.length) throw unknown(`lab ${st.name} has no device or node ${dev}`, `devices and nodes: ${names.join(", ")}`);
    const m = mine.find((x) => x.ifname === ifname);
    if (!m) throw unknown(`${dev} has no linked interface ${ifname}`, `${dev} has ${mine.map((x) => x.ifname).join(", ")}`);
    return memberTarget(st, m, endpoint);
  }
  const pm = PAIR_ENDPOINT.exec(endpoint);
  if (pm) {
    const [, a, b] = pm as unknown as [string, string, string];
    for (const d of [a, b])
      if (!names.includes(d)) throw unknown(`lab ${st.name} has no device or node ${d}`, `devices and nodes: ${names.join(", ")}`);
    const direct = members.find((m) => m.device === a && m.peer?.device === b);
    if (direct) return { ...memberTarget(st, direct, endpoint), description: `the link ${a}--${b}` };
    const domsOf = (d: string) => new Set(members.filter((m) => m.device === d && m.domain).map((m) => m.domain!));
    const shared = [...domsOf(a)].filter((x) => domsOf(b).has(x)).sort();
    if (shared.length === 0) throw unknown(`${a} and ${b} share no link`, "name an interface (r1:eth0) or a collision domain");
    if (shared.length > 1)
      throw unknown(
        `${a} and ${b} share ${shared.length} collision domains (${shared.join(", ")})`,
        "name one of them, or an interface (r1:eth0)",
      );
    return pairOnDomain(st, shared[0]!, a, b, members, endpoint);
  }
  if (st.domains.some((d) => d.name === endpoint)) return domainTarget(st, endpoint, members, endpoint, `collision domain ${endpoint}`);
  throw unknown(
    "is neither DEVICE:IFACE, A--B, nor a collision domain of the lab",
    `collision domains: ${st.domains.map((d) => d.name).join(", ") || "none"}; devices and nodes: ${names.join(", ")}`,
  );
}

/** A--B on a shared segment: each direction shaped where it enters the receiver; cut on both ends. */
function pairOnDomain(st: LabLinks, domain: string, a: string, b: string, members: Member[], endpoint: string): LinkTarget {
  const labNs: NsRef = { netns: st.netns };
  const ends = [a, b].map((d) => members.find((m) => m.device === d && m.domain === domain && m.labIf)!);
  const [ea, eb] = ends as [Member, Member];
  const others = members.filter((m) => m.domain === domain && m.device !== a && m.device !== b).map((m) => m.device);
  return {
    endpoint,
    description: `the link ${a}--${b} (collision domain ${domain}${others.length ? `, shared with ${others.join(", ")}` : ""})`,
    directions: [
      { from: a, to: b, at: { ns: labNs, dev: eb.labIf! } },
      { from: b, to: a, at: { ns: labNs, dev: ea.labIf! } },
    ],
    cut: ends.map((m) => ({ at: { ns: labNs, dev: m.labIf! }, how: "carrier" as const })),
    capture: { ns: labNs, dev: ea.labIf! },
    domain,
  };
}

// ---------------------------------------------------------------- operations and commands

/** Operations that shape every chosen direction of a target (all of them unless `from` picks one). */
export function shapeOps(t: LinkTarget, shaping: Shaping | undefined, from?: string): LiveOp[] {
  const dirs = from === undefined ? t.directions : t.directions.filter((d) => d.from === from);
  if (!dirs.length)
    throw new KindaError(`--from ${from}: no direction of ${t.description} starts there`, {
      hint: `directions: ${t.directions.map((d) => `${d.from} -> ${d.to}`).join("; ")}`,
    });
  return dirs.map((d): LiveOp => (shaping ? { kind: "shape", at: d.at, shaping } : { kind: "unshape", at: d.at }));
}

export function cutOps(t: LinkTarget, down: boolean): LiveOp[] {
  return t.cut.map((c): LiveOp =>
    c.how === "carrier" ? { kind: "carrier", at: c.at, up: !down } : { kind: "filter-cut", at: c.at, cut: down },
  );
}

export { CUT_TABLE };

/** Run-time operations undone at once must not fail on what is already gone (a qdisc, a link, an address). */
export function tolerant(op: LiveOp): boolean {
  return op.kind === "unshape" || ((op.kind === "bridge" || op.kind === "veth" || op.kind === "addr") && !op.add);
}

/**
 * A run-time operation as the kernel operations it is (model/ops.ts, rendered by plan/ops.ts
 * like every other), in its namespace `op.at.ns`; `pidOf` resolves a veth peer's namespace.
 */
export function kernelOpsOf(op: LiveOp, pidOf: (ns: NsRef) => number = () => 0): KernelOp[] {
  const dev = op.at.dev;
  switch (op.kind) {
    case "shape":
      return [{ op: "qdisc-replace", dev, args: qdiscArgs(op.shaping) }];
    case "unshape":
      return [{ op: "qdisc-delete", dev }];
    case "carrier":
      return [op.up ? linkUp(dev) : linkDown(dev)];
    case "filter-cut":
      return [{ op: "cut-filter", dev, cut: op.cut }];
    case "bridge":
      return op.add ? domainBridgeOps(dev, op.domain) : [{ op: "link-delete", name: dev }];
    case "veth":
      return op.add ? deviceVethOps(dev, op.altname, op.bridge, op.ifname, pidOf(op.peer)) : [{ op: "link-delete", name: dev }];
    case "addr":
      return op.add ? [addrAdd(op.cidr, dev), linkUp(dev)] : [{ op: "addr-del", address: op.cidr, dev }];
  }
}

/** What one namespace gets at once: typed operations, tolerant of what is gone or not. */
export interface NsBatch {
  ns: NsRef;
  ops: KernelOp[];
  tolerant: boolean;
}

/** Operations grouped per namespace and tolerance, in the order first seen. */
export function nsBatches(ops: readonly LiveOp[], pidOf: (ns: NsRef) => number = () => 0): NsBatch[] {
  const out: NsBatch[] = [];
  for (const op of ops) {
    const t = tolerant(op);
    let b = out.find((x) => nsKey(x.ns) === nsKey(op.at.ns) && x.tolerant === t);
    if (!b) out.push((b = { ns: op.at.ns, ops: [], tolerant: t }));
    b.ops.push(...kernelOpsOf(op, pidOf));
  }
  return out;
}

/** One tool's input for one namespace (`tc -batch`, `ip -batch` or `nft -f`): for listings and tests. */
export interface NsCommand {
  ns: NsRef;
  tool: Tool;
  lines: string[];
  /** Lines that may fail without harm (deleting a qdisc that is not there). */
  tolerant: boolean;
}

/** Operations as command lines (rendered by plan/ops.ts), one command per namespace, tolerance and tool. */
export function commandsFor(ops: readonly LiveOp[], pidOf: (ns: NsRef) => number = () => 0): NsCommand[] {
  return nsBatches(ops, pidOf).flatMap((b) =>
    renderBatches(b.ops).map((r) => ({ ns: b.ns, tool: r.tool, lines: r.lines, tolerant: b.tolerant })),
  );
}

// ---------------------------------------------------------------- device slots

/**
 * A device's slot, the number in its lab-side veth names: recorded, or (a state written before
 * slots were recorded) read back from those names. Undefined for such a device without links.
 */
export function slotOf(d: LabDevice): number | undefined {
  if (d.slot !== undefined) return d.slot;
  for (const i of d.interfaces) {
    const s = hostVethSlot(i.hostIf);
    if (s !== undefined) return s;
  }
  return undefined;
}

/**
 * The slot the next device joining the lab gets: above every slot the lab handed out (its record)
 * and every slot its devices have (older states have no record; `up` gave slots 0..N-1, so the
 * number of devices bounds them too). A slot is never handed out twice while the lab lives, so
 * no lab-side name of a device that comes can be one a device has, or had, in the namespace.
 */
export function nextSlot(st: Pick<LabLinks, "devices" | "nextSlot">): number {
  // every name counts, not only a device's first: before slots, `link add` named a device's new
  // ends by its place in the list at the time, so one device can carry names of several slots
  const slots = st.devices.flatMap((d) => [d.slot ?? -1, ...d.interfaces.map((i) => hostVethSlot(i.hostIf) ?? -1)]);
  return Math.max(st.nextSlot ?? 0, st.devices.length, ...slots.map((s) => s + 1));
}

/** Does a device other than `d` have `slot`, recorded or in one of its lab-side names? */
function slotShared(st: Pick<LabLinks, "devices">, d: LabDevice, slot: number): boolean {
  return st.devices.some((o) => o.name !== d.name && (o.slot === slot || o.interfaces.some((i) => hostVethSlot(i.hostIf) === slot)));
}

/** Hands out the next slot: records it as taken in `st` and returns it (the caller saves `st`). */
export function takeSlot(st: Pick<LabLinks, "devices" | "nextSlot">): number {
  const slot = nextSlot(st);
  st.nextSlot = slot + 1;
  return slot;
}

/** `d`'s slot; a device that has none yet (an older state's device without links) is given one, in `st` and `d`. */
export function ensureSlot(st: Pick<LabLinks, "devices" | "nextSlot">, d: LabDevice): number {
  if (d.slot !== undefined) return d.slot;
  // read back from an older state's names: only if no other device's names carry it too
  const known = slotOf(d);
  if (known !== undefined && !slotShared(st, d, known)) return (d.slot = known);
  return (d.slot = takeSlot(st));
}

/**
 * A new link between two lab devices at run time: a collision domain of its own (`bridge`), one
 * veth per device (device end `ethK`, K the next free number there; lab end named by the device's
 * slot), addresses if given.
 */
export function planLinkAdd(
  st: LabLinks,
  input: {
    a: string;
    b: string;
    domain: string;
    bridge: string;
    ends: { device: string; slot: number; ifIndex: number; cidr?: string }[];
  },
): { ops: LiveOp[]; interfaces: { device: string; name: string; hostIf: string }[] } {
  const lab: NsRef = { netns: st.netns };
  const ops: LiveOp[] = [{ kind: "bridge", at: { ns: lab, dev: input.bridge }, domain: input.domain, add: true }];
  const interfaces: { device: string; name: string; hostIf: string }[] = [];
  for (const e of input.ends) {
    const d = st.devices.find((x) => x.name === e.device)!;
    const hostIf = hostVeth(e.slot, e.ifIndex);
    const ifname = deviceIfName(e.ifIndex);
    const peer: NsRef = { container: d.container };
    ops.push({
      kind: "veth",
      at: { ns: lab, dev: hostIf },
      altname: hostVethAltname(d.name, e.ifIndex),
      bridge: input.bridge,
      peer,
      ifname,
      add: true,
    });
    ops.push(
      e.cidr
        ? { kind: "addr", at: { ns: peer, dev: ifname }, cidr: e.cidr, add: true }
        : { kind: "carrier", at: { ns: peer, dev: ifname }, up: true },
    );
    interfaces.push({ device: d.name, name: ifname, hostIf });
  }
  return { ops, interfaces };
}

/** Removing a collision domain: every lab-side end on it (the device ends go with them), then its bridge. */
export function planLinkRemove(st: LabLinks, domain: string): LiveOp[] {
  const lab: NsRef = { netns: st.netns };
  const bridge = st.domains.find((d) => d.name === domain)?.bridge;
  if (!bridge) throw new KindaError(`collision domain ${domain} is not in lab ${st.name}`);
  const ops: LiveOp[] = [];
  for (const d of st.devices)
    for (const i of d.interfaces.filter((x) => x.domain === domain))
      ops.push({
        kind: "veth",
        at: { ns: lab, dev: i.hostIf },
        altname: `${d.name}.${i.name}`,
        bridge,
        peer: { container: d.container },
        ifname: i.name,
        add: false,
      });
  ops.push({ kind: "bridge", at: { ns: lab, dev: bridge }, domain, add: false });
  return ops;
}

const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;

/** Interface names go into batch lines: refuse anything that is not one (state files can be edited). */
export function checkIfNames(ops: readonly LiveOp[]): void {
  for (const op of ops) if (!IFNAME.test(op.at.dev)) throw new KindaError(`${JSON.stringify(op.at.dev)} is not an interface name`);
}

/** argv of a capture on the host side of a link (run inside its namespace by the caller). */
export function tcpdumpArgv(dev: string, opts: { write?: string; count?: number; filter?: string[] }): string[] {
  const a = ["tcpdump", "-i", dev, "-n"];
  if (opts.write !== undefined) a.push("-U", "-w", opts.write);
  else a.push("-l");
  if (opts.count !== undefined) a.push("-c", String(opts.count));
  if (opts.filter?.length) a.push("--", ...opts.filter);
  return a;
}

/**
 * `kinda link LAB A--B add`'s arguments checked against the lab (either runtime): the two ends,
 * the addresses given for them, and the new collision domain's name (the one asked for, else
 * A--B, then A--B-2, ... past the names the lab has).
 */
export function newLinkEnds(
  lab: string,
  endpoint: string,
  have: { devices: readonly string[]; domains: readonly string[] },
  o: { addresses?: Record<string, string>; domain?: string },
): { a: string; b: string; domain: string } {
  const m = /^(\S+?)--(\S+)$/.exec(endpoint);
  if (!m) throw new KindaError(`ENDPOINT ${JSON.stringify(endpoint)}: a new link is named by its two devices, A--B`);
  const [a, b] = [m[1]!, m[2]!];
  for (const d of [a, b])
    if (!have.devices.includes(d))
      throw new KindaError(`ENDPOINT ${JSON.stringify(endpoint)}: lab ${lab} has no device ${d}`, {
        hint: `devices: ${have.devices.join(", ")}`,
      });
  if (a === b) throw new KindaError(`ENDPOINT ${JSON.stringify(endpoint)}: a link from ${a} to itself`);
  for (const [dev, cidr] of Object.entries(o.addresses ?? {})) {
    if (dev !== a && dev !== b) throw new KindaError(`--address ${dev}=${cidr}: ${dev} is not an end of ${endpoint}`);
    if (!isCidr(cidr)) throw new KindaError(`--address ${dev}=${cidr}: not an address with a prefix length (e.g. 10.9.0.1/24)`);
  }
  let domain = o.domain ?? `${a}--${b}`;
  if (o.domain && have.domains.includes(domain)) throw new KindaError(`--domain ${domain}: the lab already has it`);
  for (let k = 2; have.domains.includes(domain); k++) domain = `${a}--${b}-${k}`;
  return { a, b, domain };
}
