import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Ajv } from "ajv";
import { parse } from "yaml";
import { GOOD, compile, problems, netLines } from "../../support/compile.js";
import { formatTopologyPlan, planTopology } from "../../../src/app/topology.js";
import { expandTopologyYaml, parseTopologyYaml } from "../../../src/topology/yaml.js";
import { formatPlan } from "../../../src/plan/lab.js";
import { StateStore } from "../../../src/state/store.js";
import { treeExample } from "../../../examples/tree.js";
import { haExample } from "../../../examples/ha.js";
import { LOAD_BALANCER, type DeviceFacts, type NodeFacts } from "../../../src/model/cluster.js";
import { planCluster } from "../../../src/plan/cluster.js";
import { fakeLoadBalancer, fakeNodes, findStep } from "../../support/facts.js";
import { ROOT } from "../../support/env.js";
import { nodeLinkMac } from "../../../src/core/names.js";

const store = new StateStore("/nonexistent-kinda-state");

/** Two control planes, so Kind runs its load balancer; here linked into r2 as device lb. */
const HA = `name: ha
routing: static
devices:
  - { name: r1, kind: router }
  - { name: r2, kind: router }
  - { name: c1, kind: control-plane }
  - { name: c2, kind: control-plane }
  - { name: w1, kind: worker }
  - { name: lb, kind: load-balancer }
links:
  - { endpoints: [r1, r2], addresses: [10.0.0.1/30, 10.0.0.2/30] }
  - { endpoints: [r1, c1], addresses: [10.0.1.1/24, 10.0.1.2/24] }
  - { endpoints: [r2, c2], addresses: [10.0.2.1/24, 10.0.2.2/24] }
  - { endpoints: [r2, w1], addresses: [10.0.3.1/24, 10.0.3.2/24] }
  - { endpoints: [r2, lb], addresses: [10.0.9.1/24, 10.0.9.2/24] }
`;
const LB_LINK = "{ endpoints: [r2, lb], addresses: [10.0.9.1/24, 10.0.9.2/24] }";

describe("YAML topologies", () => {
  it("the good example compiles, with static routes on the routers", () => {
    assert.deepEqual(problems(GOOD), []);
    const c = compile(parseTopologyYaml(GOOD).spec);
    assert.deepEqual(netLines(c.lab.devices.find((d) => d.name === "r1")), [
      "ip addr add 10.0.0.1/30 dev eth0",
      "ip route add 10.0.2.0/24 via 10.0.0.2",
    ]);
    assert.deepEqual(
      c.nodeLinks.map((l) => `${l.node}:${l.nodeAddress}->${l.device}:${l.deviceAddress}`),
      ["c1:10.0.1.2/24->r1:10.0.1.1/24", "w1:10.0.2.2/24->r2:10.0.2.1/24"],
    );
  });

  // the bad-topology suite: each case gives its message at its line and column, nothing compiled
  const cases: [string, string, RegExp][] = [
    ["YAML syntax error", GOOD.replace("routing: static", "routing: [static"), /^\d+:\d+ YAML syntax/],
    [
      "unknown field",
      GOOD.replace("routing: static", "routing: static\ncolour: red"),
      /^3:1 colour: unknown field|^3:\d+ .*unknown field "colour"/,
    ],
    ["bad device kind", GOOD.replace("kind: worker", "kind: workr"), /^7:\d+ devices\.3\.kind: must be one of/],
    ["missing links", GOOD.replace(/links:[\s\S]*/, ""), /missing field "links"/],
    ["bad address syntax", GOOD.replace("10.0.2.2/24", "10.0.2.2"), /^11:\d+ links\.2\.addresses\.1: must match pattern/],
    [
      "non-canonical address (leading zero)",
      GOOD.replace("10.0.2.2/24", "010.0.2.2/24"),
      /^11:53 "010\.0\.2\.2\/24" is not an address with a prefix length$/,
    ],
    [
      "non-canonical prefix length",
      GOOD.replace("10.0.2.2/24", "10.0.2.2/024"),
      /^11:53 "10\.0\.2\.2\/024" is not an address with a prefix length$/,
    ],
    [
      "IPv6 on a Kubernetes node's link",
      GOOD.replace("10.0.2.1/24, 10.0.2.2/24", "fd00:2::1/64, fd00:2::2/64"),
      /^11:54 fd00:2::2\/64 is not IPv4; a Kubernetes node's link is IPv4$/,
    ],
    [
      "malformed cluster.hostRoutes",
      GOOD.replace("routing: static", "routing: static\ncluster: { hostRoutes: [203.0.113.0/24, 203.0.113/24] }"),
      /^3:41 "203\.0\.113\/24" is not an IPv4 range with a prefix length \(e\.g\. 203\.0\.113\.0\/24\)$/,
    ],
    [
      "duplicate device name",
      GOOD.replace("name: r2, kind: router", "name: r1, kind: router"),
      /^5:\d+ duplicate device name r1 \(first at devices\[0\]\)/,
    ],
    ["unknown link endpoint", GOOD.replace("[r2, w1]", "[r9, w1]"), /^11:\d+ unknown device "r9"/],
    [
      "addresses in two subnets",
      GOOD.replace("10.0.0.2/30", "10.0.9.2/30"),
      /^9:\d+ 10\.0\.0\.1\/30 and 10\.0\.9\.2\/30 are not in one subnet/,
    ],
    [
      "address used twice",
      GOOD.replace("10.0.2.1/24, 10.0.2.2/24", "10.0.2.1/24, 10.0.2.1/24"),
      /address 10\.0\.2\.1 is already used at links\[2\]\.addresses\[0\]/,
    ],
    [
      "overlapping subnets",
      GOOD.replace("10.0.2.1/24, 10.0.2.2/24", "10.0.1.3/24, 10.0.1.4/24"),
      /^11:\d+ subnet 10\.0\.1\.0\/24 overlaps the subnet of links\.1/,
    ],
    [
      "address in the pod range",
      GOOD.replace("10.0.2.1/24, 10.0.2.2/24", "10.244.2.1/24, 10.244.2.2/24"),
      /^11:\d+ 10\.244\.2\.1\/24 is inside the pod range 10\.244\.0\.0\/16/,
    ],
    [
      "address in the tunnel range",
      GOOD.replace("10.0.2.1/24, 10.0.2.2/24", "100.64.2.1/24, 100.64.2.2/24"),
      /is inside the tunnel range 100\.64\.0\.0\/16/,
    ],
    [
      "node that is not a leaf",
      GOOD + "  - { endpoints: [r1, w1], addresses: [10.0.3.1/24, 10.0.3.2/24] }\n",
      /^7:\d+ Kubernetes node w1 must have exactly one link \(a leaf\); it has 2/,
    ],
    [
      "a lab name Kind cannot take",
      GOOD.replace("name: t", "name: my_lab"),
      /^1:7 "my_lab" cannot name the Kind cluster .*; set cluster\.name$/,
    ],
    [
      "a cluster name Kind cannot take",
      GOOD.replace("routing: static", "routing: static\ncluster: { name: Big }"),
      /^3:18 "Big" cannot name the Kind cluster \(1-50 of a-z/,
    ],
    ["no control plane", GOOD.replace("kind: control-plane", "kind: worker"), /there are Kubernetes nodes but no control-plane node/],
    [
      "static routing on two disconnected parts",
      GOOD.replace("devices:", "devices:\n  - { name: r3, kind: router }\n  - { name: r4, kind: router }") +
        "  - { endpoints: [r3, r4], addresses: [10.0.4.1/30, 10.0.4.2/30] }\n",
      /^11:\d+ static routing needs one connected network, but no link joins these 2 parts: \{c1, r1, r2, w1\}, \{r3, r4\}$/,
    ],
    [
      "a device nothing connects",
      GOOD.replace("devices:", "devices:\n  - { name: lonely, kind: host }"),
      /^4:\d+ device lonely is not connected to anything/,
    ],
    [
      "link between two nodes",
      GOOD + "  - { endpoints: [c1, w1], addresses: [10.0.8.1/24, 10.0.8.2/24] }\n",
      /a link between two Kubernetes nodes \(c1, w1\)/,
    ],
    [
      "node link without addresses",
      GOOD.replace("{ endpoints: [r2, w1], addresses: [10.0.2.1/24, 10.0.2.2/24] }", "{ endpoints: [r2, w1] }"),
      /^11:\d+ a Kubernetes node's link needs addresses/,
    ],
    [
      "encapsulation none without static routing",
      GOOD.replace("routing: static", "routing: none\nencapsulation: none"),
      /encapsulation "none" needs routing: static/,
    ],
    [
      "P4 fields on a router",
      GOOD.replace("name: r1, kind: router", "name: r1, kind: router, grpcPort: 9559"),
      /^4:\d+ grpcPort belongs to P4 switches \(kind: p4-switch\), not to a router/,
    ],
    ["root that is a node", GOOD.replace("routing: static", "routing: static\nroot: w1"), /^3:\d+ the root w1 is a Kubernetes node/],
    [
      "two load balancers",
      HA.replace("  - { name: lb, kind: load-balancer }", "  - { name: lb, kind: load-balancer }\n  - { name: lb2, kind: load-balancer }") +
        "  - { endpoints: [r1, lb2], addresses: [10.0.8.1/24, 10.0.8.2/24] }\n",
      /^10:5 a second load balancer lb2 \(the first is devices\[5\]\); the cluster has at most one$/,
    ],
    [
      "a load balancer with two links",
      HA + "  - { endpoints: [r1, lb], addresses: [10.0.8.1/24, 10.0.8.2/24] }\n",
      /^9:5 the load balancer lb must have exactly one link \(a leaf\); it has 2$/,
    ],
    [
      "a load balancer linked to nothing",
      HA.replace(`  - ${LB_LINK}\n`, ""),
      /^9:5 the load balancer lb must have exactly one link \(a leaf\); it has 0$/,
    ],
    [
      "a load balancer with one control plane",
      HA.replace("name: c2, kind: control-plane", "name: c2, kind: worker"),
      /^9:5 the load balancer lb needs two or more control-plane devices \(there is 1\); Kind makes a load balancer only with two or more control planes$/,
    ],
    [
      "a load balancer without any Kubernetes node",
      `name: t\ndevices:\n  - { name: r1, kind: router }\n  - { name: lb, kind: load-balancer }\nlinks:\n  - { endpoints: [r1, lb], addresses: [10.0.9.1/24, 10.0.9.2/24] }\n`,
      /^4:5 the load balancer lb needs two or more control-plane devices \(there are 0\); Kind makes a load balancer only/,
    ],
    [
      "a load balancer linked to a Kubernetes node",
      HA.replace("[r2, lb]", "[c2, lb]"),
      /^15:5 a link between the load balancer lb and Kubernetes node c2; the load balancer links to a network device$/,
    ],
    [
      "an image for the load balancer",
      HA.replace("kind: load-balancer }", "kind: load-balancer, image: haproxy }"),
      /^9:5 the load balancer takes no image or startup \(the cluster provider makes it\)$/,
    ],
    [
      "start-up commands for the load balancer",
      HA.replace("kind: load-balancer }", "kind: load-balancer, startup: [echo hi] }"),
      /^9:5 the load balancer takes no image or startup \(the cluster provider makes it\)$/,
    ],
    [
      "IPv6 on the load balancer's link",
      HA.replace("10.0.9.1/24, 10.0.9.2/24", "fd00:9::1/64, fd00:9::2/64"),
      /^15:54 fd00:9::2\/64 is not IPv4; the load balancer's link is IPv4$/,
    ],
    [
      "the load balancer's link without addresses",
      HA.replace(LB_LINK, "{ endpoints: [r2, lb] }"),
      /^15:5 the load balancer's link needs addresses$/,
    ],
    [
      "the load balancer as the root",
      HA.replace("routing: static", "routing: static\nroot: lb"),
      /^3:7 the root lb is the load balancer; the root must be a network device$/,
    ],
    [
      "internet through the load balancer",
      HA.replace("routing: static", "routing: static\ncluster: { internetVia: lb }"),
      /^3:25 lb is the load balancer; internet access goes through a network device$/,
    ],
    [
      "internet through a Kubernetes node",
      GOOD.replace("routing: static", "routing: static\ncluster: { internetVia: w1 }"),
      /^3:25 w1 is a Kubernetes node; internet access goes through a network device$/,
    ],
    [
      "a misspelt load-balancer kind",
      HA.replace("kind: load-balancer", "kind: loadbalancer"),
      /^9:\d+ devices\.5\.kind: must be one of .*load-balancer/,
    ],
    [
      "a tc value that does not parse, in one direction of a link between devices",
      GOOD.replace(
        "addresses: [10.0.0.1/30, 10.0.0.2/30] }",
        "addresses: [10.0.0.1/30, 10.0.0.2/30], tc: { a: { rate: 10mbit }, b: { delay: fast } } }",
      ),
      /^9:\d+ links\.0\.tc\.b\.delay: must match pattern/,
    ],
  ];
  for (const [what, text, expected] of cases) {
    it(`rejects: ${what}`, () => {
      const p = problems(text);
      assert.ok(p.length > 0, "should be rejected");
      assert.ok(
        p.some((x) => expected.test(x)),
        `expected ${expected} in:\n${p.join("\n")}`,
      );
    });
  }

  it("a load-balancer device compiles into a link for LOAD_BALANCER; static routes lead the devices to it", () => {
    assert.deepEqual(problems(HA), []);
    const c = compile(parseTopologyYaml(HA).spec);
    assert.equal(c.loadBalancer, "lb");
    // Kind's container, not a lab device nor a Kubernetes node
    assert.deepEqual(
      c.lab.devices.map((d) => d.name),
      ["r1", "r2"],
    );
    assert.deepEqual(
      c.nodes.map((n) => n.name),
      ["c1", "c2", "w1"],
    );
    const lbLinks = c.nodeLinks.filter((l) => l.node === LOAD_BALANCER);
    // no default route: it only talks to the API servers (the cluster plan routes them via r2)
    assert.deepEqual(lbLinks, [{ node: LOAD_BALANCER, device: "r2", nodeAddress: "10.0.9.2/24", deviceAddress: "10.0.9.1/24" }]);
    assert.deepEqual(netLines(c.lab.devices.find((d) => d.name === "r1")), [
      "ip addr add 10.0.0.1/30 dev eth0",
      "ip route add 10.0.2.0/24 via 10.0.0.2",
      "ip route add 10.0.3.0/24 via 10.0.0.2",
      "ip route add 10.0.9.0/24 via 10.0.0.2",
    ]);
    // r2 holds the load balancer's subnet itself (kinda's veth gets 10.0.9.1 at build time)
    assert.ok(!netLines(c.lab.devices.find((d) => d.name === "r2")).some((x) => x.includes("10.0.9.")));
    const shaped = compile(parseTopologyYaml(HA.replace(LB_LINK, LB_LINK.replace(" }", ", mtu: 1400, tc: { rate: 10mbit } }"))).spec);
    const l = shaped.nodeLinks.find((x) => x.node === LOAD_BALANCER)!;
    assert.equal(l.mtu, 1400);
    assert.deepEqual(l.nodeTc, { rate: "10mbit" });
    // the device's mtu, like a node's
    const byDevice = compile(parseTopologyYaml(HA.replace("kind: load-balancer }", "kind: load-balancer, mtu: 1450 }")).spec);
    assert.equal(byDevice.nodeLinks.find((x) => x.node === LOAD_BALANCER)!.mtu, 1450);
  });

  it("the cluster plan takes the compiled link: the load balancer routes to the nodes via its device", () => {
    const c = compile(parseTopologyYaml(HA).spec);
    const nodes: NodeFacts[] = fakeNodes(c.nodes.length).map((f, i) => ({ ...f, name: c.nodes[i]!.name, role: c.nodes[i]!.role }));
    const lb = fakeLoadBalancer("ha-external-load-balancer");
    const devices: DeviceFacts[] = c.lab.devices.map((d, i) => ({
      name: d.name,
      container: `kinda-ha-${d.name}`,
      pid: 50 + i,
      interfaces: ["lo", ...d.interfaces.map((x) => `eth${x.index}`)],
    }));
    const p = planCluster({ lab: "ha", links: c.nodeLinks, nodes, loadBalancer: lb, devices, options: c.clusterOptions });
    const step = (phase: number, label: string) => findStep(p, (s) => s.phase === phase && s.label === label);
    assert.deepEqual(step(0, "load balancer")!.ip, [
      // no nodeMac in the topology: the fixed one of lab ha, the load balancer and its device
      `link add eth1 address ${nodeLinkMac("ha", LOAD_BALANCER, `device ${c.nodeLinks.find((x) => x.node === LOAD_BALANCER)!.device}`, "eth1")} mtu 1500 type veth peer name eth3 mtu 1500 netns 51`,
      "addr add 10.0.9.2/24 dev eth1",
      "link set eth1 up",
    ]);
    assert.deepEqual(step(2, "load balancer")!.ip, [
      "route replace 10.0.1.2/32 via 10.0.9.1 dev eth1",
      "route replace 10.0.2.2/32 via 10.0.9.1 dev eth1",
      "route replace 10.0.3.2/32 via 10.0.9.1 dev eth1",
    ]);
    assert.ok(step(1, "device r2")!.ip.includes("addr add 10.0.9.1/24 dev eth3"));
  });

  it("reports every problem at once", () => {
    const text = GOOD.replace("[r2, w1]", "[r9, w1]").replace("name: r2, kind: router", "name: r1, kind: router");
    assert.ok(problems(text).length >= 2);
  });
});

describe("the JSON Schema", () => {
  const schema = JSON.parse(readFileSync(join(ROOT, "schema", "topology.schema.json"), "utf8")) as object;
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  it("accepts every example", () => {
    for (const f of ["tree.yaml", "two-routers-static.yaml", "ha.yaml"]) {
      const data = parse(readFileSync(join(ROOT, "examples", f), "utf8")) as unknown;
      assert.ok(validate(data), `${f}: ${JSON.stringify(validate.errors)}`);
    }
    assert.ok(validate(treeExample().builder.spec()), JSON.stringify(validate.errors));
    assert.ok(validate(haExample().builder.spec()), JSON.stringify(validate.errors));
    assert.ok(validate(parse(HA)), JSON.stringify(validate.errors));
    // examples with vars: and generate: are valid as they are written and once expanded
    for (const f of ["leaf-spine.yaml", "clos-k8s.yaml"]) {
      const plain = parse(expandTopologyYaml(join(ROOT, "examples", f))) as unknown;
      assert.ok(validate(plain), `${f} expanded: ${JSON.stringify(validate.errors)}`);
    }
  });
  it("rejects the bad cases it can express", () => {
    for (const text of [
      GOOD.replace("kind: worker", "kind: workr"),
      GOOD.replace("routing: static", "routing: dynamic"),
      GOOD.replace("10.0.2.2/24", "10.0.2.2"),
      GOOD.replace("routing: static", "colour: red"),
      HA.replace("kind: load-balancer", "kind: loadbalancer"),
      HA.replace("kind: load-balancer }", "kind: load-balancer, mtu: 100 }"),
    ]) {
      assert.equal(validate(parse(text)), false);
    }
  });
});

describe("TypeScript and YAML forms", () => {
  it("give identical plans (--dry-run output equal)", () => {
    const y = parseTopologyYaml(readFileSync(join(ROOT, "examples", "tree.yaml"), "utf8"));
    const fromYaml = formatTopologyPlan(planTopology(y.spec, { store }), formatPlan);
    const fromTs = formatTopologyPlan(planTopology(treeExample().builder.spec(), { store }), formatPlan);
    assert.equal(fromTs, fromYaml);
    assert.match(fromTs, /device r1: .*image kathara\/base/);
    assert.match(fromTs, /w1 10\.0\.4\.2\/24 <-> r1 10\.0\.4\.1\/24/);
  });

  it("give identical plans with a load balancer; dry-run shows its link under its topology name", () => {
    const y = parseTopologyYaml(readFileSync(join(ROOT, "examples", "ha.yaml"), "utf8"));
    const fromYaml = formatTopologyPlan(planTopology(y.spec, { store }), formatPlan);
    const fromTs = formatTopologyPlan(planTopology(haExample().builder.spec(), { store }), formatPlan);
    assert.equal(fromTs, fromYaml);
    assert.match(fromTs, /^ {2}lb\(load balancer\) 10\.0\.9\.2\/24 <-> r2 10\.0\.9\.1\/24$/m);
    assert.match(fromTs, /^kubernetes nodes: c1\(control-plane\) c2\(control-plane\) w1\(worker\);/m);
    assert.ok(!/device lb:/.test(fromTs), "no lab device for the load balancer");
  });
});
