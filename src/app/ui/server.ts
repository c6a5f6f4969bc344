/**
 * `kinda ui LAB` and `kinda metrics LAB`: one small HTTP server in the CLI process (node:http),
 * bound to 127.0.0.1 unless told otherwise, every request checked against a per-run token.
 *
 *   GET  /            the page (token in the query once; the page then sends it as a header)
 *   GET  /graph.svg   the lab as `kinda graph` draws it (same layout)
 *   GET  /api/state   the latest sample: links with rates, devices, nodes; edges of the picture
 *   POST /api/link    { endpoint, action: "down" | "up" | "shape" | "clear", rate?, burst?, latency? }
 *                     through the same typed operations as `kinda link`
 *   GET  /metrics     Prometheus text (prom-client)
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP } from "node:net";
import { KindaError } from "../../core/errors.js";
import { graphFromState, toSvg, type Graph } from "../graph.js";
import type { Registry } from "prom-client";
import { labMetrics } from "../metrics.js";
import type { LabObserver, Snapshot } from "../observe.js";
import { uiPage } from "./page.js";
import type { LinkCounters } from "../../engine/watch.js";

export interface ServeOptions {
  /** HOST:PORT; default 127.0.0.1:0 (a free port). */
  listen?: string;
  /** Allow a non-loopback address (the token is still required). */
  allowRemote?: boolean;
  /** Use this token instead of a random one (at least 16 characters). */
  token?: string;
  /** Serve the page (kinda ui) or only /metrics (kinda metrics). */
  page?: boolean;
  /** Applies a link change as `kinda link` does (the CLI passes app/live's changeLink). */
  changeLink?: (endpoint: string, change: LinkAction) => Promise<void>;
  /** Seconds between samples for the page (default 1). */
  interval?: number;
}

export type LinkAction = { action: "down" | "up" | "clear" } | { action: "shape"; rate: string; burst?: string; latency?: string };

export interface Served {
  url: string;
  token: string;
  host: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** The edges of the picture with what the page needs: the endpoint `kinda link` takes, the counters that belong to it. */
export interface EdgeView {
  a: string;
  b: string;
  endpoint: string;
  cut: boolean;
  shaped?: string;
  txBps?: number;
  rxBps?: number;
  drops: number;
}

export function parseListen(listen: string | undefined): { host: string; port: number } {
  if (!listen) return { host: "127.0.0.1", port: 0 };
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen) ?? /^()()(\d{1,5})$/.exec(listen);
  if (!m) throw new KindaError(`--listen ${JSON.stringify(listen)}: expected HOST:PORT (e.g. 127.0.0.1:9464) or PORT`);
  const host = m[1] || m[2] || "127.0.0.1";
  const port = Number(m[3]);
  if (port > 65535) throw new KindaError(`--listen ${listen}: port ${port} is out of range`);
  if (!isIP(host) && host !== "localhost") throw new KindaError(`--listen ${listen}: ${host} is not an IP address`);
  return { host: host === "localhost" ? "127.0.0.1" : host, port };
}

export const isLoopback = (host: string) => host === "::1" || /^127\./.test(host);

function sameToken(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Which counters row belongs to which edge of the picture, and the endpoint to act on. */
export function edgeViews(g: Graph, links: LinkCounters[]): EdgeView[] {
  const isSeg = (id: string) => id.startsWith("[");
  return g.edges.map((e) => {
    const rows = links.filter((r) => {
      const dev = r.endpoint.split(":")[0];
      const peer = r.link.startsWith("domain ") ? undefined : r.link.split(":")[0];
      if (r.endpoint === `${e.a}:${e.labelA}` || r.endpoint === `${e.b}:${e.labelB}`) return true;
      return (dev === e.a && peer === e.b) || (dev === e.b && peer === e.a);
    });
    const row = rows[0];
    const endpoint = isSeg(e.a) ? `${e.b}:${e.labelB}` : isSeg(e.b) ? `${e.a}:${e.labelA}` : `${e.a}--${e.b}`;
    const v: EdgeView = { a: e.a, b: e.b, endpoint, cut: rows.some((r) => r.cut) || !!e.cut, drops: rows.reduce((s, r) => s + r.drops, 0) };
    const shaped = rows.find((r) => r.shaped)?.shaped;
    if (shaped) v.shaped = shaped;
    if (row?.txBps !== undefined) v.txBps = Math.max(...rows.map((r) => r.txBps ?? 0));
    if (row?.rxBps !== undefined) v.rxBps = Math.max(...rows.map((r) => r.rxBps ?? 0));
    return v;
  });
}

async function body(req: IncomingMessage, limit = 4096): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new KindaError("request body too large");
    chunks.push(c as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
}

const VALUE = /^[0-9]+(\.[0-9]+)?[a-zA-Z]*$/;

export function parseAction(x: unknown): { endpoint: string; change: LinkAction } {
  const o = (x ?? {}) as Record<string, unknown>;
  const endpoint = o["endpoint"];
  if (typeof endpoint !== "string" || !/^[\w.[\]:-]+$/.test(endpoint))
    throw new KindaError("endpoint: expected a link endpoint such as r1--r2 or r1:eth0");
  const action = o["action"];
  if (action === "down" || action === "up" || action === "clear") return { endpoint, change: { action } };
  if (action === "shape") {
    const pick = (k: string) => {
      const v = o[k];
      if (v === undefined || v === "") return undefined;
      if (typeof v !== "string" || !VALUE.test(v)) throw new KindaError(`${k}: expected a tc value such as 10mbit, 32kbit or 50ms`);
      return v;
    };
    const rate = pick("rate");
    if (!rate) throw new KindaError("rate: required for shape");
    const burst = pick("burst");
    const latency = pick("latency");
    return { endpoint, change: { action, rate, ...(burst ? { burst } : {}), ...(latency ? { latency } : {}) } };
  }
  throw new KindaError(`action: expected down, up, shape or clear, got ${JSON.stringify(action)}`);
}

interface HandlerContext {
  host: string;
  token: string;
  opts: ServeOptions;
  observer: LabObserver;
  registry: Registry;
  snapshot: () => Promise<Snapshot>;
  latest: () => Snapshot | undefined;
}

const send = (res: ServerResponse, code: number, type: string, text: string | Buffer) => {
  res.writeHead(code, { "content-type": type, "cache-control": "no-store", "x-content-type-options": "nosniff" });
  res.end(text);
};
const fail = (res: ServerResponse, code: number, message: string) =>
  send(res, code, "application/json", JSON.stringify({ error: message }));

function handler({ host, token, opts, observer, registry, snapshot, latest }: HandlerContext) {
  return (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      // DNS rebinding: on loopback, only loopback host names
      const hostHeader = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
      if (isLoopback(host) && !["127.0.0.1", "localhost", "::1"].includes(hostHeader) && !isLoopback(hostHeader))
        return fail(res, 403, "forbidden host");
      const header = req.headers["x-kinda-token"] ?? /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      const given = typeof header === "string" ? header : (url.searchParams.get("token") ?? undefined);
      if (!sameToken(given, token)) return fail(res, 401, "a valid token is required (the URL kinda printed)");
      try {
        if (req.method === "GET" && url.pathname === "/metrics") {
          return send(res, 200, registry.contentType, await registry.metrics());
        }
        if (opts.page === false) return fail(res, 404, "not found");
        if (req.method === "GET" && url.pathname === "/") return send(res, 200, "text/html; charset=utf-8", uiPage(observer.lab));
        if (req.method === "GET" && url.pathname === "/graph.svg")
          return send(res, 200, "image/svg+xml", toSvg(graphFromState(observer.state())));
        if (req.method === "GET" && url.pathname === "/api/state") {
          const s = latest() ?? (await snapshot());
          const g = graphFromState(observer.state());
          return send(res, 200, "application/json", JSON.stringify({ ...s, edges: edgeViews(g, s.links) }));
        }
        if (req.method === "POST" && url.pathname === "/api/link") {
          if (typeof header !== "string") return fail(res, 401, "changes need the token as a header (X-Kinda-Token)");
          if (!(req.headers["content-type"] ?? "").startsWith("application/json")) return fail(res, 415, "expected application/json");
          if (!opts.changeLink) return fail(res, 501, "link changes are not available here");
          const { endpoint, change } = parseAction(await body(req));
          await opts.changeLink(endpoint, change);
          const s = await snapshot();
          return send(res, 200, "application/json", JSON.stringify({ ok: true, at: s.at }));
        }
        return fail(res, 404, "not found");
      } catch (e) {
        return fail(res, e instanceof KindaError ? 400 : 500, (e as Error).message);
      }
    })();
  };
}

export async function serve(observer: LabObserver, opts: ServeOptions = {}): Promise<Served> {
  const { host, port } = parseListen(opts.listen);
  if (!isLoopback(host) && !opts.allowRemote)
    throw new KindaError(`--listen ${host}: not a loopback address; anyone who can reach it could change the lab's links`, {
      hint: "pass --allow-remote as well to serve on it (the token is still required)",
    });
  if (opts.token !== undefined && opts.token.length < 16) throw new KindaError("--token: at least 16 characters");
  const token = opts.token ?? randomBytes(24).toString("base64url");
  let latest: Snapshot | undefined;
  let sampling: Promise<Snapshot> | undefined;
  const snapshot = (): Promise<Snapshot> =>
    (sampling ??= observer.sample().then(
      (s) => {
        latest = s;
        sampling = undefined;
        return s;
      },
      (e: unknown) => {
        sampling = undefined;
        throw e;
      },
    ));
  const registry = labMetrics(snapshot);
  let timer: NodeJS.Timeout | undefined;
  if (opts.page !== false) {
    const tick = () => void snapshot().catch(() => undefined);
    tick();
    timer = setInterval(tick, (opts.interval ?? 1) * 1000);
  }

  const server = createServer(handler({ host, token, opts, observer, registry, snapshot, latest: () => latest }));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const boundPort = typeof addr === "object" && addr ? addr.port : port;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${boundPort}/${opts.page === false ? "metrics" : ""}?token=${token}`,
    token,
    host,
    port: boundPort,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        if (timer) clearInterval(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
