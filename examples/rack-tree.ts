/**
 * A tree for Kubernetes at scale: a core router, racks of routers under it, one control plane and
 * N workers spread over the racks (three nodes a rack), natively routed (static routing, no
 * encapsulation) with all of Kubernetes' traffic through the network. Used by the scale test
 * (test/k8s/kind-scale.test.ts) and the bench's kind-real-N scenario.
 *
 *   sudo npx tsx -e 'import("./examples/rack-tree.ts").then(async (m) => { ... })'
 */
import type { DeviceSpec, LinkSpec, TopologySpec } from "../src/model/spec.js";

export const NODES_PER_RACK = 3;

/** The topology: core, racks r1..rK, control plane c1 in r1, workers w1..wN after it. */
export function rackTree(workers: number, o: { name: string; cluster?: string; image?: string }): TopologySpec {
  const nodes = ["c1", ...Array.from({ length: workers }, (_, i) => `w${i + 1}`)];
  const racks = Math.max(2, Math.ceil(nodes.length / NODES_PER_RACK));
  const devices: DeviceSpec[] = [{ name: "core", kind: "router" }];
  const links: LinkSpec[] = [];
  for (let r = 1; r <= racks; r++) {
    devices.push({ name: `r${r}`, kind: "router" });
    links.push({ endpoints: ["core", `r${r}`], addresses: [`10.1.${r}.1/24`, `10.1.${r}.2/24`] });
  }
  nodes.forEach((n, i) => {
    devices.push({ name: n, kind: i === 0 ? "control-plane" : "worker" });
    const rack = `r${Math.floor(i / NODES_PER_RACK) + 1}`;
    links.push({ endpoints: [rack, n], addresses: [`10.2.${i}.1/24`, `10.2.${i}.2/24`] });
  });
  return {
    name: o.name,
    routing: "static",
    encapsulation: "none",
    root: "core",
    cluster: { name: o.cluster ?? o.name, apiThroughNetwork: true, ...(o.image ? { image: o.image } : {}) },
    devices,
    links,
  };
}

/** The rack of each node (for checks between racks). */
export function rackOf(spec: TopologySpec, node: string): string {
  return spec.links.find((l) => l.endpoints[1] === node)!.endpoints[0];
}
