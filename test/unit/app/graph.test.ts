import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { graphFromLab, graphFromSpec, graphFromState, layout, toDot, toMermaid, toSvg, type Graph } from "../../../src/app/graph.js";
import { fatTree } from "../../../src/topology/generators.js";
import { LOAD_BALANCER } from "../../../src/model/cluster.js";
import type { LabState } from "../../../src/state/store.js";
import { haExample } from "../../../examples/ha.js";
import { loadKatharaLab } from "../../../src/topology/kathara.js";
import { parseTopologyYaml } from "../../../src/topology/yaml.js";
import { treeExample } from "../../../examples/tree.js";
import { ROOT, fixtureLab } from "../../support/env.js";

function count(svg: string, re: RegExp): number {
  return (svg.match(re) ?? []).length;
}

function checkSvg(g: Graph): void {
  const svg = toSvg(g);
  assert.equal(count(svg, /<g class="device"/g), g.nodes.length, `${g.title}: one shape per device`);
  assert.equal(count(svg, /<line class="link"/g), g.edges.length, `${g.title}: one line per link`);
  for (const n of g.nodes) assert.ok(svg.includes(`data-name="${n.id}"`), n.id);
  assert.ok(!/NaN/.test(svg), "every coordinate is a number");
}

describe("kinda graph", () => {
  it("renders every example topology", () => {
    for (const f of ["tree.yaml", "two-routers-static.yaml", "ha.yaml"])
      checkSvg(graphFromSpec(parseTopologyYaml(readFileSync(join(ROOT, "examples", f), "utf8")).spec));
    checkSvg(graphFromSpec(treeExample().builder.spec()));
    checkSvg(graphFromSpec(haExample().builder.spec()));
    for (const l of ["two-routers", "cluster-net"]) checkSvg(graphFromLab(l, loadKatharaLab(join(ROOT, "examples", "labs", l))));
  });

  it("renders Kathara labs; a segment of three or more devices becomes a segment node", () => {
    const g = graphFromLab("features", loadKatharaLab(fixtureLab("features")));
    checkSvg(g);
    // lan1 joins pc1, pc3 and r1 through a segment node (3 edges); core and lan2 are point-to-point
    assert.equal(g.edges.length, 5);
    assert.ok(
      g.nodes.some((n) => n.kind === "segment" && n.label === "lan1"),
      "lan1 is drawn as a segment node",
    );
    assert.equal(g.nodes.filter((n) => n.kind === "segment").length, 1, "core and lan2 are plain edges");
  });

  it("lays a tree out in layers from its root, Kubernetes nodes at the bottom", () => {
    const svg = toSvg(graphFromSpec(treeExample().builder.spec()));
    const y = (name: string) =>
      Number(
        new RegExp(`data-name="${name}"[^>]*><[^>]* c?y="([\\d.]+)"`).exec(svg)?.[1] ??
          new RegExp(`data-name="${name}"[^>]*><polygon points="[\\d.]+,([\\d.]+)`).exec(svg)?.[1],
      );
    assert.ok(y("internet") < y("gateway"));
  });

  it("writes Mermaid and DOT text", () => {
    const g = graphFromSpec(treeExample().builder.spec());
    const m = toMermaid(g);
    assert.match(m, /^graph TD/);
    assert.match(m, /gateway ---\|"10\.0\.2\.1\/24 - 10\.0\.2\.2\/24"\| r1/);
    assert.equal(count(m, / --- /g) + count(m, / ---\|/g), g.edges.length);
    const d = toDot(g);
    assert.match(d, /"w1" \[shape=hexagon/);
    assert.equal(count(d, / -- /g), g.edges.length);
  });

  it("draws the load balancer with its own shape and label", () => {
    const g = graphFromSpec(haExample().builder.spec());
    const svg = toSvg(g);
    checkSvg(g);
    // a trapezoid (four points), unlike the hexagons of the nodes
    assert.match(
      svg,
      /data-name="lb" data-kind="load-balancer"><polygon points="[\d., -]+" fill="[^"]+"\/><text[^>]*>lb \(API LB\)<\/text>/,
    );
    assert.equal(/data-name="lb"[^>]*><polygon points="([^"]+)"/.exec(svg)![1]!.split(" ").length, 4);
    assert.match(svg, /<text x="24" y="[\d.]+" font-size="10">load-balancer<\/text>/, "in the legend");
    assert.match(toDot(g), /"lb" \[shape=invtrapezium, fillcolor="[^"]+", label="lb \(API LB\)"\];/);
    assert.match(toMermaid(g), /^ {2}lb\[\/"lb \(API LB\)<br\/><small>load-balancer<\/small>"\\\]$/m);
  });

  it("draws a linked load balancer of a lab that is up", () => {
    const st: LabState = {
      version: 1,
      name: "ha",
      kind: "yaml",
      netns: "kinda-ha",
      phase: "up",
      createdAt: "",
      updatedAt: "",
      devices: [{ name: "r2", container: "kinda-ha-r2", image: "kathara/base", interfaces: [], shell: "/bin/bash" }],
      domains: [],
      warnings: [],
      cluster: {
        provider: "kind",
        name: "ha",
        providerOptions: {},
        phase: "up",
        encapsulation: "vxlan",
        nodes: [],
        loadBalancer: { container: "ha-external-load-balancer" },
        links: [{ node: LOAD_BALANCER, device: "r2", nodeAddress: "10.0.9.2/24" }],
        hostLinks: [],
      },
    };
    const g = graphFromState(st);
    assert.deepEqual(
      g.nodes.find((n) => n.id === LOAD_BALANCER),
      { id: LOAD_BALANCER, kind: "load-balancer", label: "ha-external-load-balancer (API LB)" },
    );
    assert.deepEqual(g.edges, [{ a: "r2", b: LOAD_BALANCER, labelB: "10.0.9.2/24" }]);
    checkSvg(g);
  });

  it("lays out a k=4 fat tree readably: tiers in rows, pods side by side, leaves under their edge router", () => {
    const g = graphFromSpec(fatTree({ k: 4 }));
    checkSvg(g);
    const at = layout(g);
    const tier = (re: RegExp) => g.nodes.filter((n) => re.test(n.id)).map((n) => n.id);
    const tiers = [/^core/, /^agg/, /^edge/, /^h/].map(tier);
    const ys = tiers.map((t) => new Set(t.map((id) => at.get(id)!.y)));
    for (const y of ys) assert.equal(y.size, 1, "one row per tier");
    const rows = ys.map((y) => [...y][0]!);
    assert.deepEqual(
      [...rows].sort((a, b) => a - b),
      rows,
      "cores on top, leaves at the bottom",
    );
    // along each pod tier, the pods come in runs: 4 runs of one pod each, never interleaved
    const pod = (id: string) => /^(?:agg|edge|h)(\d)/.exec(id)![1];
    for (const t of tiers.slice(1)) {
      const seq = [...t].sort((a, b) => at.get(a)!.x - at.get(b)!.x).map(pod);
      assert.equal(seq.filter((p, i) => p !== seq[i - 1]).length, 4, `pods side by side: ${seq.join("")}`);
    }
    // crossings between rows: none from edge routers to leaves, one per pod (K2,2) between aggregation and edge
    const crossings = (upper: RegExp, lower: RegExp) => {
      const es = g.edges.filter((e) => upper.test(e.a) && lower.test(e.b)).map((e) => [at.get(e.a)!.x, at.get(e.b)!.x] as const);
      let n = 0;
      for (let i = 0; i < es.length; i++)
        for (let j = i + 1; j < es.length; j++) if ((es[i]![0] - es[j]![0]) * (es[i]![1] - es[j]![1]) < 0) n++;
      return n;
    };
    assert.equal(crossings(/^edge/, /^h/), 0);
    assert.equal(crossings(/^agg/, /^edge/), 4);
    assert.match(toSvg(g), /48 links: addresses left out/);
  });
});

describe("kinda graph", () => {
  it("draws P4 switches, OVS switches and plain switches distinctly in SVG, DOT and Mermaid", async () => {
    const g = graphFromSpec({
      name: "prog",
      devices: [
        { name: "p4", kind: "p4-switch", program: "p.json" },
        { name: "ovs", kind: "ovs-switch" },
        { name: "s", kind: "switch" },
      ],
      links: [{ endpoints: ["p4", "ovs"] }, { endpoints: ["ovs", "s"] }],
    });
    const svg = toSvg(g);
    const shapeOf = (name: string) => new RegExp(`data-name="${name}" data-kind="([^"]+)">(<\\w+)`).exec(svg)?.slice(1);
    assert.deepEqual(shapeOf("p4"), ["p4-switch", "<polygon"]);
    assert.deepEqual(shapeOf("ovs"), ["ovs-switch", "<polygon"]);
    assert.notEqual(/data-name="p4"[^>]*><polygon points="([^"]+)"/.exec(svg)?.[1]?.split(" ").length, 4, "p4: an octagon");
    assert.equal(/data-name="ovs"[^>]*><polygon points="([^"]+)"/.exec(svg)?.[1]?.split(" ").length, 4, "ovs: a parallelogram");
    const dot = toDot(g);
    assert.match(dot, /"p4" \[shape=octagon/);
    assert.match(dot, /"ovs" \[shape=parallelogram/);
    const mm = toMermaid(g);
    assert.match(mm, /p4\[\[.*\]\]/);
    assert.match(mm, /ovs\[\/.*\/\]/);
  });
});

describe("a running lab with a cut link", () => {
  it("draws the cut link dashed red in SVG and DOT, dotted in Mermaid; the others stay plain", () => {
    const dev = (name: string, i: number, domains: string[]) => ({
      name,
      container: `kinda-c-${name}`,
      image: "img",
      shell: "/bin/sh",
      interfaces: domains.map((domain, k) => ({ name: `eth${k}`, domain, hostIf: `v-${i}-${k}` })),
    });
    const st: LabState = {
      version: 1,
      name: "c",
      kind: "kathara",
      netns: "kinda-c",
      phase: "up",
      createdAt: "",
      updatedAt: "",
      warnings: [],
      domains: [
        { name: "core", bridge: "cd-0" },
        { name: "lan", bridge: "cd-1" },
      ],
      devices: [dev("r1", 0, ["core", "lan"]), dev("r2", 1, ["core"]), dev("h1", 2, ["lan"])],
      live: { cuts: [{ key: "netns:kinda-c/v-1-0", endpoint: "r1--r2", how: "carrier" }], shaping: [] },
    };
    const g = graphFromState(st);
    assert.deepEqual(
      g.edges.map((e) => [e.a, e.b, e.cut ?? false]),
      [
        ["r1", "r2", true],
        ["r1", "h1", false],
      ],
    );
    assert.match(toDot(g), /"r1" -- "r2" \[.*style=dashed, color=red\]/);
    assert.doesNotMatch(toDot(g), /"r1" -- "h1" .*dashed/);
    assert.match(toMermaid(g), /-\.-\|"eth0 - eth0 \(cut\)"\|/);
    assert.equal(toSvg(g).match(/stroke-dasharray/g)?.length, 1);
  });
});
