import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { graphFromLab, graphFromSpec, graphFromState, toDot, toMermaid, toSvg, type Graph } from "../../../src/app/graph.js";
import { LOAD_BALANCER } from "../../../src/model/cluster.js";
import type { LabState } from "../../../src/state/store.js";
import { haExample } from "../../../examples/ha.js";
import { loadKatharaLab } from "../../../src/topology/kathara.js";
import { parseTopologyYaml } from "../../../src/topology/yaml.js";
import { treeExample } from "../../../examples/tree.js";
import { ROOT, conformanceDir } from "../../support/env.js";

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

  it("renders the conformance labs; shared segments become segment nodes", () => {
    const one = graphFromLab("one-bridge", loadKatharaLab(join(conformanceDir(), "one-bridge")));
    checkSvg(one);
    const dc = graphFromLab("dc", loadKatharaLab(join(conformanceDir(), "data-center-bgp")));
    assert.equal(dc.edges.length, 24);
    checkSvg(dc);
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
});
