import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RouteGraph, nextHopArgs, staticRouter, summarise, type Edge } from "../../../src/plan/routes.js";
import type { StaticRoutePlan } from "../../../src/model/spec.js";

/** A device's planned routes as the `ip` commands they render to. */
const routeLines = (p: StaticRoutePlan, dev: string) => (p.routes.get(dev) ?? []).map((r) => `ip ${renderIp(routeAdd(r.dst, r.via))}`);
import { contains, networkOf } from "../../../src/core/addr.js";
import type { TopologySpec } from "../../../src/model/spec.js";
import { leafSpine } from "../../../src/topology/generators.js";
import { inverseOf, renderIp, routeAdd, routeReplace } from "../../../src/plan/ops.js";

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

describe("a host's routes: the prefixes covering the lab via its uplink, not one per subnet", () => {
  const routesOf = (s: TopologySpec, dev: string) => routeLines(staticRouter.plan(s), dev);
  /** Subnets of links and segments not on `dev`. */
  const farSubnets = (s: TopologySpec, dev: string) =>
    s.links.filter((l) => l.addresses && !l.endpoints.includes(dev)).map((l) => networkOf(l.addresses![0]));

  it("leaf-spine: a host gets one route via its leaf that covers every other subnet (was one per subnet)", () => {
    const s = leafSpine({ spines: 4, leaves: 14, perLeaf: 13 });
    const r = routesOf(s, "h1_1");
    assert.equal(r.length, 1, r.join("\n"));
    const m = /^ip route add (\S+) via (\S+)$/.exec(r[0]!)!;
    assert.ok(m, r[0]);
    const far = farSubnets(s, "h1_1");
    assert.equal(far.length, 4 * 14 + 14 * 13 - 1);
    for (const n of far) assert.ok(contains(m[1]!, n), `${n} outside ${m[1]}`);
    // the leaf's address on the host's link
    const own = s.links.find((l) => l.endpoints.includes("h1_1"))!;
    const leafSide = own.endpoints[0] === "h1_1" ? 1 : 0;
    assert.equal(`${m[2]}/30`, own.addresses![leafSide]);
    // routers keep a route per subnet
    assert.equal(routesOf(s, "leaf1").length, far.length - (4 + 13 - 1));
  });

  const twoRouters = (extra: TopologySpec["links"]): TopologySpec => ({
    name: "t",
    routing: "static",
    devices: [
      { name: "r1", kind: "router" },
      { name: "r2", kind: "router" },
      { name: "h", kind: "host" },
      { name: "x", kind: "host" },
    ],
    links: [
      { endpoints: ["r1", "r2"], addresses: ["10.0.0.1/30", "10.0.0.2/30"] },
      { endpoints: ["r2", "x"], addresses: ["10.0.2.1/24", "10.0.2.2/24"] },
      { endpoints: ["r1", "h"], addresses: ["10.0.1.1/24", "10.0.1.2/24"] },
      ...extra,
    ],
  });

  it("ECMP over equivalent uplinks (two links to one router): one multipath route", () => {
    const s = twoRouters([{ endpoints: ["r1", "h"], addresses: ["10.0.3.1/24", "10.0.3.2/24"] }]);
    assert.deepEqual(routesOf(s, "h"), ["ip route add 10.0.0.0/22 nexthop via 10.0.1.1 nexthop via 10.0.3.1"]);
    assert.ok(staticRouter.plan(s).sysctls.has("h"), "multipath sysctls as before");
  });

  it("a host on two routers whose subnets take different ways keeps a route per subnet", () => {
    const s = twoRouters([{ endpoints: ["r2", "h"], addresses: ["10.0.4.1/24", "10.0.4.2/24"] }]);
    assert.deepEqual(routesOf(s, "h"), [
      "ip route add 10.0.0.0/30 nexthop via 10.0.1.1 nexthop via 10.0.4.1",
      "ip route add 10.0.2.0/24 via 10.0.4.1",
    ]);
  });

  it("subnets of two /8s: a prefix each; another family is summarised on its own", () => {
    const s = twoRouters([]);
    s.links[1]!.addresses = ["192.168.2.1/24", "192.168.2.2/24"];
    assert.deepEqual(routesOf(s, "h"), ["ip route add 10.0.0.0/30 via 10.0.1.1", "ip route add 192.168.2.0/24 via 10.0.1.1"]);
    const mixed = new Map<string, readonly string[]>([
      ["10.0.0.0/30", ["10.0.1.1"]],
      ["fd00:2::/64", ["fd00:1::1"]],
      ["10.0.2.0/24", ["10.0.1.1"]],
      ["fd00:3::/64", ["fd00:1::1", "fd00:1::2"]],
    ]);
    assert.deepEqual(
      [...summarise(mixed)],
      [
        ["10.0.0.0/22", ["10.0.1.1"]],
        ["fd00:2::/64", ["fd00:1::1"]],
        ["fd00:3::/64", ["fd00:1::1", "fd00:1::2"]],
      ],
    );
  });

  it("native pod routing: a host still routes each node's pods via its uplink", () => {
    const s = twoRouters([]);
    s.encapsulation = "none";
    s.devices.push({ name: "w1", kind: "worker" });
    s.links.push({ endpoints: ["r2", "w1"], addresses: ["10.0.5.1/24", "10.0.5.2/24"] });
    const plan = staticRouter.plan(s);
    assert.deepEqual(routeLines(plan, "h"), ["ip route add 10.0.0.0/21 via 10.0.1.1"]);
    assert.deepEqual(
      plan.podRoutes.filter((r) => r.device === "h"),
      [{ device: "h", node: "w1", via: "10.0.1.1" }],
    );
  });
});

describe("the multipath sysctls (ignore routes whose link is down)", () => {
  const ring: TopologySpec = {
    name: "ring",
    routing: "static",
    devices: ["a", "b", "c", "d"].map((name) => ({ name, kind: "router" as const })),
    links: [
      { endpoints: ["a", "b"], addresses: ["10.5.0.1/30", "10.5.0.2/30"] },
      { endpoints: ["b", "c"], addresses: ["10.5.0.5/30", "10.5.0.6/30"] },
      { endpoints: ["c", "d"], addresses: ["10.5.0.9/30", "10.5.0.10/30"], cost: 5 },
      { endpoints: ["d", "a"], addresses: ["10.5.0.13/30", "10.5.0.14/30"] },
    ],
  };
  it("with static re-route, every device gets them at up: a re-route may give it multipath routes later (set only when its container is made)", () => {
    // no device of this ring has a multipath route at up
    const plan = staticRouter.plan(ring);
    assert.ok(![...plan.routes.values()].flat().some((r) => r.via.length > 1));
    assert.deepEqual([...plan.sysctls.keys()].sort(), ["a", "b", "c", "d"]);
    assert.equal(plan.sysctls.get("a")!["net.ipv4.conf.all.ignore_routes_with_linkdown"], "1");
  });
  it("without re-route (reroute: false), only devices with multipath routes", () => {
    assert.deepEqual([...staticRouter.plan({ ...ring, reroute: false }).sysctls.keys()], []);
  });
});
