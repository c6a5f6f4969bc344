import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RouteGraph, nextHopArgs, type Edge } from "../../../src/plan/routes.js";
import { inverseOf, renderIp, routeReplace } from "../../../src/plan/ops.js";

/** Edges from "a-b" (cost 1) or "a-b:3" strings; ids in order. */
function graph(...links: string[]): RouteGraph {
  const edges: Edge[] = links.map((s, id) => {
    const [pair, cost] = s.split(":");
    const [a, b] = pair!.split("-");
    return { id, a: a!, b: b!, cost: cost ? Number(cost) : 1 };
  });
  return new RouteGraph([...new Set(edges.flatMap((e) => [e.a, e.b]))], edges);
}
const hops = (g: RouteGraph, from: string, ...to: string[]) => g.firstHops(from, to).map((h) => `${h.via}#${h.edge.id}`);

describe("shortest paths for static routing", () => {
  it("on a tree: the one way toward the target", () => {
    const g = graph("r-a", "r-b", "a-x", "a-y", "b-z");
    assert.deepEqual(hops(g, "x", "z"), ["a#2"]);
    assert.deepEqual(hops(g, "r", "y"), ["a#0"]);
    assert.deepEqual(hops(g, "z", "b"), ["b#4"]);
    assert.deepEqual(hops(g, "a", "a"), [], "no hop toward itself");
  });

  it("ties: every equal-cost first hop (a leaf toward another leaf over two spines)", () => {
    const g = graph("l1-s1", "l1-s2", "l2-s1", "l2-s2", "l2-h");
    assert.deepEqual(hops(g, "l1", "h"), ["s1#0", "s2#1"]);
    assert.deepEqual(hops(g, "s1", "h"), ["l2#2"]);
    assert.equal(g.distances("l1").get("h"), 3);
  });

  it("parallel links between two devices are two next hops", () => {
    const g = graph("a-b", "a-b", "b-c");
    assert.deepEqual(hops(g, "a", "c"), ["b#0", "b#1"]);
  });

  it("costs: a cheaper longer path wins, equal totals tie", () => {
    const g = graph("a-d:10", "a-b", "b-c", "c-d");
    assert.deepEqual(hops(g, "a", "d"), ["b#1"]);
    assert.equal(g.distances("a").get("d"), 3);
    const tie = graph("a-d:3", "a-b", "b-c", "c-d");
    assert.deepEqual(hops(tie, "a", "d"), ["d#0", "b#1"]);
  });

  it("toward a link (either end): the nearest end", () => {
    const g = graph("a-b", "b-c", "c-d", "d-a");
    // the link c-d: from a, d is one hop away, c two
    assert.deepEqual(hops(g, "a", "c", "d"), ["d#3"]);
    // the link b-c: b is one hop from a (c is two either way)
    assert.deepEqual(hops(g, "a", "b", "c"), ["b#0"]);
  });

  it("a ring of four: the opposite corner over both sides", () => {
    const g = graph("a-b", "b-c", "c-d", "d-a");
    assert.deepEqual(hops(g, "a", "c"), ["b#0", "d#3"]);
  });

  it("disconnected: components, and no hop toward the other part", () => {
    const g = graph("a-b", "c-d", "d-e");
    assert.deepEqual(g.components(), [
      ["a", "b"],
      ["c", "d", "e"],
    ]);
    assert.deepEqual(hops(g, "a", "e"), []);
    assert.equal(graph("a-b", "b-c").components().length, 1);
  });

  it("refuses a cost that is not positive", () => {
    assert.throws(() => graph("a-b:0"), /cost 0 is not positive/);
  });

  it("renders one next hop as via, several as nexthop entries", () => {
    assert.equal(nextHopArgs("10.0.0.1"), "via 10.0.0.1");
    assert.equal(nextHopArgs(["10.0.0.1"]), "via 10.0.0.1");
    assert.equal(nextHopArgs(["10.0.0.1", "10.0.0.5"]), "nexthop via 10.0.0.1 nexthop via 10.0.0.5");
  });

  it("a multipath route op renders its next hops last; its inverse deletes the prefix", () => {
    const op = routeReplace({ dst: "10.244.3.0/24", nexthops: ["10.0.0.1", "10.0.0.5"], table: 4242 });
    assert.equal(renderIp(op), "route replace 10.244.3.0/24 table 4242 nexthop via 10.0.0.1 nexthop via 10.0.0.5");
    assert.equal(renderIp(inverseOf(op)!), "route del 10.244.3.0/24 table 4242");
    assert.equal(renderIp(inverseOf(routeReplace({ dst: "10.244.3.0/24", via: "10.0.0.1" }))!), "route del 10.244.3.0/24 via 10.0.0.1");
  });
});

describe("static routing on malformed input", () => {
  it("an address that does not parse is refused at its place, not thrown by the route graph (found by the fuzzer)", async () => {
    const { compileTopology } = await import("../../../src/app/topology.js");
    const { TopologyError } = await import("../../../src/core/errors.js");
    const spec = {
      name: "t",
      routing: "static" as const,
      devices: [],
      links: [{ endpoints: ["r1", "r1"] as [string, string], addresses: ["10.0.1.1/24", "300.1.1.1/24"] as [string, string] }],
    };
    assert.throws(
      () => compileTopology(spec),
      (e: unknown) => e instanceof TopologyError && e.issues.some((i) => /300\.1\.1\.1/.test(i.message)),
    );
  });
});
