/**
 * Generated topologies with static routing on graphs that are not trees: a leaf-spine fabric
 * (examples/leaf-spine.yaml, through the CLI) whose hosts reach each other over both spines (ECMP)
 * and still do when one spine's links lose their carrier; a k=4 fat tree of 16 fixture nodes
 * routing pod traffic natively (no tunnel) over its equal-cost paths; a generated fabric with a
 * shared segment of a host and two nodes (examples/clos-k8s.yaml).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { up as upTopology } from "../../src/app/up.js";
import { hostOf, networkOf } from "../../src/core/addr.js";
import { labNetns } from "../../src/core/names.js";
import { fatTree } from "../../src/topology/generators.js";
import { loadTopologyYaml } from "../../src/topology/yaml.js";
import { IMAGE_MAP, IMAGE_MAP_ARGS, ROOT, ensureTestEnv } from "../support/env.js";
import { FixtureProvider } from "../support/fixture.js";
import { addressOn, assertNothingLeft, hostLinks, kinda, kindaOk, reachesAll, stateDir, txTotal } from "../support/kinda.js";

process.env["KINDA_STATE_DIR"] = stateDir;
let linksBefore: string[];
before(() => {
  ensureTestEnv();
  linksBefore = hostLinks();
});

/** Every host pings every other host (one exec per host, in parallel); the hosts that missed one. */
async function unreachable(lab: string, hosts: Map<string, string>): Promise<string[]> {
  const res = await Promise.all(
    [...hosts.keys()].map(async (h) =>
      (await reachesAll(
        lab,
        h,
        [...hosts].filter(([o]) => o !== h).map(([, a]) => a),
      ))
        ? ""
        : h,
    ),
  );
  return res.filter(Boolean);
}

describe("a leaf-spine fabric (2 spines, 4 leaves, 12 hosts) with routing: static", () => {
  const LAB = "t-leaf-spine";
  const file = join(ROOT, "examples", "leaf-spine.yaml");
  const spec = loadTopologyYaml(file).spec;
  const hosts = new Map(spec.devices.filter((d) => d.kind === "host").map((d) => [d.name, addressOn(spec, d.name, `leaf${d.name[1]}`)]));
  const leaves = spec.devices.filter((d) => /^leaf\d$/.test(d.name)).map((d) => d.name);
  /** The lab-side veth end of each leaf's interface toward spine1, by its altname (<device>.ethN). */
  let cut: string[] = [];

  before(async () => {
    await kindaOk("up", file, "--name", LAB, ...IMAGE_MAP_ARGS);
  });
  after(async () => {
    await kinda("down", LAB);
    await assertNothingLeft(LAB, linksBefore);
  });

  it("deploys 18 devices; a leaf routes another leaf's hosts over both spines (a multipath route)", async () => {
    assert.equal(hosts.size, 12);
    const st = JSON.parse(await kindaOk("status", LAB, "--json")) as {
      devices: { name: string; interfaces: { name: string; domain: string }[] }[];
    }[];
    assert.equal(st[0]!.devices.length, 18);
    cut = leaves.map((leaf) => {
      const i = st[0]!.devices.find((d) => d.name === leaf)!.interfaces.find((x) => x.domain === `spine1-${leaf}`)!;
      return `${leaf}.${i.name}`;
    });
    const toH4 = await kindaOk("exec", "--lab", LAB, "leaf1", "--", "ip", "route", "show", networkOf(`${hosts.get("h4_1")}/30`));
    const spines = ["spine1", "spine2"].map((s) => addressOn(spec, s, "leaf1"));
    for (const s of spines) assert.match(toH4, new RegExp(`nexthop via ${s.replace(/\./g, "\\.")} `), toH4);
  });

  it("every host reaches every other host, and both spines carry the traffic", async () => {
    const before = await Promise.all(["spine1", "spine2"].map((s) => txTotal(LAB, s)));
    assert.deepEqual(await unreachable(LAB, hosts), []);
    const after = await Promise.all(["spine1", "spine2"].map((s) => txTotal(LAB, s)));
    const carried = after.map((a, i) => a - before[i]!);
    console.log(`# packets forwarded by spine1, spine2 for 132 host pairs: ${carried.join(", ")}`);
    // 108 of the 132 pairs cross the spines (request and reply): the flows are hashed over both
    for (const [i, c] of carried.entries()) assert.ok(c >= 20, `spine${i + 1} carried ${c} packets`);
  });

  it("with spine1's links cut (no carrier at the leaves), every host still reaches every other, over spine2", async () => {
    const ns = labNetns(LAB);
    for (const v of cut) execFileSync("ip", ["-n", ns, "link", "set", "dev", v, "down"]);
    try {
      const leaf1 = await kindaOk("exec", "--lab", LAB, "leaf1", "--", "ip", "route", "show", networkOf(`${hosts.get("h4_1")}/30`));
      assert.match(leaf1, /linkdown/, `leaf1 sees its spine1 next hop without carrier:\n${leaf1}`);
      const s1 = await txTotal(LAB, "spine1");
      const s2 = await txTotal(LAB, "spine2");
      assert.deepEqual(await unreachable(LAB, hosts), []);
      const spine1 = (await txTotal(LAB, "spine1")) - s1;
      const spine2 = (await txTotal(LAB, "spine2")) - s2;
      console.log(`# with spine1 cut: spine1 sent ${spine1} packets, spine2 forwarded ${spine2}`);
      assert.ok(spine2 >= 2 * 108, `spine2 carried every crossing pair both ways (${spine2} packets)`);
      assert.ok(spine1 < 20, `spine1 was left alone (${spine1} packets)`);
    } finally {
      for (const v of cut) execFileSync("ip", ["-n", ns, "link", "set", "dev", v, "up"]);
    }
  });
});

describe("a k=4 fat tree of 16 fixture nodes, pods routed natively (encapsulation none)", () => {
  it("pods reach pods on every other node through the fabric, with no tunnel; edge routers spread over both aggregation routers", async () => {
    const provider = new FixtureProvider("kfxg");
    const spec = fatTree({ name: "t-fat-tree-gen", k: 4, controlPlanes: ["h1_1_1"], workers: "rest", encapsulation: "none" });
    const nodes = spec.devices.filter((d) => d.kind === "worker" || d.kind === "control-plane").map((d) => d.name);
    assert.equal(nodes.length, 16);
    const h = await upTopology(spec, { provider, imageMap: IMAGE_MAP });
    try {
      const lab = spec.name;
      const cores = ["core1", "core2", "core3", "core4"];
      const before = await Promise.all(cores.map((c) => txTotal(lab, c)));
      // a pod of the first node pings a pod on each of the 15 others, and one in the far pod answers many
      const missed = nodes
        .slice(1)
        .filter((n) => provider.inPod("h1_1_1", 0, ["ping", "-c", "1", "-W", "2", provider.podIp(n, 1)]).code !== 0);
      assert.deepEqual(missed, []);
      const far = provider.inPod("h4_2_2", 0, ["ping", "-c", "50", "-i", "0.01", "-W", "2", provider.podIp("h2_1_2", 1)]);
      assert.equal(far.code, 0, far.out);
      const through = (await Promise.all(cores.map((c) => txTotal(lab, c)))).reduce((a, b, i) => a + b - before[i]!, 0);
      assert.ok(through >= 100, `the core routers carried the pods' traffic between pods (${through} packets)`);
      const links = execFileSync("nsenter", ["-t", String(provider.fact("h1_1_1").pid), "-n", "ip", "-br", "link"], { encoding: "utf8" });
      assert.ok(!links.includes("kinda-vx"), "no tunnel device with encapsulation none");
      const pods = provider.fact("h4_2_2").podCidrs[0]!;
      const edge = await kindaOk("exec", "--lab", lab, "edge1_1", "--", "ip", "route", "show", pods);
      assert.equal(edge.match(/nexthop via/g)?.length, 2, `edge1_1 routes h4_2_2's pods over both aggregation routers:\n${edge}`);
    } finally {
      await h.down();
      await provider.delete();
    }
    await assertNothingLeft("t-fat-tree-gen", linksBefore);
  });
});

describe("examples/clos-k8s.yaml: a generated leaf-spine with Kubernetes leaves and a shared segment", () => {
  it("the segment's host and nodes reach each other and the fabric's nodes; pods routed natively; vars set the shaping", async () => {
    const provider = new FixtureProvider("kfxs");
    const y = loadTopologyYaml(join(ROOT, "examples", "clos-k8s.yaml"), { vars: { rate: "40mbit" } });
    const spec = { ...y.spec, name: "t-clos-k8s" };
    const h = await upTopology(spec, { provider, imageMap: IMAGE_MAP, where: y.where });
    try {
      const h1 = hostOf(spec.links.find((l) => l.endpoints[1] === "h1_1")!.addresses![1]);
      // the host on the segment: a segment neighbour directly, a node under leaf1 through the fabric
      assert.ok(await reachesAll("t-clos-k8s", "pc", ["192.168.50.11", "192.168.50.12", h1]), "pc reaches w5, w6 and h1_1");
      for (const [from, to] of [
        ["w5", "w6"],
        ["w5", "h1_1"],
        ["h3_1", "w6"],
      ] as const) {
        const r = provider.inPod(from, 0, ["ping", "-c", "2", "-W", "2", provider.podIp(to, 1)]);
        assert.equal(r.code, 0, `${from} pod -> ${to} pod: ${r.out}`);
      }
      const tc = execFileSync("nsenter", ["-t", String(provider.fact("w5").pid), "-n", "tc", "qdisc", "show", "dev", "eth1"], {
        encoding: "utf8",
      });
      assert.match(tc, /tbf .*rate 40Mbit/, "--var rate=40mbit shaped w5's link");
      const leaf4 = await kindaOk("exec", "--lab", "t-clos-k8s", "leaf4", "--", "ip", "-br", "addr", "show");
      assert.match(leaf4, /192\.168\.50\.1\/24/, "leaf4 has the segment's address");
    } finally {
      await h.down();
      await provider.delete();
    }
    await assertNothingLeft("t-clos-k8s", linksBefore);
  });
});
