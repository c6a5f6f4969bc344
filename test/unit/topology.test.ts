import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Ajv } from "ajv";
import { parse } from "yaml";
import { TopologyError } from "../../src/errors.js";
import { compileSpec } from "../../src/topology/compile.js";
import { formatTopologyPlan, planTopology } from "../../src/topology/deploy.js";
import { parseTopologyYaml } from "../../src/topology/yaml.js";
import { formatPlan } from "../../src/plan/plan.js";
import { StateStore } from "../../src/state/store.js";
import { treeExample } from "../../examples/tree.js";
import { ROOT } from "../support/env.js";

const store = new StateStore("/nonexistent-kinda-state");
const GOOD = `name: t
routing: static
devices:
  - { name: r1, kind: router }
  - { name: r2, kind: router }
  - { name: c1, kind: control-plane }
  - { name: w1, kind: worker }
links:
  - { endpoints: [r1, r2], addresses: [10.0.0.1/30, 10.0.0.2/30] }
  - { endpoints: [r1, c1], addresses: [10.0.1.1/24, 10.0.1.2/24] }
  - { endpoints: [r2, w1], addresses: [10.0.2.1/24, 10.0.2.2/24] }
`;

/** Loads and compiles YAML; returns the issues as "line:col message". */
function problems(text: string): string[] {
  try {
    const y = parseTopologyYaml(text, "t.yaml");
    compileSpec(y.spec, y.where);
  } catch (e) {
    if (e instanceof TopologyError) return e.issues.map((i) => `${i.line}:${i.column} ${i.message}`);
    throw e;
  }
  return [];
}

describe("YAML topologies", () => {
  it("the good example compiles, with static routes on the routers", () => {
    assert.deepEqual(problems(GOOD), []);
    const c = compileSpec(parseTopologyYaml(GOOD).spec);
    assert.deepEqual(c.lab.devices.find((d) => d.name === "r1")?.exec, [
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
      "a cycle in a tree",
      GOOD.replace("devices:", "devices:\n  - { name: r3, kind: router }") +
        "  - { endpoints: [r2, r3], addresses: [10.0.4.1/30, 10.0.4.2/30] }\n  - { endpoints: [r3, r1], addresses: [10.0.5.1/30, 10.0.5.2/30] }\n",
      /static routing needs a tree, but this link closes a cycle \(r3 - r1\)/,
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
      /^4:\d+ program, grpcPort and cli belong to in-network switches/,
    ],
    ["root that is a node", GOOD.replace("routing: static", "routing: static\nroot: w1"), /^3:\d+ the root w1 is a Kubernetes node/],
    [
      "tc on a link without node",
      GOOD.replace("addresses: [10.0.0.1/30, 10.0.0.2/30] }", "addresses: [10.0.0.1/30, 10.0.0.2/30], tc: { rate: 10mbit } }"),
      /^9:\d+ tc shapes the link of a Kubernetes node or of the load balancer; this link has neither$/,
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

  it("reports every problem at once", () => {
    const text = GOOD.replace("[r2, w1]", "[r9, w1]").replace("name: r2, kind: router", "name: r1, kind: router");
    assert.ok(problems(text).length >= 2);
  });
});

describe("the JSON Schema", () => {
  const schema = JSON.parse(readFileSync(join(ROOT, "schema", "topology.schema.json"), "utf8")) as object;
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  it("accepts every example", () => {
    for (const f of ["tree.yaml", "two-routers-static.yaml"]) {
      const data = parse(readFileSync(join(ROOT, "examples", f), "utf8")) as unknown;
      assert.ok(validate(data), `${f}: ${JSON.stringify(validate.errors)}`);
    }
    assert.ok(validate(treeExample().builder.spec()), JSON.stringify(validate.errors));
  });
  it("rejects the bad cases it can express", () => {
    for (const text of [
      GOOD.replace("kind: worker", "kind: workr"),
      GOOD.replace("routing: static", "routing: dynamic"),
      GOOD.replace("10.0.2.2/24", "10.0.2.2"),
      GOOD.replace("routing: static", "colour: red"),
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
});
