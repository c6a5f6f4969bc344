/**
 * Programmable devices on the Kubernetes path, with Kind-compatible fixture nodes: Open vSwitch
 * (real: Debian's openvswitch-switch, userspace datapath) between two nodes, forwarding NORMAL,
 * then cut for exactly one pod by an OpenFlow rule; flows the topology gives that ovs-ofctl
 * rejects roll the lab back with the device and field named.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { up as upTopology } from "../../src/app/up.js";
import { loadTopologyYaml } from "../../src/topology/yaml.js";
import type { TopologySpec } from "../../src/model/spec.js";
import { IMAGE_MAP, ROOT, ensureTestEnv } from "../support/env.js";
import { FixtureProvider } from "../support/fixture.js";
import { dropOnePodExperiment, fixturePods, flowPackets } from "../support/ovs.js";
import { assertNothingLeft, hostLinks, kinda, kindaOk, stateDir } from "../support/kinda.js";

process.env["KINDA_STATE_DIR"] = stateDir;
let linksBefore: string[];
before(() => {
  ensureTestEnv();
  linksBefore = hostLinks();
});

describe("Open vSwitch on the path between two Kubernetes nodes (examples/ovs.yaml)", () => {
  it("forwards NORMAL; a drop rule for one pod stops exactly that traffic and counts it; deleting it restores", async () => {
    const provider = new FixtureProvider("kfxovs");
    const y = loadTopologyYaml(join(ROOT, "examples", "ovs.yaml"));
    const lab = y.spec.name;
    const h = await upTopology(y.spec, { provider, imageMap: IMAGE_MAP, where: y.where });
    try {
      await dropOnePodExperiment({ lab, device: "sw", bridge: "br0" }, fixturePods(provider));
      // the topology's flow is in place, as ovs-ofctl shows it
      assert.equal((await flowPackets({ lab, device: "sw", bridge: "br0" }, "priority=10,arp")).length, 1, "the topology's flow was added");

      const st = await kindaOk("status", lab);
      assert.match(st, /sw .*ovs-switch/, "status says what sw is");
      const logs = await kindaOk("logs", lab, "sw");
      assert.match(logs, /bridge br0|ovs-vswitchd/, "kinda logs shows ovs-vswitchd's log");
    } finally {
      await h.down();
      await provider.delete();
    }
    await assertNothingLeft(lab, linksBefore);
  });

  it("a flow ovs-ofctl rejects: the error names the device and the flow, and nothing stays", async () => {
    const spec: TopologySpec = {
      name: "t-ovs-bad",
      devices: [
        { name: "h1", kind: "host" },
        { name: "sw", kind: "ovs-switch", flows: ["priority=10,arp,actions=NORMAL", "priority=20,ip,actions=frobnicate"] },
      ],
      links: [{ endpoints: ["h1", "sw"] }],
    };
    await assert.rejects(upTopology(spec, { imageMap: IMAGE_MAP }), (e: Error) => {
      assert.match(e.message, /device sw/);
      assert.match(e.message, /flows\[1\]/);
      assert.match(e.message, /frobnicate/);
      return true;
    });
    await assertNothingLeft("t-ovs-bad", linksBefore);
    assert.notEqual((await kinda("status", "t-ovs-bad")).code, 0);
  });
});
