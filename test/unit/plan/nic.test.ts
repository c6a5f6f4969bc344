/**
 * Smart NICs on nodes' links, pure parts: what the topology compiles a `nic` to (the data plane's
 * command lines over the NIC's two ports), the node-side plumbing the cluster planner makes for
 * it, the NIC's container, and bad input refused at its field.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { formatIssue, TopologyError } from "../../../src/core/errors.js";
import type { DeviceFacts, NodeLink } from "../../../src/model/cluster.js";
import type { TopologySpec } from "../../../src/model/spec.js";
import { planCluster, validateLinks } from "../../../src/plan/cluster.js";
import { nicContainerSpec } from "../../../src/plan/cluster/nic.js";
import { serviceArgv, sysctlArgs } from "../../../src/plan/ops.js";
import { nodeLinkMac } from "../../../src/core/names.js";
import { compileNic } from "../../../src/topology/programmable.js";
import { graphFromSpec, toDot, toMermaid, toSvg } from "../../../src/app/graph.js";
import { compile } from "../../support/compile.js";
import { fakeNodes, findStep } from "../../support/facts.js";

const devices: DeviceFacts[] = [{ name: "r1", container: "kinda-l-r1", pid: 50, interfaces: ["lo", "eth0"] }];

function bmv2Json(): string {
  const dir = mkdtempSync(join(tmpdir(), "kinda-nic-unit-"));
  const p = join(dir, "nic.json");
  writeFileSync(p, JSON.stringify({ header_types: [], parsers: [], deparsers: [], pipelines: [], actions: [] }));
  return p;
}

function spec(nic: NonNullable<TopologySpec["links"][number]["nic"]>, onLink = 0): TopologySpec {
  return {
    name: "n",
    routing: "static",
    devices: [
      { name: "r1", kind: "router" },
      { name: "r2", kind: "router" },
      { name: "w1", kind: "worker" },
      { name: "c1", kind: "control-plane" },
    ],
    links: [
      { endpoints: ["r1", "w1"], addresses: ["10.0.1.1/24", "10.0.1.2/24"] },
      { endpoints: ["r1", "c1"], addresses: ["10.0.2.1/24", "10.0.2.2/24"] },
      { endpoints: ["r1", "r2"], addresses: ["10.0.3.1/24", "10.0.3.2/24"] },
    ].map((l, i) => (i === onLink ? { ...l, nic } : l)) as TopologySpec["links"],
  };
}

const issues = (f: () => unknown): string[] => {
  try {
    f();
  } catch (e) {
    if (e instanceof TopologyError) return e.issues.map(formatIssue);
    throw e;
  }
  return [];
};

describe("a link's nic, compiled", () => {
  it("ovs: Open vSwitch over knic-out (OpenFlow 1) and knic-in (2) on bridge br-nic, flows named by their link", () => {
    const c = compile(spec({ kind: "ovs", flows: ["priority=10,arp,actions=NORMAL"] }));
    const nic = c.nodeLinks.find((l) => l.node === "w1")!.nic!;
    assert.equal(nic.kind, "ovs");
    assert.equal(nic.image, "kathara/sdn");
    assert.deepEqual(nic.hostDevices, ["/dev/net/tun"]);
    const lines = nic.services.map((s) => serviceArgv(s).join(" "));
    assert.ok(lines.includes("ovs-vsctl add-br br-nic -- set bridge br-nic datapath_type=netdev fail_mode=standalone"), lines.join("\n"));
    assert.ok(lines.includes("ovs-vsctl add-port br-nic knic-out -- set interface knic-out ofport_request=1"));
    assert.ok(lines.includes("ovs-vsctl add-port br-nic knic-in -- set interface knic-in ofport_request=2"));
    assert.ok(!lines.some((l) => l.startsWith("ip link set br-nic")), "the NIC's internal port stays down");
    const flow = nic.services.find((s) => serviceArgv(s)[0] === "ovs-ofctl")!;
    assert.deepEqual(serviceArgv(flow), ["ovs-ofctl", "add-flow", "br-nic", "priority=10,arp,actions=NORMAL"]);
    assert.equal(flow.field, "links[0].nic.flows[0]");
    // the other node's link has none
    assert.equal(c.nodeLinks.find((l) => l.node === "c1")!.nic, undefined);
  });

  it("ovs with a controller: the bridge is secure and the controller set", () => {
    const nic = compileNic({ kind: "ovs", controller: "tcp:192.0.2.10:6653" });
    const lines = nic.services.map((s) => serviceArgv(s).join(" "));
    assert.ok(lines.some((l) => l.includes("fail_mode=secure")));
    assert.ok(lines.includes("ovs-vsctl set-controller br-nic tcp:192.0.2.10:6653"));
  });

  it("p4: BMv2 with -i 0@knic-out -i 1@knic-in, the program mounted read-only, the CLI entries staged", () => {
    const program = bmv2Json();
    const nic = compileNic({ kind: "p4", program, cli: ["table_add MyIngress.acl MyIngress.drop 10.244.1.5 =>"] }, "links[0].nic");
    assert.equal(nic.image, "kathara/p4");
    const start = serviceArgv(nic.services[0]!);
    assert.deepEqual(start.slice(4), [
      "simple_switch",
      "--device-id",
      "0",
      "-i",
      "0@knic-out",
      "-i",
      "1@knic-in",
      "--thrift-port",
      "9090",
      "--log-console",
      "--log-level",
      "info",
      "/kinda-p4/program.json",
    ]);
    assert.equal(nic.services[0]!.field, "links[0].nic.program");
    assert.deepEqual(nic.volumes, [{ host: program, guest: "/kinda-p4/program.json", readOnly: true }]);
    assert.deepEqual(nic.stageFiles, [{ name: "p4-cli.txt", text: "table_add MyIngress.acl MyIngress.drop 10.244.1.5 =>\n" }]);
    assert.equal(nic.services.at(-1)!.field, "links[0].nic.cli");
    // every step runs once the NIC's container is up (its ports exist by then)
    assert.ok(nic.services.every((s) => (s.after ?? "network") === "network"));
    const grpc = compileNic({ kind: "p4", program, grpc: true });
    assert.equal(serviceArgv(grpc.services[0]!)[4], "simple_switch_grpc");
    assert.deepEqual(serviceArgv(grpc.services[0]!).slice(-3), ["--", "--grpc-server-addr", "0.0.0.0:9559"]);
  });
});

describe("a nic that cannot be: refused at its field before anything is created", () => {
  it("on a link between devices, on the load balancer's link (API), unknown kind, fields of the other kind", () => {
    assert.deepEqual(
      issues(() => compile(spec({ kind: "ovs" }, 2))),
      ["[links.2.nic]: a NIC sits on a Kubernetes node's link; r1--r2 joins no Kubernetes node"],
    );
    assert.deepEqual(
      issues(() => compile(spec({ kind: "smart" as "ovs" }))),
      ['[links.0.nic.kind]: "smart" is not a NIC kind (ovs: Open vSwitch, p4: BMv2)'],
    );
    assert.deepEqual(
      issues(() => compile(spec({ kind: "ovs", program: "x.json", cli: ["a"] }))),
      ["[links.0.nic.program]: program, cli belong to P4 NICs (kind: p4), not to a NIC of kind ovs"],
    );
    assert.deepEqual(
      issues(() => compile(spec({ kind: "p4" }))),
      ["[links.0.nic]: a P4 NIC needs program: its compiled program (BMv2 JSON, from p4c --target bmv2)"],
    );
    assert.deepEqual(
      issues(() => compile(spec({ kind: "ovs", flows: ["a\nb"], controller: "http://x" }))),
      [
        '[links.0.nic.controller]: "http://x" is not an OpenFlow controller address (tcp:IP:PORT, ssl:IP:PORT)',
        "[links.0.nic.flows.0]: a flow is one line",
      ],
    );
    const lb = validateLinks({
      lab: "l",
      nodeNames: ["n0"],
      deviceNames: ["r1"],
      loadBalancer: true,
      options: {},
      links: [{ node: "load-balancer", device: "r1", nodeAddress: "10.0.9.2/24", nic: compileNic({ kind: "ovs" }) }],
    }).map(formatIssue);
    assert.ok(
      lb.some((m) => m.includes("a smart NIC sits on a Kubernetes node's link, not on the load balancer's")),
      lb.join("\n"),
    );
  });

  it("a P4 NIC's program that does not exist; P4 source accepted", () => {
    const dir = mkdtempSync(join(tmpdir(), "kinda-nic-bad-"));
    const missing = join(dir, "nope.json");
    const [one, ...more] = issues(() => compile(spec({ kind: "p4", program: missing })));
    assert.deepEqual(more, []);
    assert.ok(
      one!.startsWith(`[links.0.nic.program]: the NIC of r1--w1: ${missing} does not exist; compile the program first: p4c --target bmv2`),
      one,
    );
    const src = join(dir, "prog.p4");
    writeFileSync(src, "control X() {}");
    // P4 source is compiled in the NIC by its image's p4c; one that is missing is refused
    compile(spec({ kind: "p4", program: src }));
    assert.match(
      issues(() => compile(spec({ kind: "p4", program: join(dir, "nope.p4") })))[0]!,
      /links\.0\.nic\.program.*nope\.p4 does not exist$/,
    );
  });
});

describe("a node's link through its NIC, planned", () => {
  const nic = compileNic({ kind: "ovs" });
  const link: NodeLink = { node: "n0", device: "r1", nodeAddress: "10.0.1.2/24", deviceAddress: "10.0.1.1/24", defaultRoute: true, nic };
  const plan = planCluster({ lab: "l", links: [link], nodes: fakeNodes(1), devices, options: { encapsulation: "none" } });

  it("the outer veth goes to the device; the node keeps its address and routes on eth1, whose peer knic-in is the NIC's", () => {
    const n = findStep(plan, (s) => s.label === "node n0")!;
    assert.deepEqual(n.ip.slice(0, 6), [
      "link add knic-out mtu 1500 type veth peer name eth1 mtu 1500 netns 50",
      `link add eth1 address ${nodeLinkMac("l", "n0", "device r1", "eth1")} mtu 1500 type veth peer name knic-in mtu 1500`,
      "link set knic-out up",
      "link set knic-in up",
      "addr add 10.0.1.2/24 dev eth1",
      "link set eth1 up",
    ]);
    assert.ok(n.ip.includes("route replace default via 10.0.1.1 dev eth1"), n.ip.join("\n"));
    assert.ok(!n.ip.some((l) => /addr add .* dev knic/.test(l)), "no address on the NIC's ports");
    // the NIC's ports are not the kernel's: no forwarding, strict rp_filter, no ARP answers, no IPv6
    assert.deepEqual(n.sysctl.slice(0, 1), [
      [
        "-w",
        "net/ipv4/conf/knic-out/rp_filter=1",
        "net/ipv4/conf/knic-out/forwarding=0",
        "net/ipv4/conf/knic-out/arp_ignore=8",
        "net/ipv6/conf/knic-out/disable_ipv6=1",
      ],
    ]);
    assert.deepEqual(sysctlArgs({ op: "nic-port", dev: "knic-in" })[1], "net/ipv4/conf/knic-in/rp_filter=1");
    assert.deepEqual(
      n.ethtool.map((a) => a[1]),
      ["knic-out", "knic-in", "eth1"],
      "full checksums on the NIC's ports and the node's interface",
    );
    // the device's end is the device's, recorded for removal as without a NIC
    assert.deepEqual(plan.linkIfs, [{ node: "n0", nodeIf: "eth1", deviceIf: "eth1" }]);
    assert.deepEqual(plan.nics, [{ node: "n0", nic }]);
  });

  it("a node without a NIC keeps the single veth", () => {
    const { nic: _nic, ...plain } = link;
    const p = planCluster({ lab: "l", links: [plain], nodes: fakeNodes(1), devices, options: {} });
    const n = findStep(p, (s) => s.label === "node n0")!;
    assert.equal(
      n.ip[0],
      `link add eth1 address ${nodeLinkMac("l", "n0", "device r1", "eth1")} mtu 1500 type veth peer name eth1 mtu 1500 netns 50`,
    );
    assert.deepEqual(p.nics, []);
  });

  it("the NIC's container: in the node's namespace, the device's capabilities, labelled, image mapped, files mounted", () => {
    const p4 = compileNic({ kind: "p4", program: "/x/prog.json", cli: ["table_add t a 1 =>"] });
    const c = nicContainerSpec({
      lab: "l",
      node: "w1",
      nodeContainer: "abc123",
      nic: p4,
      imageMap: { "kathara/p4": "kinda-test/p4-standin" },
      stageDir: "/state/l/devices/w1-nic",
    });
    assert.equal(c.name, "kinda-l-w1-nic");
    assert.equal(c.network, "container:abc123");
    assert.equal(c.image, "kinda-test/p4-standin");
    assert.equal(c.privileged, false);
    assert.ok(c.capAdd.includes("NET_ADMIN") && c.capAdd.includes("NET_RAW"));
    assert.deepEqual(c.labels, { "kinda.managed-by": "kinda", "kinda.lab": "l", "kinda.device": "w1-nic", "kinda.nic": "w1" });
    assert.deepEqual(c.mounts, [
      { source: "/x/prog.json", target: "/kinda-p4/program.json", readOnly: true },
      { source: "/state/l/devices/w1-nic", target: "/var/lib/kinda", readOnly: true },
    ]);
    assert.deepEqual(c.ports, []);
    const ovs = nicContainerSpec({ lab: "l", node: "w1", nodeContainer: "abc123", nic: compileNic({ kind: "ovs" }) });
    assert.deepEqual(ovs.devices, ["/dev/net/tun"]);
  });
});

describe("kinda graph with NICs", () => {
  it("draws the NIC between the node and its device, in its own shape", () => {
    const g = graphFromSpec(spec({ kind: "ovs" }));
    assert.deepEqual(
      g.nodes.find((n) => n.id === "w1-nic"),
      { id: "w1-nic", kind: "nic", label: "w1-nic (ovs)" },
    );
    assert.ok(g.edges.some((e) => e.a === "r1" && e.b === "w1-nic" && e.labelA === "10.0.1.1/24"));
    assert.ok(g.edges.some((e) => e.a === "w1-nic" && e.b === "w1" && e.labelB === "10.0.1.2/24"));
    assert.ok(!g.edges.some((e) => e.a === "r1" && e.b === "w1"), "no direct edge any more");
    assert.match(toDot(g), /"w1-nic" \[shape=component/);
    assert.match(toMermaid(g), /w1_nic>"w1-nic \(ovs\)<br\/><small>nic<\/small>"\]/);
    assert.match(toSvg(g), /data-kind="nic"/);
  });
});
