import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { expandTopology } from "../../../src/app/topology.js";
import type { TopologySpec } from "../../../src/model/spec.js";
import { bgpAsns, frrFiles, frrStartSteps, runsFrr, stagedFrrName, subnetsOf } from "../../../src/topology/frr.js";
import { fatTree } from "../../../src/topology/generators.js";
import { loadTopologyYaml } from "../../../src/topology/yaml.js";
import { compile } from "../../support/compile.js";

const ROOT = join(import.meta.dirname, "..", "..", "..");
const IRREGULAR = join(ROOT, "examples", "irregular-fabric.yaml");
const irregular = (routing: "ospf" | "bgp", extra: Partial<TopologySpec> = {}): TopologySpec => ({
  ...loadTopologyYaml(IRREGULAR).spec,
  routing,
  ...extra,
});

/** The text of a generated file of a compiled device. */
function fileOf(spec: TopologySpec, device: string, name: string): string {
  const d = compile(spec).lab.devices.find((x) => x.name === device)!;
  const f = d.stageFiles.find((x) => x.name === stagedFrrName(name));
  assert.ok(f, `${device} has ${name}: ${d.stageFiles.map((x) => x.name).join(", ")}`);
  return f.text;
}

describe("FRR files for routing: ospf and bgp", () => {
  it("runs on routers (and plain switches) only", () => {
    assert.deepEqual(
      ["router", "switch", "host", "p4-switch", "worker"].map((k) => runsFrr(k)),
      [true, true, false, false, false],
    );
  });

  it("OSPF: point-to-point with fast timers towards routers only, every subnet in area 0, passive by default", () => {
    const text = fileOf(irregular("ospf"), "l1", "ospfd.conf");
    // l1: eth0 to s1, eth1 to s2, eth2/eth3 to its hosts
    for (const i of ["eth0", "eth1"]) {
      assert.match(
        text,
        new RegExp(`interface ${i}\\n ip ospf network point-to-point\\n ip ospf hello-interval 1\\n ip ospf dead-interval 3\\n`),
      );
      assert.match(text, new RegExp(` no passive-interface ${i}\\n`));
    }
    assert.doesNotMatch(text, /interface eth2|no passive-interface eth2|interface eth3/);
    assert.match(text, / passive-interface default\n/);
    for (const s of ["10.22.0.0/30", "10.22.0.12/30", "10.22.0.32/30", "10.22.0.36/30"])
      assert.match(text, new RegExp(` network ${s} area 0.0.0.0\\n`));
    assert.match(text, / ospf router-id 10\.22\.0\.2\n/);
    assert.doesNotMatch(text, /bfd|redistribute kernel/);
    assert.match(fileOf(irregular("ospf"), "l1", "daemons"), /^ospfd=yes$/m);
    assert.match(fileOf(irregular("ospf"), "l1", "daemons"), /^bgpd=no$/m);
  });

  it("zebra writes next hops into the routes, not kernel nexthop objects (they went out of sync after a cut)", () => {
    for (const mode of ["ospf", "bgp"] as const)
      assert.match(fileOf(irregular(mode), "l2", "zebra.conf"), /^no zebra nexthop kernel enable$/m);
  });

  it("BGP: the spines share the top AS, each leaf its own; unnumbered sessions on router links; ECMP", () => {
    const asns = bgpAsns(irregular("bgp"));
    assert.deepEqual(
      ["s1", "s2", "s3"].map((s) => asns.get(s)),
      [65000, 65000, 65000],
    );
    const leaves = ["l1", "l2", "l3"].map((l) => asns.get(l)!);
    assert.equal(new Set(leaves).size, 3);
    assert.ok(leaves.every((a) => a >= 65100 && a < 65200));
    assert.equal(asns.has("h1a"), false, "hosts run no BGP");
    const text = fileOf(irregular("bgp"), "l2", "bgpd.conf");
    assert.match(text, new RegExp(`router bgp ${asns.get("l2")}\\n`));
    for (const i of ["eth0", "eth1", "eth2"]) assert.match(text, new RegExp(` neighbor ${i} interface peer-group fabric\\n`));
    assert.doesNotMatch(text, /neighbor eth3|neighbor eth4/, "no session towards the hosts");
    assert.match(text, / maximum-paths 64\n/);
    assert.match(text, / bgp bestpath as-path multipath-relax\n/);
    assert.match(text, / redistribute connected\n/);
  });

  it("BGP on a k=4 fat tree: cores one AS, the aggregation routers one AS per pod, every edge its own", () => {
    const asns = bgpAsns({ ...fatTree({ k: 4 }), routing: "bgp" });
    assert.deepEqual(new Set([1, 2, 3, 4].map((c) => asns.get(`core${c}`))), new Set([65000]));
    const pods = [1, 2, 3, 4].map((p) => [asns.get(`agg${p}_1`), asns.get(`agg${p}_2`)]);
    for (const [a, b] of pods) assert.equal(a, b, "a pod's aggregation routers share an AS");
    assert.equal(new Set(pods.map(([a]) => a)).size, 4, "one AS per pod");
    const edges = [1, 2, 3, 4].flatMap((p) => [1, 2].map((e) => asns.get(`edge${p}_${e}`)));
    assert.equal(new Set(edges).size, 8);
    assert.ok(pods.every(([a]) => !edges.includes(a!) && a !== 65000));
  });

  it("bfd: true adds bfdd and a BFD session per fabric link", () => {
    const o = fileOf(irregular("ospf", { bfd: true }), "s1", "ospfd.conf");
    assert.equal(o.match(/ ip ospf bfd\n/g)?.length, 3);
    const b = fileOf(irregular("bgp", { bfd: true }), "s1", "bgpd.conf");
    assert.match(b, / neighbor fabric bfd\n/);
    assert.match(fileOf(irregular("bgp", { bfd: true }), "s1", "daemons"), /^bfdd=yes$/m);
    assert.ok(
      compile(irregular("bgp", { bfd: true }))
        .lab.devices.find((d) => d.name === "s1")!
        .stageFiles.some((f) => f.name === stagedFrrName("bfdd.conf")),
    );
  });

  it("native pod routing: a node's router redistributes the kernel's pod routes", () => {
    const spec = fatTree({ k: 4, controlPlanes: ["h1_1_1"], workers: "rest", encapsulation: "none" });
    const ospf = { ...spec, routing: "ospf" as const };
    assert.match(fileOf(ospf, "edge1_1", "ospfd.conf"), / redistribute kernel\n/);
    assert.doesNotMatch(fileOf(ospf, "core1", "ospfd.conf"), /redistribute kernel/, "a core has no node below it");
    const { files } = frrFiles({ ...spec, routing: "bgp" }, "bgp", "edge1_1", [], subnetsOf(spec, "edge1_1"));
    assert.match(files.find((f) => f.name === "bgpd.conf")!.text, / {2}redistribute kernel\n/);
  });

  it("routers get FRR's start-up, the default FRR image, and no static routes; hosts keep theirs", () => {
    const { lab } = compile(irregular("ospf"));
    const s1 = lab.devices.find((d) => d.name === "s1")!;
    assert.equal(s1.image, "kathara/frr");
    assert.deepEqual(
      s1.exec.slice(0, 7),
      frrStartSteps([{ name: "daemons" }, { name: "zebra.conf" }, { name: "vtysh.conf" }, { name: "ospfd.conf" }]).slice(0, 7),
    );
    assert.ok(!(s1.net ?? []).some((o) => o.op === "route-add"), "FRR routes the routers");
    const h1a = lab.devices.find((d) => d.name === "h1a")!;
    assert.ok(
      (h1a.net ?? []).some((o) => o.op === "route-add"),
      "a host routes towards its leaf",
    );
    assert.equal(h1a.image, "kathara/base");
  });

  it("refuses what FRR cannot route: a P4 switch, bfd without a protocol", () => {
    const p4: TopologySpec = {
      ...irregular("ospf"),
      devices: irregular("ospf").devices.map((d) => (d.name === "s3" ? { ...d, kind: "p4-switch" as const } : d)),
    };
    assert.throws(() => compile(p4), /s3 is a p4-switch: with routing: ospf every router runs FRR/);
    assert.throws(() => compile({ ...loadTopologyYaml(IRREGULAR).spec, bfd: true }), /bfd is for routing: ospf or bgp/);
  });

  it("kinda expand prints the generated files after the topology, as comments (the output still loads as the same topology)", () => {
    const f = join(mkdtempSync(join(tmpdir(), "kinda-frr-")), "bgp.yaml");
    writeFileSync(f, readFileSync(IRREGULAR, "utf8").replace(/^routing: static$/m, "routing: bgp"));
    const text = expandTopology(f);
    assert.match(text, /# --- l1: \/etc\/frr\/bgpd\.conf\n# {3}hostname l1\n/);
    assert.match(text, /# {4}neighbor eth0 interface peer-group fabric\n/);
    const again = join(mkdtempSync(join(tmpdir(), "kinda-frr-")), "again.yaml");
    writeFileSync(again, text);
    assert.deepEqual(loadTopologyYaml(again).spec, loadTopologyYaml(f).spec);
    assert.doesNotMatch(expandTopology(IRREGULAR), /\/etc\/frr/, "static routing generates no files");
  });
});
