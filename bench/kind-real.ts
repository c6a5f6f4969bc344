/**
 * Scenario kind-real-N: a real Kind cluster (1 control plane + N workers, the offline node image)
 * at the edge of the fat tree of examples/fat-tree-cluster.ts (k=4 up to 15 workers), for each N of
 * KINDA_BENCH_KIND_N (default "2,5,10"; `npm run bench -- --only kind-real-N` runs just those, `--only kind-real-5` one),
 * named $KINDA_BENCH_KIND_PREFIX-N (default bench-kind-N):
 * Kind create time (kinda attaches the nodes meanwhile), attach time and attach time per node,
 * time to all Ready, memory and CPU per node. Past Kind's first wave (KINDA_KIND_WAVE workers,
 * default 10) kinda makes and joins the nodes itself, a few at a time (KINDA_JOIN_PARALLEL).
 * Skipped, with a line saying why, without the node image.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { up as upTopology } from "../src/app/up.js";
import { fatTreeCluster } from "../examples/fat-tree-cluster.js";
import { IMAGE_MAP } from "../test/support/env.js";

const CACHE = process.env["KINDA_K8S_CACHE"] ?? "/var/cache/kinda-k8s";
const VERSION = process.env["KINDA_K8S_VERSION"] ?? "v1.34.4";
const NODE_IMAGE = process.env["KINDA_K8S_NODE_IMAGE"] ?? `kinda-k8s/node:${VERSION}`;
const KUBECTL = `${CACHE}/out/kubernetes-${VERSION}/kubectl`;

export interface KindRealRow {
  scenario: string;
  nodes: number;
  createSeconds: number;
  attachSeconds: number;
  attachPerNodeSeconds: number;
  readySeconds: number;
  memoryPerNodeMiB: number;
  /** CPU an idle node keeps using, in % of one core (docker stats, the cluster Ready). */
  cpuPerNodePercent: number;
}

/** Why the scenario cannot run here, or undefined. */
export function kindRealMissing(): string | undefined {
  if (spawnSync("/usr/bin/docker", ["image", "inspect", NODE_IMAGE], { stdio: "ignore" }).status !== 0)
    return `node image ${NODE_IMAGE} not found (build it: bash scripts/k8s/build-node-image.sh, see docs/k8s-offline.md)`;
  if (spawnSync(KUBECTL, ["version", "--client"], { stdio: "ignore" }).status !== 0) return `kubectl not found at ${KUBECTL}`;
  return undefined;
}

/** Memory in use per node container of a Kind cluster (MiB), as `docker stats` reports it. */
export function memoryPerNodeMiB(cluster: string): number[] {
  const names = execFileSync("/usr/bin/docker", ["ps", "--filter", `label=io.x-k8s.kind.cluster=${cluster}`, "--format", "{{.Names}}"], {
    encoding: "utf8",
  })
    .trim()
    .split("\n")
    .filter(Boolean);
  const out = execFileSync("/usr/bin/docker", ["stats", "--no-stream", "--format", "{{.MemUsage}}", ...names], { encoding: "utf8" });
  return out
    .trim()
    .split("\n")
    .map((l) => {
      const m = /^([\d.]+)(KiB|MiB|GiB)/.exec(l);
      const x = Number(m?.[1] ?? "NaN");
      return m?.[2] === "GiB" ? x * 1024 : m?.[2] === "KiB" ? x / 1024 : x;
    });
}

/** CPU in use per node container of a Kind cluster (% of one core), as `docker stats` reports it. */
export function cpuPerNodePercent(cluster: string): number[] {
  const names = execFileSync("/usr/bin/docker", ["ps", "--filter", `label=io.x-k8s.kind.cluster=${cluster}`, "--format", "{{.Names}}"], {
    encoding: "utf8",
  })
    .trim()
    .split("\n")
    .filter(Boolean);
  const out = execFileSync("/usr/bin/docker", ["stats", "--no-stream", "--format", "{{.CPUPerc}}", ...names], { encoding: "utf8" });
  return out
    .trim()
    .split("\n")
    .map((l) => Number(l.replace("%", "")));
}

function memoryMiB(cluster: string): number {
  const v = memoryPerNodeMiB(cluster);
  return v.reduce((a, b) => a + b, 0) / v.length;
}

async function allReady(kubeconfig: string, nodes: number, timeoutS: number): Promise<number> {
  const t = performance.now();
  while ((performance.now() - t) / 1000 < timeoutS) {
    const r = spawnSync(
      KUBECTL,
      ["--kubeconfig", kubeconfig, "get", "nodes", "-o", "jsonpath={.items[*].status.conditions[?(@.type=='Ready')].status}"],
      { encoding: "utf8", timeout: 30_000 },
    );
    const st = (r.stdout ?? "").trim().split(" ");
    if (r.status === 0 && st.length === nodes && st.every((x) => x === "True")) return (performance.now() - t) / 1000;
    await new Promise((res) => setTimeout(res, 2000));
  }
  throw new Error(`not all ${nodes} nodes Ready after ${timeoutS} s`);
}

export async function kindRealScenario(workers: number): Promise<KindRealRow> {
  const name = `${process.env["KINDA_BENCH_KIND_PREFIX"] || "bench-kind"}-${workers}`;
  process.env["PATH"] = `${CACHE}/bin:${process.env["PATH"]}`;
  process.env["KINDA_KIND"] ??= `${CACHE}/bin/kind`;
  const handle = await upTopology(fatTreeCluster(workers, { name, image: NODE_IMAGE }), { imageMap: IMAGE_MAP });
  try {
    const s = handle.cluster!.seconds;
    const kubeconfig = `${CACHE}/kubeconfig-${name}`;
    writeFileSync(kubeconfig, execFileSync(`${CACHE}/bin/kind`, ["get", "kubeconfig", "--name", name], { encoding: "utf8" }));
    const ready = await allReady(kubeconfig, workers + 1, 120 + 30 * workers);
    const attach = (s.attach ?? 0) + s.plumbing;
    return {
      scenario: `kind-real-${workers}`,
      nodes: workers + 1,
      createSeconds: s.provider,
      attachSeconds: attach,
      attachPerNodeSeconds: attach / (workers + 1),
      readySeconds: ready,
      memoryPerNodeMiB: memoryMiB(name),
      cpuPerNodePercent: mean(cpuPerNodePercent(name)),
    };
  } finally {
    await handle.down();
  }
}

function mean(v: number[]): number {
  return v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
}

/**
 * Whether attaching stays linear in the nodes: the attach time per node at the largest N over
 * that at the smallest (target <= 1.5: no per-node cost that grows with the cluster).
 */
export function kindLinearity(rows: readonly KindRealRow[]): string {
  const by = [...rows].sort((a, b) => a.nodes - b.nodes);
  const lo = by[0]!;
  const hi = by.at(-1)!;
  const ratio = hi.attachPerNodeSeconds / lo.attachPerNodeSeconds;
  return (
    `attach per node from ${lo.nodes} to ${hi.nodes} nodes: ${lo.attachPerNodeSeconds.toFixed(3)} -> ${hi.attachPerNodeSeconds.toFixed(3)} s ` +
    `(x${ratio.toFixed(2)}; target <= 1.50, linear: the same per node)`
  );
}

/** N values to run: KINDA_BENCH_KIND_N, comma-separated. */
export function kindRealSizes(): number[] {
  return (process.env["KINDA_BENCH_KIND_N"] ?? "2,5,10")
    .split(",")
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}
