/**
 * Programmable devices on the Kubernetes path, with Kind-compatible fixture nodes: Open vSwitch
 * (real: Debian's openvswitch-switch, userspace datapath) between two nodes, forwarding NORMAL,
 * then cut for exactly one pod by an OpenFlow rule; flows the topology gives that ovs-ofctl
 * rejects roll the lab back with the device and field named.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { upTopology } from "../../src/app/topology.js";
import { loadTopologyYaml } from "../../src/topology/yaml.js";
import type { TopologySpec } from "../../src/model/spec.js";
import { IMAGE_MAP, ROOT, ensureTestEnv } from "../support/env.js";
import { FixtureProvider } from "../support/fixture.js";
import { assertNothingLeft, hostLinks, kinda, kindaOk, stateDir } from "../support/kinda.js";

process.env["KINDA_STATE_DIR"] = stateDir;
let linksBefore: string[];
before(() => {
  ensureTestEnv();
  linksBefore = hostLinks();
});

/** Pings from a pod; returns how many replies came back. */
function podPings(provider: FixtureProvider, node: string, k: number, ip: string, count: number): number {
  const r = provider.inPod(node, k, ["ping", "-c", String(count), "-i", "0.05", "-W", "1", ip]);
  const m = / (\d+) received/.exec(r.out);
  return m ? Number(m[1]) : 0;
}

/** n_packets of the flows in br0 whose text includes `match`. */
async function flowPackets(lab: string, device: string, match: string): Promise<number[]> {
  const out = await kindaOk("exec", "--lab", lab, device, "--", "ovs-ofctl", "dump-flows", "br0");
  return out
    .split("\n")
    .filter((l) => l.includes(match))
    .map((l) => Number(/n_packets=(\d+)/.exec(l)?.[1] ?? NaN));
}

describe("Open vSwitch on the path between two Kubernetes nodes (examples/ovs.yaml)", () => {
  it("forwards NORMAL; a drop rule for one pod stops exactly that traffic and counts it; deleting it restores", async () => {
    const provider = new FixtureProvider("kfxovs");
    const y = loadTopologyYaml(join(ROOT, "examples", "ovs.yaml"));
    const lab = y.spec.name;
    const h = await upTopology(y.spec, { provider, imageMap: IMAGE_MAP, where: y.where });
    try {
      const target = provider.podIp("c1", 0);
      const other = provider.podIp("c1", 1);
      assert.equal(podPings(provider, "w1", 0, target, 3), 3, "w1's pod reaches c1's first pod through the switch");
      assert.equal(podPings(provider, "w1", 0, other, 3), 3, "and c1's second pod");
      // the topology's flow is in place, as ovs-ofctl shows it
      assert.equal((await flowPackets(lab, "sw", "priority=10,arp")).length, 1, "the topology's flow was added");

      const flow = `priority=100,ip,nw_dst=${target}`;
      await kindaOk("exec", "--lab", lab, "sw", "--", "ovs-ofctl", "add-flow", "br0", `${flow},actions=drop`);
      const sent = 20;
      assert.equal(podPings(provider, "w1", 0, target, sent), 0, "no reply from the dropped pod");
      assert.equal(podPings(provider, "w1", 1, other, 5), 5, "the other pod still answers (from another pod too)");
      assert.equal(podPings(provider, "w1", 0, other, 5), 5, "and from the same pod");
      assert.deepEqual(await flowPackets(lab, "sw", `nw_dst=${target}`), [sent], "the drop flow counted every packet sent, no more");

      await kindaOk("exec", "--lab", lab, "sw", "--", "ovs-ofctl", "del-flows", "--strict", "br0", flow);
      assert.equal(podPings(provider, "w1", 0, target, 3), 3, "deleting the rule restores the traffic");

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
