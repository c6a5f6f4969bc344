/**
 * In-memory stand-ins for the engine's adapters, for unit tests of deploy and teardown without
 * root, Docker or a kernel: a container runtime that keeps containers in a map, and a kernel
 * that keeps namespaces in a set and records every batch it is given.
 */
import type { ContainerInfo, ContainerSpec, ExecOptions, ExecResult, NetworkInfo, Runtime } from "../../src/model/container.js";
import type { CommandResult, Kernel } from "../../src/model/kernel.js";
import type { Netns } from "../../src/model/netns.js";
import type { KernelOp } from "../../src/model/ops.js";
import { renderBatches, renderLines, renderRoute, ruleArgs } from "../../src/plan/ops.js";

function keyToNetns(key: string): Netns {
  if (key === "host") return { host: true };
  if (key.startsWith("pid:")) return { pid: Number(key.slice(4)) };
  return { name: key.slice(5) };
}

interface MemContainer {
  info: ContainerInfo;
  spec: ContainerSpec;
  files: string[];
}

export class MemoryRuntime implements Runtime {
  readonly containers = new Map<string, MemContainer>();
  /** Container names whose start fails (a device that cannot run). */
  readonly failStart = new Set<string>();
  readonly calls: string[] = [];
  private nextId = 1;
  private nextPid = 4000;

  async ping(): Promise<void> {}
  async missingImages(): Promise<string[]> {
    return [];
  }
  async create(spec: ContainerSpec): Promise<string> {
    const id = `mem${this.nextId++}`;
    this.calls.push(`create ${spec.name}`);
    const info = { id, name: spec.name, labels: spec.labels, running: false, pid: 0, image: spec.image };
    this.containers.set(id, { info, spec, files: [] });
    return id;
  }
  async putArchive(id: string, _tar: Buffer, path: string): Promise<void> {
    this.get(id).files.push(path);
  }
  async start(id: string): Promise<ContainerInfo> {
    const c = this.get(id);
    this.calls.push(`start ${c.info.name}`);
    if (this.failStart.has(c.info.name)) throw new Error(`cannot start ${c.info.name}`);
    c.info = { ...c.info, running: true, pid: this.nextPid++ };
    return c.info;
  }
  async inspect(idOrName: string): Promise<ContainerInfo | undefined> {
    return [...this.containers.values()].find((c) => c.info.id === idOrName || c.info.name === idOrName)?.info;
  }
  /** Every exec's container name, argv and stdin; `answer` gives its result (default: exit 0, no output). */
  readonly execs: { container: string; argv: string[]; input?: string }[] = [];
  answer: (container: string, argv: string[], input?: string) => ExecResult = () => ({ exitCode: 0, output: "" });
  async exec(id: string, argv: string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    const name = this.get(id).info.name;
    this.calls.push(`exec ${name}`);
    this.execs.push({ container: name, argv, ...(opts.input !== undefined ? { input: opts.input } : {}) });
    return this.answer(name, argv, opts.input);
  }
  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    return [...this.containers.values()].map((c) => c.info).filter((i) => Object.entries(labels).every(([k, v]) => i.labels[k] === v));
  }
  async network(): Promise<NetworkInfo | undefined> {
    return undefined;
  }
  async removeNetwork(): Promise<void> {}
  async remove(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (c) this.calls.push(`remove ${c.info.name}`);
    this.containers.delete(id);
  }
  private get(id: string): MemContainer {
    const c = this.containers.get(id);
    if (!c) throw new Error(`no container ${id}`);
    return c;
  }
}

/** The namespace an argv runs in (as net/ip.ts inNetns wrote it) and the command it runs there. */
function splitNetns(argv: readonly string[]): { ns: Netns; cmd: readonly string[] } {
  if (argv[0] === "nsenter") return { ns: { pid: Number(argv[2]) }, cmd: argv.slice(4) };
  if (argv[0] === "ip" && argv[1] === "netns" && argv[2] === "exec") return { ns: { name: argv[3]! }, cmd: argv.slice(4) };
  return { ns: { host: true }, cmd: argv };
}

const ok = (stdout = ""): CommandResult => ({ stdout, stderr: "", exitCode: 0 });
const failed: CommandResult = { stdout: "", stderr: "no such rule", exitCode: 1 };

/** One interface in a namespace of the in-memory kernel. */
export interface MemLink {
  kind: string;
  master?: string;
  up: boolean;
  /** A veth's other end: its namespace key and name. */
  peer?: { ns: string; name: string };
  /** A VLAN's parent. */
  parent?: string;
}

/** One namespace's objects, as `ip` would list them (addresses `A dev D`, routes as rendered). */
export interface MemNs {
  links: Map<string, MemLink>;
  addrs: Set<string>;
  routes: Map<string, string>;
  neigh: Set<string>;
  ipRules: Set<string>;
  fdb: Set<string>;
  qdiscs: Map<string, string>;
  cuts: Set<string>;
}

/** A namespace's key: "host", "name:NAME" or "pid:PID" (PID 1 is the host's). */
export function nsKey(ns: Netns | string | number): string {
  if (typeof ns === "number") return ns === 1 ? "host" : `pid:${ns}`;
  if (typeof ns === "string") return `name:${ns}`;
  if ("host" in ns) return "host";
  return "name" in ns ? `name:${ns.name}` : ns.pid === 1 ? "host" : `pid:${ns.pid}`;
}

class OpFailed extends Error {}

export class MemoryKernel implements Kernel {
  readonly namespaces = new Set<string>();
  readonly batches: { ns: Netns; lines: readonly string[]; force?: true }[] = [];
  readonly commands: string[][] = [];
  /** iptables rules per namespace (key: rulesKey), each `-A CHAIN ...` under its table, in chain order. */
  private readonly rules = new Map<string, { table: string; line: string }[]>();
  /**
   * Each namespace's objects, changed by the typed operations as the kernel would change them
   * (a veth's two ends, a link's addresses and routes going with it, a move between namespaces).
   * With `strict`, an operation on an object that is not there (or adding one that is) fails as
   * iproute2's line would; without it (the older tests, whose containers' own interfaces the
   * in-memory runtime does not make) it is recorded and skipped.
   */
  readonly state = new Map<string, MemNs>();
  strict = false;

  netnsExists(name: string): boolean {
    return this.namespaces.has(name);
  }
  async netnsAdd(name: string): Promise<void> {
    if (this.namespaces.has(name)) throw new Error(`netns ${name} exists`);
    this.namespaces.add(name);
    this.ns(`name:${name}`).links.set("lo", { kind: "loopback", up: false });
  }
  async netnsDelete(name: string): Promise<void> {
    this.namespaces.delete(name);
    this.dropNamespace(`name:${name}`);
  }
  /** A namespace goes with everything in it; a veth's other end goes too (as when a container stops). */
  dropNamespace(key: string): void {
    const n = this.state.get(key);
    if (!n) return;
    for (const l of n.links.values()) if (l.peer) this.removeLink(l.peer.ns, l.peer.name, false);
    this.state.delete(key);
  }
  /** Interfaces a namespace has before kinda touches it (a container's lo and eth0, the host's uplink). */
  seed(ns: Netns, links: Record<string, string>): void {
    for (const [name, kind] of Object.entries(links)) this.ns(nsKey(ns)).links.set(name, { kind, up: name !== "lo" });
  }
  /** Every typed operation applied, with its namespace, in order. */
  readonly applied: { ns: Netns; op: KernelOp; force?: true }[] = [];
  /** As the host's kernel: rendered by plan/ops.ts, one batch per tool (ip batches recorded with the others). */
  async apply(ns: Netns, ops: readonly KernelOp[], opts: { force?: boolean } = {}): Promise<string> {
    if ("name" in ns && !this.namespaces.has(ns.name)) throw new Error(`no netns ${ns.name}`);
    for (const op of ops) this.applied.push({ ns, op, ...(opts.force ? { force: true as const } : {}) });
    let stderr = "";
    for (const b of renderBatches(ops)) {
      const bad = b.lines.find((l) => this.failApply?.test(`${b.tool} ${l}`));
      if (bad && !opts.force) throw new Error(`${b.tool}: ${bad}: failed`);
      if (b.tool !== "ip")
        this.batches.push({ ns, lines: b.lines.map((l) => `${b.tool} ${l}`), ...(opts.force ? { force: true as const } : {}) });
      else if (opts.force) stderr += this.ipBatchForce(ns, b.lines);
      else this.batches.push({ ns, lines: b.lines });
    }
    const ip = ops.filter((o) => renderBatches([o])[0]?.tool === "ip");
    for (const op of ops) {
      // a line the test made fail in a forced batch: reported there, not applied
      if (opts.force && ip.includes(op) && this.failIp?.test(renderBatches([op])[0]!.lines[0]!)) continue;
      try {
        this.change(nsKey(ns), op);
      } catch (e) {
        if (!(e instanceof OpFailed)) throw e;
        if (!opts.force) throw new Error(`${renderBatches([op])[0]!.lines.join("; ")}: ${e.message}`, { cause: e });
        if (!ip.includes(op)) stderr += `${e.message}\n`;
        else stderr += `${e.message}\nCommand failed -:${ip.indexOf(op) + 1}\n`;
      }
    }
    return stderr;
  }
  /** A line (`TOOL LINE`) that fails when applied without force (the whole call throws). */
  failApply: RegExp | undefined;
  /** Operations applied in one namespace, in order. */
  opsIn(ns: Netns): KernelOp[] {
    return this.applied.filter((a) => JSON.stringify(a.ns) === JSON.stringify(ns)).map((a) => a.op);
  }
  /** Lines that fail in forced batches (their "Command failed -:N", as iproute2 reports them). */
  failIp: RegExp | undefined;
  private ipBatchForce(ns: Netns, lines: readonly string[]): string {
    this.batches.push({ ns, lines, force: true });
    return lines.flatMap((l, i) => (this.failIp?.test(l) ? [`RTNETLINK answers: File exists\nCommand failed -:${i + 1}\n`] : [])).join("");
  }

  /** One namespace's objects in a form to compare: links (`name kind [master M] [up]`), addresses, routes, the rest. */
  view(ns: Netns | string): { links: string[]; addrs: string[]; routes: string[]; other: string[] } {
    const n = this.state.get(typeof ns === "string" ? ns : nsKey(ns));
    if (!n) return { links: [], addrs: [], routes: [], other: [] };
    return {
      links: [...n.links].map(([name, l]) => `${name} ${l.kind}${l.master ? ` master ${l.master}` : ""}${l.up ? " up" : ""}`).sort(),
      addrs: [...n.addrs].sort(),
      routes: [...n.routes.values()].sort(),
      other: [
        ...[...n.neigh].map((x) => `neigh ${x}`),
        ...[...n.ipRules].map((x) => `rule ${x}`),
        ...[...n.fdb].map((x) => `fdb ${x}`),
        ...[...n.qdiscs].map(([d, q]) => `qdisc ${d} ${q}`),
        ...[...n.cuts].map((d) => `cut ${d}`),
        ...this.rulesIn(typeof ns === "string" ? keyToNetns(ns) : ns).map((r) => `iptables ${r.table} ${r.line}`),
      ].sort(),
    };
  }
  /** Every namespace's view (keys in order), empty ones left out. */
  views(): Record<string, ReturnType<MemoryKernel["view"]>> {
    const out: Record<string, ReturnType<MemoryKernel["view"]>> = {};
    for (const k of [...this.state.keys()].sort()) {
      const v = this.view(k);
      if (v.links.length || v.addrs.length || v.routes.length || v.other.length) out[k] = v;
    }
    return out;
  }

  private ns(key: string): MemNs {
    let n = this.state.get(key);
    if (!n)
      this.state.set(
        key,
        (n = {
          links: new Map(),
          addrs: new Set(),
          routes: new Map(),
          neigh: new Set(),
          ipRules: new Set(),
          fdb: new Set(),
          qdiscs: new Map(),
          cuts: new Set(),
        }),
      );
    return n;
  }
  private fail(msg: string): void {
    if (this.strict) throw new OpFailed(msg);
  }
  private need(key: string, dev: string | undefined): boolean {
    if (dev === undefined || this.ns(key).links.has(dev)) return true;
    this.fail(`Cannot find device "${dev}"`);
    return false;
  }
  private removeLink(key: string, name: string, withPeer = true): void {
    const n = this.state.get(key);
    const l = n?.links.get(name);
    if (!n || !l) return;
    n.links.delete(name);
    for (const a of [...n.addrs]) if (a.endsWith(` dev ${name}`)) n.addrs.delete(a);
    for (const [k, r] of [...n.routes]) if (r.includes(` dev ${name}`)) n.routes.delete(k);
    for (const x of [...n.neigh]) if (x.endsWith(` dev ${name}`)) n.neigh.delete(x);
    for (const x of [...n.fdb]) if (x.includes(` dev ${name} `)) n.fdb.delete(x);
    n.qdiscs.delete(name);
    n.cuts.delete(name);
    for (const [other, o] of [...n.links]) {
      if (o.master === name) delete o.master;
      if (o.parent === name) this.removeLink(key, other);
    }
    if (withPeer && l.peer) this.removeLink(l.peer.ns, l.peer.name, false);
  }
  private routeKey(r: { dst: string; table?: number; metric?: number }): string {
    return `${r.dst} table ${r.table ?? "main"} metric ${r.metric ?? 0}`;
  }
  /** What the kernel does with one operation in namespace `key`. */
  private change(key: string, o: KernelOp): void {
    const n = this.ns(key);
    switch (o.op) {
      case "link-add": {
        if (n.links.has(o.name)) return this.fail("RTNETLINK answers: File exists");
        if (o.master && !this.need(key, o.master)) return;
        const k = o.kind;
        const link: MemLink = { kind: k.type, up: !!o.up, ...(o.master ? { master: o.master } : {}) };
        if (k.type === "vlan") {
          if (!this.need(key, k.link)) return;
          link.parent = k.link;
        }
        if (k.type === "veth") {
          const peerNs = k.peerNetns === undefined ? key : nsKey(k.peerNetns);
          if (this.ns(peerNs).links.has(k.peer)) return this.fail("RTNETLINK answers: File exists");
          link.peer = { ns: peerNs, name: k.peer };
          this.ns(peerNs).links.set(k.peer, { kind: "veth", up: false, peer: { ns: key, name: o.name } });
        }
        n.links.set(o.name, link);
        return;
      }
      case "link-set": {
        const l = n.links.get(o.name);
        if (!l) return this.fail(`Cannot find device "${o.name}"`);
        if (o.master !== undefined && !this.need(key, o.master)) return;
        if (o.master !== undefined) l.master = o.master;
        if (o.nomaster) delete l.master;
        if (o.up !== undefined) l.up = o.up;
        let [k, name] = [key, o.name];
        if (o.rename !== undefined) {
          n.links.delete(name);
          n.links.set((name = o.rename), l);
        }
        if (o.netns !== undefined) {
          // moved: its addresses and routes stay behind (gone), it comes down
          const to = nsKey(o.netns);
          this.removeLink(key, name, false);
          this.ns(to).links.set(name, { kind: l.kind, up: false, ...(l.peer ? { peer: l.peer } : {}) });
          k = to;
        }
        if (l.peer && (k !== key || name !== o.name)) {
          const p = this.state.get(l.peer.ns)?.links.get(l.peer.name);
          if (p) p.peer = { ns: k, name };
        }
        return;
      }
      case "link-delete":
        if (!n.links.has(o.name)) return this.fail(`Cannot find device "${o.name}"`);
        return this.removeLink(key, o.name);
      case "altname-add":
        this.need(key, o.dev);
        return;
      case "addr-add":
        if (!this.need(key, o.dev)) return;
        if (n.addrs.has(`${o.address} dev ${o.dev}`)) return this.fail("RTNETLINK answers: File exists");
        n.addrs.add(`${o.address} dev ${o.dev}`);
        return;
      case "addr-del":
        if (!n.addrs.delete(`${o.address} dev ${o.dev}`)) this.fail("RTNETLINK answers: Cannot assign requested address");
        return;
      case "route-add":
      case "route-replace": {
        if (!this.need(key, o.route.dev)) return;
        const rk = this.routeKey(o.route);
        if (o.op === "route-add" && n.routes.has(rk)) return this.fail("RTNETLINK answers: File exists");
        n.routes.set(rk, renderRoute(o.route));
        return;
      }
      case "route-del":
        if (!n.routes.delete(this.routeKey(o.route))) this.fail("RTNETLINK answers: No such process");
        return;
      case "rule-add":
      case "rule-del": {
        const r = `to ${o.to} lookup ${o.table} pref ${o.pref}`;
        if (o.op === "rule-add") n.ipRules.add(r);
        else if (!n.ipRules.delete(r)) this.fail("RTNETLINK answers: No such file or directory");
        return;
      }
      case "neigh-replace":
        if (this.need(key, o.dev)) n.neigh.add(`${o.address} dev ${o.dev}`);
        return;
      case "neigh-del":
        if (!n.neigh.delete(`${o.address} dev ${o.dev}`)) this.fail("RTNETLINK answers: No such file or directory");
        return;
      case "fdb-append":
        if (this.need(key, o.dev)) n.fdb.add(`${o.mac} dev ${o.dev} dst ${o.dst}`);
        return;
      case "fdb-del":
        if (!n.fdb.delete(`${o.mac} dev ${o.dev} dst ${o.dst}`)) this.fail("RTNETLINK answers: No such file or directory");
        return;
      case "tbf":
      case "netem":
      case "qdisc-replace":
        if (this.need(key, o.dev)) n.qdiscs.set(o.dev, renderLines(o)[0]!.replace(/^qdisc replace dev \S+ root /, ""));
        return;
      case "qdisc-delete":
        if (!n.qdiscs.delete(o.dev)) this.fail("Error: Cannot delete qdisc with handle of zero.");
        return;
      case "cut-filter":
        if (o.cut) n.cuts.add(o.dev);
        else n.cuts.delete(o.dev);
        return;
      case "rule-append": {
        const line = ruleArgs(o.rule, "-A").join(" ");
        const all = this.rulesIn(keyToNetns(key));
        if (o.rule.insert) all.unshift({ table: o.rule.table, line });
        else all.push({ table: o.rule.table, line });
        return;
      }
      case "rule-delete": {
        const all = this.rulesIn(keyToNetns(key));
        const line = ruleArgs(o.rule, "-A").join(" ");
        const i = all.findIndex((r) => r.table === o.rule.table && r.line === line);
        if (i >= 0) all.splice(i, 1);
        else this.fail("iptables: Bad rule (does a matching rule exist in that chain?).");
        return;
      }
      default:
        // ethtool, sysctl, conntrack, ss: settings of an interface or of connections, nothing listed
        return;
    }
  }
  /**
   * The host's links: none of the lab's (`ip -j link show`). iptables-save, `iptables -S CHAIN N`
   * and `iptables -D` (by position or by rule) act on the rules given with addRule.
   */
  async run(argv: readonly string[]): Promise<CommandResult> {
    this.commands.push([...argv]);
    const { ns, cmd } = splitNetns(argv);
    if (cmd[0] === "iptables-save") return ok(this.save(ns));
    if (cmd[0] === "iptables") return this.iptables(ns, cmd.slice(1));
    // `ip [-d] -j link show [dev X]`, `ip link show dev X`: the namespace's links as kept
    const [ipNs, ipCmd] = cmd[0] === "ip" && cmd[1] === "-n" ? [{ name: cmd[2]! }, cmd.slice(3)] : [ns, cmd.slice(1)];
    if ((cmd[0] === "ip" || cmd[0] === undefined) && ipCmd.includes("link") && ipCmd.includes("show")) {
      const links = [...(this.state.get(nsKey(ipNs))?.links ?? new Map<string, MemLink>())];
      const dev = ipCmd.includes("dev") ? ipCmd[ipCmd.indexOf("dev") + 1] : undefined;
      const shown = links.filter(([n]) => dev === undefined || n === dev);
      if (dev !== undefined && !shown.length) return { stdout: "", stderr: `Device "${dev}" does not exist.`, exitCode: 1 };
      if (!ipCmd.includes("-j")) return ok(shown.map(([n]) => n).join("\n"));
      return ok(JSON.stringify(shown.map(([ifname, l]) => ({ ifname, linkinfo: { info_kind: l.kind } }))));
    }
    return ok(argv.includes("-j") ? "[]" : "");
  }
  addRule(ns: Netns, table: string, line: string): void {
    this.rulesIn(ns).push({ table, line });
  }
  /** Rules left in a namespace, as `TABLE -A CHAIN ...`. */
  rulesLeft(ns: Netns): string[] {
    return this.rulesIn(ns).map((r) => `${r.table} ${r.line}`);
  }
  /** Lines given for one namespace, in order. */
  linesIn(ns: Netns, force = false): string[] {
    return this.batches.filter((b) => JSON.stringify(b.ns) === JSON.stringify(ns) && !!b.force === force).flatMap((b) => b.lines);
  }
  private rulesIn(ns: Netns): { table: string; line: string }[] {
    const key = nsKey(ns);
    if (!this.rules.has(key)) this.rules.set(key, []);
    return this.rules.get(key)!;
  }
  private save(ns: Netns): string {
    const tables = [...new Set(this.rulesIn(ns).map((r) => r.table))];
    return tables
      .map(
        (t) =>
          `*${t}\n${this.rulesIn(ns)
            .filter((r) => r.table === t)
            .map((r) => r.line)
            .join("\n")}\nCOMMIT\n`,
      )
      .join("");
  }
  /** `--wait -t TABLE -S|-D CHAIN (N | rule...)` */
  private iptables(ns: Netns, args: readonly string[]): CommandResult {
    const [, , table, action, chain, ...rest] = args;
    const all = this.rulesIn(ns);
    const inChain = all.filter((r) => r.table === table && r.line.startsWith(`-A ${chain} `));
    const byNumber = rest.length === 1 && /^\d+$/.test(rest[0]!);
    const rule = byNumber ? inChain[Number(rest[0]) - 1] : inChain.find((r) => r.line === ["-A", chain, ...rest].join(" "));
    if (!rule) return failed;
    if (action === "-S") return ok(`${rule.line}\n`);
    all.splice(all.indexOf(rule), 1);
    return ok();
  }
}

/**
 * The in-memory runtime's containers with network namespaces in the in-memory kernel: each has
 * its loopback when it starts (and `eth0` on Docker's network, unless its network is none), and
 * its namespace goes, with the other ends of its veths, when it is removed.
 */
export function withNamespaces(runtime: MemoryRuntime, kernel: MemoryKernel): MemoryRuntime {
  const start = runtime.start.bind(runtime);
  const remove = runtime.remove.bind(runtime);
  runtime.start = async (id) => {
    const info = await start(id);
    const net = runtime.containers.get(id)?.spec.network;
    kernel.seed({ pid: info.pid }, net === "none" ? { lo: "loopback" } : { lo: "loopback", eth0: "veth" });
    return info;
  };
  runtime.remove = async (id) => {
    const pid = runtime.containers.get(id)?.info.pid;
    await remove(id);
    if (pid) kernel.dropNamespace(nsKey(pid));
  };
  return runtime;
}
