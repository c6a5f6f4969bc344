/**
 * A small Docker Engine API client over the engine's socket with node:http alone, for the verbs
 * that must feel instant (`kinda DEVICE CMD`, `kinda exec`, `kinda link`): finding containers and
 * running a command in one. Loading dockerode (and its ssh/protobuf dependencies) costs more than
 * the whole command should take; deploys keep using dockerode (runtime/docker.ts).
 */
import { request, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { KindaError } from "../core/errors.js";
import type { ContainerInfo, ExecOptions, ExecResult } from "../model/container.js";

interface Target {
  socketPath?: string;
  host?: string;
  port?: number;
}

/** Where the engine listens: DOCKER_HOST (unix:// or tcp://), else /var/run/docker.sock. */
function target(): Target {
  const h = process.env["DOCKER_HOST"];
  if (!h) return { socketPath: "/var/run/docker.sock" };
  if (h.startsWith("unix://")) return { socketPath: h.slice(7) };
  const u = new URL(h.replace(/^tcp:/, "http:"));
  return { host: u.hostname, port: Number(u.port || 2375) };
}

/** The fields of a container inspection that every runtime client reads. */
export interface Inspect {
  Id: string;
  Name: string;
  State?: { Running?: boolean; Pid?: number };
  Config?: { Labels?: Record<string, string>; Image?: string };
}

/** ContainerInfo from an inspection (the Docker runtime adds NAT and published ports). */
export function baseInfo(c: Inspect): ContainerInfo {
  return {
    id: c.Id,
    name: c.Name.replace(/^\//, ""),
    labels: c.Config?.Labels ?? {},
    running: c.State?.Running ?? false,
    pid: c.State?.Pid ?? 0,
    image: c.Config?.Image ?? "",
  };
}

/**
 * Request options for every call: the engine's address, and an empty TLS server name. Plain
 * HTTP never uses the name, but without one node:http's agent works it out from the host and
 * checks that it is no IP address, compiling Node's IPv6 pattern on the first request of the
 * process: 25-30 ms of CPU of a `kinda exec` that costs about 110 in all (node --cpu-prof).
 */
function base(): Target & { servername: string } {
  return { ...target(), servername: "" };
}

export class EngineApi {
  private readonly t = base();

  private call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    return new Promise((res, rej) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        { ...this.t, method, path, headers: data ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) } : {} },
        (r: IncomingMessage) => {
          const chunks: Buffer[] = [];
          r.on("data", (c: Buffer) => chunks.push(c));
          r.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let json: unknown = text;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              // plain-text error bodies stay text
            }
            res({ status: r.statusCode ?? 0, json });
          });
        },
      );
      req.on("error", (e) =>
        rej(new KindaError(`cannot reach the Docker engine: ${e.message}`, { hint: "start it (dockerd), or set DOCKER_HOST", cause: e })),
      );
      req.end(data);
    });
  }

  private async ok(method: string, path: string, body?: unknown): Promise<unknown> {
    const r = await this.call(method, path, body);
    if (r.status >= 300) {
      const msg =
        typeof r.json === "object" && r.json && "message" in r.json ? String((r.json as { message: unknown }).message) : String(r.json);
      throw new KindaError(`Docker engine: ${method} ${path.split("?")[0]}: ${msg}`);
    }
    return r.json;
  }

  async inspect(idOrName: string): Promise<ContainerInfo | undefined> {
    const r = await this.call("GET", `/containers/${encodeURIComponent(idOrName)}/json`);
    if (r.status === 404) return undefined;
    if (r.status >= 300) throw new KindaError(`Docker engine: inspect ${idOrName}: ${JSON.stringify(r.json)}`);
    return baseInfo(r.json as Inspect);
  }

  /** Containers (running or not) whose labels include every given label. */
  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    const filters = JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) });
    const all = (await this.ok("GET", `/containers/json?all=1&filters=${encodeURIComponent(filters)}`)) as {
      Id: string;
      Names: string[];
      Labels: Record<string, string>;
      State: string;
      Image: string;
    }[];
    return all.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? "").replace(/^\//, ""),
      labels: c.Labels ?? {},
      running: c.State === "running",
      pid: 0,
      image: c.Image,
    }));
  }

  /** Starts an exec and hands over the hijacked connection. */
  private hijack(execId: string, tty: boolean): Promise<Duplex> {
    return new Promise((res, rej) => {
      const data = JSON.stringify({ Detach: false, Tty: tty });
      const req = request({
        ...this.t,
        method: "POST",
        path: `/exec/${execId}/start`,
        headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data), Connection: "Upgrade", Upgrade: "tcp" },
      });
      req.on("upgrade", (_r, socket: Duplex, head: Buffer) => {
        if (head.length) socket.unshift(head);
        res(socket);
      });
      req.on("response", (r: IncomingMessage) =>
        rej(new KindaError(`Docker engine: exec start answered ${r.statusCode} instead of upgrading`)),
      );
      req.on("error", rej);
      req.end(data);
    });
  }

  async exec(id: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const tty = opts.interactive ?? false;
    const input = tty ? undefined : opts.input;
    const stdin = tty || input !== undefined || (opts.stdin ?? false);
    const created = (await this.ok("POST", `/containers/${encodeURIComponent(id)}/exec`, {
      Cmd: argv,
      AttachStdin: stdin,
      AttachStdout: true,
      AttachStderr: true,
      Tty: tty,
      ...(opts.env ? { Env: opts.env } : {}),
    })) as { Id: string };
    const socket = await this.hijack(created.Id, tty);
    const chunks: Buffer[] = [];
    const out = opts.stdout ?? { write: (c: Buffer) => chunks.push(c) };
    const err = opts.stderr ?? opts.stdout ?? out;
    const restore = tty ? this.attachTerminal(socket, created.Id) : () => undefined;
    if (!tty) demux(socket, out, err);
    // `input`: written, then the write half closed, so that the command reads its end (a P4
    // switch's CLI given its lines: without it the CLI read nothing, exited 0, wrote nothing)
    if (input !== undefined) socket.end(input);
    else if (stdin && !tty) process.stdin.pipe(socket);
    try {
      await new Promise<void>((res, rej) => {
        let timer: NodeJS.Timeout | undefined;
        if (opts.timeoutMs)
          timer = setTimeout(() => rej(new KindaError(`command timed out after ${opts.timeoutMs} ms: ${argv.join(" ")}`)), opts.timeoutMs);
        const done = () => {
          if (timer) clearTimeout(timer);
          res();
        };
        socket.on("end", done);
        socket.on("close", done);
        socket.on("error", (e) => {
          if (timer) clearTimeout(timer);
          rej(e);
        });
      });
    } finally {
      restore();
      if (stdin && !tty && input === undefined) process.stdin.unpipe(socket);
    }
    const info = (await this.ok("GET", `/exec/${created.Id}/json`)) as { ExitCode?: number | null };
    return { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString("utf8") };
  }

  /** The caller's terminal in raw mode on the exec's TTY, its size followed; returns the undo. */
  private attachTerminal(socket: Duplex, execId: string): () => void {
    const { stdin, stdout } = process;
    const resize = () => {
      if (stdout.columns && stdout.rows)
        this.call("POST", `/exec/${execId}/resize?h=${stdout.rows}&w=${stdout.columns}`).catch(() => undefined);
    };
    const wasRaw = stdin.isRaw;
    if (stdin.isTTY) stdin.setRawMode(true);
    stdin.resume();
    stdin.pipe(socket);
    socket.pipe(stdout);
    resize();
    stdout.on("resize", resize);
    return () => {
      stdout.off("resize", resize);
      stdin.unpipe(socket);
      if (stdin.isTTY) stdin.setRawMode(wasRaw);
      stdin.pause();
    };
  }
}

type Sink = { write: (c: Buffer) => unknown };

/** Splits Docker's multiplexed stream (8-byte headers: stream type, size) into stdout and stderr. */
export function demux(stream: NodeJS.ReadableStream, out: Sink, err: Sink): void {
  let buf = Buffer.alloc(0);
  stream.on("data", (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      const payload = buf.subarray(8, 8 + size);
      (buf[0] === 2 ? err : out).write(payload);
      buf = buf.subarray(8 + size);
    }
  });
}
