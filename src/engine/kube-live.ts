/**
 * `kinda link` and `kinda capture` on the Kubernetes runtime: the same endpoints, operations and
 * inverses as on Docker (plan/live.ts), run inside the device pods' network namespaces through
 * their exec API (`ip -batch -`, `tc -batch -` with the lines on stdin; tcpdump streamed), since
 * kinda has no access to the host nodes. A failure undoes what was applied, as on Docker.
 */
import { createWriteStream } from "node:fs";
import { Writable } from "node:stream";
import { KindaError, CommandError } from "../core/errors.js";
import { describeShaping } from "../core/tc.js";
import type { KubeApi } from "../model/kube.js";
import { resolveKubeEndpoint } from "../plan/kube.js";
import { commandsFor, cutOps, inverse, shapeOps, tcpdumpArgv, type LiveOp, type NsCommand } from "../plan/live.js";
import type { LabState, StateStore } from "../state/store.js";
import { checkShaping, previousShaping, record, type LinkChange, type LinkChangeResult } from "./live.js";
import type { NsExec } from "./watch.js";

const BENIGN = /Cannot delete qdisc with handle of zero|Cannot find specified qdisc|No such file or directory|Command failed -:\d+/;

function readKubeLab(lab: string, store: StateStore): LabState {
  const st = store.read(lab);
  if (!st) throw new KindaError(`LAB ${JSON.stringify(lab)}: no lab of that name is up`, { hint: "kinda status lists the labs that are" });
  if (st.phase !== "up") throw new KindaError(`lab ${lab} is ${st.phase}, not up`);
  if (st.runtime?.kind !== "kubernetes") throw new KindaError(`lab ${lab} is not on the Kubernetes runtime`);
  return st;
}

async function runInPod(api: KubeApi, namespace: string, c: NsCommand): Promise<void> {
  if (!("container" in c.ns)) throw new KindaError("a lab on the Kubernetes runtime has no lab namespace");
  const argv = c.tool === "nft" ? ["nft", "-f", "-"] : [c.tool, ...(c.tolerant ? ["-force"] : []), "-batch", "-"];
  const input = c.lines.join("\n") + "\n";
  const r = await api.exec(namespace, c.ns.container, argv, { input });
  if (r.exitCode === 0) return;
  if (c.tolerant && r.output.split("\n").every((l) => !l.trim() || BENIGN.test(l))) return;
  throw new CommandError([...argv, `(in pod ${namespace}/${c.ns.container})`], r.exitCode, r.output, input);
}

async function applyInPods(api: KubeApi, namespace: string, ops: LiveOp[], st: LabState): Promise<void> {
  const done: LiveOp[] = [];
  try {
    for (const op of ops) {
      for (const c of commandsFor([op])) await runInPod(api, namespace, c);
      done.push(op);
    }
  } catch (e) {
    const prev = previousShaping(st.live);
    for (const op of done.reverse())
      for (const c of commandsFor([inverse(op, prev(op.at))]))
        await runInPod(api, namespace, { ...c, tolerant: true }).catch(() => undefined);
    throw e;
  }
}

export async function changeKubeLink(
  lab: string,
  endpoint: string,
  change: LinkChange,
  opts: { store: StateStore; api: KubeApi },
): Promise<LinkChangeResult> {
  const st = readKubeLab(lab, opts.store);
  const target = resolveKubeEndpoint(st, endpoint);
  let ops: LiveOp[];
  let summary: string;
  if ("shape" in change) {
    await checkShaping(change.shape);
    ops = shapeOps(target, change.shape, change.from);
    summary = `shaped ${target.description}: ${describeShaping(change.shape)}`;
  } else if ("clear" in change) {
    ops = shapeOps(target, undefined, change.from);
    summary = `cleared the shaping of ${target.description}`;
  } else {
    ops = cutOps(target, change.state === "down");
    summary = `${change.state === "down" ? "cut" : "restored"} ${target.description}`;
  }
  await applyInPods(opts.api, st.runtime!.namespace, ops, st);
  record(st, target, change, ops);
  opts.store.update(st);
  return { target, ops, summary };
}

export interface KubeCaptureOptions {
  store: StateStore;
  api: KubeApi;
  write?: string;
  count?: number;
  filter?: string[];
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** tcpdump in the pod that holds the endpoint's capture point, its output streamed back; its exit code. */
export async function kubeCapture(lab: string, endpoint: string, opts: KubeCaptureOptions): Promise<number> {
  const st = readKubeLab(lab, opts.store);
  const t = resolveKubeEndpoint(st, endpoint);
  if (opts.count !== undefined && (!Number.isInteger(opts.count) || opts.count < 1))
    throw new KindaError(`-c ${opts.count}: the packet count must be a positive integer`);
  // tcpdump writes pcap to its standard output in the pod; a file is written here, where kinda runs
  const file = opts.write !== undefined && opts.write !== "-" ? createWriteStream(opts.write) : undefined;
  if (file)
    await new Promise<void>((res, rej) =>
      file.once("open", () => res()).once("error", (e) => rej(new KindaError(`-w ${opts.write}: ${e.message}`))),
    );
  const argv = tcpdumpArgv(t.capture.dev, {
    ...(opts.write !== undefined ? { write: "-" } : {}),
    ...(opts.count !== undefined ? { count: opts.count } : {}),
    ...(opts.filter ? { filter: opts.filter } : {}),
  });
  const pod = (t.capture.ns as { container: string }).container;
  const r = await opts.api.exec(st.runtime!.namespace, pod, argv, {
    stdout: file ?? opts.stdout ?? process.stdout,
    stderr: opts.stderr ?? process.stderr,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  });
  if (file) await new Promise<void>((res) => file.end(res));
  return r.exitCode;
}

/** Commands in the lab's device pods by their namespace reference (the pod), for the counters of `status --links` and `top`. */
export function podNsExec(api: KubeApi, namespace: string): NsExec {
  return async (ns, argv) => {
    if (!("container" in ns)) throw new KindaError("a lab on the Kubernetes runtime has no lab namespace");
    let err = "";
    const stderr = new Writable({
      write(chunk: Buffer, _e, cb) {
        err += chunk.toString();
        cb();
      },
    });
    const r = await api.exec(namespace, ns.container, argv, { stderr });
    if (r.exitCode !== 0)
      throw new KindaError(
        `${argv.join(" ")} in pod ${namespace}/${ns.container} failed (exit ${r.exitCode}): ${(err || r.output).trim()}`,
      );
    return r.output;
  };
}
