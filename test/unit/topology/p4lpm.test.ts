/**
 * The IPv4 LPM table entries kinda writes for P4 switches (`lpm: true`) from the static route
 * plan: the seed's tree (examples/p4-tree.yaml) entry by entry, ports in the documented -i N@ethX
 * order, next hops by their fixed MACs; ECMP, segments, and the errors. No root, no Docker.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { compile, problems, netLines } from "../../support/compile.js";
import { loadTopologyYaml } from "../../../src/topology/yaml.js";
import { p4SwitchArgv } from "../../../src/topology/programmable.js";
import type { TopologySpec } from "../../../src/model/spec.js";
import { ROOT } from "../../support/env.js";

const dir = mkdtempSync(join(tmpdir(), "kinda-p4lpm-unit-"));
const PROGRAM = join(dir, "ipv4_lpm.json");
writeFileSync(PROGRAM, JSON.stringify({ header_types: [], parsers: [], deparsers: [], pipelines: [], actions: [] }));

/** examples/p4-tree.yaml with the program at a file that exists (the example's is built by p4c). */
function seedTree(): TopologySpec {
  const { spec } = loadTopologyYaml(join(ROOT, "examples", "p4-tree.yaml"));
  for (const d of spec.devices) if (d.kind === "p4-switch") Object.assign(d, { program: PROGRAM, p4info: undefined });
  return spec;
}

const T = "table_add MyIngress.ipv4_lpm MyIngress.ipv4_forward";
const GW_R1 = "02:6b:00:01:00:01"; // link 1 (gateway, r1), end 0: the gateway
const GW_R2 = "02:6b:00:02:00:01"; // link 2 (gateway, r2), end 0

describe("LPM entries for the seed's tree with P4 switches (examples/p4-tree.yaml)", () => {
  const c = compile(seedTree());

  it("r1: its neighbours host by host on their ports, every other subnet via the gateway on port 0", () => {
    assert.deepEqual(c.p4!.get("r1"), {
      // eth1 is the NAT interface that publishes the Thrift port: not a data port
      ports: ["eth0", "eth2", "eth3"],
      cli: [
        `${T} 10.0.2.1/32 => ${GW_R1} 0`,
        `${T} 10.0.4.2/32 => 02:6b:00:03:00:02 1`, // w1: link 3, end 1
        `${T} 10.0.5.2/32 => 02:6b:00:04:00:02 2`, // w2: link 4, end 1
        `${T} 10.0.1.0/24 => ${GW_R1} 0`,
        `${T} 10.0.3.0/24 => ${GW_R1} 0`,
        `${T} 10.0.6.0/24 => ${GW_R1} 0`,
        `${T} 10.0.7.0/24 => ${GW_R1} 0`,
      ],
    });
  });

  it("r2: the same shape on its side of the tree", () => {
    assert.deepEqual(c.p4!.get("r2"), {
      ports: ["eth0", "eth2", "eth3"],
      cli: [
        `${T} 10.0.3.1/32 => ${GW_R2} 0`,
        `${T} 10.0.6.2/32 => 02:6b:00:05:00:02 1`, // w3
        `${T} 10.0.7.2/32 => 02:6b:00:06:00:02 2`, // c1
        `${T} 10.0.1.0/24 => ${GW_R2} 0`,
        `${T} 10.0.2.0/24 => ${GW_R2} 0`,
        `${T} 10.0.4.0/24 => ${GW_R2} 0`,
        `${T} 10.0.5.0/24 => ${GW_R2} 0`,
      ],
    });
  });

  it("the MACs and ports the entries name are the ones kinda gives the interfaces", () => {
    const gw = c.lab.devices.find((d) => d.name === "gateway")!;
    assert.equal(gw.interfaces.find((i) => i.domain === "l1")!.mac, GW_R1);
    assert.equal(gw.interfaces.find((i) => i.domain === "l2")!.mac, GW_R2);
    const w1 = c.nodeLinks.find((l) => l.node === "w1")!;
    assert.deepEqual([w1.device, w1.deviceIf, w1.nodeMac], ["r1", "eth2", "02:6b:00:03:00:02"]);
    const c1 = c.nodeLinks.find((l) => l.node === "c1")!;
    assert.deepEqual([c1.device, c1.deviceIf, c1.nodeMac], ["r2", "eth3", "02:6b:00:06:00:02"]);
    const r1 = seedTree().devices.find((d) => d.name === "r1")!;
    assert.deepEqual(p4SwitchArgv(r1, c.p4!.get("r1")!.ports).slice(3, 9), ["-i", "0@eth0", "-i", "1@eth2", "-i", "2@eth3"]);
  });

  it("the switches get no kernel routes and no addresses; the gateway routes through their addresses, known statically", () => {
    const exec = (n: string) => netLines(c.lab.devices.find((d) => d.name === n));
    const run = (n: string) => c.lab.devices.find((d) => d.name === n)!.exec;
    assert.ok(!exec("r1").some((l) => l.startsWith("ip route")), exec("r1").join("\n"));
    assert.ok(!exec("r1").some((l) => l.startsWith("ip addr")), "its kernel stays off its ports (BMv2 would capture what it sends)");
    assert.equal(c.lab.devices.find((d) => d.name === "r1")!.sysctls["net.ipv6.conf.default.disable_ipv6"], "1");
    assert.ok(
      exec("gateway").includes("ip neigh replace 10.0.2.2 lladdr 02:6b:00:01:00:02 dev eth1 nud permanent"),
      exec("gateway").join("\n"),
    );
    assert.ok(run("gateway").includes("ethtool -K eth1 rx off tx off"), "checksums finished before the switch");
    assert.ok(!run("gateway").includes("ethtool -K eth0 rx off tx off"), "only toward the switches");
    const w1 = c.nodeLinks.find((l) => l.node === "w1")!;
    assert.deepEqual([w1.noDeviceAddress, w1.gatewayMac], [true, w1.deviceMac]);
    assert.ok(exec("gateway").includes("ip route add 10.0.4.0/24 via 10.0.2.2"));
    assert.ok(exec("gateway").includes("ip route add 10.0.7.0/24 via 10.0.3.2"));
  });

  it("the entries are staged for simple_switch_CLI, before the switch's own cli lines", () => {
    const spec = seedTree();
    spec.devices.find((d) => d.name === "r1")!.cli = ["table_set_default MyIngress.ipv4_lpm MyIngress.drop"];
    const r1 = compile(spec).lab.devices.find((d) => d.name === "r1")!;
    const text = r1.stageFiles.find((f) => f.name === "p4-cli.txt")!.text;
    const lines = text.trimEnd().split("\n");
    assert.equal(lines.length, 8);
    assert.equal(lines[0], `${T} 10.0.2.1/32 => ${GW_R1} 0`);
    assert.equal(lines[7], "table_set_default MyIngress.ipv4_lpm MyIngress.drop");
    assert.ok(
      r1.services!.some((s) => s.field === "cli"),
      "the CLI step runs",
    );
  });
});

describe("LPM entries: other shapes", () => {
  it("ECMP: the first of equal-cost next hops, with a warning that names the others", () => {
    const spec: TopologySpec = {
      name: "sq",
      routing: "static",
      devices: [
        { name: "p4", kind: "p4-switch", program: PROGRAM, lpm: { table: "Ing.fwd", action: "Ing.set_nhop" } },
        { name: "a", kind: "router" },
        { name: "b", kind: "router" },
        { name: "z", kind: "router" },
      ],
      links: [
        { endpoints: ["p4", "a"], addresses: ["10.1.1.1/30", "10.1.1.2/30"] },
        { endpoints: ["p4", "b"], addresses: ["10.1.2.1/30", "10.1.2.2/30"] },
        { endpoints: ["a", "z"], addresses: ["10.1.3.1/30", "10.1.3.2/30"] },
        { endpoints: ["b", "z"], addresses: ["10.1.4.1/30", "10.1.4.2/30"] },
      ],
    };
    const c = compile(spec);
    const cli = c.p4!.get("p4")!.cli;
    assert.ok(cli.includes("table_add Ing.fwd Ing.set_nhop 10.1.3.0/30 => 02:6b:00:00:00:02 0"));
    assert.ok(cli.includes("table_add Ing.fwd Ing.set_nhop 10.1.4.0/30 => 02:6b:00:01:00:02 1"));
    // z's far subnets are two hops either way: via a (port 0), the first
    const w = c.lab.warnings.map((x) => x.message).filter((m) => m.includes("equal-cost"));
    assert.deepEqual(w, []);
    spec.links.push({ endpoints: ["z", "a"], addresses: ["10.1.5.1/30", "10.1.5.2/30"] });
    spec.devices.push({ name: "y", kind: "router" });
    spec.links.push({ endpoints: ["z", "y"], addresses: ["10.1.6.1/30", "10.1.6.2/30"] });
    const c2 = compile(spec);
    assert.ok(c2.p4!.get("p4")!.cli.includes("table_add Ing.fwd Ing.set_nhop 10.1.6.0/30 => 02:6b:00:00:00:02 0"));
    const w2 = c2.lab.warnings.map((x) => x.message).filter((m) => m.includes("equal-cost"));
    assert.ok(
      w2.some((m) => /P4 switch p4: 10\.1\.6\.0\/30 has 2 equal-cost next hops \(10\.1\.1\.2, 10\.1\.2\.2\)/.test(m)),
      w2.join("\n"),
    );
  });

  it("a segment on a P4 switch: its member nodes get fixed MACs and one entry each on the segment's port", () => {
    const spec: TopologySpec = {
      name: "seg",
      routing: "static",
      devices: [
        { name: "gw", kind: "router" },
        { name: "p4", kind: "p4-switch", program: PROGRAM, lpm: true },
        { name: "c1", kind: "control-plane" },
        { name: "w1", kind: "worker" },
      ],
      links: [{ endpoints: ["gw", "p4"], addresses: ["10.2.0.1/30", "10.2.0.2/30"] }],
      segments: [
        {
          name: "rack",
          device: "p4",
          address: "10.2.1.1/24",
          members: [
            { name: "c1", address: "10.2.1.2/24" },
            { name: "w1", address: "10.2.1.3/24" },
          ],
        },
      ],
    };
    const c = compile(spec);
    assert.deepEqual(
      c.nodeLinks.map((l) => [l.node, l.nodeMac]),
      [
        ["c1", "02:6b:00:01:00:02"],
        ["w1", "02:6b:00:01:00:03"],
      ],
    );
    assert.deepEqual(c.p4!.get("p4")!.cli, [
      `${T} 10.2.0.1/32 => 02:6b:00:00:00:01 0`,
      `${T} 10.2.1.2/32 => 02:6b:00:01:00:02 1`,
      `${T} 10.2.1.3/32 => 02:6b:00:01:00:03 1`,
    ]);
  });

  it("lpm needs routing static; only P4 switches take it; names are checked", () => {
    const base = (extra: string, top = "routing: static") => `name: t
${top}
devices:
  - { name: gw, kind: router }
  - { name: p4, kind: p4-switch, program: ${PROGRAM}, lpm: true }
${extra}links:
  - { endpoints: [gw, p4], addresses: [10.0.0.1/30, 10.0.0.2/30] }
`;
    assert.deepEqual(problems(base("")), []);
    assert.match(
      problems(base("", "routing: none")).join("\n"),
      /5:\d+ lpm entries are written from the static route plan; set routing: static/,
    );
    // pods routed natively: their entries come at attach time (below), so that is no problem any more
    assert.deepEqual(problems(base("", "routing: static\nencapsulation: none")), []);
    assert.match(problems(base("  - { name: r, kind: router, lpm: true }\n")).join("\n"), /6:\d+ lpm belongs to P4 switches/);
    assert.match(problems(base("").replace("lpm: true", "lpm: { table: 'a b' }")).join("\n"), /"a b" is not a P4 table name/);
  });
});

describe("LPM entries for pod CIDRs (encapsulation none): each node's next hop, entries at attach time", () => {
  const native = () => ({ ...seedTree(), encapsulation: "none" as const });
  const route = (device: string, node: string, via: string, mac: string, port: number) => ({
    device,
    node,
    table: "MyIngress.ipv4_lpm",
    action: "MyIngress.ipv4_forward",
    via,
    mac,
    port,
  });

  it("the seed's tree: r1 sends w1's and w2's pods to them (ports 1, 2), the others' to the gateway (port 0); r2 alike", () => {
    const c = compile(native());
    assert.deepEqual(c.p4!.get("r1")!.podRoutes, [
      route("r1", "w1", "10.0.4.2", "02:6b:00:03:00:02", 1),
      route("r1", "w2", "10.0.5.2", "02:6b:00:04:00:02", 2),
      route("r1", "w3", "10.0.2.1", GW_R1, 0),
      route("r1", "c1", "10.0.2.1", GW_R1, 0),
    ]);
    assert.deepEqual(c.p4!.get("r2")!.podRoutes, [
      route("r2", "w1", "10.0.3.1", GW_R2, 0),
      route("r2", "w2", "10.0.3.1", GW_R2, 0),
      route("r2", "w3", "10.0.6.2", "02:6b:00:05:00:02", 1),
      route("r2", "c1", "10.0.7.2", "02:6b:00:06:00:02", 2),
    ]);
    // the cluster gets them; the routers (internet, gateway) keep their kernel pod routes, the switches get none
    assert.deepEqual(c.clusterOptions.p4PodRoutes, [...c.p4!.get("r1")!.podRoutes!, ...c.p4!.get("r2")!.podRoutes!]);
    assert.deepEqual([...new Set(c.clusterOptions.podRoutes!.map((r) => r.device))], ["internet", "gateway"]);
    // the subnets' entries are the same as with a tunnel: pods add to them, they change nothing
    assert.deepEqual(c.p4!.get("r1")!.cli, compile(seedTree()).p4!.get("r1")!.cli);
  });

  it("with a tunnel (vxlan) there are none: pods' packets travel between node addresses", () => {
    const c = compile(seedTree());
    assert.equal(c.p4!.get("r1")!.podRoutes, undefined);
    assert.equal(c.clusterOptions.p4PodRoutes, undefined);
  });

  it("ECMP toward a node: the first next hop, with a warning naming the others", () => {
    const spec: TopologySpec = {
      name: "sqpods",
      routing: "static",
      encapsulation: "none",
      devices: [
        { name: "p4", kind: "p4-switch", program: PROGRAM, lpm: true },
        { name: "a", kind: "router" },
        { name: "b", kind: "router" },
        { name: "z", kind: "router" },
        { name: "c1", kind: "control-plane" },
        { name: "w1", kind: "worker" },
      ],
      links: [
        { endpoints: ["p4", "a"], addresses: ["10.1.1.1/30", "10.1.1.2/30"] },
        { endpoints: ["p4", "b"], addresses: ["10.1.2.1/30", "10.1.2.2/30"] },
        { endpoints: ["a", "z"], addresses: ["10.1.3.1/30", "10.1.3.2/30"] },
        { endpoints: ["b", "z"], addresses: ["10.1.4.1/30", "10.1.4.2/30"] },
        { endpoints: ["z", "w1"], addresses: ["10.1.5.1/30", "10.1.5.2/30"] },
        { endpoints: ["p4", "c1"], addresses: ["10.1.6.1/30", "10.1.6.2/30"] },
      ],
    };
    const c = compile(spec);
    const w1 = c.p4!.get("p4")!.podRoutes!.find((r) => r.node === "w1")!;
    assert.deepEqual([w1.via, w1.mac, w1.port], ["10.1.1.2", "02:6b:00:00:00:02", 0]);
    const c1 = c.p4!.get("p4")!.podRoutes!.find((r) => r.node === "c1")!;
    assert.deepEqual([c1.via, c1.mac, c1.port], ["10.1.6.2", "02:6b:00:05:00:02", 2]);
    const w = c.lab.warnings.map((x) => x.message).filter((m) => m.includes("pods"));
    assert.deepEqual(w, [
      "P4 switch p4: the route to w1's pods has 2 equal-cost next hops (10.1.1.2, 10.1.2.2); its LPM table takes the first, 10.1.1.2 (a)",
    ]);
  });

  it("a P4 switch without lpm on the pods' path is warned about: kinda writes it no pod entries", () => {
    const spec = native();
    for (const d of spec.devices) if (d.name === "r1") delete (d as { lpm?: unknown }).lpm;
    const c = compile(spec);
    assert.equal(c.p4!.get("r1")!.podRoutes, undefined);
    const w = c.lab.warnings.map((x) => x.message).filter((m) => m.includes("has no lpm"));
    assert.deepEqual(w, [
      "P4 switch r1 carries pod traffic (encapsulation: none) but has no lpm: kinda writes no entries for the pod CIDRs there; its program or cli must forward them (or set lpm: true)",
    ]);
    assert.deepEqual(
      compile(native()).lab.warnings.filter((x) => x.message.includes("has no lpm")),
      [],
      "not with lpm on both switches",
    );
  });
});
