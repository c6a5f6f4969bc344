import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { graphFromLab, graphFromSpec, toDot, toMermaid, toSvg, type Graph } from "../../src/graph/graph.js";
import { loadKatharaLab } from "../../src/topology/kathara.js";
import { parseTopologyYaml } from "../../src/topology/yaml.js";
import { treeExample } from "../../examples/tree.js";
import { ROOT, conformanceDir } from "../support/env.js";

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
    for (const f of ["tree.yaml", "two-routers-static.yaml"])
      checkSvg(graphFromSpec(parseTopologyYaml(readFileSync(join(ROOT, "examples", f), "utf8")).spec));
    checkSvg(graphFromSpec(treeExample().builder.spec()));
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
});
