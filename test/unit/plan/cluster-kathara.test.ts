/** A node linked into a collision domain of a lab Kathara started: the domain's bridge is in the host namespace. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hostLinkPrefix } from "../../../src/core/names.js";
import { planCluster } from "../../../src/plan/cluster.js";
import { ClusterBuilder } from "../../../src/engine/cluster.js";
import type { ClusterProvider } from "../../../src/model/provider.js";
import type { Runtime } from "../../../src/model/container.js";
import type { Kernel } from "../../../src/model/kernel.js";
import type { StateStore } from "../../../src/state/store.js";
import { fakeNodes, findStep } from "../../support/facts.js";

describe("cluster plan on a Kathara lab", () => {
  it("the node's veth peer goes to the host namespace, named by the lab's host-link prefix, onto the kt- bridge", () => {
    const p = planCluster({
      lab: "kl",
      links: [
        { node: "n0", domain: "A", nodeAddress: "10.1.0.5/24", gateway: "10.1.0.1", defaultRoute: true },
        { node: "n1", device: "r1", nodeAddress: "10.2.0.2/24", deviceAddress: "10.2.0.1/24" },
      ],
      nodes: fakeNodes(2),
      devices: [{ name: "r1", container: "kathara_u_r1_h", pid: 50, interfaces: ["lo", "eth0", "eth1"] }],
      options: {},
      labNetns: "",
      domains: [{ name: "A", bridge: "kt-0123456789ab" }],
      domainsInHost: true,
    });
    const peer = `${hostLinkPrefix("kl")}-d0`;
    const host = findStep(p, (s) => "host" in s.ns && s.label.includes("collision domains"));
    assert.deepEqual(host?.ip, [`link set ${peer} master kt-0123456789ab up`]);
    const node = findStep(p, (s) => "pid" in s.ns && s.label.includes("n0"));
    assert.ok(
      node?.ip.some((l) => l.includes(`type veth peer name ${peer}`) && l.endsWith("netns 1")),
      node?.ip.join("\n"),
    );
    // the device link is as in kinda's own labs: the next free ethN of the Kathara device
    const n1 = findStep(p, (s) => "pid" in s.ns && s.label.includes("n1"));
    assert.ok(
      n1?.ip.some((l) => l.includes("peer name eth2") && l.endsWith("netns 50")),
      n1?.ip.join("\n"),
    );
  });

  it("the builder plans it so when the lab's state says Kathara started it", () => {
    const provider = { kind: "fake", name: "k" } as unknown as ClusterProvider;
    const deps = { runtime: {} as Runtime, store: {} as StateStore, kernel: {} as Kernel };
    const b = new ClusterBuilder("kl", provider, {}, deps).connect({ node: "n0", domain: "A", nodeAddress: "10.1.0.5/24" });
    const domains = [{ name: "A", bridge: "kt-0123456789ab" }];
    const p = b.plan(fakeNodes(1), [], { netns: "", domains, external: { manager: "kathara", hash: "h", user: "u" } });
    const host = findStep(p, (s) => "host" in s.ns && s.label.includes("collision domains"));
    assert.deepEqual(host?.ip, [`link set ${hostLinkPrefix("kl")}-d0 master kt-0123456789ab up`]);
  });
});
