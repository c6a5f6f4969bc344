/** The network published to the cluster: node labels from where nodes are linked, zone-to-zone costs over the links that carry traffic. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_COST, networkTopologySpec, nodePlaces, rateBits, REGION, ZONE } from "../../../src/app/k8s-topology.js";
import type { LabState } from "../../../src/state/store.js";

/** r1 -- core -- r2, a longer detour r1 -- x -- y -- r2; w1 on r1, w2 on r2, w3 on edge1_1 (a fat-tree name) behind r2. */
function lab(live: LabState["live"] = { cuts: [], shaping: [] }): LabState {
  const dev = (name: string, ifs: [string, string][]) => ({
    name,
    container: `kinda-t-${name}`,
    image: "i",
    shell: "sh",
    interfaces: ifs.map(([n, domain], i) => ({ name: n, domain, hostIf: `v-${name}-${i}` })),
  });
  return {
    version: 1,
    name: "t",
    kind: "yaml",
    netns: "kinda-t",
    phase: "up",
    createdAt: "",
    updatedAt: "",
    warnings: [],
    domains: [],
    devices: [
      dev("r1", [
        ["eth0", "core"],
        ["eth1", "rx"],
      ]),
      dev("r2", [
        ["eth0", "core"],
        ["eth1", "yr"],
        ["eth2", "re"],
      ]),
      dev("x", [
        ["eth0", "rx"],
        ["eth1", "xy"],
      ]),
      dev("y", [
        ["eth0", "xy"],
        ["eth1", "yr"],
      ]),
      dev("edge1_1", [["eth0", "re"]]),
    ],
    cluster: {
      provider: "kind",
      name: "c",
      providerOptions: {},
      phase: "up",
      encapsulation: "none",
      hostLinks: [],
      nodes: [
        { name: "w1", role: "worker", k8sName: "c-worker", container: "c-worker" },
        { name: "w2", role: "worker", k8sName: "c-worker2", container: "c-worker2" },
        { name: "w3", role: "control-plane", k8sName: "c-control-plane", container: "c-control-plane" },
      ],
      links: [
        { node: "w1", device: "r1", nodeAddress: "10.0.1.2/24", nodeIf: "eth1", deviceIf: "eth9" },
        { node: "w2", device: "r2", nodeAddress: "10.0.2.2/24", nodeIf: "eth1", deviceIf: "eth9" },
        { node: "w3", device: "edge1_1", nodeAddress: "10.0.3.2/24", nodeIf: "eth1", deviceIf: "eth9" },
      ],
    },
    ...(live ? { live } : {}),
  } as LabState;
}

const cost = (st: LabState, from: string, to: string) =>
  networkTopologySpec(st)
    .weights[0]!.topologyList[0]!.originList.find((o) => o.origin === from)!
    .costList.find((c) => c.destination === to)!;

describe("network topology for schedulers", () => {
  it("labels each node with its lab, device and zone (its device); a fat-tree edge router's pod is the region", () => {
    const p = nodePlaces(lab());
    assert.deepEqual(p.find((x) => x.k8sName === "c-worker")!.labels, { "kinda.dev/lab": "t", "kinda.dev/device": "r1", [ZONE]: "r1" });
    assert.equal(p.find((x) => x.k8sName === "c-control-plane")!.labels[REGION], "pod1");
    assert.equal(p.find((x) => x.k8sName === "c-worker")!.labels[REGION], undefined);
  });

  it("costs are hops over the cheapest path; shaping adds its latency and caps the bandwidth; a cut takes the detour; a partition costs the maximum", () => {
    assert.deepEqual(cost(lab(), "r1", "r2"), { destination: "r2", networkCost: 1 });
    assert.deepEqual(cost(lab(), "r1", "edge1_1"), { destination: "edge1_1", networkCost: 2 });
    const shaped = lab({
      cuts: [],
      shaping: [{ key: "k", endpoint: "r1--r2", direction: "both", shaping: { rate: "10mbit", latency: "1ms" } }],
    });
    assert.deepEqual(cost(shaped, "r1", "r2"), { destination: "r2", networkCost: 2, bandwidthCapacity: "10000000" });
    const slow = lab({
      cuts: [],
      shaping: [{ key: "k", endpoint: "r1:eth0", direction: "both", shaping: { rate: "1mbit", latency: "50ms" } }],
    });
    assert.deepEqual(cost(slow, "r1", "r2"), { destination: "r2", networkCost: 3 }, "the detour (3 hops) is cheaper than 1 + 50 ms");
    const cut = lab({ cuts: [{ key: "netns:kinda-t/v-r1-0", endpoint: "r1--r2", how: "carrier" }], shaping: [] });
    assert.deepEqual(cost(cut, "r1", "r2"), { destination: "r2", networkCost: 3 });
    const split = lab({
      cuts: [
        { key: "netns:kinda-t/v-r1-0", endpoint: "r1--r2", how: "carrier" },
        { key: "netns:kinda-t/v-r1-1", endpoint: "r1--x", how: "carrier" },
      ],
      shaping: [],
    });
    assert.deepEqual(cost(split, "r1", "r2"), { destination: "r2", networkCost: MAX_COST });
  });

  it("tc rates in bits per second", () => {
    assert.equal(rateBits("10mbit"), 1e7);
    assert.equal(rateBits("1mbps"), 8e6);
    assert.equal(rateBits("fast"), undefined);
  });
});
