/**
 * Kubernetes on a k-ary fat tree: one control plane and N workers at the edge of the smallest
 * fat tree with room for them (k = 4 up to 15 workers, 6 up to 53), spread over the fat tree's
 * pods first, then over their edge routers, so that each pod of the fabric holds nodes. Leaves
 * that are not nodes are left out (edge routers without nodes stay). Statically routed with ECMP,
 * pods routed natively (encapsulation none), every Kubernetes flow through the network
 * (apiThroughNetwork: the nodes' Kubernetes identity is their emulated address). Used by the
 * scale test (test/k8s/kind-scale.test.ts) and the bench's kind-real-N scenario:
 *
 *   sudo npx kinda up examples/fat-tree-cluster.ts --node-image kinda-k8s/node:v1.34.4
 */
import { fatTree } from "../src/index.js";
import type { TopologySpec } from "../src/index.js";

/** The smallest even k whose k³/4 leaves hold `nodes`. */
export function fatTreeK(nodes: number): number {
  let k = 4;
  while ((k * k * k) / 4 < nodes) k += 2;
  return k;
}

/** Leaves in the order nodes take them: one per pod, then the next edge router of every pod, ... */
export function spreadLeaves(k: number): string[] {
  const h = k / 2;
  const order: string[] = [];
  for (let i = 1; i <= h; i++) for (let e = 1; e <= h; e++) for (let p = 1; p <= k; p++) order.push(`h${p}_${e}_${i}`);
  return order;
}

/** The topology: control plane on h1_1_1, workers on the next leaves of spreadLeaves. */
export function fatTreeCluster(workers: number, o: { name: string; cluster?: string; image?: string }): TopologySpec {
  const k = fatTreeK(workers + 1);
  const [cp, ...rest] = spreadLeaves(k).slice(0, workers + 1);
  const spec = fatTree({
    name: o.name,
    k,
    controlPlanes: [cp!],
    workers: rest,
    encapsulation: "none",
    cluster: { name: o.cluster ?? o.name, apiThroughNetwork: true, ...(o.image ? { image: o.image } : {}) },
  });
  const hosts = new Set(spec.devices.filter((d) => d.kind === "host").map((d) => d.name));
  return {
    ...spec,
    devices: spec.devices.filter((d) => !hosts.has(d.name)),
    links: spec.links.filter((l) => !l.endpoints.some((e) => hosts.has(e))),
  };
}

/** The edge router a node hangs off, and the fat-tree pod it is in ("edge3_1", 3). */
export function edgeOf(spec: TopologySpec, node: string): { edge: string; pod: number } {
  const edge = spec.links.find((l) => l.endpoints[1] === node)!.endpoints[0];
  return { edge, pod: Number(/^edge(\d+)_/.exec(edge)![1]) };
}

export default fatTreeCluster(6, { name: "fat-tree-cluster" });
