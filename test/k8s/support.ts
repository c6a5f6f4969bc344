/**
 * What the real-Kubernetes tests share: where scripts/k8s/ caches kind, kubectl and the node
 * image, building (or reusing) the images, a Kind-backed ClusterBuilder, kubectl on its cluster.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ClusterBuilder, KindProvider } from "../../src/app/library.js";
import type { ClusterOptions } from "../../src/model/cluster.js";
import { ROOT } from "../support/env.js";
import { stateDir } from "../support/kinda.js";

export const CACHE = process.env["KINDA_K8S_CACHE"] ?? "/var/cache/kinda-k8s";
export const K8S_VERSION = process.env["KINDA_K8S_VERSION"] ?? "v1.34.4";
export const NODE_IMAGE = process.env["KINDA_K8S_NODE_IMAGE"] ?? `kinda-k8s/node:${K8S_VERSION}`;
export const KIND = `${CACHE}/bin/kind`;
export const KUBECTL = `${CACHE}/out/kubernetes-${K8S_VERSION}/kubectl`;
process.env["KINDA_STATE_DIR"] = stateDir;
process.env["PATH"] = `${CACHE}/bin:${process.env["PATH"]}`; // kind runs `docker`: Debian's client

/** Builds the node and load-balancer images, or finds them cached (scripts/k8s/). */
export function buildImages(): void {
  execFileSync("bash", [join(ROOT, "scripts", "k8s", "build-node-image.sh")], { stdio: ["ignore", "ignore", "inherit"] });
}

/** A ClusterBuilder whose provider is kinda's KindProvider with the offline node image. */
export function kindBuilder(lab: string, cluster: string, options: ClusterOptions): ClusterBuilder {
  const kind = { image: NODE_IMAGE, kindBinary: KIND };
  return new ClusterBuilder(lab, new KindProvider(cluster, kind), options, { providerOptions: kind });
}

/** kubectl on one Kind cluster, through a kubeconfig file of its own. */
export class Kubectl {
  readonly kubeconfig: string;
  constructor(cluster: string) {
    this.kubeconfig = `${CACHE}/kubeconfig-${cluster}`;
    writeFileSync(this.kubeconfig, execFileSync(KIND, ["get", "kubeconfig", "--name", cluster], { encoding: "utf8" }));
  }

  run(args: readonly string[], input?: string): string {
    // a hang fails the test instead of holding the whole run; a wait given its own --timeout=Ns
    // gets that and a minute more (the scale test's rollout at N=25 waits 620 s: killed at 240 s,
    // it failed while the DaemonSet controller had not yet seen the DaemonSet, at a load of 100)
    const own = args.map((a) => /^--timeout=(\d+)s$/.exec(a)?.[1]).find(Boolean);
    return execFileSync(KUBECTL, ["--kubeconfig", this.kubeconfig, ...args], {
      encoding: "utf8",
      timeout: Math.max(240_000, (Number(own ?? 0) + 60) * 1000),
      ...(input ? { input } : {}),
    });
  }

  /** Like run, but gives the exit code and output instead of throwing. */
  try(...args: string[]): { code: number; out: string } {
    try {
      return { code: 0, out: this.run(args) };
    } catch (e) {
      const err = e as { status?: number; stdout?: string; stderr?: string };
      return { code: err.status ?? 1, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
    }
  }

  /** What the same call gives, run without blocking the event loop (for many at once). */
  tryAsync(...args: string[]): Promise<{ code: number; out: string }> {
    return new Promise((res) =>
      execFile(KUBECTL, ["--kubeconfig", this.kubeconfig, ...args], { encoding: "utf8", timeout: 240_000 }, (e, stdout, stderr) =>
        res({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, out: `${stdout}${e ? stderr : ""}` }),
      ),
    );
  }
}

/** Each Kubernetes node's InternalIP, by Kubernetes name. */
export function internalIps(kube: Kubectl): Record<string, string> {
  const ips = kube.run([
    "get",
    "nodes",
    "-o",
    "jsonpath={range .items[*]}{.metadata.name}={.status.addresses[?(@.type=='InternalIP')].address} {end}",
  ]);
  return Object.fromEntries(
    ips
      .trim()
      .split(" ")
      .map((x) => x.split("=") as [string, string]),
  );
}

/** The addresses the API Service (kubernetes, 10.96.0.1) leads to, sorted. */
export function apiServiceEndpoints(kube: Kubectl): string[] {
  const ep = kube.run([
    "get",
    "endpointslices",
    "-n",
    "default",
    "-l",
    "kubernetes.io/service-name=kubernetes",
    "-o",
    "jsonpath={.items[*].endpoints[*].addresses[*]}",
  ]);
  return ep.trim().split(" ").sort();
}

export { txPackets } from "../support/kinda.js";

/**
 * Runs argv in a pod's container through its node's own runtime (`crictl exec` in the Kind node
 * container), not through the API server: with a node cut off from the control plane, `kubectl
 * exec` fails for that reason alone (the API server reaches the kubelet across the network).
 */
export function execInPodOnNode(nodeContainer: string, pod: string, argv: string[]): { code: number; out: string } {
  const docker = (args: string[]) => spawnSync("/usr/bin/docker", ["exec", nodeContainer, ...args], { encoding: "utf8", timeout: 120_000 });
  const ps = docker(["crictl", "ps", "-q", "--label", `io.kubernetes.pod.name=${pod}`]);
  assert.ifError(ps.error);
  const id = (ps.stdout ?? "").trim().split("\n")[0];
  assert.ok(id, `pod ${pod} has a running container on ${nodeContainer}: ${ps.stderr}`);
  const r = docker(["crictl", "exec", id, ...argv]);
  assert.ifError(r.error);
  return { code: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** Whether Docker has Kind's network "kind" (Kind makes it on first use). */
export function kindNetworkExists(): boolean {
  return execFileSync("/usr/bin/docker", ["network", "ls", "-q", "--filter", "name=^kind$"], { encoding: "utf8" }).trim() !== "";
}

/** After the cluster is deleted: the "kind" network is gone if Kind made it for this cluster, kept otherwise. */
export function assertKindNetworkAsBefore(hadIt: boolean): void {
  assert.equal(
    kindNetworkExists(),
    hadIt,
    hadIt ? "a kind network kinda did not make stays" : "the kind network made for this cluster is gone",
  );
}
