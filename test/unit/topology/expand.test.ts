import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { join } from "node:path";
import { parse } from "yaml";
import { GOOD, compile, problems, netLines } from "../../support/compile.js";
import { expandTopologyYaml, parseTopologyYaml } from "../../../src/topology/yaml.js";
import { ROOT } from "../../support/env.js";

const VARS = `name: v
vars: { img: kathara/frr, mtu: 1400, rate: 20mbit }
routing: static
devices:
  - { name: r1, kind: router, image: "\${img}", startup: ["echo \${HOME} \${img}"] }
  - { name: c1, kind: control-plane, mtu: "\${mtu}" }
links:
  - { endpoints: [r1, c1], addresses: [10.0.1.1/24, 10.0.1.2/24], tc: { rate: "\${rate}" } }
`;

describe("vars: and --var", () => {
  it("substitutes values, keeps a lone reference's type, leaves the shell's ${X} in startup alone", () => {
    const s = parseTopologyYaml(VARS).spec;
    assert.equal(s.devices[0]!.image, "kathara/frr");
    assert.deepEqual(s.devices[0]!.startup, ["echo ${HOME} kathara/frr"]);
    assert.equal(s.devices[1]!.mtu, 1400);
    assert.equal((s.links[0]!.tc as { rate?: string } | undefined)?.rate, "20mbit");
    assert.equal((s as { vars?: unknown }).vars, undefined, "vars: is not part of the plain topology");
  });

  it("--var overrides a declared variable, typed like its declaration", () => {
    const s = parseTopologyYaml(VARS, "t.yaml", { vars: { img: "my/frr:9", mtu: "1450" } }).spec;
    assert.equal(s.devices[0]!.image, "my/frr:9");
    assert.equal(s.devices[1]!.mtu, 1450);
  });

  it("refuses an undeclared --var, a non-number for a number, an undeclared reference, at their places", () => {
    assert.deepEqual(problems(VARS, { imgg: "x" }), ["2:7 --var imgg: the file declares no such variable (vars: img, mtu, rate)"]);
    assert.deepEqual(problems(VARS, { mtu: "big" }), ["2:32 --var mtu=big: vars.mtu is a number"]);
    assert.deepEqual(problems(VARS.replace('image: "${img}"', 'image: "${imgg}"')), ["5:38 ${imgg} is not declared under vars:"]);
  });
});

const GEN = `name: ls
routing: static
encapsulation: none
generate:
  leafSpine: { spines: 2, leaves: 2, perLeaf: 2 }
  addressPool: 10.1.0.0/16
  controlPlanes: [h1_1]
  workers: rest
devices:
  - { name: internet, kind: external }
links:
  - { endpoints: [spine1, internet], addresses: [192.168.0.1/30, 192.168.0.2/30] }
`;

describe("generate: in YAML", () => {
  it("expands into routers and leaves, then the file's own devices and links", () => {
    const s = parseTopologyYaml(GEN).spec;
    assert.equal(s.devices.length, 4 + 4 + 1);
    assert.equal(s.devices.at(-1)!.name, "internet");
    assert.equal(s.devices.find((d) => d.name === "h1_1")!.kind, "control-plane");
    assert.equal(s.devices.find((d) => d.name === "h2_2")!.kind, "worker");
    assert.equal(s.links.length, 4 + 4 + 1);
    assert.equal(s.encapsulation, "none");
    assert.equal(compile(s).nodes.length, 4);
  });

  it("places generator problems at the generate: option, the file's own at their lines", () => {
    assert.deepEqual(problems(GEN.replace("controlPlanes: [h1_1]", "controlPlanes: [h1_9]")), [
      '7:19 "h1_9" is not a leaf of this topology (leaves: h1_1, h1_2, h2_1, h2_2, ...)',
    ]);
    assert.deepEqual(problems(GEN.replace("perLeaf: 2 }", "perLeaf: 2 }\n  image: ''")), [
      "6:10 generate.image: must NOT have fewer than 1 characters",
    ]);
    // the file's link reuses the first generated link's address: the file's line, the generated link's index
    assert.ok(
      problems(GEN.replace("192.168.0.2/30", "10.1.0.2/30")).includes("12:66 address 10.1.0.2 is already used at links[0].addresses[1]"),
    );
    assert.match(
      problems(GEN.replace("leafSpine:", "fatTree: { k: 4 }\n  leafSpine:"))[0]!,
      /^5:3 generate: takes exactly one of fatTree, leafSpine, tree and linear$/,
    );
  });

  it("kinda expand prints the plain topology, which loads to the same spec", () => {
    const text = expandTopologyYaml(join(ROOT, "examples/leaf-spine.yaml"), { vars: { spines: "3" } });
    const plain = parse(text) as { devices: unknown[]; links: unknown[]; generate?: unknown; vars?: unknown };
    assert.equal(plain.generate, undefined);
    assert.equal(plain.vars, undefined);
    assert.equal(plain.devices.length, 3 + 4 + 12);
    assert.equal(plain.links.length, 3 * 4 + 12);
    assert.deepEqual(parseTopologyYaml(text).spec, parseTopologyYaml(text.replace(/^#.*\n/gm, "")).spec);
    assert.match(text, /- \{ name: spine3-leaf1, endpoints: \[ spine3, leaf1 \], addresses: \[ 10\.10\.0\.9\/30, 10\.10\.0\.10\/30 \] \}/);
  });
});

/** GOOD with the worker on a segment of r2, next to a second worker and a host. */
const SEG =
  GOOD.replace("name: t", "name: seg")
    .replace("routing: static", "routing: static\nencapsulation: none")
    .replace("  - { endpoints: [r2, w1], addresses: [10.0.2.1/24, 10.0.2.2/24] }\n", "")
    .replace("links:", "  - { name: w2, kind: worker }\n  - { name: pc, kind: host }\nlinks:") +
  `segments:
  - name: lan
    device: r2
    address: 10.0.5.1/24
    members:
      - { name: w1, address: 10.0.5.2/24, tc: { rate: 50mbit } }
      - { name: w2, address: 10.0.5.3/24 }
      - { name: pc, address: 10.0.5.4/24 }
`;

describe("segments:", () => {
  it("puts the device, the hosts and the nodes on one collision domain, the device their gateway", () => {
    const c = compile(parseTopologyYaml(SEG).spec);
    const r2 = c.lab.devices.find((d) => d.name === "r2")!;
    assert.deepEqual(r2.interfaces.at(-1)?.domain, "lan");
    assert.ok(netLines(r2).includes("ip addr add 10.0.5.1/24 dev eth1"));
    const pc = c.lab.devices.find((d) => d.name === "pc")!;
    assert.deepEqual(
      pc.interfaces.map((i) => i.domain),
      ["lan"],
    );
    // a host with one gateway: one route covering the other subnets (10.0.0.0/30, 10.0.1.0/24), not one each
    assert.deepEqual(
      netLines(pc).filter((x) => x.startsWith("ip route")),
      ["ip route add 10.0.0.0/23 via 10.0.5.1"],
    );
    assert.deepEqual(
      c.nodeLinks.filter((l) => l.domain === "lan").map((l) => `${l.node} ${l.nodeAddress} gw ${l.gateway} tc ${l.nodeTc?.rate ?? "-"}`),
      ["w1 10.0.5.2/24 gw 10.0.5.1 tc 50mbit", "w2 10.0.5.3/24 gw 10.0.5.1 tc -"],
    );
    // the other router routes the segment and the nodes' pods via r2; r2 routes each node's pods to it
    assert.ok(netLines(c.lab.devices.find((d) => d.name === "r1")).includes("ip route add 10.0.5.0/24 via 10.0.0.2"));
    const pr = c.clusterOptions.podRoutes!;
    assert.deepEqual(pr.find((r) => r.device === "r1" && r.node === "w2")?.via, "10.0.0.2");
    assert.deepEqual(pr.find((r) => r.device === "r2" && r.node === "w2")?.via, "10.0.5.3");
  });

  it("refuses members that are routers or on a second link, addresses off the subnet, at their places", () => {
    assert.deepEqual(problems(SEG.replace("{ name: pc, address: 10.0.5.4/24 }", "{ name: r1, address: 10.0.5.4/24 }")), [
      "21:17 r1 is a router; a segment's members are Kubernetes nodes and hosts",
      "10:5 device pc is not connected to anything",
    ]);
    assert.deepEqual(problems(SEG.replace("10.0.5.4/24 }", "10.0.6.4/24 }")), ["15:5 10.0.6.4/24 and 10.0.5.1/24 are not in one subnet"]);
    assert.deepEqual(
      problems(SEG + "  - { name: lan2, device: r1, address: 10.0.7.1/24, members: [{ name: w1, address: 10.0.7.2/24 }] }\n"),
      ["8:5 Kubernetes node w1 must have exactly one link (a leaf); it has 2"],
    );
  });
});
