import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatIssue, TopologyError } from "../../../src/core/errors.js";
import { KindProvider } from "../../../src/providers/kind.js";
import { LOAD_BALANCER, type DeviceFacts, type NodeFacts, type NodeLink } from "../../../src/model/cluster.js";
import {
  emulatedIdentity,
  handOverLoadBalancer,
  formatClusterPlan,
  formatDeviceUndo,
  planCluster,
  renderStep,
  subtractPlan,
  uplinkCidr,
  validateLinks,
  vxlanMac,
} from "../../../src/plan/cluster.js";
import { ClusterBuilder } from "../../../src/engine/cluster.js";
import type { Runtime } from "../../../src/model/container.js";
import { fakeLoadBalancer, fakeNodes, findStep } from "../../support/facts.js";
import { nthAddress, contains } from "../../../src/core/addr.js";
import { nodeLinkMac } from "../../../src/core/names.js";
import { withUpLab } from "../../support/uplab.js";
import { inOrderOf } from "../../../src/engine/cluster.js";
import { p4AddLine, p4DeleteLine, p4EntryAdd, p4FindLine, p4HandleIn, p4Inverse } from "../../../src/plan/ops.js";
import { MemoryKernel } from "../../support/memory.js";

const nodes = fakeNodes;
const devices: DeviceFacts[] = [
  { name: "r1", container: "kinda-l-r1", pid: 50, interfaces: ["lo", "eth0"] },
  { name: "r2", container: "kinda-l-r2", pid: 51, interfaces: ["lo", "eth0", "eth1"] },
];
function links(n: number): NodeLink[] {
  return Array.from({ length: n }, (_, i) => ({
    node: `n${i}`,
    device: i % 2 ? "r2" : "r1",
    nodeAddress: `10.1.${i}.2/24`,
    deviceAddress: `10.1.${i}.1/24`,
  }));
}

describe("cluster validation (up front, before anything is created)", () => {
  const base = { lab: "l", nodeNames: ["n0", "n1", "n2"], deviceNames: ["r1", "r2"] };
  const check = (x: Partial<Parameters<typeof validateLinks>[0]>) =>
    validateLinks({ ...base, links: [], options: {}, ...x }).map(formatIssue);

  it("tunnelCidr: a canonical IPv4 range with room for the tunnel endpoints", () => {
    assert.deepEqual(check({ options: { tunnelCidr: "10.1/16" } }), [
      '[tunnelCidr]: tunnelCidr "10.1/16" is not a CIDR (e.g. 100.64.0.0/16)',
    ]);
    assert.deepEqual(check({ options: { tunnelCidr: "100.64.0.0/016" } }), [
      '[tunnelCidr]: tunnelCidr "100.64.0.0/016" is not a CIDR (e.g. 100.64.0.0/16)',
    ]);
    assert.deepEqual(check({ options: { tunnelCidr: "fd00::/64" } }), [
      "[tunnelCidr]: tunnelCidr fd00::/64 is not IPv4 (tunnel endpoints are IPv4 addresses)",
    ]);
    // vxlan: 3 nodes take addresses 1..3 of 4; gre: 3 pairs take a /31 each
    assert.deepEqual(check({ options: { tunnelCidr: "100.64.0.0/30" } }), []);
    assert.deepEqual(check({ options: { tunnelCidr: "100.64.0.0/31" } }), [
      "[tunnelCidr]: tunnelCidr 100.64.0.0/31 has 2 addresses; vxlan for 3 nodes needs 4",
    ]);
    assert.deepEqual(check({ options: { tunnelCidr: "100.64.0.0/30", encapsulation: "gre" } }), [
      "[tunnelCidr]: tunnelCidr 100.64.0.0/30 has 4 addresses; gre for 3 nodes needs 6",
    ]);
    assert.deepEqual(check({ options: { tunnelCidr: "100.64.0.0/32", encapsulation: "none" } }), []);
    // a malformed range is reported, not used (it used to throw from the range comparison)
    assert.deepEqual(check({ options: { tunnelCidr: "100.64/16" }, links: [{ node: "n0", device: "r1", nodeAddress: "10.1.0.2/24" }] }), [
      '[tunnelCidr]: tunnelCidr "100.64/16" is not a CIDR (e.g. 100.64.0.0/16)',
    ]);
    assert.deepEqual(check({ podCidr: "10.244/16" }), ['[podCidr]: podCidr "10.244/16" is not a CIDR (e.g. 10.244.0.0/16)']);
  });

  it("uplinkCidr: a canonical IPv4 /30 outside the other ranges", () => {
    assert.deepEqual(check({ options: { uplinkCidr: "100.127.0.0/30" } }), []);
    assert.deepEqual(check({ options: { uplinkCidr: "100.127.0/30" } }), [
      '[uplinkCidr]: uplinkCidr "100.127.0/30" is not a CIDR (e.g. 100.127.0.0/30)',
    ]);
    assert.deepEqual(check({ options: { uplinkCidr: "100.127.0.0/31" } }), [
      "[uplinkCidr]: uplinkCidr 100.127.0.0/31 is not an IPv4 /30 (the host takes its 1st address, the gateway device its 2nd)",
    ]);
    assert.deepEqual(check({ options: { uplinkCidr: "fd00::/126" } }), [
      "[uplinkCidr]: uplinkCidr fd00::/126 is not an IPv4 /30 (the host takes its 1st address, the gateway device its 2nd)",
    ]);
    assert.deepEqual(check({ options: { uplinkCidr: "100.64.0.4/30" } }), [
      "[uplinkCidr]: uplinkCidr 100.64.0.4/30 overlaps the tunnel range 100.64.0.0/16",
    ]);
  });

  it("podRoutes: known device and node, via an address", () => {
    assert.deepEqual(check({ options: { podRoutes: [{ device: "r1", node: "n1", via: "10.1.0.2" }] } }), []);
    // equal-cost paths: several next hops, each an address
    assert.deepEqual(check({ options: { podRoutes: [{ device: "r1", node: "n1", via: ["10.1.0.2", "10.1.0.6"] }] } }), []);
    assert.deepEqual(check({ options: { podRoutes: [{ device: "r1", node: "n1", via: ["10.1.0.2", "x"] }] } }), [
      '[podRoutes[0]]: via "x" is not an address (e.g. 10.0.4.1)',
    ]);
    assert.deepEqual(check({ options: { podRoutes: [{ device: "r9", node: "zz", via: "10.0.0.01" }] } }), [
      '[podRoutes[0]]: unknown device "r9"',
      '[podRoutes[0]]: unknown Kubernetes node "zz"',
      '[podRoutes[0]]: via "10.0.0.01" is not an address (e.g. 10.0.4.1)',
    ]);
  });

  it("p4PodRoutes: known device and node, a MAC, a port, P4 names", () => {
    const r = { device: "r1", node: "n1", table: "MyIngress.ipv4_lpm", action: "MyIngress.ipv4_forward", via: "10.1.1.2" };
    assert.deepEqual(check({ options: { p4PodRoutes: [{ ...r, mac: "02:6b:00:01:00:02", port: 1 }] } }), []);
    assert.deepEqual(check({ options: { p4PodRoutes: [{ ...r, device: "r9", node: "zz", table: "a b", mac: "02:6b", port: -1 }] } }), [
      '[p4PodRoutes[0]]: unknown device "r9"',
      '[p4PodRoutes[0]]: unknown Kubernetes node "zz"',
      '[p4PodRoutes[0]]: mac "02:6b" is not a MAC address',
      '[p4PodRoutes[0]]: table "a b" is not a P4 table name',
      "[p4PodRoutes[0]]: port -1 is not a switch port number",
    ]);
  });

  it("hostRoutes and hostConnections: canonical ranges, one subnet, one family", () => {
    assert.deepEqual(check({ options: { hostRoutes: ["10.0.0.0/8", "203.0.113/24", "fd00::/8"] } }), [
      '[hostRoutes[1]]: hostRoutes entry "203.0.113/24" is not a CIDR (e.g. 203.0.113.0/24)',
      "[hostRoutes[2]]: hostRoutes entry fd00::/8 is not IPv4 (it is routed via the Kind network's IPv4 gateway)",
    ]);
    const hc = { device: "r1", hostAddress: "192.168.100.1/30", deviceAddress: "192.168.100.2/30", routes: ["10.2.0.0/16"] };
    assert.deepEqual(check({ options: { hostConnections: [hc] } }), []);
    assert.deepEqual(
      check({ options: { hostConnections: [{ ...hc, hostAddress: "192.168.100.1/030", deviceAddress: "192.168.101.2/30" }] } }),
      ['[hostConnections[0]]: hostAddress "192.168.100.1/030" is not an address with a prefix length (e.g. 192.168.100.1/30)'],
    );
    assert.deepEqual(
      check({ options: { hostConnections: [{ ...hc, deviceAddress: "192.168.101.2/30", routes: ["fd00::/8", "10.2/16"] }] } }),
      [
        "[hostConnections[0]]: hostAddress 192.168.100.1/30 and deviceAddress 192.168.101.2/30 are not in one subnet",
        "[hostConnections[0]]: routes[0] fd00::/8 is not of the family of deviceAddress 192.168.101.2/30, its next hop",
        '[hostConnections[0]]: routes[1] "10.2/16" is not a CIDR',
      ],
    );
  });

  it("links: canonical IPv4 addresses, a reachable gateway, unicast MACs", () => {
    assert.deepEqual(check({ links: [{ node: "n0", device: "r1", nodeAddress: "010.1.0.2/24", deviceAddress: "10.1.0.1/24" }] }), [
      '[links[0] (n0 -> r1)]: nodeAddress "010.1.0.2/24" is not an address with a prefix length (e.g. 10.0.4.2/24)',
    ]);
    assert.deepEqual(check({ links: [{ node: "n0", domain: "A", nodeAddress: "10.1.0.2/24", gateway: "10.1.0.01" }] }), [
      '[links[0] (n0 -> domain A)]: gateway "10.1.0.01" is not an address (e.g. 10.0.4.1)',
    ]);
    assert.deepEqual(check({ links: [{ node: "n0", domain: "A", nodeAddress: "10.1.0.2/24", gateway: "10.2.0.1" }] }), [
      "[links[0] (n0 -> domain A)]: gateway 10.2.0.1 is not in the subnet of nodeAddress 10.1.0.2/24; the node could not reach it",
    ]);
    assert.deepEqual(check({ links: [{ node: "n0", device: "r1", nodeAddress: "fd00::2/64" }] }), [
      "[links[0] (n0 -> r1)]: nodeAddress fd00::2/64 is not IPv4 (a node's link carries IPv4 routes and tunnels)",
    ]);
    assert.deepEqual(
      check({
        links: [{ node: "n0", device: "r1", nodeAddress: "10.1.0.2/24", nodeMac: "01:00:5E:00:00:01", deviceMac: "00:00:00:00:00:00" }],
      }),
      [
        '[links[0] (n0 -> r1)]: nodeMac "01:00:5E:00:00:01" is a multicast address (the lowest bit of the first octet is set); use a unicast one',
        '[links[0] (n0 -> r1)]: deviceMac "00:00:00:00:00:00" is all zeros, which no interface may have',
      ],
    );
    assert.deepEqual(check({ links: [{ node: "n0", device: "r1", nodeAddress: "10.1.0.2/24", nodeMac: "02:AA:00:00:00:01" }] }), []);
  });

  it("planCluster throws the same problems before planning anything", () => {
    assert.throws(
      () => planCluster({ lab: "l", links: links(2), nodes: nodes(2), devices, options: { tunnelCidr: "10.1/16" } }),
      (e: unknown) =>
        e instanceof TopologyError &&
        e.issues.length === 1 &&
        formatIssue(e.issues[0]!) === '[tunnelCidr]: tunnelCidr "10.1/16" is not a CIDR (e.g. 100.64.0.0/16)',
    );
  });
});

describe("cluster plan", () => {
  it("vxlan: one device per node, per-peer entries (linear), pod routes in their own table", () => {
    const p = planCluster({ lab: "l", links: links(3), nodes: nodes(3), devices, options: {} });
    const n0 = findStep(p, (s) => s.phase === 2 && s.label === "node n0")!;
    assert.ok(n0.ip.includes("link add kinda-vx type vxlan id 4242 local 10.1.0.2 dstport 4789 nolearning dev eth1"));
    assert.ok(n0.ip.includes(`link set kinda-vx address ${vxlanMac(0)} mtu 1450 up`));
    assert.ok(n0.ip.includes("route replace 10.244.1.0/24 via 100.64.0.2 dev kinda-vx onlink mtu 1450 table 4242"));
    assert.ok(n0.ip.includes("rule add to 10.244.1.0/24 lookup 4242 pref 4242"));
    // replies to what the node itself sends to remote pods (source: its tunnel address) come back through the tunnel
    assert.ok(n0.ip.includes("route replace 100.64.0.2/32 dev kinda-vx mtu 1450"));
    assert.ok(n0.ip.includes("route replace 100.64.0.3/32 dev kinda-vx mtu 1450"));
    assert.ok(!n0.ip.some((l) => l.startsWith("route replace 100.64.0.1/")), "no route to its own tunnel address");
    assert.ok(n0.ip.includes("route replace 10.1.1.2/32 via 10.1.0.1 dev eth1"));
    assert.deepEqual(n0.bridge, [
      `fdb append ${vxlanMac(1)} dev kinda-vx dst 10.1.1.2`,
      `fdb append ${vxlanMac(2)} dev kinda-vx dst 10.1.2.2`,
    ]);
    assert.match(n0.iptables.mangle[0]!, /TCPMSS --clamp-mss-to-pmtu/);
    assert.deepEqual(n0.iptables.nat, [], "API traffic stays off by default");
    const link0 = findStep(p, (s) => s.phase === 0 && s.label === "node n0")!;
    // no nodeMac given: the node's interface gets the fixed MAC of lab l, node n0, device r1, eth1
    assert.equal(
      link0.ip[0],
      `link add eth1 address ${nodeLinkMac("l", "n0", "device r1", "eth1")} mtu 1500 type veth peer name eth1 mtu 1500 netns 50`,
    );
    assert.deepEqual(link0.ethtool, [["-K", "eth1", "rx", "off", "tx", "off"]]);
    assert.deepEqual(link0.sysctl, [["-w", "net/ipv4/conf/eth1/rp_filter=2"]], "loose reverse-path filter: routers' ICMP reaches the node");
    const r2 = findStep(p, (s) => s.label === "device r2")!;
    assert.deepEqual(r2.ip, ["link set eth2 up", "addr add 10.1.1.1/24 dev eth2"]);
  });

  it("vxlan state per node grows linearly; gre's plan grows quadratically", () => {
    const per = (n: number, enc: "vxlan" | "gre") =>
      planCluster({ lab: "l", links: links(n), nodes: nodes(n), devices, options: { encapsulation: enc } }).size;
    const v10 = per(10, "vxlan");
    const v20 = per(20, "vxlan");
    const g10 = per(10, "gre");
    const g20 = per(20, "gre");
    // overlay entries: vxlan ~ 4 per peer per node, gre ~ 5 per peer per node; both O(n^2) in total,
    // but vxlan has one tunnel device per node while gre has one per pair
    const greDevices = planCluster({
      lab: "l",
      links: links(10),
      nodes: nodes(10),
      devices,
      options: { encapsulation: "gre" },
    }).steps.flatMap((s) => renderStep(s).ip.filter((l) => / type gre /.test(l)));
    const vxDevices = planCluster({ lab: "l", links: links(10), nodes: nodes(10), devices, options: {} }).steps.flatMap((s) =>
      renderStep(s).ip.filter((l) => / type vxlan /.test(l)),
    );
    assert.equal(greDevices.length, 90);
    assert.equal(vxDevices.length, 10);
    assert.ok(v20 > v10 && g20 > g10);
  });

  it("gre: point-to-point tunnels with /31s from the tunnel range, MTU minus 24", () => {
    const p = planCluster({
      lab: "l",
      links: links(3),
      nodes: nodes(3),
      devices,
      options: { encapsulation: "gre", tunnelCidr: "192.168.250.0/24" },
    });
    const text = formatClusterPlan(p);
    assert.match(text, /ip link add kgre1 type gre local 10\.1\.0\.2 remote 10\.1\.1\.2 ttl 64/);
    assert.match(text, /ip addr add 192\.168\.250\.0\/31 dev kgre1/);
    assert.match(text, /ip addr add 192\.168\.250\.1\/31 dev kgre0/);
    assert.match(text, /ip route replace 10\.244\.2\.0\/24 dev kgre2 mtu 1476 table 4242/);
  });

  it("API routing: DNAT of Kind addresses to emulated ones, SNAT back, conntrack flushed", () => {
    const p = planCluster({ lab: "l", links: links(2), nodes: nodes(2), devices, options: { apiThroughNetwork: true } });
    const n0 = findStep(p, (s) => s.phase === 2 && s.label === "node n0")!;
    assert.deepEqual(n0.iptables.nat, [
      // as a client: n1's Kind address becomes its emulated one, from n0's emulated address
      "-A OUTPUT -d 172.18.0.3/32 -m comment --comment kinda:l -j DNAT --to-destination 10.1.1.2",
      "-A POSTROUTING -d 10.1.1.2/32 -o eth1 -m comment --comment kinda:l -j SNAT --to-source 10.1.0.2",
      // as a server: TCP from n1 gets both Kind addresses back (etcd listens on the Kind address
      // only and checks the peer's certificate against the address it comes from)
      "-A PREROUTING -i eth1 -s 10.1.1.2/32 -d 10.1.0.2/32 -p tcp -m comment --comment kinda:l -j DNAT --to-destination 172.18.0.2",
      "-A INPUT -s 10.1.1.2/32 -d 172.18.0.2/32 -p tcp -m comment --comment kinda:l -j SNAT --to-source 172.18.0.3",
    ]);
    assert.equal(n0.flushConntrack, true);
    assert.deepEqual(n0.killTcp, ["172.18.0.3"], "its TCP connections with n1 are cut, so that they reconnect through the rules");
    assert.equal(n0.iptablesRestore.split("\n")[0], "*nat");
  });

  it("bridge ports, tc, default route with registry ranges kept via the host, internet uplink", () => {
    const l: NodeLink[] = [
      {
        node: "n0",
        device: "r1",
        deviceBridge: "br0",
        nodeAddress: "10.1.0.2/24",
        deviceAddress: "10.1.0.1/24",
        defaultRoute: true,
        nodeTc: { rate: "20mbit" },
      },
      {
        node: "n1",
        device: "r1",
        deviceBridge: "br0",
        nodeAddress: "10.1.0.3/24",
        deviceAddress: "10.1.0.1/24",
        deviceTc: { rate: "1gbit", burst: "64kbit", latency: "10ms" },
      },
    ];
    const p = planCluster({ lab: "l", links: l, nodes: nodes(2), devices, options: { internetVia: "r2", hostRoutes: ["203.0.113.0/24"] } });
    const r1 = findStep(p, (s) => s.label === "device r1")!;
    assert.deepEqual(r1.ip, [
      "link set eth1 up",
      "link add br0 type bridge",
      "link set br0 up",
      "addr add 10.1.0.1/24 dev br0",
      "link set eth1 master br0",
      "link set eth2 up",
      "link set eth2 master br0",
    ]);
    assert.deepEqual(r1.tc, ["qdisc replace dev eth2 root tbf rate 1gbit burst 64kbit latency 10ms"]);
    const n0 = findStep(p, (s) => s.phase === 0 && s.label === "node n0")!;
    assert.deepEqual(n0.tc, ["qdisc replace dev eth1 root tbf rate 20mbit burst 32kbit latency 50ms"]);
    assert.ok(n0.ip.includes("route replace 203.0.113.0/24 via 172.18.0.1 dev eth0"));
    assert.equal(n0.ip.at(-1), "route replace default via 10.1.0.1 dev eth1");
    const host = findStep(p, (s) => s.label === "host")!;
    assert.deepEqual(host.ns, { host: true });
    assert.equal(p.hostLinks.length, 1);
    assert.match(host.iptables.nat[0]!, /MASQUERADE/);
    const up = uplinkCidr("l", {});
    assert.ok(contains("100.127.0.0/16", up));
    const g = findStep(p, (s) => s.label === "device r2 (uplink)")!;
    assert.ok(g.ip.includes(`route replace default via ${nthAddress(up, 1)} dev eth2`));
  });

  it("rejects addresses in the pod, Kind or tunnel ranges, unknown names, double links, bad tc, all at once", () => {
    const bad: NodeLink[] = [
      { node: "n0", device: "r1", nodeAddress: "10.244.9.2/24", deviceAddress: "10.244.9.1/24" },
      { node: "n1", device: "r9", nodeAddress: "172.18.5.5/16" },
      { node: "n1", device: "r1", nodeAddress: "100.64.0.9/24", nodeTc: { rate: "fast" } },
      { node: "zz", device: "r1", nodeAddress: "10.9.0.2/24", deviceAddress: "10.8.0.1/24" },
    ];
    assert.throws(
      () => planCluster({ lab: "l", links: bad, nodes: nodes(2), devices, options: {} }),
      (e: unknown) => {
        assert.ok(e instanceof TopologyError);
        const m = e.message;
        assert.match(m, /nodeAddress 10\.244\.9\.2\/24 is inside the pod range 10\.244\.0\.0\/16/);
        assert.match(m, /unknown device "r9"/);
        assert.match(m, /nodeAddress 172\.18\.5\.5\/16 is inside the Kind network 172\.18\.0\.0\/16/);
        assert.match(m, /node n1 is linked twice/);
        assert.match(m, /inside the tunnel range 100\.64\.0\.0\/16/);
        assert.match(m, /nodeTc\.rate "fast" is not a tc rate/);
        assert.match(m, /unknown Kubernetes node "zz"/);
        assert.match(m, /are not in one subnet/);
        return true;
      },
    );
  });
});

describe("devices' routes to the pod CIDRs (encapsulation none)", () => {
  it("the undo deletes each by its prefix only, whatever next hop a re-route gave it since", () => {
    const p = planCluster({
      lab: "l",
      links: links(2),
      nodes: nodes(2),
      devices,
      options: { encapsulation: "none", podRoutes: [{ device: "r2", node: "n0", via: "10.1.1.2" }] },
    });
    const undo = p.deviceUndo.find((u) => u.device === "r2")!.undo.filter((o) => o.op === "route-del");
    assert.deepEqual(undo, [{ op: "route-del", route: { dst: "10.244.0.0/24" } }]);
  });
});

describe("P4 switches' entries for pod CIDRs (encapsulation none)", () => {
  const T = { table: "MyIngress.ipv4_lpm", action: "MyIngress.ipv4_forward" };
  const plan = (n: NodeFacts[]) =>
    planCluster({
      lab: "l",
      links: links(3),
      nodes: n,
      devices,
      options: {
        encapsulation: "none",
        p4PodRoutes: [
          { device: "r1", node: "n0", ...T, via: "10.1.0.2", mac: "02:6b:00:03:00:02", port: 1 },
          { device: "r1", node: "n1", ...T, via: "10.0.2.1", mac: "02:6b:00:01:00:01", port: 0 },
        ],
      },
    });

  it("one entry per pod CIDR of each node, with the next hop's MAC and port; each recorded with its inverse", () => {
    const n = nodes(3);
    n[1]!.podCidrs.push("10.245.1.0/24");
    const p = plan(n);
    assert.deepEqual(
      p.p4Entries.map((s) => [s.device, s.entries.map(p4AddLine)]),
      [
        [
          "r1",
          [
            "table_add MyIngress.ipv4_lpm MyIngress.ipv4_forward 10.244.0.0/24 => 02:6b:00:03:00:02 1",
            "table_add MyIngress.ipv4_lpm MyIngress.ipv4_forward 10.244.1.0/24 => 02:6b:00:01:00:01 0",
            "table_add MyIngress.ipv4_lpm MyIngress.ipv4_forward 10.245.1.0/24 => 02:6b:00:01:00:01 0",
          ],
        ],
      ],
    );
    const undo = p.deviceUndo.find((u) => u.device === "r1")!.undo.filter((u) => u.op === "p4-entry-delete");
    assert.deepEqual(undo, [
      { op: "p4-entry-delete", table: T.table, key: "10.244.0.0/24" },
      { op: "p4-entry-delete", table: T.table, key: "10.244.1.0/24" },
      { op: "p4-entry-delete", table: T.table, key: "10.245.1.0/24" },
    ]);
    assert.equal(
      formatDeviceUndo(p).find((u) => u.device === "r1")!.undo[0],
      "simple_switch_CLI: table_dump_entry_from_key MyIngress.ipv4_lpm 10.244.0.0/24, then table_delete MyIngress.ipv4_lpm <its handle>",
    );
    assert.match(
      formatClusterPlan(p),
      /P4 switches' table entries .*\n {2}in device r1:\n {4}table_add MyIngress\.ipv4_lpm .* 10\.244\.0\.0\/24 => /,
    );
    // no kernel route in the switch for them: its program forwards
    assert.ok(!p.steps.some((s) => s.label.startsWith("device r1") && renderStep(s).ip.some((l) => l.includes("10.244."))));
  });

  it("before the cluster assigns pod CIDRs (attaching early) there are none", () => {
    const p = plan(nodes(3).map((n) => ({ ...n, podCidrs: [] })));
    assert.deepEqual(p.p4Entries, []);
    assert.ok(!p.deviceUndo.some((u) => u.undo.some((o) => o.op === "p4-entry-delete")));
  });

  it("the switch's answers: an entry's handle, and the lines that delete it", () => {
    const del = p4Inverse(p4EntryAdd(T.table, T.action, "10.244.0.0/24", ["02:6b:00:03:00:02", "1"]));
    assert.equal(p4FindLine(del), "table_dump_entry_from_key MyIngress.ipv4_lpm 10.244.0.0/24");
    assert.equal(p4HandleIn("RuntimeCmd: Dumping entry 0x1f\nMatch key:\n* hdr.ipv4.dstAddr: LPM 0af40000/24\n"), 31);
    assert.equal(p4HandleIn("RuntimeCmd: Invalid table operation (BAD_MATCH_KEY)\n"), undefined);
    assert.equal(p4DeleteLine(del, 31), "table_delete MyIngress.ipv4_lpm 31");
  });
});

describe("the emulated identity (nodes' Kubernetes addresses are their emulated ones)", () => {
  const specs = [
    { name: "n0", role: "control-plane" },
    { name: "n1", role: "worker" },
    { name: "n2", role: "worker" },
  ];
  it("applies with apiThroughNetwork, one control plane and every node linked with an IPv4 address", () => {
    assert.deepEqual(emulatedIdentity(specs, links(3), { apiThroughNetwork: true }, 6443), {
      addresses: { n0: "10.1.0.2", n1: "10.1.1.2", n2: "10.1.2.2" },
      apiEndpoint: "10.1.0.2:6443",
    });
    assert.equal(emulatedIdentity(specs, links(3), {}, 6443), undefined, "not asked for");
    assert.equal(emulatedIdentity(specs, links(2), { apiThroughNetwork: true }, 6443), undefined, "n2 unlinked");
  });

  it("several control planes: the API endpoint is the linked load balancer's emulated address, forwarding to theirs", () => {
    const ha = [{ name: "n0", role: "control-plane" }, { name: "n1", role: "control-plane" }, specs[2]!];
    assert.equal(
      emulatedIdentity(ha, links(3), { apiThroughNetwork: true }, 6443),
      undefined,
      "an unlinked load balancer keeps the rewriting",
    );
    const lbLink: NodeLink = { node: LOAD_BALANCER, device: "r2", nodeAddress: "10.1.9.2/24", deviceAddress: "10.1.9.1/24" };
    assert.deepEqual(emulatedIdentity(ha, [...links(3), lbLink], { apiThroughNetwork: true }, 6443), {
      addresses: { n0: "10.1.0.2", n1: "10.1.1.2", n2: "10.1.2.2" },
      apiEndpoint: "10.1.9.2:6443",
      backends: { n0: "10.1.0.2:6443", n1: "10.1.1.2:6443" },
    });
  });

  it("no address rewriting between nodes: they already address each other on the network", () => {
    const id = emulatedIdentity(specs, links(3), { apiThroughNetwork: true }, 6443)!;
    const p = planCluster({
      lab: "l",
      links: links(3),
      nodes: nodes(3),
      devices,
      options: { apiThroughNetwork: true },
      emulatedIdentity: id,
    });
    for (const s of p.steps) assert.deepEqual(renderStep(s).iptables.nat, [], `${s.label}: no NAT`);
    assert.ok(p.steps.every((s) => !s.flushConntrack && !s.killTcp.length));
  });

  it("attaching early, then the pod CIDRs: the second plan adds only the pod routes and rules", () => {
    const opts = { lab: "l", links: links(3), devices, options: {} };
    const early = planCluster({ ...opts, nodes: nodes(3).map((n) => ({ ...n, podCidrs: [] })) });
    const full = planCluster({ ...opts, nodes: nodes(3) });
    const rest = subtractPlan(full, early);
    const lines = rest.steps.flatMap((s) => {
      const r = renderStep(s);
      return [...r.ip, ...r.bridge, ...r.iptables.mangle];
    });
    assert.ok(lines.length > 0);
    assert.ok(
      lines.every((l) =>
        /^(route replace 10\.244\.\d+\.0\/24 .* table 4242|rule add to 10\.244\.\d+\.0\/24 lookup 4242 pref 4242)$/.test(l),
      ),
      lines.join("\n"),
    );
    assert.equal(rest.size + early.size, full.size, "together they are the full plan");
  });

  it("nodes reported in another order than the early plan's: put back in its order, the rest is still only pod routes", () => {
    // CI found it: the early attach listed the nodes as Kind makes them (control planes first),
    // the full plan in the topology's order, so a worker got a second tunnel address and a
    // pod route through its own ("Nexthop has invalid gateway")
    const opts = { lab: "l", links: links(3), devices, options: { encapsulation: "vxlan" as const } };
    const early = planCluster({ ...opts, nodes: nodes(3).map((n) => ({ ...n, podCidrs: [] })) });
    const order = nodes(3).map((n) => n.name);
    const reported = [...nodes(3)].reverse();
    const lines = (ns: ReturnType<typeof nodes>) =>
      subtractPlan(planCluster({ ...opts, nodes: ns }), early).steps.flatMap((s) => renderStep(s).ip);
    const wrong = lines(reported);
    assert.ok(
      wrong.some((l) => /^addr add 100\.64\./.test(l)),
      "without the order a node gets a second tunnel address",
    );
    const right = lines(inOrderOf(reported, order));
    assert.ok(right.length > 0);
    assert.ok(
      right.every((l) => /^(route replace|rule add to) 10\.244\.\d+\.0\/24 /.test(l)),
      right.join("\n"),
    );
  });
});

describe("the API load balancer (Kind's, with several control planes)", () => {
  const lb = fakeLoadBalancer("k-external-load-balancer");
  /** n0 and n1 control planes, n2 a worker; n0 and n2 on r1, n1 and the load balancer on r2. */
  function haNodes(): NodeFacts[] {
    return fakeNodes(3).map((n, i) => ({ ...n, role: i < 2 ? "control-plane" : "worker" }));
  }
  const lbLink: NodeLink = { node: LOAD_BALANCER, device: "r2", nodeAddress: "10.1.9.2/24", deviceAddress: "10.1.9.1/24" };
  const step = (p: ReturnType<typeof planCluster>, phase: number, label: string) =>
    findStep(p, (s) => s.phase === phase && s.label === label);
  const plan = (options = { apiThroughNetwork: true }, extra: Partial<Parameters<typeof planCluster>[0]> = {}) =>
    planCluster({ lab: "l", links: [...links(3), lbLink], nodes: haNodes(), loadBalancer: lb, devices, options, ...extra });

  it("Kind has one when there are two or more control planes", () => {
    const kind = new KindProvider("k", {}, {} as Runtime);
    assert.equal(
      kind.hasLoadBalancer([
        { name: "c1", role: "control-plane" },
        { name: "w1", role: "worker" },
      ]),
      false,
    );
    assert.equal(
      kind.hasLoadBalancer([
        { name: "c1", role: "control-plane" },
        { name: "c2", role: "control-plane" },
      ]),
      true,
    );
  });

  it("gets a veth into the device, its address and routes to the nodes via the device, no tunnel", () => {
    const p = plan({ apiThroughNetwork: false });
    const link = step(p, 0, "load balancer")!;
    assert.deepEqual(link.ns, { pid: 2000 });
    assert.deepEqual(link.ip, [
      `link add eth1 address ${nodeLinkMac("l", LOAD_BALANCER, "device r2", "eth1")} mtu 1500 type veth peer name eth3 mtu 1500 netns 51`,
      "addr add 10.1.9.2/24 dev eth1",
      "link set eth1 up",
    ]);
    assert.deepEqual(link.ethtool, [["-K", "eth1", "rx", "off", "tx", "off"]]);
    // r2 had eth0 and eth1; n1 took eth2
    assert.deepEqual(step(p, 1, "device r2")!.ip, [
      "link set eth2 up",
      "addr add 10.1.1.1/24 dev eth2",
      "link set eth3 up",
      "addr add 10.1.9.1/24 dev eth3",
    ]);
    const o = step(p, 2, "load balancer")!;
    assert.deepEqual(o.ip, [
      "route replace 10.1.0.2/32 via 10.1.9.1 dev eth1",
      "route replace 10.1.1.2/32 via 10.1.9.1 dev eth1",
      "route replace 10.1.2.2/32 via 10.1.9.1 dev eth1",
    ]);
    assert.deepEqual(o.bridge, []);
    assert.deepEqual(o.iptables, { nat: [], mangle: [], filter: [] }, "no rules without apiThroughNetwork");
    assert.equal(o.flushConntrack, false);
    // every node routes to the load balancer's emulated address, as to its peers
    assert.ok(step(p, 2, "node n2")!.ip.includes("route replace 10.1.9.2/32 via 10.1.2.1 dev eth1"));
    // the VXLAN mesh stays among the nodes: no FDB entry, VTEP or tunnel device for the load balancer
    assert.ok(!formatClusterPlan(p).includes("dst 10.1.9.2"));
    assert.equal(p.steps.flatMap((s) => renderStep(s).ip).filter((l) => / type vxlan /.test(l)).length, 3);
  });

  it("apiThroughNetwork: every node sends API traffic for its Kind address through the network, it sends its own to the control planes' emulated addresses", () => {
    const p = plan();
    const lbOps = step(p, 2, "load balancer")!;
    assert.deepEqual(lbOps.iptables.nat, [
      // as a server, for each node (from node n0's, n1's and n2's redirection)
      "-A PREROUTING -i eth1 -s 10.1.0.2/32 -d 10.1.9.2/32 -p tcp --dport 6443 -m comment --comment kinda:l -j DNAT --to-destination 172.18.0.9",
      "-A INPUT -s 10.1.0.2/32 -d 172.18.0.9/32 -p tcp --dport 6443 -m comment --comment kinda:l -j SNAT --to-source 172.18.0.2",
      "-A PREROUTING -i eth1 -s 10.1.1.2/32 -d 10.1.9.2/32 -p tcp --dport 6443 -m comment --comment kinda:l -j DNAT --to-destination 172.18.0.9",
      "-A INPUT -s 10.1.1.2/32 -d 172.18.0.9/32 -p tcp --dport 6443 -m comment --comment kinda:l -j SNAT --to-source 172.18.0.3",
      "-A PREROUTING -i eth1 -s 10.1.2.2/32 -d 10.1.9.2/32 -p tcp --dport 6443 -m comment --comment kinda:l -j DNAT --to-destination 172.18.0.9",
      "-A INPUT -s 10.1.2.2/32 -d 172.18.0.9/32 -p tcp --dport 6443 -m comment --comment kinda:l -j SNAT --to-source 172.18.0.4",
      // as a client of the two control planes' API servers, not of the worker
      "-A OUTPUT -d 172.18.0.2/32 -p tcp --dport 6443 -m comment --comment kinda:l -j DNAT --to-destination 10.1.0.2",
      "-A POSTROUTING -d 10.1.0.2/32 -o eth1 -m comment --comment kinda:l -j SNAT --to-source 10.1.9.2",
      "-A OUTPUT -d 172.18.0.3/32 -p tcp --dport 6443 -m comment --comment kinda:l -j DNAT --to-destination 10.1.1.2",
      "-A POSTROUTING -d 10.1.1.2/32 -o eth1 -m comment --comment kinda:l -j SNAT --to-source 10.1.9.2",
    ]);
    assert.equal(lbOps.flushConntrack, true);
    // open connections with those it redirects are cut, so they reconnect through the rules
    assert.deepEqual(lbOps.killTcp, ["172.18.0.2", "172.18.0.3", "172.18.0.4"]);
    assert.deepEqual(step(p, 2, "node n2")!.killTcp, ["172.18.0.2", "172.18.0.3", "172.18.0.9"]);
    assert.match(formatClusterPlan(p), /ss -K -t dst 172\.18\.0\.2 or dst 172\.18\.0\.3 or dst 172\.18\.0\.4$/m);
    const w = step(p, 2, "node n2")!.iptables.nat;
    assert.deepEqual(
      w.filter((r) => r.includes("172.18.0.9") || r.includes("10.1.9.2")),
      [
        "-A OUTPUT -d 172.18.0.9/32 -p tcp --dport 6443 -m comment --comment kinda:l -j DNAT --to-destination 10.1.9.2",
        "-A POSTROUTING -d 10.1.9.2/32 -o eth1 -m comment --comment kinda:l -j SNAT --to-source 10.1.2.2",
      ],
      "the worker: only its client side (the load balancer never connects to a worker)",
    );
    const cp = step(p, 2, "node n0")!.iptables.nat;
    assert.deepEqual(
      cp.filter((r) => r.includes("172.18.0.9") || r.includes("10.1.9.2")),
      [
        "-A OUTPUT -d 172.18.0.9/32 -p tcp --dport 6443 -m comment --comment kinda:l -j DNAT --to-destination 10.1.9.2",
        "-A POSTROUTING -d 10.1.9.2/32 -o eth1 -m comment --comment kinda:l -j SNAT --to-source 10.1.0.2",
        "-A PREROUTING -i eth1 -s 10.1.9.2/32 -d 10.1.0.2/32 -p tcp --dport 6443 -m comment --comment kinda:l -j DNAT --to-destination 172.18.0.2",
        "-A INPUT -s 10.1.9.2/32 -d 172.18.0.2/32 -p tcp --dport 6443 -m comment --comment kinda:l -j SNAT --to-source 172.18.0.9",
      ],
      "a control plane: client of the load balancer, and server of it",
    );
    // the node-to-node redirection is unchanged next to it: 3 nodes, 2 peers each, 4 rules per pair and side
    assert.equal(cp.length, 4 + 2 * 4);
  });

  it("with the emulated identity: routes between the nodes and the load balancer, no address rewritten anywhere", () => {
    const id = emulatedIdentity(haNodes(), [...links(3), lbLink], { apiThroughNetwork: true }, 6443)!;
    const p = plan({ apiThroughNetwork: true }, { emulatedIdentity: id });
    for (const s of p.steps) assert.deepEqual(renderStep(s).iptables.nat, [], `${s.label}: no NAT`);
    assert.ok(p.steps.every((s) => !s.flushConntrack && !s.killTcp.length));
    assert.ok(step(p, 2, "load balancer")!.ip.includes("route replace 10.1.0.2/32 via 10.1.9.1 dev eth1"));
    assert.ok(step(p, 2, "node n2")!.ip.includes("route replace 10.1.9.2/32 via 10.1.2.1 dev eth1"));
    // once it forwards to the emulated addresses: its older connections to the Kind addresses are cut
    assert.match(formatClusterPlan(handOverLoadBalancer(p, lb, haNodes())), /ss -K -t dst 172\.18\.0\.2 or dst 172\.18\.0\.3$/m);
  });

  it("teardown removes its veth's device end as it does the nodes'; nothing on the host side", () => {
    assert.deepEqual(formatDeviceUndo(plan()), [
      { device: "r1", undo: ["link delete eth1", "link delete eth2"] },
      { device: "r2", undo: ["link delete eth2", "link delete eth3"] },
    ]);
    assert.equal(plan().hostLinks.length, 0);
    assert.equal(
      plan().steps.some((s) => "host" in s.ns),
      false,
    );
  });

  it("a load balancer that is not linked stays as it is (its traffic keeps to the Kind network)", () => {
    const without = planCluster({ lab: "l", links: links(3), nodes: haNodes(), devices, options: { apiThroughNetwork: true } });
    const unlinked = planCluster({
      lab: "l",
      links: links(3),
      nodes: haNodes(),
      loadBalancer: lb,
      devices,
      options: { apiThroughNetwork: true },
    });
    assert.deepEqual(unlinked, without);
  });

  it("links to it are validated with the nodes' links, all at once", () => {
    const check = (l: NodeLink[], loadBalancer: boolean) =>
      validateLinks({
        lab: "l",
        links: l,
        options: {},
        nodeNames: ["n0", "n1"],
        loadBalancer,
        deviceNames: ["r1", "r2"],
        providerCidr: "172.18.0.0/16",
      }).map(formatIssue);
    assert.deepEqual(check([lbLink], true), []);
    assert.deepEqual(check([lbLink], false), [
      "[links[0] (load-balancer -> r2)]: the cluster has no API load balancer to link (Kind puts one in front of the control planes only when there are two or more)",
    ]);
    assert.deepEqual(
      check(
        [
          { node: "n0", device: "r1", nodeAddress: "10.1.9.2/24", deviceAddress: "10.1.9.1/24" },
          lbLink,
          { ...lbLink, nodeAddress: "172.18.0.50/16", deviceAddress: "172.18.0.51/16", device: "r9" },
        ],
        true,
      ),
      [
        "[links[1] (load-balancer -> r2)]: nodeAddress 10.1.9.2 is already used by links[0].nodeAddress",
        "[links[1] (load-balancer -> r2)]: deviceAddress 10.1.9.1 is already used by links[0].deviceAddress",
        '[links[2] (load-balancer -> r9)]: unknown device "r9" (devices: r1, r2)',
        "[links[2] (load-balancer -> r9)]: the load balancer is linked twice; it has one link into the network",
        "[links[2] (load-balancer -> r9)]: nodeAddress 172.18.0.50/16 is inside the Kind network 172.18.0.0/16",
        "[links[2] (load-balancer -> r9)]: deviceAddress 172.18.0.51/16 is inside the Kind network 172.18.0.0/16",
      ],
    );
    // planCluster checks against what the provider found: a link but no load balancer
    assert.throws(
      () => planCluster({ lab: "l", links: [...links(3), lbLink], nodes: haNodes(), devices, options: {} }),
      /the cluster has no API load balancer to link/,
    );
  });

  it("the builder rejects a link to it before anything is created when the nodes give no load balancer, and its name for a node", async () => {
    await withUpLab([], async ({ store, runtime }) => {
      let created = false;
      const provider = new KindProvider("k", {}, runtime);
      provider.create = async () => {
        created = true;
      };
      const b = new ClusterBuilder("l", provider, {}, { runtime, store, kernel: new MemoryKernel() });
      b.addNode("c1", "control-plane").addNode(LOAD_BALANCER).connectLoadBalancer({ device: "r2", nodeAddress: "10.1.9.2/24" });
      await assert.rejects(b.build(), (e: unknown) => {
        assert.ok(e instanceof TopologyError);
        assert.match(e.message, /the cluster has no API load balancer to link/);
        assert.match(e.message, /node load-balancer.*is the name links use for the API load balancer/);
        return true;
      });
      assert.equal(created, false);
    });
  });
});
