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

  it("deploy-time shaping (recorded under its collision domain's name) counts, found by the interface it shapes", () => {
    // what engine/live.ts shapeAtDeploy records for a YAML link `tc` between r1 and r2 (domain "core")
    const deployed = lab({
      cuts: [],
      shaping: [
        { key: "netns:kinda-t/v-r1-0", endpoint: "core", direction: "r1 -> r2", shaping: { rate: "20mbit", latency: "30ms" } },
        { key: "netns:kinda-t/v-r2-0", endpoint: "core", direction: "r2 -> r1", shaping: { rate: "20mbit", latency: "30ms" } },
      ],
    });
    assert.deepEqual(cost(deployed, "r1", "r2"), { destination: "r2", networkCost: 3 }, "the 3-hop detour beats 1 + 30 ms");
    const onOtherLink = lab({
      cuts: [],
      shaping: [{ key: "netns:kinda-t/v-x-1", endpoint: "xy", direction: "x -> y", shaping: { rate: "5mbit", latency: "30ms" } }],
    });
    assert.deepEqual(cost(onOtherLink, "r1", "r2"), { destination: "r2", networkCost: 1 }, "shaping elsewhere leaves r1--r2 alone");
  });

  it("nodes in two regions (fat-tree pods) get region costs too: the cheapest pair of their zones", () => {
    const st = lab();
    st.devices.push({
      ...st.devices[4]!,
      name: "edge2_1",
      container: "kinda-t-edge2_1",
      interfaces: [{ name: "eth0", domain: "r1e", hostIf: "v-e2-0" }],
    });
    st.devices[0]!.interfaces.push({ name: "eth2", domain: "r1e", hostIf: "v-r1-2" });
    st.cluster!.nodes.push({ name: "w4", role: "worker", k8sName: "c-worker3", container: "c-worker3" } as never);
    st.cluster!.links!.push({ node: "w4", device: "edge2_1", nodeAddress: "10.0.4.2/24", nodeIf: "eth1", deviceIf: "eth9" });
    const list = networkTopologySpec(st).weights[0]!.topologyList;
    assert.deepEqual(
      list.find((t) => t.topologyKey === REGION),
      {
        topologyKey: REGION,
        originList: [
          { origin: "pod1", costList: [{ destination: "pod2", networkCost: 3 }] },
          { origin: "pod2", costList: [{ destination: "pod1", networkCost: 3 }] },
        ],
      },
      "edge1_1 -- r2 -- r1 -- edge2_1",
    );
    assert.equal(networkTopologySpec(lab()).weights[0]!.topologyList.length, 1, "one region: zones only");
  });

  it("tc rates in bits per second", () => {
    assert.equal(rateBits("10mbit"), 1e7);
    assert.equal(rateBits("1mbps"), 8e6);
    assert.equal(rateBits("fast"), undefined);
  });
});
