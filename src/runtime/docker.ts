/** The Docker runtime: the Docker Engine API over its socket (dockerode), never a CLI on PATH. */
import { baseInfo } from "./engine-api.js";
import Docker from "dockerode";
import { PassThrough } from "node:stream";
import { KindaError } from "../core/errors.js";
import type { ContainerInfo, ContainerSpec, ExecOptions, ExecResult, NetworkInfo, Runtime } from "../model/container.js";
import { killTree } from "./proctree.js";

/** Resolves when an exec's stream ends or closes; rejects on its error. */
function ended(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise<void>((res, rej) => {
    stream.on("end", res);
    stream.on("close", res);
    stream.on("error", rej);
  });
}

function statusOf(e: unknown): number | undefined {
  return typeof e === "object" && e !== null && "statusCode" in e ? (e as { statusCode: number }).statusCode : undefined;
}

function toInfo(c: Docker.ContainerInspectInfo): ContainerInfo {
  const bridge = c.NetworkSettings?.Networks?.["bridge"];
  const info: ContainerInfo = baseInfo(c);
  if (bridge?.IPAddress) info.nat = { ip: bridge.IPAddress, gateway: bridge.Gateway };
  const networks = Object.entries(c.NetworkSettings?.Networks ?? {}).filter(([, n]) => n.IPAddress);
  if (networks.length) info.networks = Object.fromEntries(networks.map(([name, n]) => [name, n.IPAddress]));
  const published = Object.entries(c.NetworkSettings?.Ports ?? {}).flatMap(([key, binds]) =>
    (binds ?? []).map((b) => ({
      guest: Number(key.split("/")[0]),
      protocol: key.split("/")[1] ?? "tcp",
      hostIp: b.HostIp,
      hostPort: Number(b.HostPort),
    })),
  );
  if (published.length) info.published = published;
  return info;
}

export class DockerRuntime implements Runtime {
  readonly docker: Docker;
  constructor(docker?: Docker) {
    this.docker = docker ?? new Docker();
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (e) {
      const where = process.env["DOCKER_HOST"] ?? "/var/run/docker.sock";
      throw new KindaError(`cannot reach the Docker engine at ${where}: ${(e as Error).message}`, {
        hint: "install and start it (Debian/Ubuntu: apt-get install docker.io; then start dockerd), or set DOCKER_HOST",
        cause: e,
      });
    }
  }

  async missingImages(refs: readonly string[]): Promise<string[]> {
    const missing: string[] = [];
    await Promise.all(
      [...new Set(refs)].map(async (ref) => {
        try {
          await this.docker.getImage(ref).inspect();
        } catch (e) {
          if (statusOf(e) === 404) missing.push(ref);
          else throw e;
        }
      }),
    );
    return missing.sort();
  }

  async create(spec: ContainerSpec): Promise<string> {
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostPort: string }[]> = {};
    for (const p of spec.ports) {
      const key = `${p.guest}/${p.protocol}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostPort: String(p.host) });
    }
    const hostConfig: Docker.HostConfig = {
      NetworkMode: spec.network,
      Privileged: spec.privileged,
      CapAdd: spec.capAdd,
      Sysctls: spec.sysctls,
      Mounts: spec.mounts.map((m) => ({ Type: "bind" as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly })),
      PortBindings: bindings,
      Ulimits: spec.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
      Init: false,
    };
    if (spec.memoryBytes !== undefined) hostConfig.Memory = spec.memoryBytes;
    if (spec.nanoCpus !== undefined) hostConfig.NanoCpus = spec.nanoCpus;
    if (spec.devices?.length)
      hostConfig.Devices = spec.devices.map((d) => ({ PathOnHost: d, PathInContainer: d, CgroupPermissions: "rwm" }));
    const opts: Docker.ContainerCreateOptions = {
      name: spec.name,
      Image: spec.image,
      // a container in another's network namespace takes that one's hostname
      ...(spec.network.startsWith("container:") ? {} : { Hostname: spec.hostname }),
      Labels: spec.labels,
      Env: spec.env,
      Tty: true,
      OpenStdin: true,
      ExposedPorts: exposed,
      HostConfig: hostConfig,
    };
    if (spec.entrypoint) opts.Entrypoint = spec.entrypoint;
    if (spec.cmd) opts.Cmd = spec.cmd;
    try {
      const c = await this.docker.createContainer(opts);
      return c.id;
    } catch (e) {
      throw new KindaError(`could not create container ${spec.name} (image ${spec.image}): ${(e as Error).message}`, { cause: e });
    }
  }

  async putArchive(id: string, tar: Buffer, path: string): Promise<void> {
    await this.docker.getContainer(id).putArchive(tar, { path });
  }

  async start(id: string): Promise<ContainerInfo> {
    const c = this.docker.getContainer(id);
    await c.start();
    return toInfo(await c.inspect());
  }

  async inspect(idOrName: string): Promise<ContainerInfo | undefined> {
    try {
      return toInfo(await this.docker.getContainer(idOrName).inspect());
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  async exec(id: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const container = this.docker.getContainer(id);
    if (opts.interactive) return this.execInteractive(container, argv, opts);
    const exec = await container.exec({
      Cmd: argv,
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: (opts.stdin ?? false) || opts.input !== undefined,
      Tty: false,
      ...(opts.env ? { Env: opts.env } : {}),
    });
    const stream = await exec.start({ hijack: true, stdin: (opts.stdin ?? false) || opts.input !== undefined });
    const chunks: Buffer[] = [];
    const sink = new PassThrough();
    sink.on("data", (c: Buffer) => chunks.push(c));
    this.docker.modem.demuxStream(stream, opts.stdout ?? sink, opts.stderr ?? opts.stdout ?? sink);
    if (opts.stdin) process.stdin.pipe(stream);
    else if (opts.input !== undefined) stream.end(opts.input); // half-closes: the command reads to EOF
    let stopped: ExecResult["stopped"];
    const stop = (why: NonNullable<ExecResult["stopped"]>) => {
      stopped ??= why;
      // Docker has no "kill exec": the command's host PID and its children are killed, which
      // ends the stream (a child left holding the output would keep it open)
      exec.inspect().then(
        (i) => killTree(i.Pid ?? 0),
        () => undefined,
      );
      // a process that left the tree (a daemon started in the background) may hold the output
      setTimeout(() => stream.destroy(), 2000).unref();
    };
    const timer = opts.timeoutMs ? setTimeout(() => stop("timeout"), opts.timeoutMs) : undefined;
    const onAbort = () => stop("aborted");
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await ended(stream);
    } finally {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (opts.stdin) process.stdin.unpipe(stream);
    }
    const info = await exec.inspect();
    const r: ExecResult = { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString("utf8") };
    if (stopped) r.stopped = stopped;
    return r;
  }

  /** Runs argv with the caller's terminal attached (raw mode, window size followed). */
  private async execInteractive(container: Docker.Container, argv: string[], opts: ExecOptions): Promise<ExecResult> {
    const stdin = process.stdin;
    const stdout = process.stdout;
    const exec = await container.exec({
      Cmd: argv,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: true,
      ...(opts.env ? { Env: opts.env } : {}),
    });
    const stream = await exec.start({ hijack: true, stdin: true, Tty: true });
    const resize = () => {
      if (stdout.columns && stdout.rows) exec.resize({ h: stdout.rows, w: stdout.columns }).catch(() => undefined);
    };
    const wasRaw = stdin.isRaw;
    if (stdin.isTTY) stdin.setRawMode(true);
    stdin.resume();
    stdin.pipe(stream);
    stream.pipe(stdout);
    resize();
    process.stdout.on("resize", resize);
    try {
      await ended(stream);
    } finally {
      process.stdout.off("resize", resize);
      stdin.unpipe(stream);
      if (stdin.isTTY) stdin.setRawMode(wasRaw);
      stdin.pause();
    }
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? -1, output: "" };
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    const filters = { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) };
    const items = await this.docker.listContainers({ all: true, filters });
    return items.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? "").replace(/^\//, ""),
      labels: c.Labels,
      running: c.State === "running",
      pid: 0,
      image: c.Image,
      ...(c.Ports?.some((p) => p.PublicPort)
        ? {
            published: c.Ports.filter((p) => p.PublicPort).map((p) => ({
              guest: p.PrivatePort,
              protocol: p.Type,
              hostIp: p.IP ?? "",
              hostPort: p.PublicPort,
            })),
          }
        : {}),
    }));
  }

  async network(name: string): Promise<NetworkInfo | undefined> {
    const nets = await this.docker.listNetworks({ filters: { name: [name] } });
    // the name filter matches substrings: take the exact one
    if (!nets.some((n) => n.Name === name)) return undefined;
    const info = (await this.docker.getNetwork(name).inspect()) as Docker.NetworkInspectInfo;
    const ipv4 = (info.IPAM?.Config ?? [])
      .filter((c) => Boolean(c.Subnet) && !c.Subnet?.includes(":"))
      .map((c) => ({ subnet: c.Subnet!, ...(c.Gateway ? { gateway: c.Gateway } : {}) }));
    return { name, ipv4, containers: Object.keys(info.Containers ?? {}).length };
  }

  async removeNetwork(name: string): Promise<void> {
    try {
      await this.docker.getNetwork(name).remove();
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (e) {
      const s = statusOf(e);
      if (s === 404) return;
      // 409: removal already in progress
      if (s === 409 && /already in progress/.test((e as Error).message)) return;
      throw e;
    }
  }
}
