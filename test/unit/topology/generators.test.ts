import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TopologyError } from "../../../src/core/errors.js";
import { compile, netLines } from "../../support/compile.js";
import type { TopologySpec } from "../../../src/model/spec.js";
import { fatTree, leafSpine, linear, tree } from "../../../src/topology/generators.js";
import { contains, hostOf, networkOf } from "../../../src/core/addr.js";

const kinds = (s: TopologySpec) => {
  const out: Record<string, number> = {};
  for (const d of s.devices) out[d.kind] = (out[d.kind] ?? 0) + 1;
  return out;
};
const degree = (s: TopologySpec, name: string) => s.links.filter((l) => l.endpoints.includes(name)).length;
const issues = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof TopologyError) return e.issues.map((i) => `${i.field}: ${i.message}`);
    throw e;
  }
  return [];
};

describe("topology generators", () => {
  it("fatTree k=4: 4 cores, 8 aggregation and 8 edge routers, 16 leaves, 48 links; every router has k ports", () => {
    const s = fatTree({ k: 4 });
    assert.deepEqual(kinds(s), { router: 20, host: 16 });
    assert.equal(s.links.length, 48);
    for (const d of s.devices.filter((x) => x.kind === "router")) assert.equal(degree(s, d.name), 4, d.name);
    // core c links to aggregation router ceil(c/2) of every pod
    assert.deepEqual(
      s.links.filter((l) => l.endpoints[0] === "core3").map((l) => l.endpoints[1]),
      ["agg1_2", "agg2_2", "agg3_2", "agg4_2"],
    );
    assert.deepEqual(s.links.at(-1)?.endpoints, ["edge4_2", "h4_2_2"]);
  });

  it("fatTree k=6 and k=8 have (k/2)² cores, k² pod routers and k³/4 leaves", () => {
    for (const k of [6, 8]) {
      const s = fatTree({ k });
      const c = s.devices.filter((d) => d.name.startsWith("core")).length;
      assert.deepEqual([c, kinds(s).router! - c, kinds(s).host], [(k / 2) ** 2, k * k, k ** 3 / 4]);
      assert.equal(s.links.length, (3 * k ** 3) / 4);
    }
  });

  it("leafSpine: every leaf router on every spine, perLeaf leaves each", () => {
    const s = leafSpine({ spines: 2, leaves: 4, perLeaf: 3 });
    assert.deepEqual(kinds(s), { router: 6, host: 12 });
    assert.equal(s.links.length, 2 * 4 + 12);
    assert.equal(degree(s, "spine2"), 4);
    assert.equal(degree(s, "leaf3"), 2 + 3);
    assert.equal(s.routing, "static");
  });

  it("tree: depth levels of routers, fanout children; linear: a chain", () => {
    const t = tree({ depth: 3, fanout: 2 });
    assert.deepEqual(kinds(t), { router: 1 + 2 + 4, host: 8 });
    assert.equal(t.root, "r1");
    assert.equal(t.links.length, 6 + 8);
    const l = linear({ n: 4, perRouter: 2 });
    assert.deepEqual(kinds(l), { router: 4, host: 8 });
    assert.deepEqual(
      l.links.slice(0, 3).map((x) => x.name),
      ["r1-r2", "r2-r3", "r3-r4"],
    );
  });

  it("address plan: link i takes the i-th /30 of the pool, the first endpoint its lower address; names say the ends", () => {
    const s = leafSpine({ spines: 2, leaves: 2, perLeaf: 1, addressPool: "192.168.8.0/24" });
    assert.deepEqual(s.links[0], { name: "spine1-leaf1", endpoints: ["spine1", "leaf1"], addresses: ["192.168.8.1/30", "192.168.8.2/30"] });
    assert.deepEqual(s.links[5]?.addresses, ["192.168.8.21/30", "192.168.8.22/30"]);
    const nets = s.links.map((l) => networkOf(l.addresses![0]));
    assert.equal(new Set(nets).size, s.links.length, "no subnet twice");
    for (const l of s.links) for (const a of l.addresses!) assert.ok(contains("192.168.8.0/24", hostOf(a)));
    // the default pool
    assert.equal(fatTree({ k: 4 }).links[47]?.addresses?.[1], "10.0.0.190/30");
  });

  it("the user picks the Kubernetes leaves: control planes by name, workers by name or the rest", () => {
    const s = leafSpine({ spines: 1, leaves: 2, perLeaf: 2, controlPlanes: ["h1_1"], workers: ["h2_2"] });
    assert.deepEqual(
      s.devices.filter((d) => d.kind !== "router").map((d) => `${d.name}:${d.kind}`),
      ["h1_1:control-plane", "h1_2:host", "h2_1:host", "h2_2:worker"],
    );
    const rest = fatTree({ k: 4, controlPlanes: ["h1_1_1"], workers: "rest" });
    assert.deepEqual(kinds(rest), { router: 20, "control-plane": 1, worker: 15 });
  });

  it("refuses bad sizes, unknown leaves and a pool too small, naming the option", () => {
    assert.deepEqual(
      issues(() => fatTree({ k: 3 })),
      ["k: k must be even (k/2 routers face each way); it is 3"],
    );
    assert.deepEqual(
      issues(() => leafSpine({ spines: 0, leaves: 1.5, perLeaf: 1 })),
      ["spines: spines must be a whole number of at least 1", "leaves: leaves must be a whole number of at least 1"],
    );
    assert.match(
      issues(() => leafSpine({ spines: 1, leaves: 1, perLeaf: 1, controlPlanes: ["h9_9"] }))[0]!,
      /^controlPlanes\[0\]: "h9_9" is not a leaf/,
    );
    assert.deepEqual(
      issues(() => fatTree({ k: 4, addressPool: "10.0.0.0/26" })),
      ["addressPool: 10.0.0.0/26 holds 16 links of a /30; this topology has 48"],
    );
    assert.match(issues(() => tree({ depth: 12, fanout: 4 }))[0]!, /^depth: fanout 4 to depth 12 makes more than 2000 leaves/);
  });
});

describe("static routing on generated graphs", () => {
  const routesOf = (s: TopologySpec, dev: string) =>
    netLines(compile(s).lab.devices.find((d) => d.name === dev)).filter((c) => c.startsWith("ip route"));

  it("leaf-spine: a leaf reaches another leaf's hosts over both spines (multipath), and skips dead next hops", () => {
    const s = leafSpine({ spines: 2, leaves: 4, perLeaf: 3 });
    const c = compile(s);
    const leaf1 = c.lab.devices.find((d) => d.name === "leaf1")!;
    // h4_1's link is links[8 + 9]: 10.0.0.68/30; spine1 and spine2 are 10.0.0.1 and 10.0.0.5 from leaf1
    assert.ok(netLines(leaf1).includes("ip route add 10.0.0.68/30 nexthop via 10.0.0.1 nexthop via 10.0.0.5"), netLines(leaf1).join("\n"));
    assert.equal(leaf1.sysctls["net.ipv4.conf.all.ignore_routes_with_linkdown"], "1");
    // a spine has one way to each leaf's hosts; no multipath, but the sysctl too: a re-route may give it multipath routes later
    const spine1 = c.lab.devices.find((d) => d.name === "spine1")!;
    assert.ok(netLines(spine1).includes("ip route add 10.0.0.68/30 via 10.0.0.26"), netLines(spine1).join("\n"));
    assert.equal(spine1.sysctls["net.ipv4.conf.all.ignore_routes_with_linkdown"], "1");
    const noReroute = compile({ ...s, reroute: false }).lab.devices.find((d) => d.name === "spine1")!;
    assert.equal(noReroute.sysctls["net.ipv4.conf.all.ignore_routes_with_linkdown"], undefined);
    // a host: everything via its leaf
    assert.ok(routesOf(s, "h1_1").every((r) => r.endsWith("via 10.0.0.33")));
  });

  it("a tree keeps one next hop per destination, as before", () => {
    const s = tree({ depth: 2, fanout: 2 });
    for (const d of s.devices) for (const r of routesOf(s, d.name)) assert.doesNotMatch(r, /nexthop/);
  });

  it("link costs steer the paths: a costly spine link leaves one way", () => {
    const s = leafSpine({ spines: 2, leaves: 2, perLeaf: 1 });
    s.links[1]!.cost = 5; // spine2-leaf1
    const r = routesOf(s, "leaf1").find((x) => x.startsWith("ip route add 10.0.0.20/30"));
    assert.equal(r, "ip route add 10.0.0.20/30 via 10.0.0.1");
  });

  it("fat tree with native pod routing: pod routes toward a node in another pod over both aggregation routers", () => {
    const s = fatTree({ k: 4, controlPlanes: ["h1_1_1"], workers: "rest", encapsulation: "none" });
    const c = compile(s);
    const pr = c.clusterOptions.podRoutes!;
    const edge = pr.find((r) => r.device === "edge1_1" && r.node === "h4_2_2")!;
    assert.equal(edge.via.length, 2, JSON.stringify(edge));
    const core = pr.find((r) => r.device === "core1" && r.node === "h4_2_2")!;
    assert.equal(typeof core.via, "string", "a core has one way down to a pod");
    // the edge router of a node routes its pods straight to it
    assert.deepEqual(pr.find((r) => r.device === "edge4_2" && r.node === "h4_2_2")?.via, hostOf(s.links[47]!.addresses![1]));
  });
});
