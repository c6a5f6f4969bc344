/**
 * Kernel operations: constructors, each operation's inverse, and rendering to the lines the
 * tools read (ip/bridge/tc batches, ethtool argv, iptables-restore input). Rendering happens
 * only here, at the edge; planners and the state work with the typed values of model/ops.ts.
 */
import type { ServiceStep } from "../model/lab.js";
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
  ReadOp,
  Route,
  NicPortOp,
  RpFilterLooseOp,
  RuleAddOp,
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
    case "rule-del":
      return `rule del to ${o.to} lookup ${o.table} pref ${o.pref}`;
    case "neigh-replace":
      return `neigh replace ${o.address} lladdr ${o.lladdr} dev ${o.dev} nud permanent`;
    case "neigh-del":
      return `neigh del ${o.address} dev ${o.dev}`;
  }
}

export function renderFdb(o: FdbOp): string {
  return `fdb ${o.op === "fdb-del" ? "del" : "append"} ${o.mac} dev ${o.dev} dst ${o.dst}`;
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

/** The tool that reads an operation's lines: `nft -f`, `iptables-restore`, the first four `-batch`; the others one argv each. */
export type Tool = "ip" | "bridge" | "tc" | "nft" | "iptables-restore" | "ethtool" | "sysctl" | "iptables" | "conntrack" | "ss";

/** Tools that read all of one apply's lines on their standard input, in one process. */
const BATCHED: readonly Tool[] = ["ip", "bridge", "tc", "nft", "iptables-restore"];

function toolOf(o: KernelOp): Tool {
  switch (o.op) {
    case "fdb-append":
    case "fdb-del":
      return "bridge";
    case "tbf":
    case "netem":
    case "qdisc-replace":
    case "qdisc-delete":
      return "tc";
    case "cut-filter":
      return "nft";
    case "rule-append":
      return "iptables-restore";
    case "rule-delete":
      return "iptables";
    case "offload-off":
      return "ethtool";
    case "rp-filter-loose":
    case "nic-port":
      return "sysctl";
    case "conntrack-flush":
      return "conntrack";
    case "tcp-kill":
      return "ss";
    default:
      return "ip";
  }
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

/** The argv (after the tool's name) of an operation its tool runs on its own. */
function argvOf(o: KernelOp): string[] {
  switch (o.op) {
    case "offload-off":
      return ethtoolArgs(o);
    case "rp-filter-loose":
    case "nic-port":
      return sysctlArgs(o);
    case "rule-delete":
      return ["--wait", "-t", o.rule.table, ...ruleArgs(o.rule, "-D")];
    case "conntrack-flush":
      return ["-F"];
    case "tcp-kill":
      return killTcpArgs(o.remotes);
    default:
      throw new Error(`${o.op} is read from a batch`);
  }
}

/** `ss` arguments destroying TCP sockets connected to any of these addresses (both ends send a reset). */
export function killTcpArgs(remotes: readonly string[]): string[] {
  return ["-K", "-t", ...remotes.flatMap((a, i) => (i ? ["or", "dst", a] : ["dst", a]))];
}

/** One operation's lines, for its tool's batch (a tool of one argv per operation: that argv, as words). */
export function renderLines(o: KernelOp): string[] {
  switch (o.op) {
    case "fdb-append":
    case "fdb-del":
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
    case "rule-append":
      return [ruleArgs(o.rule).join(" ")];
    case "offload-off":
    case "rp-filter-loose":
    case "nic-port":
    case "rule-delete":
    case "conntrack-flush":
    case "tcp-kill":
      return [argvOf(o).join(" ")];
    default:
      return [renderIp(o)];
  }
}

/**
 * The one place kernel operations become tool input: each batched tool's lines, tools in the
 * order first seen (the lines of each in the operations' order); the others one entry per
 * operation, where it comes. Kernel.apply runs them (renderInvocations: the argv).
 */
export function renderBatches(ops: readonly KernelOp[]): { tool: Tool; lines: string[] }[] {
  const out: { tool: Tool; lines: string[]; ops: KernelOp[] }[] = [];
  for (const o of ops) {
    const tool = toolOf(o);
    let b = BATCHED.includes(tool) ? out.find((x) => x.tool === tool) : undefined;
    if (!b) out.push((b = { tool, lines: [], ops: [] }));
    b.ops.push(o);
    if (tool !== "iptables-restore") b.lines.push(...renderLines(o));
  }
  // one table line per nft input is enough (adding a table that exists is no error either)
  for (const b of out) if (b.tool === "nft") b.lines = b.lines.filter((l, i) => !l.startsWith("add table ") || b.lines.indexOf(l) === i);
  // iptables-restore reads its rules by table
  for (const b of out)
    if (b.tool === "iptables-restore")
      b.lines = iptablesRestoreInput(b.ops.map((o) => (o as RuleAddOp).rule))
        .split("\n")
        .filter(Boolean);
  return out.map(({ tool, lines }) => ({ tool, lines }));
}

/** One process an apply runs: its argv (in the namespace), its standard input, whether its failure is no error. */
export interface Invocation {
  tool: Tool;
  argv: string[];
  input?: string;
  /** The lines it carries (for messages and recording). */
  lines: string[];
  /** Its failure is no error even without force (a socket kill on a kernel without SOCK_DESTROY, a rule already gone). */
  bestEffort?: true;
}

/** The processes that apply these operations: renderBatches' batches as argv and input. With force, batches go on past failing lines. */
export function renderInvocations(ops: readonly KernelOp[], opts: { force?: boolean } = {}): Invocation[] {
  const single = ops.filter((o) => !BATCHED.includes(toolOf(o)));
  let k = 0;
  return renderBatches(ops).map((b): Invocation => {
    if (!BATCHED.includes(b.tool)) {
      const o = single[k++]!;
      return {
        tool: b.tool,
        argv: [b.tool, ...argvOf(o)],
        lines: b.lines,
        ...(o.op === "tcp-kill" || o.op === "rule-delete" ? { bestEffort: true } : {}),
      };
    }
    const input = b.lines.join("\n") + "\n";
    if (b.tool === "nft") return { tool: b.tool, argv: ["nft", "-f", "-"], input, lines: b.lines };
    if (b.tool === "iptables-restore") return { tool: b.tool, argv: ["iptables-restore", "--noflush", "--wait"], input, lines: b.lines };
    return { tool: b.tool, argv: [b.tool, ...(opts.force ? ["-force"] : []), "-batch", "-"], input, lines: b.lines };
  });
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
 * The operation that takes back what `o` put in place, for a node's removal from the others:
 * inverseOf's, plus the pod tunnels' neighbour entries and the pod table's rules (which a whole
 * cluster's teardown leaves to the nodes' end).
 */
export function takeBackOp(o: IpOp): IpOp | undefined {
  if (o.op === "neigh-replace") return { op: "neigh-del", address: o.address, dev: o.dev };
  if (o.op === "rule-add") return { ...o, op: "rule-del" };
  return inverseOf(o);
}

/** The forwarding entry that fdb-append made, removed. */
export function fdbDel(o: FdbOp): FdbOp {
  return { ...o, op: "fdb-del" };
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

/** `ip route` arguments (renderRoute's form) read back as a route; undefined when a word is not one it writes. */
export function parseRoute(words: readonly string[]): Route | undefined {
  const [dst, ...rest] = words;
  if (!dst) return undefined;
  const r: Route = { dst };
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i]!;
    const v = rest[i + 1];
    if (w === "onlink") r.onlink = true;
    else if (w === "nexthop" && v === "via" && rest[i + 2]) (r.nexthops ??= []).push(rest[(i += 2)]!);
    else if (v === undefined) return undefined;
    else if (w === "via") r.via = rest[++i]!;
    else if (w === "dev") r.dev = rest[++i]!;
    else if (w === "proto") r.proto = rest[++i]!;
    else if (w === "metric" || w === "mtu" || w === "table") {
      const n = Number(rest[++i]);
      if (!Number.isInteger(n)) return undefined;
      r[w] = n;
    } else return undefined;
  }
  return r;
}

/**
 * An `ip -batch` line of the forms kinda's inverses took before they were typed (states written
 * then record them as lines): `link delete`, `addr del`, `route del`, `neigh del`, `rule del`.
 * Undefined for any other line.
 */
export function parseIpLine(line: string): IpOp | undefined {
  const w = line.trim().split(/\s+/);
  const [obj, verb] = w;
  if (obj === "link" && verb === "delete" && w.length === 3) return { op: "link-delete", name: w[2]! };
  if (obj === "addr" && verb === "del" && w.length === 5 && w[3] === "dev") return { op: "addr-del", address: w[2]!, dev: w[4]! };
  if (obj === "neigh" && verb === "del" && w.length === 5 && w[3] === "dev") return { op: "neigh-del", address: w[2]!, dev: w[4]! };
  if (obj === "rule" && verb === "del" && w.length === 8 && w[2] === "to" && w[4] === "lookup" && w[6] === "pref") {
    const [table, pref] = [Number(w[5]), Number(w[7])];
    if (Number.isInteger(table) && Number.isInteger(pref)) return { op: "rule-del", to: w[3]!, table, pref };
  }
  if (obj === "route" && verb === "del") {
    const route = parseRoute(w.slice(2));
    if (route) return { op: "route-del", route };
  }
  return undefined;
}

/**
 * The argv a device's service step runs (model/lab.ts ServiceStep): its command, or its typed
 * operation as one `ip` argv (renderIp's words: names and numbers, no word holds a space).
 */
export function serviceArgv(s: Pick<ServiceStep, "argv" | "op">): string[] {
  if (s.op) return ["ip", ...renderIp(s.op).split(" ")];
  if (!s.argv) throw new Error("a service step has neither argv nor op");
  return s.argv;
}

/** An ip operation as the command a person types (the --dry-run listing): `ip [-n NS] LINE`. */
export function ipCommandText(o: IpOp, netns?: string): string {
  const argv = ["ip", ...renderIp(o).split(" ")];
  return (netns ? inNamedNetns(netns, argv) : argv).join(" ");
}

const USER_IP_END = "KINDA_IP_BATCH";

/**
 * A device's own start-up `ip` lines (the user's text as written, after plan/exec-steps.ts found
 * them plain words: kinda does not type every iproute2 command a user may write) as one shell
 * script run in the device: one `ip -force -batch` process reads them all (every line tried; the
 * script fails if any did); an `ip` without -batch (BusyBox) runs them one by one.
 */
export function userIpLinesScript(lines: readonly string[]): string {
  return [
    `if ip -batch /dev/null 2>/dev/null; then ip -force -batch -; else rc=0; while read -r l; do ip $l || rc=1; done; exit $rc; fi <<'${USER_IP_END}'`,
    ...lines,
    USER_IP_END,
    "",
  ].join("\n");
}

/** The argv of a read (model/ops.ts ReadOp): iproute2's and tc's JSON output. */
export function readArgv(r: ReadOp): string[] {
  switch (r.read) {
    case "links":
      return ["ip", ...(r.details ? ["-d"] : []), ...(r.stats ? ["-s"] : []), "-j", "link", "show", ...(r.dev ? ["dev", r.dev] : [])];
    case "default-routes-v4":
      return ["ip", "-4", "-j", "route", "show", "default"];
    case "qdisc-stats":
      return ["tc", "-s", "-j", "qdisc", "show"];
    case "fdb":
      return ["bridge", "-j", "fdb", "show"];
    case "netns-list":
      return ["ip", "-j", "netns", "list"];
  }
}

/** argv that makes or deletes a named network namespace on the host. */
export function netnsArgv(verb: "add" | "delete", name: string): string[] {
  return ["ip", "netns", verb, name];
}

/**
 * argv that runs `argv` in a named namespace: iproute2's ip, tc and bridge through their own `-n`
 * (they enter it themselves: no `ip netns exec`, which also makes a mount namespace and remounts
 * /sys, ~2x the time of a `tc -batch` on a small lab) unless `exec` asks for the generic form; any
 * other program through `ip netns exec`.
 */
export function inNamedNetns(name: string, argv: readonly string[], o: { exec?: true } = {}): string[] {
  const tool = argv[0];
  return (tool === "ip" || tool === "tc" || tool === "bridge") && !o.exec
    ? [tool, "-n", name, ...argv.slice(1)]
    : ["ip", "netns", "exec", name, ...argv];
}
