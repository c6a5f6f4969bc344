/**
 * In-memory stand-ins for the engine's adapters, for unit tests of deploy and teardown without
 * root, Docker or a kernel: a container runtime that keeps containers in a map, and a kernel
 * that keeps namespaces in a set and records every batch it is given.
 */
import type { ContainerInfo, ContainerSpec, ExecOptions, ExecResult, NetworkInfo, Runtime } from "../../src/model/container.js";
import type { CommandResult, Kernel } from "../../src/model/kernel.js";
import type { Netns } from "../../src/model/netns.js";
import type { KernelOp } from "../../src/model/ops.js";
import { renderBatches } from "../../src/plan/ops.js";

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

export class MemoryKernel implements Kernel {
  readonly namespaces = new Set<string>();
  readonly batches: { ns: Netns; lines: readonly string[]; force?: true }[] = [];
  readonly commands: string[][] = [];
  /** iptables rules per namespace (key: rulesKey), each `-A CHAIN ...` under its table, in chain order. */
  private readonly rules = new Map<string, { table: string; line: string }[]>();

  netnsExists(name: string): boolean {
    return this.namespaces.has(name);
  }
  async netnsAdd(name: string): Promise<void> {
    if (this.namespaces.has(name)) throw new Error(`netns ${name} exists`);
    this.namespaces.add(name);
  }
  async netnsDelete(name: string): Promise<void> {
    this.namespaces.delete(name);
  }
  /** Every typed operation applied, with its namespace, in order. */
  readonly applied: { ns: Netns; op: KernelOp; force?: true }[] = [];
  /** As the host's kernel: rendered by plan/ops.ts, one batch per tool (ip batches recorded with the others). */
  async apply(ns: Netns, ops: readonly KernelOp[], opts: { force?: boolean } = {}): Promise<string> {
    for (const op of ops) this.applied.push({ ns, op, ...(opts.force ? { force: true as const } : {}) });
    let stderr = "";
    for (const b of renderBatches(ops)) {
      const bad = b.lines.find((l) => this.failApply?.test(`${b.tool} ${l}`));
      if (bad && !opts.force) throw new Error(`${b.tool}: ${bad}: failed`);
      if (b.tool !== "ip")
        this.batches.push({ ns, lines: b.lines.map((l) => `${b.tool} ${l}`), ...(opts.force ? { force: true as const } : {}) });
      else if (opts.force) stderr += await this.ipBatchForce(ns, b.lines);
      else await this.ipBatch(ns, b.lines);
    }
    return stderr;
  }
  /** A line (`TOOL LINE`) that fails when applied without force (the whole call throws). */
  failApply: RegExp | undefined;
  /** Operations applied in one namespace, in order. */
  opsIn(ns: Netns): KernelOp[] {
    return this.applied.filter((a) => JSON.stringify(a.ns) === JSON.stringify(ns)).map((a) => a.op);
  }
  async ipBatch(ns: Netns, lines: readonly string[]): Promise<void> {
    if ("name" in ns && !this.namespaces.has(ns.name)) throw new Error(`no netns ${ns.name}`);
    this.batches.push({ ns, lines });
  }
  /** Lines that fail in forced batches (their "Command failed -:N", as iproute2 reports them). */
  failIp: RegExp | undefined;
  async ipBatchForce(ns: Netns, lines: readonly string[]): Promise<string> {
    this.batches.push({ ns, lines, force: true });
    return lines.flatMap((l, i) => (this.failIp?.test(l) ? [`RTNETLINK answers: File exists\nCommand failed -:${i + 1}\n`] : [])).join("");
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
    const key = JSON.stringify(ns);
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
