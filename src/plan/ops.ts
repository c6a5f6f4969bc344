/**
 * Kernel operations: constructors, each operation's inverse, and rendering to the lines the
 * tools read (ip/bridge/tc batches, ethtool argv, iptables-restore input). Rendering happens
 * only here, at the edge; planners and the state work with the typed values of model/ops.ts.
 */
import { CUT_TABLE } from "../model/ops.js";
import type {
  CutFilterOp,
  FdbOp,
  IpOp,
  IptablesRule,
  IptablesTable,
  KernelOp,
  LinkKind,
  NetemOp,
  OffloadOffOp,
  P4EntryAddOp,
  P4EntryDeleteOp,
  Route,
  NicPortOp,
  RpFilterLooseOp,
  TbfOp,
  UndoOp,
} from "../model/ops.js";

/** iproute2 arguments for a route via these next hops: "via A", or "nexthop via A nexthop via B" (ECMP). */
export function nextHopArgs(via: string | readonly string[]): string {
  const all = typeof via === "string" ? [via] : via;
  if (all.length === 1) return `via ${all[0]}`;
  return all.map((v) => `nexthop via ${v}`).join(" ");
}

const opt = (word: string, v: string | number | undefined): string => (v === undefined ? "" : ` ${word} ${v}`);

/** `ip route` arguments of a route (also what `kinda` shows in --dry-run). */
export function renderRoute(r: Route): string {
  return (
    r.dst +
    opt("via", r.via) +
    opt("dev", r.dev) +
    opt("proto", r.proto) +
    opt("metric", r.metric) +
    (r.onlink ? " onlink" : "") +
    opt("mtu", r.mtu) +
    opt("table", r.table) +
    // iproute2 reads nexthop specs last, to the end of the line
    (r.nexthops ? ` ${nextHopArgs(r.nexthops)}` : "")
  );
}

function renderKind(k: LinkKind): string {
  switch (k.type) {
    case "veth":
      return `type veth peer name ${k.peer}${opt("address", k.peerMac)}${opt("mtu", k.peerMtu)}${opt("netns", k.peerNetns)}`;
    case "bridge":
      return k.mcastSnooping === false ? "type bridge mcast_snooping 0" : "type bridge";
    case "vlan":
      return `type vlan id ${k.id}`;
    case "vxlan":
      return `type vxlan id ${k.id} local ${k.local} dstport ${k.dstport}${k.learning ? "" : " nolearning"} dev ${k.dev}`;
    case "gre":
      return `type gre local ${k.local} remote ${k.remote} ttl ${k.ttl}`;
  }
}

/** One `ip -batch` line. */
export function renderIp(o: IpOp): string {
  switch (o.op) {
    case "link-add":
      if (o.kind.type === "vlan") return `link add link ${o.kind.link} name ${o.name} ${renderKind(o.kind)}`;
      return `link add ${o.name}${opt("address", o.mac)}${opt("mtu", o.mtu)}${opt("master", o.master)}${o.up ? " up" : ""} ${renderKind(o.kind)}`;
    case "link-set":
      return (
        `link set ${o.name}${opt("address", o.mac)}${opt("mtu", o.mtu)}${opt("master", o.master)}${o.nomaster ? " nomaster" : ""}` +
        `${opt("name", o.rename)}${opt("netns", o.netns)}${o.up === undefined ? "" : o.up ? " up" : " down"}`
      );
    case "link-delete":
      return `link delete ${o.name}`;
    case "altname-add":
      return `link property add dev ${o.dev} altname ${o.altname}`;
    case "addr-add":
      return `addr add ${o.address} dev ${o.dev}`;
    case "addr-del":
      return `addr del ${o.address} dev ${o.dev}`;
    case "route-add":
      return `route add ${renderRoute(o.route)}`;
    case "route-replace":
      return `route replace ${renderRoute(o.route)}`;
    case "route-del":
      return `route del ${renderRoute(o.route)}`;
    case "rule-add":
      return `rule add to ${o.to} lookup ${o.table} pref ${o.pref}`;
    case "neigh-replace":
      return `neigh replace ${o.address} lladdr ${o.lladdr} dev ${o.dev} nud permanent`;
  }
}

export function renderFdb(o: FdbOp): string {
  return `fdb append ${o.mac} dev ${o.dev} dst ${o.dst}`;
}

export function renderTbf(o: TbfOp | NetemOp): string {
  if (o.op === "netem") return `qdisc replace dev ${o.dev} root netem ${o.args.join(" ")}`;
  return `qdisc replace dev ${o.dev} root tbf rate ${o.rate} burst ${o.burst} latency ${o.latency}`;
}

/** sysctl's arguments (after `sysctl`); slashes, so that an interface name may hold dots. */
export function sysctlArgs(o: RpFilterLooseOp | NicPortOp): string[] {
  if (o.op === "nic-port")
    return [
      "-w",
      `net/ipv4/conf/${o.dev}/rp_filter=1`,
      `net/ipv4/conf/${o.dev}/forwarding=0`,
      `net/ipv4/conf/${o.dev}/arp_ignore=8`,
      `net/ipv6/conf/${o.dev}/disable_ipv6=1`,
    ];
  return ["-w", `net/ipv4/conf/${o.dev}/rp_filter=2`];
}

/** ethtool's arguments (after `ethtool`). */
export function ethtoolArgs(o: OffloadOffOp): string[] {
  return ["-K", o.dev, "rx", "off", "tx", "off"];
}

/** A rule's words after the table: `-A CHAIN ...` (or -I, or -D to delete it). */
export function ruleArgs(r: IptablesRule, action: "-A" | "-I" | "-D" = r.insert ? "-I" : "-A"): string[] {
  return [action, r.chain, ...r.match, "-m", "comment", "--comment", r.comment, "-j", ...r.jump];
}

export const TABLES: readonly IptablesTable[] = ["nat", "mangle", "filter"];

/** `iptables-restore --noflush` input adding the rules (tables in a fixed order). */
export function iptablesRestoreInput(rules: readonly IptablesRule[]): string {
  let text = "";
  for (const table of TABLES) {
    const lines = rules.filter((r) => r.table === table).map((r) => ruleArgs(r).join(" "));
    if (lines.length) text += `*${table}\n${lines.join("\n")}\nCOMMIT\n`;
  }
  return text;
}

/** The tool that reads an operation's lines (`nft -f`, the others `-batch`). */
export type Tool = "ip" | "bridge" | "tc" | "nft";

function toolOf(o: KernelOp): Tool {
  if (o.op === "fdb-append") return "bridge";
  if (o.op === "tbf" || o.op === "netem" || o.op === "qdisc-replace" || o.op === "qdisc-delete") return "tc";
  if (o.op === "cut-filter") return "nft";
  return "ip";
}

function cutLines(o: CutFilterOp): string[] {
  const [i, out] = [`in_${o.dev}`, `out_${o.dev}`];
  if (o.cut)
    return [
      `add table netdev ${CUT_TABLE}`,
      `add chain netdev ${CUT_TABLE} ${i} { type filter hook ingress device "${o.dev}" priority -500; policy drop; }`,
      `add chain netdev ${CUT_TABLE} ${out} { type filter hook egress device "${o.dev}" priority -500; policy drop; }`,
    ];
  // `add` first, so that deleting a chain that is not there is no error (idempotent restore)
  return [
    `add table netdev ${CUT_TABLE}`,
    `add chain netdev ${CUT_TABLE} ${i}`,
    `add chain netdev ${CUT_TABLE} ${out}`,
    `delete chain netdev ${CUT_TABLE} ${i}`,
    `delete chain netdev ${CUT_TABLE} ${out}`,
  ];
}

/** One operation's lines, for its tool's batch. */
export function renderLines(o: KernelOp): string[] {
  switch (o.op) {
    case "fdb-append":
      return [renderFdb(o)];
    case "tbf":
    case "netem":
      return [renderTbf(o)];
    case "qdisc-replace":
      return [["qdisc", "replace", "dev", o.dev, "root", ...o.args].join(" ")];
    case "qdisc-delete":
      return [`qdisc del dev ${o.dev} root`];
    case "cut-filter":
      return cutLines(o);
    default:
      return [renderIp(o)];
  }
}

/**
 * The one place kernel operations become tool input: each tool's lines, tools in the order
 * first seen (the lines of each in the operations' order). Kernel.apply runs them.
 */
export function renderBatches(ops: readonly KernelOp[]): { tool: Tool; lines: string[] }[] {
  const out: { tool: Tool; lines: string[] }[] = [];
  for (const o of ops) {
    const tool = toolOf(o);
    let b = out.find((x) => x.tool === tool);
    if (!b) out.push((b = { tool, lines: [] }));
    b.lines.push(...renderLines(o));
  }
  // one table line per nft input is enough (adding a table that exists is no error either)
  for (const b of out) if (b.tool === "nft") b.lines = b.lines.filter((l, i) => !l.startsWith("add table ") || b.lines.indexOf(l) === i);
  return out;
}

/** The operation that undoes `o`, or undefined when nothing needs undoing (it goes with its link). */
export function inverseOf(o: IpOp): IpOp | undefined {
  switch (o.op) {
    case "link-add":
      return { op: "link-delete", name: o.name };
    case "addr-add":
      return { op: "addr-del", address: o.address, dev: o.dev };
    case "route-add":
    case "route-replace":
      // a multipath route goes by its prefix (and table)
      return {
        op: "route-del",
        route: o.route.nexthops ? { dst: o.route.dst, ...(o.route.table ? { table: o.route.table } : {}) } : o.route,
      };
    default:
      return undefined;
  }
}

/**
 * The `ip -batch` line that takes back what `o` put in place, for a node's removal from the
 * others: inverseOf's, plus the pod tunnels' neighbour entries and the pod table's rules (which
 * a whole cluster's teardown leaves to the nodes' end).
 */
export function takeBackLine(o: IpOp): string | undefined {
  if (o.op === "neigh-replace") return `neigh del ${o.address} dev ${o.dev}`;
  if (o.op === "rule-add") return `rule del to ${o.to} lookup ${o.table} pref ${o.pref}`;
  const i = inverseOf(o);
  return i ? renderIp(i) : undefined;
}

/** The `bridge -batch` line removing a forwarding entry that renderFdb appended. */
export function fdbDelLine(o: FdbOp): string {
  return `fdb del ${o.mac} dev ${o.dev} dst ${o.dst}`;
}

/** Readable form of an undo operation (dry-run listings, tests). */
export function renderUndo(u: UndoOp): string {
  if (u.op === "rule-delete") return `iptables -t ${u.rule.table} ${ruleArgs(u.rule, "-D").join(" ")}`;
  if (u.op === "p4-entry-delete") return `simple_switch_CLI: ${p4FindLine(u)}, then table_delete ${u.table} <its handle>`;
  return renderIp(u);
}

// P4 table entries, through the switch's CLI (simple_switch_CLI reads one command per line)

export function p4EntryAdd(table: string, action: string, key: string, params: string[]): P4EntryAddOp {
  return { op: "p4-entry-add", table, action, key, params };
}

export function p4Inverse(o: P4EntryAddOp): P4EntryDeleteOp {
  return { op: "p4-entry-delete", table: o.table, key: o.key };
}

/** `table_add TABLE ACTION KEY => PARAMS` */
export function p4AddLine(o: P4EntryAddOp): string {
  return `table_add ${o.table} ${o.action} ${o.key} => ${o.params.join(" ")}`;
}

/** BMv2 deletes an entry by its handle: this line shows the entry of a key, with its handle. */
export function p4FindLine(o: P4EntryDeleteOp): string {
  return `table_dump_entry_from_key ${o.table} ${o.key}`;
}

/** The handle in p4FindLine's answer (`Dumping entry 0x1f`), undefined when there is no such entry. */
export function p4HandleIn(output: string): number | undefined {
  const m = /Dumping entry (0x[0-9a-fA-F]+|\d+)/.exec(output);
  return m ? Number(m[1]) : undefined;
}

export function p4DeleteLine(o: P4EntryDeleteOp, handle: number): string {
  return `table_delete ${o.table} ${handle}`;
}

// constructors for the operations planners use most

export function veth(
  name: string,
  peer: string,
  peerNetns: string | number | undefined,
  o: { mac?: string; peerMac?: string; mtu?: number } = {},
): IpOp {
  return {
    op: "link-add",
    name,
    ...(o.mac ? { mac: o.mac } : {}),
    ...(o.mtu !== undefined ? { mtu: o.mtu } : {}),
    kind: {
      type: "veth",
      peer,
      ...(o.peerMac ? { peerMac: o.peerMac } : {}),
      ...(o.mtu !== undefined ? { peerMtu: o.mtu } : {}),
      ...(peerNetns !== undefined ? { peerNetns } : {}),
    },
  };
}

export function linkUp(name: string, o: { master?: string; mac?: string; mtu?: number } = {}): IpOp {
  return { op: "link-set", name, ...o, up: true };
}

export function linkDown(name: string): IpOp {
  return { op: "link-set", name, up: false };
}

export function linkMtu(name: string, mtu: number): IpOp {
  return { op: "link-set", name, mtu };
}

/** A collision domain's bridge (multicast snooping off), named after the domain too, up. */
export function domainBridgeOps(bridge: string, domain: string): IpOp[] {
  return [
    { op: "link-add", name: bridge, kind: { type: "bridge", mcastSnooping: false } },
    { op: "altname-add", dev: bridge, altname: domain },
    linkUp(bridge),
  ];
}

/** A device interface's veth: lab end `labIf` on `bridge` (up, with its altname), device end `ifname` in `peerNetns`. */
export function deviceVethOps(
  labIf: string,
  altname: string,
  bridge: string,
  ifname: string,
  peerNetns: string | number,
  peerMac?: string,
): IpOp[] {
  return [
    {
      op: "link-add",
      name: labIf,
      master: bridge,
      up: true,
      kind: { type: "veth", peer: ifname, ...(peerMac ? { peerMac } : {}), peerNetns },
    },
    { op: "altname-add", dev: labIf, altname },
  ];
}

/** A static route (several next hops: a multipath route). */
export function routeAdd(dst: string, via: readonly string[]): IpOp {
  return { op: "route-add", route: via.length > 1 ? { dst, nexthops: [...via] } : { dst, via: via[0]! } };
}

export function addrAdd(address: string, dev: string): IpOp {
  return { op: "addr-add", address, dev };
}

export function routeReplace(route: Route): IpOp {
  return { op: "route-replace", route };
}
