/**
 * The Kubernetes runtime's adapter: a host cluster's API through @kubernetes/client-node (the
 * project's own client library for Kubernetes, which speaks the API's exec protocol, v5 included,
 * so a command's stdin can be closed), never a kubectl on PATH.
 */
import * as k8s from "@kubernetes/client-node";
import { PassThrough, Writable } from "node:stream";
import { KindaError } from "../core/errors.js";
import type { ExecOptions, ExecResult } from "../model/container.js";
import type { KubeApi, KubeNode, KubePod, KubeTarget, Manifest } from "../model/kube.js";

function codeOf(e: unknown): number | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof (e as { code: unknown }).code === "number"
    ? (e as { code: number }).code
    : undefined;
}

/** The API's own message for a failed call (its Status body), else the error's. */
function messageOf(e: unknown): string {
  const body = (e as { body?: unknown }).body;
  if (typeof body === "string") {
    try {
      const m = (JSON.parse(body) as { message?: string }).message;
      if (m) return m;
    } catch {
      /* not JSON */
    }
  }
  return (e as Error).message;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Exit code of an exec from the API's final Status (Success, or Failure with an ExitCode cause). */
export function exitCodeOf(status: k8s.V1Status | undefined): number {
  if (!status) return -1;
  if (status.status === "Success") return 0;
  const cause = status.details?.causes?.find((c) => c.reason === "ExitCode");
  if (cause?.message !== undefined && /^\d+$/.test(cause.message)) return Number(cause.message);
  return 126; // the command did not start (no such file: the message says)
}

export class KubeClusterApi implements KubeApi {
  private readonly kc: k8s.KubeConfig;
  private readonly core: k8s.CoreV1Api;
  private readonly where: string;

  constructor(target: KubeTarget = {}) {
    this.kc = new k8s.KubeConfig();
    try {
      if (target.kubeconfig) this.kc.loadFromFile(target.kubeconfig);
      else this.kc.loadFromDefault();
      if (target.context) {
        if (!this.kc.getContextObject(target.context))
          throw new KindaError(`--context ${target.context}: no such context in ${target.kubeconfig ?? "the default kubeconfig"}`, {
            hint: `contexts there: ${
              this.kc
                .getContexts()
                .map((c) => c.name)
                .join(", ") || "none"
            }`,
          });
        this.kc.setCurrentContext(target.context);
      }
    } catch (e) {
      if (e instanceof KindaError) throw e;
      throw new KindaError(
        `cannot read the kubeconfig ${target.kubeconfig ?? "(default: $KUBECONFIG or ~/.kube/config)"}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    this.where = `${target.kubeconfig ?? "the default kubeconfig"}, context ${this.kc.getCurrentContext() || "(none)"}`;
    this.core = this.kc.makeApiClient(k8s.CoreV1Api);
  }

  async ping(): Promise<void> {
    try {
      await this.core.listNode({ limit: 1 });
    } catch (e) {
      throw new KindaError(`cannot reach the host cluster's API server (${this.where}): ${messageOf(e)}`, {
        hint: "check --kubeconfig and --context (kubectl get nodes with them should answer)",
        cause: e,
      });
    }
  }

  async nodes(): Promise<KubeNode[]> {
    const list = await this.core.listNode();
    return list.items.map((n) => ({
      name: n.metadata?.name ?? "",
      labels: n.metadata?.labels ?? {},
      ready: (n.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
      schedulable: !n.spec?.unschedulable && !(n.spec?.taints ?? []).some((t) => t.effect === "NoSchedule" || t.effect === "NoExecute"),
    }));
  }

  async namespace(name: string): Promise<{ labels: Record<string, string>; terminating: boolean } | undefined> {
    try {
      const ns = await this.core.readNamespace({ name });
      return { labels: ns.metadata?.labels ?? {}, terminating: ns.status?.phase === "Terminating" };
    } catch (e) {
      if (codeOf(e) === 404) return undefined;
      throw new KindaError(`reading namespace ${name}: ${messageOf(e)}`, { cause: e });
    }
  }

  async createNamespace(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.core.createNamespace({ body: { metadata: { name, labels } } });
    } catch (e) {
      throw new KindaError(`could not create namespace ${name}: ${messageOf(e)}`, { cause: e });
    }
  }

  async deleteNamespace(name: string, timeoutMs = 300_000): Promise<void> {
    try {
      await this.core.deleteNamespace({ name, propagationPolicy: "Foreground" });
    } catch (e) {
      if (codeOf(e) !== 404) throw new KindaError(`could not delete namespace ${name}: ${messageOf(e)}`, { cause: e });
    }
    const until = Date.now() + timeoutMs;
    while (await this.namespace(name)) {
      if (Date.now() > until) throw new KindaError(`namespace ${name} is still being deleted after ${timeoutMs / 1000} s`);
      await sleep(1000);
    }
  }

  async create(namespace: string, manifest: Manifest): Promise<void> {
    const kind = manifest["kind"];
    const name = (manifest["metadata"] as { name?: string } | undefined)?.name ?? "";
    // a namespace just made has no "default" ServiceAccount until the cluster's controller makes it
    // (seconds on a loaded cluster: seen under a load average of 120), and pods are refused until then
    const until = Date.now() + 120_000;
    for (;;) {
      try {
        if (kind === "Pod") await this.core.createNamespacedPod({ namespace, body: manifest as k8s.V1Pod });
        else if (kind === "ConfigMap") await this.core.createNamespacedConfigMap({ namespace, body: manifest as k8s.V1ConfigMap });
        else throw new KindaError(`kinda does not create objects of kind ${String(kind)}`);
        return;
      } catch (e) {
        if (e instanceof KindaError) throw e;
        const msg = messageOf(e);
        if (codeOf(e) === 403 && /error looking up service account .*not found/.test(msg) && Date.now() < until) {
          await sleep(1000);
          continue;
        }
        throw new KindaError(`could not create ${String(kind)} ${namespace}/${name}: ${msg}`, { cause: e });
      }
    }
  }

  async remove(namespace: string, kind: "Pod" | "ConfigMap", name: string, timeoutMs = 120_000): Promise<void> {
    const read = () =>
      kind === "Pod" ? this.core.readNamespacedPod({ namespace, name }) : this.core.readNamespacedConfigMap({ namespace, name });
    try {
      if (kind === "Pod") await this.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 5 });
      else await this.core.deleteNamespacedConfigMap({ namespace, name });
    } catch (e) {
      if (codeOf(e) === 404) return;
      throw new KindaError(`could not delete ${kind} ${namespace}/${name}: ${messageOf(e)}`, { cause: e });
    }
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        await read();
      } catch (e) {
        if (codeOf(e) === 404) return;
        throw new KindaError(`reading ${kind} ${namespace}/${name}: ${messageOf(e)}`, { cause: e });
      }
      if (Date.now() > until) throw new KindaError(`${kind} ${namespace}/${name} is still being deleted after ${timeoutMs / 1000} s`);
      await sleep(500);
    }
  }

  async pods(namespace: string, labels: Record<string, string> = {}): Promise<KubePod[]> {
    const labelSelector = Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    let list: k8s.V1PodList;
    try {
      list = await this.core.listNamespacedPod({ namespace, ...(labelSelector ? { labelSelector } : {}) });
    } catch (e) {
      if (codeOf(e) === 404) return [];
      throw new KindaError(`listing pods in ${namespace}: ${messageOf(e)}`, { cause: e });
    }
    return list.items.map((p) => {
      const pod: KubePod = {
        name: p.metadata?.name ?? "",
        labels: p.metadata?.labels ?? {},
        phase: p.status?.phase ?? "Unknown",
        node: p.spec?.nodeName ?? "",
        ip: p.status?.podIP ?? "",
      };
      const waiting = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].find(
        (c) => c.state?.waiting?.reason && c.state.waiting.reason !== "ContainerCreating" && c.state.waiting.reason !== "PodInitializing",
      )?.state?.waiting;
      if (waiting) pod.waiting = `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`;
      const sched = p.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
      if (sched) pod.unschedulable = sched.message ?? sched.reason ?? "unschedulable";
      return pod;
    });
  }

  async exec(namespace: string, pod: string, argv: string[], opts: ExecOptions & { container?: string } = {}): Promise<ExecResult> {
    // a time limit is kept in the pod itself: timeout(1) signals the command's whole process group
    const secs = opts.timeoutMs !== undefined ? Math.max(1, Math.ceil(opts.timeoutMs / 1000)) : undefined;
    const command = secs !== undefined ? ["timeout", "-k", "5", String(secs), ...argv] : argv;
    let output = "";
    const collect = () =>
      new Writable({
        write(chunk: Buffer, _e, cb) {
          output += chunk.toString();
          cb();
        },
      });
    const stdout = opts.stdout ?? (opts.interactive ? process.stdout : collect());
    const stderr = opts.stderr ?? (opts.interactive ? process.stderr : stdout === process.stdout ? process.stderr : collect());
    let stdin: NodeJS.ReadableStream | null = null;
    if (opts.input !== undefined) {
      const p = new PassThrough();
      p.end(opts.input);
      stdin = p;
    } else if (opts.stdin || opts.interactive) stdin = process.stdin;
    const tty = Boolean(opts.interactive);
    const exec = new k8s.Exec(this.kc);
    return new Promise<ExecResult>((resolve, reject) => {
      let status: k8s.V1Status | undefined;
      let done = false;
      let ws: { close(): void; on(ev: string, f: (...a: unknown[]) => void): void } | undefined;
      const finish = (stopped?: "timeout" | "aborted") => {
        if (done) return;
        done = true;
        opts.signal?.removeEventListener("abort", onAbort);
        clearTimeout(timer);
        if (tty && process.stdin.isTTY) process.stdin.setRawMode(false);
        let exitCode = exitCodeOf(status);
        if (secs !== undefined && (exitCode === 124 || exitCode === 137)) stopped = "timeout";
        if (stopped) exitCode = exitCode === -1 ? 137 : exitCode;
        if (!status && !stopped) exitCode = -1;
        const msg = exitCode === 126 && status?.message ? `${status.message}\n` : "";
        resolve({ exitCode, output: output + msg, ...(stopped ? { stopped } : {}) });
      };
      const onAbort = () => {
        ws?.close();
        finish("aborted");
      };
      const timer =
        opts.timeoutMs !== undefined
          ? setTimeout(() => {
              ws?.close();
              finish("timeout");
            }, opts.timeoutMs + 15_000)
          : undefined;
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      if (tty && process.stdin.isTTY) process.stdin.setRawMode(true);
      exec
        .exec(namespace, pod, opts.container ?? "device", command, stdout as Writable, stderr as Writable, stdin as never, tty, (s) => {
          status = s;
        })
        .then((conn) => {
          ws = conn as unknown as typeof ws;
          ws!.on("close", () => finish());
          ws!.on("error", () => finish());
        })
        .catch((e: unknown) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          reject(new KindaError(`exec in pod ${namespace}/${pod}: ${messageOf(e)}`, { cause: e }));
        });
    });
  }
}
