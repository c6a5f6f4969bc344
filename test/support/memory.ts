/**
 * In-memory stand-ins for the engine's adapters, for unit tests of deploy and teardown without
 * root, Docker or a kernel: a container runtime that keeps containers in a map, and a kernel
 * that keeps namespaces in a set and records every batch it is given.
 */
import type { ContainerInfo, ContainerSpec, ExecResult, NetworkInfo, Runtime } from "../../src/model/container.js";
import type { CommandResult, Kernel } from "../../src/model/kernel.js";
import type { Netns } from "../../src/model/netns.js";

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
  async exec(): Promise<ExecResult> {
    return { exitCode: 0, output: "" };
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

export class MemoryKernel implements Kernel {
  readonly namespaces = new Set<string>();
  readonly batches: { ns: Netns; lines: readonly string[] }[] = [];
  readonly commands: string[][] = [];

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
  async ipBatch(ns: Netns, lines: readonly string[]): Promise<void> {
    if ("name" in ns && !this.namespaces.has(ns.name)) throw new Error(`no netns ${ns.name}`);
    this.batches.push({ ns, lines });
  }
  /** The host's links and rules: none of the lab's (`ip -j link show`, `iptables-save`). */
  async run(argv: readonly string[]): Promise<CommandResult> {
    this.commands.push([...argv]);
    return { stdout: argv.includes("-j") ? "[]" : "", stderr: "", exitCode: 0 };
  }
  /** Lines given for one namespace, in order. */
  linesIn(ns: Netns): string[] {
    return this.batches.filter((b) => JSON.stringify(b.ns) === JSON.stringify(ns)).flatMap((b) => b.lines);
  }
}
