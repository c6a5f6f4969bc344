/** Run-time link changes: endpoints, shaping checks, typed operations, inverses and command lines. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  commandsFor,
  cutOps,
  inverse,
  phaseOf,
  planLinkAdd,
  planLinkRemove,
  resolveEndpoint,
  shapeOps,
  tcpdumpArgv,
  ensureSlot,
  nextSlot,
  slotOf,
  takeSlot,
  type LabLinks,
  type LiveOp,
} from "../../../src/plan/live.js";
import { applyOps, checkShaping } from "../../../src/engine/live.js";
import { MemoryKernel } from "../../support/memory.js";
import { qdiscArgs, shapingProblems } from "../../../src/core/tc.js";
import { formatLinks, withRates, type LinkCounters } from "../../../src/engine/watch.js";
import type { LabState } from "../../../src/state/store.js";
import { fitDeviceToLab, type DevicePlan } from "../../../src/plan/lab.js";

/** h1 -lan1- r1 -core- r2 -lan2- h2, r2 also on lan1 (so r1 and r2 share two domains); w1 linked into r2, w2 into lan2. */
function lab(): LabState {
  const dev = (name: string, i: number, ifs: [string, string][]) => ({
    name,
    container: `kinda-t-${name}`,
    image: "img",
    shell: "/bin/sh",
    interfaces: ifs.map(([n, domain], k) => ({ name: n, domain, hostIf: `v-${i}-${k}` })),
  });
  return {
    version: 1,
    name: "t",
    kind: "kathara",
    netns: "kinda-t",
    phase: "up",
    createdAt: "",
    updatedAt: "",
    warnings: [],
    domains: ["core", "lan1", "lan2"].map((name, i) => ({ name, bridge: `cd-${i}` })),
    devices: [
      dev("h1", 0, [["eth0", "lan1"]]),
      dev("r1", 1, [
        ["eth0", "lan1"],
        ["eth1", "core"],
      ]),
      dev("r2", 2, [
        ["eth0", "core"],
        ["eth1", "lan2"],
        ["eth2", "lan1"],
      ]),
      dev("h2", 3, [["eth0", "lan2"]]),
    ],
    cluster: {
      provider: "kind",
      name: "c",
      providerOptions: {},
      phase: "up",
      encapsulation: "vxlan",
      nodes: [
        { name: "w1", role: "worker", k8sName: "c-worker", container: "c-worker" },
        { name: "w2", role: "worker", k8sName: "c-worker2", container: "c-worker2" },
      ],
      links: [
        { node: "w1", device: "r2", nodeAddress: "10.9.0.2/24", nodeIf: "eth1", deviceIf: "eth3" },
        { node: "w2", domain: "lan2", nodeAddress: "10.2.0.20/24", nodeIf: "eth1", labIf: "kn-1" },
      ],
      hostLinks: [],
    },
  };
}

const labNs = { netns: "kinda-t" };

describe("endpoints", () => {
  it("DEVICE:IFACE: into the device at its lab-side end, out of it inside the device; cut at the lab side", () => {
    const t = resolveEndpoint(lab(), "r1:eth1");
    assert.deepEqual(t.directions, [
      { from: "r1", to: "domain core", at: { ns: { container: "kinda-t-r1" }, dev: "eth1" } },
      { from: "domain core", to: "r1", at: { ns: labNs, dev: "v-1-1" } },
    ]);
    assert.deepEqual(t.cut, [{ at: { ns: labNs, dev: "v-1-1" }, how: "carrier" }]);
    assert.deepEqual(t.capture, { ns: labNs, dev: "v-1-1" });
  });

  it("A--B on a two-device domain: each direction where it enters the receiver, both lab-side ends cut", () => {
    assert.throws(() => resolveEndpoint(lab(), "r1--r2"), /share 2 collision domains \(core, lan1\)/);
    const t = resolveEndpoint(lab(), "h2--r2");
    assert.deepEqual(
      t.directions.map((d) => [d.from, d.to, d.at.dev]),
      [
        ["h2", "r2", "v-2-1"],
        ["r2", "h2", "v-3-0"],
      ],
    );
    assert.deepEqual(
      t.cut.map((c) => [c.at.dev, c.how]),
      [
        ["v-3-0", "carrier"],
        ["v-2-1", "carrier"],
      ],
    );
    assert.match(t.description, /shared with w2/);
  });

  it("a node linked straight into a device: shaped at each sender, cut by filters on both veth ends", () => {
    for (const e of ["w1--r2", "r2--w1"]) {
      const t = resolveEndpoint(lab(), e);
      assert.deepEqual(
        t.cut.map((c) => [c.at.ns, c.at.dev, c.how]),
        e === "w1--r2"
          ? [
              [{ container: "c-worker" }, "eth1", "filter"],
              [{ container: "kinda-t-r2" }, "eth3", "filter"],
            ]
          : [
              [{ container: "kinda-t-r2" }, "eth3", "filter"],
              [{ container: "c-worker" }, "eth1", "filter"],
            ],
      );
    }
    const t = resolveEndpoint(lab(), "w1:eth1");
    assert.deepEqual(t.capture, { ns: { container: "c-worker" }, dev: "eth1" }, "captured on the node's veth");
  });

  it("a node in a collision domain has a lab-side end: its carrier is the cable", () => {
    const t = resolveEndpoint(lab(), "w2:eth1");
    assert.deepEqual(t.cut, [{ at: { ns: labNs, dev: "kn-1" }, how: "carrier" }]);
  });

  it("a collision domain: every member's lab-side end; captured on its bridge", () => {
    const t = resolveEndpoint(lab(), "lan2");
    assert.deepEqual(t.cut.map((c) => c.at.dev).sort(), ["kn-1", "v-2-1", "v-3-0"]);
    assert.deepEqual(t.capture, { ns: labNs, dev: "cd-2" });
  });

  it("unknown endpoints name the argument and what exists", () => {
    assert.throws(() => resolveEndpoint(lab(), "r9:eth0"), /ENDPOINT "r9:eth0": lab t has no device or node r9/);
    assert.throws(
      () => resolveEndpoint(lab(), "r1:eth7"),
      (e: Error & { hint?: string }) => /no linked interface eth7/.test(e.message) && e.hint === "r1 has eth0, eth1",
    );
    assert.throws(() => resolveEndpoint(lab(), "h1--h2"), /h1 and h2 share no link/);
    assert.throws(
      () => resolveEndpoint(lab(), "wan"),
      (e: Error & { hint?: string }) => /neither/.test(e.message) && /core, lan1, lan2/.test(e.hint ?? ""),
    );
  });
});

describe("shaping", () => {
  it("a rate alone is a token bucket with defaults", () => {
    assert.deepEqual(qdiscArgs({ rate: "10mbit" }), ["tbf", "rate", "10mbit", "burst", "32kbit", "latency", "50ms"]);
  });

  it("netem options build one netem qdisc, with its own rate", () => {
    assert.deepEqual(
      qdiscArgs({ delay: "20ms", jitter: "5ms", loss: "1%", duplicate: "0.5%", reorder: "25%", corrupt: "0.1%", rate: "5mbit" }),
      ["netem", "delay", "20ms", "5ms", "loss", "1%", "duplicate", "0.5%", "reorder", "25%", "corrupt", "0.1%", "rate", "5mbit"],
    );
  });

  it("every problem names its field", () => {
    const p = (s: Parameters<typeof shapingProblems>[0]) => shapingProblems(s).map((x) => `${x.field}: ${x.message}`);
    assert.deepEqual(p({ rate: "10mbps/s" }), ['rate: "10mbps/s" is not a tc rate (e.g. 10mbit)']);
    assert.deepEqual(p({ rate: "1mbit", burst: "lots", latency: "5" }), [
      'burst: "lots" is not a tc size (e.g. 32kbit)',
      'latency: "5" is not a tc time (e.g. 50ms)',
    ]);
    assert.deepEqual(p({ loss: "120%" }), ['loss: "120%" is not a percentage (e.g. 1%)']);
    assert.match(p({ jitter: "1ms" }).join(), /jitter: needs a delay/);
    assert.match(p({ reorder: "5%" }).join(), /reorder: needs a delay/);
    assert.match(p({}).join(), /rate: is missing/);
    assert.match(p({ delay: "1ms", burst: "1k" }).join(), /burst: applies to the token bucket/);
  });

  it("netem is refused, naming the options, when the kernel has none; allowed when it has", async () => {
    await assert.rejects(
      checkShaping({ delay: "10ms", loss: "1%" }, async () => false),
      /--delay, --loss: this kernel has no netem qdisc \(sch_netem\)/,
    );
    await checkShaping({ delay: "10ms", loss: "1%" }, async () => true);
    await checkShaping({ rate: "1mbit" }, async () => assert.fail("a rate alone needs no netem probe"));
    await assert.rejects(
      checkShaping({ rate: "x" }, async () => true),
      /^KindaError: --rate "x" is not a tc rate/,
    );
  });
});

describe("operations, inverses and command lines", () => {
  const t = () => resolveEndpoint(lab(), "h2--r2");

  it("shaping both directions, or only the one leaving --from", () => {
    assert.equal(shapeOps(t(), { rate: "1mbit" }).length, 2);
    const one = shapeOps(t(), { rate: "1mbit" }, "h2");
    assert.deepEqual(one, [{ kind: "shape", at: { ns: labNs, dev: "v-2-1" }, shaping: { rate: "1mbit" } }]);
    assert.throws(() => shapeOps(t(), { rate: "1mbit" }, "r1"), /--from r1: no direction .* starts there/);
  });

  it("each operation has its inverse; shaping goes back to what was there", () => {
    const at = { ns: labNs, dev: "v-2-1" };
    const ops: LiveOp[] = [
      { kind: "carrier", at, up: false },
      { kind: "filter-cut", at, cut: true },
      { kind: "shape", at, shaping: { rate: "1mbit" } },
    ];
    assert.deepEqual(
      ops.map((o) => inverse(o)),
      [
        { kind: "carrier", at, up: true },
        { kind: "filter-cut", at, cut: false },
        { kind: "unshape", at },
      ],
    );
    assert.deepEqual(inverse(ops[2]!, { rate: "5mbit" }), { kind: "shape", at, shaping: { rate: "5mbit" } });
    for (const o of ops) assert.deepEqual(inverse(inverse(o)), o.kind === "shape" ? { kind: "unshape", at } : o);
  });

  it("one command per namespace and tool; tc, ip and nft lines", () => {
    const cmds = commandsFor([...cutOps(t(), true), ...shapeOps(t(), { rate: "2mbit" }), ...shapeOps(t(), undefined)]);
    assert.deepEqual(cmds, [
      { ns: labNs, tool: "ip", lines: ["link set v-3-0 down", "link set v-2-1 down"], tolerant: false },
      {
        ns: labNs,
        tool: "tc",
        lines: [
          "qdisc replace dev v-2-1 root tbf rate 2mbit burst 32kbit latency 50ms",
          "qdisc replace dev v-3-0 root tbf rate 2mbit burst 32kbit latency 50ms",
        ],
        tolerant: false,
      },
      { ns: labNs, tool: "tc", lines: ["qdisc del dev v-2-1 root", "qdisc del dev v-3-0 root"], tolerant: true },
    ]);
    const node = commandsFor(cutOps(resolveEndpoint(lab(), "w1--r2"), true));
    assert.deepEqual(node[0], {
      ns: { container: "c-worker" },
      tool: "nft",
      lines: [
        "add table netdev kinda_cut",
        'add chain netdev kinda_cut in_eth1 { type filter hook ingress device "eth1" priority -500; policy drop; }',
        'add chain netdev kinda_cut out_eth1 { type filter hook egress device "eth1" priority -500; policy drop; }',
      ],
      tolerant: false,
    });
    const restore = commandsFor(cutOps(resolveEndpoint(lab(), "w1--r2"), false));
    assert.deepEqual(restore[0]!.lines.slice(-2), ["delete chain netdev kinda_cut in_eth1", "delete chain netdev kinda_cut out_eth1"]);
  });

  it("applied through the Kernel as typed operations: the lab namespace by name, containers by PID; a failure undoes what ran", async () => {
    const kernel = new MemoryKernel();
    await kernel.netnsAdd("kinda-t");
    const runtime = { inspect: async (n: string) => ({ id: n, name: n, labels: {}, running: true, pid: 42, image: "i" }) };
    await applyOps([...cutOps(t(), true), ...shapeOps(t(), { rate: "2mbit" })], { kernel, runtime });
    assert.deepEqual(kernel.opsIn({ name: "kinda-t" }), [
      { op: "link-set", name: "v-3-0", up: false },
      { op: "link-set", name: "v-2-1", up: false },
      { op: "qdisc-replace", dev: "v-2-1", args: qdiscArgs({ rate: "2mbit" }) },
      { op: "qdisc-replace", dev: "v-3-0", args: qdiscArgs({ rate: "2mbit" }) },
    ]);
    await applyOps(cutOps(resolveEndpoint(lab(), "w1--r2"), true), { kernel, runtime });
    // both ends: the node's eth1 and the device's eth3 (both PID 42 here)
    assert.deepEqual(kernel.opsIn({ pid: 42 }), [
      { op: "cut-filter", dev: "eth1", cut: true },
      { op: "cut-filter", dev: "eth3", cut: true },
    ]);
    // the second namespace's batch fails: the first one's cut is undone (carrier back up)
    const failing = new MemoryKernel();
    await failing.netnsAdd("kinda-t");
    failing.failApply = /^tc qdisc replace dev v-3-0/;
    await assert.rejects(applyOps([...cutOps(t(), true), ...shapeOps(t(), { rate: "2mbit" })], { kernel: failing, runtime }), /v-3-0/);
    assert.deepEqual(
      failing.applied.filter((a) => a.force).map((a) => a.op),
      [
        { op: "qdisc-delete", dev: "v-3-0" },
        { op: "qdisc-delete", dev: "v-2-1" },
        { op: "link-set", name: "v-2-1", up: true },
        { op: "link-set", name: "v-3-0", up: true },
      ],
    );
  });

  it("capture argv: pcap unbuffered with -w, a count, the filter as words after --", () => {
    assert.deepEqual(tcpdumpArgv("v-1-0", { write: "-", count: 5, filter: ["icmp"] }), [
      "tcpdump",
      "-i",
      "v-1-0",
      "-n",
      "-U",
      "-w",
      "-",
      "-c",
      "5",
      "--",
      "icmp",
    ]);
    assert.deepEqual(tcpdumpArgv("cd-0", {}), ["tcpdump", "-i", "cd-0", "-n", "-l"]);
  });
});

describe("link counters", () => {
  it("rates from two samples; a table with cut links marked", () => {
    const row = (bytes: number): LinkCounters => ({
      endpoint: "r1:eth0",
      link: "domain lan1",
      txPackets: 1,
      txBytes: bytes,
      rxPackets: 1,
      rxBytes: bytes * 2,
      drops: 0,
      cut: true,
    });
    const [r] = withRates([row(2000)], [row(1000)], 2);
    assert.equal(r!.txBps, 4000);
    assert.equal(r!.rxBps, 8000);
    assert.match(formatLinks("t", [r!]), /r1:eth0\s+domain lan1\s+CUT .* 4\.0kbit\/s\s+8\.0kbit\/s/);
  });
});

describe("deploy-time shaping", () => {
  it("YAML tc between devices: both directions on the link's domain, or a and b each from its end; nodes' links both sides", async () => {
    const { parseTopologyYaml } = await import("../../../src/topology/yaml.js");
    const { planTopology } = await import("../../../src/app/topology.js");
    const { StateStore } = await import("../../../src/state/store.js");
    const y = parseTopologyYaml(
      `name: t
routing: static
devices:
  - { name: r1, kind: router }
  - { name: r2, kind: router }
  - { name: r3, kind: router }
  - { name: w1, kind: worker }
  - { name: c1, kind: control-plane }
links:
  - { endpoints: [r1, c1], addresses: [10.0.1.2/24, 10.0.1.1/24] }
  - { endpoints: [r1, r2], addresses: [10.0.0.1/30, 10.0.0.2/30], tc: { rate: 10mbit } }
  - { endpoints: [r2, r3], addresses: [10.0.0.5/30, 10.0.0.6/30], tc: { a: { rate: 1mbit }, b: { delay: 5ms, loss: 1% } } }
  - { endpoints: [w1, r3], addresses: [10.0.2.2/24, 10.0.2.1/24], tc: { a: { rate: 3mbit }, b: { rate: 4mbit } } }
`,
      "t.yaml",
    );
    const t = planTopology(y.spec, { store: new StateStore("/nonexistent-kinda-state"), where: y.where });
    assert.deepEqual(
      t.plan.shaping.map((s) => [s.endpoint, s.from, s.shaping, s.field]),
      [
        ["l1", undefined, { rate: "10mbit" }, "links[1].tc"],
        ["l2", "r2", { rate: "1mbit" }, "links[2].tc.a"],
        ["l2", "r3", { delay: "5ms", loss: "1%" }, "links[2].tc.b"],
      ],
    );
    const { planStateView } = await import("../../../src/plan/lab.js");
    const ops = shapeOps(resolveEndpoint(planStateView(t.plan), "l2"), { rate: "1mbit" }, "r2");
    assert.deepEqual(
      ops.map((o) => o.at.dev),
      ["v-2-0"],
      "r2 -> r3 shaped where it enters r3",
    );
    const nl = t.compiled.nodeLinks.find((l) => l.node === "w1")!;
    assert.deepEqual([nl.nodeTc, nl.deviceTc], [{ rate: "3mbit" }, { rate: "4mbit" }]);
  });

  it("lab.kinda: tc lines for a Kathara lab, problems with file:line; endpoints checked against the lab when planned", async () => {
    const { parseKindaSideFile } = await import("../../../src/topology/kathara.js");
    const ok = parseKindaSideFile("# shaping\ntc core rate=10mbit\ntc r1--r2 from=r1 delay=10ms jitter=2ms\n", "lab.kinda");
    assert.deepEqual(ok.issues, []);
    assert.deepEqual(
      ok.shaping.map((s) => [s.endpoint, s.from, s.shaping, s.place]),
      [
        ["core", undefined, { rate: "10mbit" }, { file: "lab.kinda", line: 2 }],
        ["r1--r2", "r1", { delay: "10ms", jitter: "2ms" }, { file: "lab.kinda", line: 3 }],
      ],
    );
    const bad = parseKindaSideFile("shape core\ntc core speed=1\ntc core rate\n", "lab.kinda");
    assert.deepEqual(
      bad.issues.map((i) => `${i.line}: ${i.message}`),
      [
        '1: expected "tc ENDPOINT KEY=VALUE...", got "shape core"',
        "2: unknown key speed (keys: from, rate, burst, latency, delay, jitter, loss, duplicate, reorder, corrupt)",
        '3: "rate" is not KEY=VALUE',
      ],
    );
    const { planLab } = await import("../../../src/plan/lab.js");
    const { newDevice } = await import("../../../src/model/lab.js");
    const r1 = newDevice("r1");
    r1.interfaces.push({ index: 0, domain: "core" });
    const r2 = newDevice("r2");
    r2.interfaces.push({ index: 0, domain: "core" });
    const lab = {
      metadata: {},
      devices: [r1, r2],
      warnings: [],
      shaping: [
        { endpoint: "core", shaping: { rate: "1mbit" }, place: { file: "lab.kinda", line: 1 } },
        { endpoint: "wan", shaping: { rate: "1mbit" }, place: { file: "lab.kinda", line: 2 } },
        { endpoint: "core", shaping: { rate: "fast" }, place: { file: "lab.kinda", line: 3 } },
      ],
    };
    assert.throws(
      () => planLab(lab, { name: "k", sharedDir: "/s", stageRoot: "/st" }),
      (e: Error & { issues?: { line?: number; message: string }[] }) =>
        e.issues?.map((i) => `${i.line}: ${i.message.split(" (")[0]}`).join("\n") ===
        ['2: ENDPOINT "wan": is neither DEVICE:IFACE, A--B, nor a collision domain of the lab', '3: rate "fast" is not a tc rate'].join(
          "\n",
        ),
    );
  });

  it("netem at deploy time is refused before anything is made, naming where it was written", async () => {
    const { checkDeployShaping } = await import("../../../src/engine/live.js");
    const entries = [{ endpoint: "core", shaping: { delay: "10ms" }, place: { file: "lab.kinda", line: 4 } }];
    await assert.rejects(
      checkDeployShaping(entries, async () => false),
      (e: Error & { issues?: { line?: number; message: string }[] }) => {
        assert.deepEqual(e.issues, [{ file: "lab.kinda", line: 4, message: "delay: this kernel has no netem qdisc (sch_netem)" }]);
        return true;
      },
    );
    await checkDeployShaping(entries, async () => true);
  });
});

describe("links and devices added at run time", () => {
  it("a new link: its bridge, a veth per device into the next free ethK, addresses; removal deletes ends then bridge", () => {
    const st = lab();
    const p = planLinkAdd(st, {
      a: "h1",
      b: "h2",
      domain: "h1--h2",
      bridge: "cd-3",
      ends: [
        { device: "h1", slot: 0, ifIndex: 1, cidr: "10.5.0.1/24" },
        { device: "h2", slot: 3, ifIndex: 1 },
      ],
    });
    assert.deepEqual(p.interfaces, [
      { device: "h1", name: "eth1", hostIf: "v-0-1" },
      { device: "h2", name: "eth1", hostIf: "v-3-1" },
    ]);
    const cmds = commandsFor(p.ops, (ns) => ("container" in ns && ns.container === "kinda-t-h1" ? 101 : 202));
    assert.deepEqual(
      cmds.map((c) => [c.ns, c.tool, c.lines]),
      [
        [
          labNs,
          "ip",
          [
            "link add cd-3 type bridge mcast_snooping 0",
            "link property add dev cd-3 altname h1--h2",
            "link set cd-3 up",
            "link add v-0-1 master cd-3 up type veth peer name eth1 netns 101",
            "link property add dev v-0-1 altname h1.eth1",
            "link add v-3-1 master cd-3 up type veth peer name eth1 netns 202",
            "link property add dev v-3-1 altname h2.eth1",
          ],
        ],
        [{ container: "kinda-t-h1" }, "ip", ["addr add 10.5.0.1/24 dev eth1", "link set eth1 up"]],
        [{ container: "kinda-t-h2" }, "ip", ["link set eth1 up"]],
      ],
    );
    assert.deepEqual(p.ops.map(phaseOf), [0, 0, 1, 0, 0], "devices' ends are configured after the lab side made them");
    const undo = commandsFor(p.ops.map((o) => inverse(o)).reverse());
    assert.deepEqual(undo[1], {
      ns: labNs,
      tool: "ip",
      lines: ["link delete v-3-1", "link delete v-0-1", "link delete cd-3"],
      tolerant: true,
    });
    assert.deepEqual(commandsFor(planLinkRemove(st, "core"))[0]!.lines, ["link delete v-1-1", "link delete v-2-0", "link delete cd-0"]);
    assert.throws(() => planLinkRemove(st, "wan"), /collision domain wan is not in lab t/);
  });
});

describe("device slots: lab-side veth names that device remove cannot make collide", () => {
  /** Every lab-side name the lab's devices have, with how often. */
  const dupes = (st: LabLinks) => {
    const names = st.devices.flatMap((d) => d.interfaces.map((i) => i.hostIf));
    return names.filter((n, i) => names.indexOf(n) !== i);
  };
  /** `kinda link add` as engine/live.ts plans it: each end's slot, its next ethK, recorded. */
  const addLink = (st: LabLinks, a: string, b: string) => {
    const ends = [a, b].map((name) => {
      const d = st.devices.find((x) => x.name === name)!;
      return { device: name, slot: ensureSlot(st, d), ifIndex: d.interfaces.length };
    });
    const p = planLinkAdd(st, { a, b, domain: `${a}--${b}`, bridge: "cd-9", ends });
    for (const i of p.interfaces) st.devices.find((d) => d.name === i.device)!.interfaces.push({ ...i, domain: `${a}--${b}` });
    return p.interfaces.map((i) => i.hostIf);
  };

  it("a state written before slots: each device's slot is read from its veth names; the next is above all of them", () => {
    const st = lab();
    assert.deepEqual(st.devices.map(slotOf), [0, 1, 2, 3]);
    st.devices.splice(1, 1); // r1 removed: h1, r2, h2 keep slots 0, 2, 3
    assert.deepEqual(st.devices.map(slotOf), [0, 2, 3]);
    assert.equal(nextSlot(st), 4, "not 3, the number of devices, which h2 has");
    assert.equal(slotOf({ name: "x", container: "c", interfaces: [{ name: "eth0", domain: "d", hostIf: "kn-0" }] }), undefined);
  });

  it("middle device removed, a device added, links added: no name twice, none an existing one, slots never handed out again", () => {
    const st = lab();
    const before = st.devices.flatMap((d) => d.interfaces.map((i) => i.hostIf));
    st.devices.splice(1, 1); // device remove r1
    st.devices.push({ name: "h3", container: "kinda-t-h3", image: "img", shell: "/bin/sh", interfaces: [], slot: takeSlot(st) }); // device add h3
    assert.equal(st.devices[3]!.slot, 4);
    const added = [...addLink(st, "h3", "h1"), ...addLink(st, "h2", "h3")];
    assert.deepEqual(added, ["v-4-0", "v-0-1", "v-3-1", "v-4-1"]);
    assert.deepEqual(dupes(st), []);
    for (const n of added) assert.ok(!before.includes(n), `${n} was the name of another device's end`);
    // the position-based names the old code computed: h3 at position 3 took h2's v-3-0
    assert.ok(before.includes("v-3-0"));
    st.devices.pop(); // device remove h3, the last one
    assert.equal(nextSlot(st), 5, "h3's slot 4 is not given again while the lab lives");
  });

  it("a device of an older state with no links gets a slot when it is first linked, recorded in the state", () => {
    const st = lab();
    st.devices.splice(0, 1); // h1 removed: devices r1, r2, h2 (slots 1-3)
    st.devices.push({ name: "h9", container: "kinda-t-h9", image: "img", shell: "/bin/sh", interfaces: [] }); // bare device, added by the previous version
    assert.deepEqual(addLink(st, "h9", "r1"), ["v-4-0", "v-1-2"]);
    assert.equal(st.devices[3]!.slot, 4);
    assert.equal(st.nextSlot, 5);
    assert.deepEqual(dupes(st), []);
  });

  it("an older state whose link add named a device's end by another device's place: that slot is shared, the device gets a new one", () => {
    const st = lab();
    const ifs = (slot: number, n: number) =>
      Array.from({ length: n }, (_, k) => ({ name: `eth${k}`, domain: "core", hostIf: `v-${slot}-${k}` }));
    // a, b, c deployed by the previous version at places 0-2 (c with two links), then a removed:
    // b and c at places 0 and 1; its `link add c--b` named c's end v-1-2 (c's place) and b's v-0-1
    st.devices = [
      {
        name: "b",
        container: "kinda-t-b",
        image: "img",
        shell: "/bin/sh",
        interfaces: [...ifs(1, 1), { name: "eth1", domain: "x", hostIf: "v-0-1" }],
      },
      {
        name: "c",
        container: "kinda-t-c",
        image: "img",
        shell: "/bin/sh",
        interfaces: [...ifs(2, 2), { name: "eth2", domain: "x", hostIf: "v-1-2" }],
      },
    ];
    const added = addLink(st, "b", "c");
    assert.deepEqual(dupes(st), [], `added ${added.join(" ")}`);
    assert.notEqual(st.devices[0]!.slot, 1, "b's slot 1, read back from its first name, is in c's v-1-2 too");
    assert.equal(st.devices[1]!.slot, 2, "c keeps its own slot: no other device's name has it");
    assert.ok(!added.includes("v-1-2"));
  });
});

describe("fitDeviceToLab (a source's device added to the running lab)", () => {
  const running: LabLinks = {
    name: "lv",
    netns: "kinda-lv",
    domains: [
      { name: "lan1", bridge: "cd-0" },
      { name: "core", bridge: "cd-1" },
      { name: "h1--r2", bridge: "cd-3" },
    ],
    devices: [
      { name: "h1", container: "c-h1", interfaces: [{ name: "eth0", domain: "lan1", hostIf: "v-0-0" }] },
      { name: "r1", container: "c-r1", interfaces: [{ name: "eth0", domain: "lan1", hostIf: "v-4-0" }] },
    ],
  };
  const planned = {
    name: "h3",
    interfaces: [
      { name: "eth0", index: 0, domain: "core", bridge: "cd-0", hostIf: "v-1-0", hostAltname: "h3.eth0" },
      { name: "eth1", index: 1, domain: "lan9", bridge: "cd-1", hostIf: "v-1-1", hostAltname: "h3.eth1", mac: "02:00:00:00:00:09" },
    ],
  } as unknown as DevicePlan;

  it("joins existing domains by name, gives new ones unused bridges, and names its veth ends after every device's", () => {
    const { dev, newDomains } = fitDeviceToLab(running, planned);
    assert.deepEqual(newDomains, [{ name: "lan9", bridge: "cd-2" }]);
    assert.deepEqual(
      dev.interfaces.map((i) => [i.name, i.domain, i.bridge, i.hostIf, i.hostAltname, i.mac]),
      [
        ["eth0", "core", "cd-1", "v-5-0", "h3.eth0", undefined],
        ["eth1", "lan9", "cd-2", "v-5-1", "h3.eth1", "02:00:00:00:00:09"],
      ],
    );
    assert.equal(dev.slot, 5);
    assert.equal(planned.interfaces[0]!.bridge, "cd-0", "the plan it was given is not changed");
  });

  it("takes the slot it is given (a restarted device keeps its own), and the lab's record of slots handed out", () => {
    assert.deepEqual(
      fitDeviceToLab(running, planned, 7).dev.interfaces.map((i) => i.hostIf),
      ["v-7-0", "v-7-1"],
    );
    assert.equal(fitDeviceToLab({ ...running, nextSlot: 9 }, planned).dev.interfaces[0]!.hostIf, "v-9-0");
  });
});
