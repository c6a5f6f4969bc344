/**
 * Smart NICs on Kubernetes nodes' links (examples/nic.yaml), with Kind-compatible fixture nodes:
 * a container sharing the node's network namespace, between the node's outer interface (to its
 * device) and the one its address and routes use, so every packet of the node crosses it.
 *  - Open vSwitch (real: Debian's openvswitch-switch, userspace datapath) as w1's NIC: NORMAL,
 *    then an OpenFlow drop rule for one pod's address stops exactly that traffic and counts it.
 *  - BMv2 as w1's NIC with the STAND-IN image kinda-test/p4-standin (no BMv2 can be had here):
 *    its simple_switch records its arguments and joins the ports with tc mirred (a hub, not a P4
 *    program). The test asserts what kinda passed and that the pods' traffic crosses its ports.
 *  - Flows ovs-ofctl rejects on a NIC: the error names the NIC and the field; nothing stays.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { up as upTopology } from "../../src/app/up.js";
import { loadTopologyYaml } from "../../src/topology/yaml.js";
import type { TopologySpec } from "../../src/model/spec.js";
import { IMAGE_MAP, P4_IMAGE, ROOT, ensureTestEnv } from "../support/env.js";
import { FixtureProvider } from "../support/fixture.js";
import { dropOnePodExperiment, fixturePods, flowPackets, podPings } from "../support/ovs.js";
import { STANDIN, compileExample, counter } from "../support/p4.js";
import { assertNothingLeft, hostLinks, kinda, kindaOk, stateDir } from "../support/kinda.js";

process.env["KINDA_STATE_DIR"] = stateDir;
let linksBefore: string[];
before(() => {
  ensureTestEnv();
  linksBefore = hostLinks();
});

describe("Open vSwitch as a Kubernetes node's smart NIC (examples/nic.yaml)", () => {
  it("forwards NORMAL; a drop rule for one pod stops exactly that traffic and counts it; deleting it restores", async () => {
    const provider = new FixtureProvider("kfxnic");
    const y = loadTopologyYaml(join(ROOT, "examples", "nic.yaml"));
    const lab = y.spec.name;
    const h = await upTopology(y.spec, { provider, imageMap: IMAGE_MAP, where: y.where });
    try {
      await dropOnePodExperiment({ lab, device: "w1-nic", bridge: "br-nic" }, fixturePods(provider));
      // the NIC is on the path: its ports are the bridge's, the node keeps its address on eth1
      const ports = await kindaOk("exec", "--lab", lab, "w1-nic", "--", "ovs-vsctl", "list-ports", "br-nic");
      assert.deepEqual(ports.trim().split("\n").sort(), ["knic-in", "knic-out"]);
      const addr = await kindaOk("exec", "--lab", lab, "w1-nic", "--", "ip", "-4", "-o", "addr", "show", "dev", "eth1");
      assert.match(addr, /10\.0\.1\.2\/24/, "the node's address stays on its own interface");
      const at = { lab, device: "w1-nic", bridge: "br-nic" };
      assert.equal((await flowPackets(at, "priority=10,arp")).length, 1, "the topology's flow was added");

      const st = await kindaOk("status", lab);
      assert.match(st, /w1-nic +running +nic ovs .* between w1 and r1, bridge br-nic/, st);
      const logs = await kindaOk("logs", lab, "w1-nic");
      assert.match(logs, /br-nic|ovs-vswitchd/, "kinda logs shows the NIC's ovs-vswitchd log");
      const dot = await kindaOk("graph", lab, "-f", "dot");
      assert.match(dot, /"w1-nic" \[shape=component/, "the graph draws the NIC");
      assert.match(dot, /"r1" -- "w1-nic"/);
      assert.match(dot, /"w1-nic" -- "w1"/);
    } finally {
      await h.down();
      await provider.delete();
    }
    await assertNothingLeft(lab, linksBefore);
  });

  it("a flow ovs-ofctl rejects on a NIC: the error names the NIC and the field, and nothing stays", async () => {
    const y = loadTopologyYaml(join(ROOT, "examples", "nic.yaml"));
    const spec: TopologySpec = { ...y.spec, name: "t-nic-bad" };
    spec.links[0]!.nic = { kind: "ovs", flows: ["priority=10,arp,actions=NORMAL", "priority=20,ip,actions=frobnicate"] };
    const provider = new FixtureProvider("kfxnicb");
    try {
      await assert.rejects(upTopology(spec, { provider, imageMap: IMAGE_MAP }), (e: Error) => {
        assert.match(e.message, /w1-nic/);
        assert.match(e.message, /links\[0\]\.nic\.flows\[1\]/);
        assert.match(e.message, /frobnicate/);
        return true;
      });
    } finally {
      await provider.delete();
    }
    await assertNothingLeft("t-nic-bad", linksBefore);
    assert.notEqual((await kinda("status", "t-nic-bad")).code, 0);
  });
});

describe(`BMv2 as a Kubernetes node's smart NIC (image ${P4_IMAGE}${STANDIN ? ": a STAND-IN, not BMv2" : ""})`, () => {
  it("runs the switch with -i 0@knic-out -i 1@knic-in and the program; pod traffic crosses its ports", async (t) => {
    if (!STANDIN) t.diagnostic(`real BMv2 (${P4_IMAGE}): the program joins the ports; the stand-in's records are not checked`);
    // examples/p4/nic_filter.p4, compiled by the image's p4c (the stand-in's writes BMv2-shaped JSON)
    const program = join(await compileExample("nic_filter"), "nic_filter.json");
    const y = loadTopologyYaml(join(ROOT, "examples", "nic.yaml"));
    const entry = "table_add MyIngress.acl MyIngress.drop 10.244.9.9 =>";
    const spec: TopologySpec = { ...y.spec, name: "t-nic-p4" };
    spec.links[0]!.nic = { kind: "p4", program, cli: [entry] };
    const provider = new FixtureProvider("kfxnicp4");
    const h = await upTopology(spec, { provider, imageMap: IMAGE_MAP });
    const lab = spec.name;
    try {
      if (STANDIN) {
        const args = await kindaOk("exec", "--lab", lab, "w1-nic", "--", "cat", "/var/log/kinda-p4-standin/args");
        assert.equal(
          args.trim().split("\n").join(" "),
          "/usr/local/bin/simple_switch --device-id 0 -i 0@knic-out -i 1@knic-in --thrift-port 9090 --log-console --log-level info /kinda-p4/program.json",
          "the stand-in recorded BMv2's command line: port 0 the outer interface, port 1 the inner one",
        );
        const cli = await kindaOk("exec", "--lab", lab, "w1-nic", "--", "cat", "/var/log/kinda-p4-standin/cli");
        assert.deepEqual(cli.trim().split("\n"), [entry], "the CLI got the topology's entry");
      }
      // what the NIC sends on each port: the kernel sends nothing there (no address, no IPv6)
      const txOut = await counter(lab, "w1-nic", "knic-out", "tx_packets");
      const txIn = await counter(lab, "w1-nic", "knic-in", "tx_packets");
      assert.equal(podPings(provider, "c1", 0, provider.podIp("w1", 0), 30), 30, "c1's pod reaches w1's pod through the NIC");
      assert.ok((await counter(lab, "w1-nic", "knic-in", "tx_packets")) - txIn >= 30, "the requests left port 1 toward the node");
      assert.ok((await counter(lab, "w1-nic", "knic-out", "tx_packets")) - txOut >= 30, "the replies left port 0 toward the device");
      assert.match(await kindaOk("status", lab), /w1-nic +running +nic p4 /);
      assert.match(await kindaOk("logs", lab, "w1-nic"), /stand-in switch|simple_switch|Thrift/);
    } finally {
      await h.down();
      await provider.delete();
    }
    await assertNothingLeft(lab, linksBefore);
  });
});
