/**
 * What kinda generates for programmable devices (P4 switches, Open vSwitch): command lines, port
 * order, mounts, published ports, CLI entries, readiness wait, addresses and routes, node-link
 * interfaces, and the errors for bad fields and files. No root, no Docker.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { compile, netLines } from "../../support/compile.js";
import { planTopology } from "../../../src/app/topology.js";
import { formatPlan } from "../../../src/plan/lab.js";
import { parseTopologyYaml, loadTopologyYaml } from "../../../src/topology/yaml.js";
import { IncSwitchMeta, OvsSwitchMeta } from "../../../src/topology/builders.js";
import { p4Services, p4SwitchArgv, programFileProblem, P4_PROGRAM, P4_INFO, P4_SOURCE_DIR } from "../../../src/topology/programmable.js";
import type { TopologySpec } from "../../../src/model/spec.js";
import { StateStore } from "../../../src/state/store.js";
import { formatDeviceUndo, planCluster, renderStep } from "../../../src/plan/cluster.js";
import { fakeNodes } from "../../support/facts.js";
import { ROOT } from "../../support/env.js";
import { serviceArgv } from "../../../src/plan/ops.js";

const dir = mkdtempSync(join(tmpdir(), "kinda-p4-unit-"));
const PROGRAM = join(dir, "prog.json");
writeFileSync(PROGRAM, JSON.stringify({ header_types: [], parsers: [], deparsers: [], pipelines: [], actions: [] }));
const P4INFO = join(dir, "prog.p4info.txt");
writeFileSync(P4INFO, "pkg_info {}\n");
const store = new StateStore("/nonexistent-kinda-state");

/** gw - p4 (BMv2) - w1/c1, and gw - ovs - w2. */
function spec(over: Partial<Record<"p4" | "ovs", object>> = {}): TopologySpec {
  return {
    name: "prog",
    routing: "static",
    encapsulation: "none",
    devices: [
      { name: "gw", kind: "router" },
      {
        name: "p4",
        kind: "p4-switch",
        program: PROGRAM,
        p4info: P4INFO,
        grpcPort: 50051,
        cli: ["table_add t a 10.0.4.0/24 => 1"],
        ...over.p4,
      },
      { name: "ovs", kind: "ovs-switch", flows: ["priority=10,arp,actions=NORMAL"], ...over.ovs },
      { name: "w1", kind: "worker" },
      { name: "c1", kind: "control-plane" },
      { name: "w2", kind: "worker" },
    ],
    links: [
      { endpoints: ["p4", "w1"], addresses: ["10.0.4.1/24", "10.0.4.2/24"] },
      { endpoints: ["gw", "p4"], addresses: ["10.0.2.1/24", "10.0.2.2/24"] },
      { endpoints: ["p4", "c1"], addresses: ["10.0.5.1/24", "10.0.5.2/24"] },
      { endpoints: ["gw", "ovs"], addresses: ["10.0.3.1/24", "10.0.3.2/24"] },
      { endpoints: ["ovs", "w2"], addresses: ["10.0.6.1/24", "10.0.6.2/24"] },
    ],
  };
}

describe("P4 switches (BMv2)", () => {
  const c = compile(spec());
  const p4 = c.lab.devices.find((d) => d.name === "p4")!;

  it("ports: lab links first (eth0), then node links after the NAT interface, in link order", () => {
    assert.deepEqual(
      p4.interfaces.map((i) => i.index),
      [0],
    );
    const nl = c.nodeLinks.filter((l) => l.device === "p4");
    // eth0: gw; eth1: the NAT interface of the published ports; eth2: w1; eth3: c1
    assert.deepEqual(
      nl.map((l) => [l.node, l.deviceIf]),
      [
        ["w1", "eth2"],
        ["c1", "eth3"],
      ],
    );
    // fixed MACs on node links too (link 0, the node at end 1), for table entries
    assert.deepEqual([nl[0]!.nodeMac, nl[0]!.deviceMac], ["02:6b:00:00:00:02", "02:6b:00:00:00:01"]);
    const start = p4.services[1]!;
    assert.deepEqual(serviceArgv(start).slice(4), [
      "simple_switch_grpc",
      "--device-id",
      "0",
      "-i",
      "0@eth0",
      "-i",
      "1@eth2",
      "-i",
      "2@eth3",
      "--thrift-port",
      "9090",
      "--log-console",
      "--log-level",
      "info",
      P4_PROGRAM,
      "--",
      "--grpc-server-addr",
      "0.0.0.0:9559",
    ]);
    // a fixed script backgrounds it; nothing of the topology is in the script text
    assert.equal(serviceArgv(start)[0], "sh");
    assert.ok(!serviceArgv(start)[2]!.includes("eth") && !serviceArgv(start)[2]!.includes("9559"));
  });

  it("without grpcPort: simple_switch, no gRPC address", () => {
    const c2 = compile(spec({ p4: { grpcPort: undefined } }));
    const argv = serviceArgv(c2.lab.devices.find((d) => d.name === "p4")!.services[1]!);
    assert.equal(argv[4], "simple_switch");
    assert.ok(!argv.includes("--grpc-server-addr"));
    assert.deepEqual(
      c2.lab.devices.find((d) => d.name === "p4")!.ports.map((p) => p.guest),
      [9090],
    );
  });

  it("mounts program and P4Info read-only, publishes gRPC and Thrift, no kernel forwarding or routes", () => {
    assert.deepEqual(p4.volumes, [
      { host: PROGRAM, guest: P4_PROGRAM, readOnly: true },
      { host: P4INFO, guest: P4_INFO, readOnly: true },
    ]);
    assert.deepEqual(p4.ports, [
      { host: 0, guest: 9090, protocol: "tcp" },
      { host: 50051, guest: 9559, protocol: "tcp" },
    ]);
    assert.equal(p4.sysctls["net.ipv4.ip_forward"], "0");
    assert.ok(!netLines(p4).some((x) => x.startsWith("ip route")), `no kernel routes: ${netLines(p4).join("; ")}`);
    assert.ok(!netLines(p4).some((x) => x.startsWith("ip addr")), "no address on its ports: the kernel stays off them");
    assert.equal(p4.sysctls["net.ipv6.conf.all.disable_ipv6"], "1");
    assert.ok(!(c.clusterOptions.podRoutes ?? []).some((r) => r.device === "p4"), "no pod routes in a P4 switch");
    assert.equal(p4.image, "kathara/p4");
  });

  it("waits until the switch answers, then applies the CLI entries from a staged file; ports on node links wait for the cluster", () => {
    const [off, , ready, cli] = p4.services;
    assert.deepEqual(serviceArgv(off!).slice(-3), ["eth0", "eth2", "eth3"], "the kernel is kept off every port first");
    assert.equal(ready!.retrySeconds! > 0, true);
    assert.match("Could not connect to thrift client on port 9090", new RegExp(ready!.failOn!, "m"));
    assert.equal(cli!.field, "cli");
    assert.deepEqual(cli!.cli, [{ text: "table_add t a 10.0.4.0/24 => 1", field: "cli[0]" }]);
    assert.deepEqual(p4.stageFiles, [{ name: "p4-cli.txt", text: "table_add t a 10.0.4.0/24 => 1\n" }]);
    assert.ok(
      p4.services.every((s) => s.after === "cluster"),
      "its ports include node links",
    );
    const labOnly = compile({
      name: "x",
      devices: [
        { name: "h", kind: "host" },
        { name: "s", kind: "p4-switch", program: PROGRAM },
      ],
      links: [{ endpoints: ["h", "s"] }],
    });
    assert.ok(labOnly.lab.devices[1]!.services.every((s) => s.after === "network"));
  });

  it("the dry-run shows the command lines", () => {
    const text = formatPlan(planTopology(spec(), { store }).plan);
    assert.match(text, /once its node links exist, start the switch: .*simple_switch_grpc --device-id 0 -i 0@eth0 -i 1@eth2 -i 2@eth3/);
    assert.match(text, /add flow: ovs-ofctl add-flow br0 priority=10,arp,actions=NORMAL/);
  });

  it("IncSwitchMeta: with a program a P4 switch, without one the seed's plain router", () => {
    assert.equal(IncSwitchMeta({ program: PROGRAM }).kind, "p4-switch");
    assert.equal(IncSwitchMeta().kind, "switch");
    assert.equal(OvsSwitchMeta().kind, "ovs-switch");
  });

  it("an image without the switch binary fails the start at once, saying which and why (not after the 60 s wait)", () => {
    // seen on a real BMv2 built by hand without gRPC: no simple_switch_grpc, "nohup: failed to run command" after 60 s
    for (const [d, missing, why] of [
      [{ program: "x.json", grpcPort: 50051 }, "simple_switch_grpc", /leave grpcPort out to run simple_switch/],
      [{ program: "x.json" }, "simple_switch", /needs an image with BMv2/],
    ] as const) {
      const start = p4Services(d, ["eth0"], false, [], false).find((s) => s.what === "start the switch")!;
      assert.equal(serviceArgv(start)[4], missing);
      // the script run by a real sh where the switch is not on PATH: it stops before writing anything
      const r = spawnSync(serviceArgv(start)[0]!, serviceArgv(start).slice(1), { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
      assert.equal(r.status, 127, r.stderr);
      assert.match(r.stdout, new RegExp(`^this image has no ${missing}: `));
      assert.match(r.stdout, why);
    }
  });

  it("p4SwitchArgv numbers ports in the order given", () => {
    assert.deepEqual(p4SwitchArgv({ name: "s", kind: "p4-switch", program: "x" }, ["eth0", "eth1"]).slice(3, 7), [
      "-i",
      "0@eth0",
      "-i",
      "1@eth1",
    ]);
  });
});

describe("Open vSwitch devices", () => {
  const c = compile(spec());
  const ovs = c.lab.devices.find((d) => d.name === "ovs")!;

  it("daemons, a userspace-datapath bridge over all data interfaces (node links too), NORMAL, flows in order", () => {
    const argvs = ovs.services.map((s) => serviceArgv(s).join(" "));
    assert.ok(argvs.some((a) => a.startsWith("ovsdb-server /etc/openvswitch/conf.db")));
    assert.ok(argvs.some((a) => a.startsWith("ovs-vswitchd --pidfile --detach")));
    assert.ok(argvs.includes("ovs-vsctl add-br br0 -- set bridge br0 datapath_type=netdev fail_mode=standalone"));
    assert.ok(argvs.includes("ovs-vsctl add-port br0 eth0 -- set interface eth0 ofport_request=1"));
    assert.ok(argvs.includes("ovs-vsctl add-port br0 eth1 -- set interface eth1 ofport_request=2"));
    assert.equal(argvs.at(-1), "ovs-ofctl add-flow br0 priority=10,arp,actions=NORMAL");
    // the bridge comes up by a typed operation (topology/ builds no ip argv), rendered where it runs
    const up = ovs.services.find((s) => s.what === "bring the bridge up")!;
    assert.deepEqual([up.op, up.argv], [{ op: "link-set", name: "br0", up: true }, undefined]);
    assert.ok(argvs.includes("ip link set br0 up"), argvs.join("\n"));
    assert.equal(ovs.services.at(-1)!.field, "flows[0]");
    assert.deepEqual(ovs.hostDevices, ["/dev/net/tun"]);
    assert.equal(ovs.image, "kathara/sdn");
  });

  it("its addresses sit on the bridge, also a node link's (deviceAddressIf); routes stay in its kernel", () => {
    assert.ok(netLines(ovs).includes("ip addr add 10.0.3.2/24 dev br0"));
    assert.ok(netLines(ovs).some((x) => x.startsWith("ip route add 10.0.4.0/24 via 10.0.3.1")));
    const nl = c.nodeLinks.find((l) => l.node === "w2")!;
    assert.equal(nl.deviceIf, "eth1");
    assert.equal(nl.deviceAddressIf, "br0");
    const nodes = fakeNodes(1).map((n) => ({ ...n, name: "w2" }));
    const plan = planCluster({
      lab: "prog",
      nodes,
      devices: [{ name: "ovs", container: "c-ovs", pid: 4242, interfaces: ["eth0"] }],
      links: [nl],
      options: { encapsulation: "vxlan" },
    });
    const devIp = plan.steps.filter((s) => "pid" in s.ns && s.ns.pid === 4242).flatMap((s) => renderStep(s).ip);
    assert.ok(devIp.includes("addr add 10.0.6.1/24 dev br0"), devIp.join("\n"));
    assert.ok(!devIp.some((l) => l.startsWith("addr add") && l.endsWith("dev eth1")));
    // the address on the device's own bridge is removed with the cluster; the link's veth end goes too
    assert.deepEqual(formatDeviceUndo(plan), [{ device: "ovs", undo: ["addr del 10.0.6.1/24 dev br0", "link delete eth1"] }]);
  });

  it("a controller makes the bridge secure (the controller's flows only)", () => {
    const o = compile(spec({ ovs: { controller: "tcp:192.0.2.10:6653" } })).lab.devices.find((d) => d.name === "ovs")!;
    const argvs = o.services.map((s) => serviceArgv(s).join(" "));
    assert.ok(argvs.includes("ovs-vsctl set-controller br0 tcp:192.0.2.10:6653"));
    assert.ok(argvs.some((a) => a.includes("fail_mode=secure")));
  });
});

describe("bad input on programmable devices", () => {
  const cases: [string, string, RegExp][] = [
    ["a program that does not exist", "program: nope.json", / 4:\d+: P4 switch s: .*nope\.json does not exist/],
    ["P4 source that does not exist", "program: nope.p4", / 4:\d+: P4 switch s: .*nope\.p4 does not exist$/m],
    ["JSON that is not BMv2's", "program: other.json", / 4:\d+: P4 switch s: .*other\.json is not BMv2 JSON \(no header_types/],
    ["no program", "cli: [x]", / 3:\d+: a P4 switch needs program/],
    ["a P4Info that does not exist", "program: prog.json, p4info: missing.txt", / 4:\d+: P4 switch s: .*missing\.txt does not exist/],
    [
      "flows on a P4 switch",
      "program: prog.json, flows: [x]",
      / 4:\d+: flows belongs to Open vSwitch devices \(kind: ovs-switch\), not to a p4-switch/,
    ],
    ["the same host port twice", "program: prog.json, grpcPort: 5000, thriftPort: 5000", / 4:\d+: thriftPort 5000 is also the grpcPort/],
  ];
  writeFileSync(join(dir, "src.p4"), "control c() { apply {} }\n");
  writeFileSync(join(dir, "other.json"), '{"name": "not a switch program"}');
  for (const [what, fields, re] of cases)
    it(`rejects ${what} at its line`, () => {
      const file = join(dir, "t.yaml");
      writeFileSync(
        file,
        `name: t\ndevices:\n  - { name: s, kind: p4-switch,\n      ${fields} }\n  - { name: h, kind: host }\nlinks:\n  - { endpoints: [s, h] }\n`,
      );
      assert.throws(
        () => {
          const y = loadTopologyYaml(file);
          compile(y.spec, y.where);
        },
        (e: Error) => {
          assert.match(e.message.replace(`${file}:`, ""), re);
          return true;
        },
      );
    });

  it("rejects a controller that is no OpenFlow address, and P4 fields on an OVS device", () => {
    const y = parseTopologyYaml(
      "name: t\ndevices:\n  - { name: s, kind: ovs-switch, controller: '192.0.2.1', grpcPort: 7 }\n  - { name: h, kind: host }\nlinks:\n  - { endpoints: [s, h] }\n",
      "t.yaml",
    );
    assert.throws(
      () => compile(y.spec, y.where),
      (e: Error) =>
        /"192\.0\.2\.1" is not an OpenFlow controller address/.test(e.message) &&
        /grpcPort belongs to P4 switches \(kind: p4-switch\), not to a ovs-switch/.test(e.message),
    );
  });

  it("programFileProblem accepts the BMv2 JSON shape", () => {
    assert.equal(programFileProblem(PROGRAM), undefined);
  });

  it("a .p4 program: its folder mounted, compiled in the device by the image's p4c before the switch starts from p4c's JSON", () => {
    const src = join(dir, "fwd.p4");
    writeFileSync(src, "/* P4 source: kinda does not read it, the device's p4c does */\n");
    assert.equal(programFileProblem(src), undefined);
    assert.equal(programFileProblem(join(dir, "missing.p4")), `${join(dir, "missing.p4")} does not exist`);
    const sw = compile(spec({ p4: { program: src } })).lab.devices.find((d) => d.name === "p4")!;
    assert.deepEqual(sw.volumes[0], { host: dir, guest: P4_SOURCE_DIR, readOnly: true });
    const [off, build, start] = sw.services;
    assert.match(off!.what, /kernel off/);
    assert.match(build!.what, /compile the program in the device/);
    assert.equal(build!.field, "program");
    assert.deepEqual(serviceArgv(build!).slice(-2), [`${P4_SOURCE_DIR}/fwd.p4`, "/var/lib/kinda-p4"]);
    assert.match(serviceArgv(build!)[2]!, /command -v p4c .*this image has no p4c/);
    assert.match(serviceArgv(build!)[2]!, /p4c --target bmv2 --arch v1model -o "\$2" --p4runtime-files "\$2\/p4info.txt" "\$1"/);
    assert.ok(serviceArgv(start!).includes("/var/lib/kinda-p4/fwd.json"), "the switch loads what p4c wrote");
    assert.ok(!serviceArgv(start!).includes(P4_PROGRAM));
    // its cli lines are checked against what p4c wrote, after the compile and before the switch starts
    const withCli = compile(spec({ p4: { program: src, cli: ["table_add t a 1 => 2", "", "table_clear t"] } })).lab.devices.find(
      (d) => d.name === "p4",
    )!;
    const whats = withCli.services.map((x) => x.what);
    const check = withCli.services.find((x) => x.checkCli)!;
    assert.deepEqual(serviceArgv(check), ["cat", "/var/lib/kinda-p4/fwd.json"]);
    assert.deepEqual(check.checkCli, [
      { text: "table_add t a 1 => 2", field: "cli[0]" },
      { text: "table_clear t", field: "cli[2]" },
    ]);
    assert.ok(whats.indexOf(check.what) === whats.findIndex((w) => /compile/.test(w)) + 1, whats.join("; "));
    assert.ok(whats.indexOf(check.what) < whats.indexOf("start the switch"), whats.join("; "));
    // with JSON, no compile step and the mounted program
    const json = compile(spec()).lab.devices.find((d) => d.name === "p4")!;
    assert.ok(!json.services.some((x) => /compile/.test(x.what)));
    assert.ok(json.services.some((x) => serviceArgv(x).includes(P4_PROGRAM)));
  });
});

describe("examples", () => {
  it("examples/ovs.yaml compiles: an OVS switch between two nodes, pods routed natively", () => {
    const y = loadTopologyYaml(join(ROOT, "examples", "ovs.yaml"));
    const c = compile(y.spec, y.where);
    assert.equal(serviceArgv(c.lab.devices[0]!.services.at(-1)!).at(-1), "priority=10,arp,actions=NORMAL");
    assert.deepEqual(
      c.nodeLinks.map((l) => [l.node, l.deviceIf, l.deviceAddressIf]),
      [
        ["w1", "eth0", "br0"],
        ["c1", "eth1", "br0"],
      ],
    );
  });
});
