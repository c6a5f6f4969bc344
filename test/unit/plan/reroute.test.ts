import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { IpOp, Route } from "../../../src/model/ops.js";
import type { RoutingRecord } from "../../../src/model/routing.js";
import {
  carriesGiven,
  desiredRoutes,
  diffRoutes,
  downEnds,
  planReroute,
  withLink,
  withDeviceFrom,
  withNode,
  withoutDevice,
  withoutLink,
  withoutPods,
  withPods,
  type DownEnd,
} from "../../../src/plan/reroute.js";
import { loadTopologyYaml } from "../../../src/topology/yaml.js";
import { fatTree } from "../../../src/topology/generators.js";
import { compile } from "../../support/compile.js";
import type { TopologySpec } from "../../../src/model/spec.js";

const ROOT = join(import.meta.dirname, "..", "..", "..");

function record(spec: TopologySpec): RoutingRecord {
  const r = compile(spec).lab.routing;
  assert.ok(r, "a static topology compiles with a routing record");
  return structuredClone(r);
}

const irregular = () => record(loadTopologyYaml(join(ROOT, "examples", "irregular-fabric.yaml")).spec);
const addrOf = (rec: RoutingRecord, dev: string, link: string) => {
  const l = rec.links.find((x) => x.name === link)!;
  return l.addresses[l.endpoints.indexOf(dev)]!.split("/")[0]!;
};
const netOf = (rec: RoutingRecord, link: string) => {
  const a = rec.links.find((x) => x.name === link)!.addresses[0]!;
  const [ip] = a.split("/");
  const o = ip!.split(".").map(Number);
  o[3] = o[3]! & ~3;
  return `${o.join(".")}/30`;
};
const routeTo = (routes: readonly Route[], dst: string) => routes.find((r) => r.dst === dst);
const hopsOf = (r: Route | undefined) => (r ? (r.nexthops ?? [r.via!]) : []);

/** A device's routes as a table keyed by prefix, with `ops` applied as the kernel would. */
function apply(table: readonly Route[], ops: readonly IpOp[]): Route[] {
  const m = new Map(table.map((r) => [r.dst, r]));
  for (const o of ops) {
    if (o.op === "route-replace") m.set(o.route.dst, o.route);
    else if (o.op === "route-del") {
      assert.ok(m.has(o.route.dst), `deleting ${o.route.dst}, which is there`);
      m.delete(o.route.dst);
    } else assert.fail(`unexpected ${o.op}`);
  }
  return [...m.values()].sort((a, b) => a.dst.localeCompare(b.dst));
}
const dstOf = (o: IpOp) => ("route" in o ? o.route.dst : undefined);
const sorted = (rs: readonly Route[]) => [...rs].sort((a, b) => a.dst.localeCompare(b.dst));

describe("static routing that follows the cut (plan/reroute.ts)", () => {
  it("with nothing cut, the wanted routes are the ones up installed: no change", () => {
    const rec = irregular();
    assert.deepEqual(planReroute(rec, []).changes, []);
    const ft = record(fatTree({ k: 4 }));
    assert.deepEqual(planReroute(ft, []).changes, []);
  });

  it("cut l1--s2: s2 takes a detour to l1's hosts, the other leaves stop sending l1's traffic to s2", () => {
    const rec = irregular();
    const h1a = netOf(rec, "l1-h1a");
    const before = hopsOf(routeTo(rec.routes["l2"]!, h1a));
    assert.deepEqual(before.sort(), [addrOf(rec, "s1", "s1-l2"), addrOf(rec, "s2", "s2-l2")].sort(), "l2 reaches h1a over s1 and s2");
    const plan = planReroute(rec, [{ device: "l1", link: "s2-l1" }]);
    assert.deepEqual(plan.parts, [], "one cable between routers splits nothing");
    const after = (d: string) => hopsOf(routeTo(plan.routes[d]!, h1a));
    assert.deepEqual(after("l2"), [addrOf(rec, "s1", "s1-l2")], "l2: only s1 now");
    assert.deepEqual(after("l3"), [addrOf(rec, "s1", "s1-l3")], "l3: only s1 now");
    // s2 -> (l2 | l3) -> s1 -> l1: a longer path, both leaves tie
    assert.deepEqual(after("s2").sort(), [addrOf(rec, "l2", "s2-l2"), addrOf(rec, "l3", "s2-l3")].sort(), "s2's detour over l2 and l3");

    // only the devices whose routes change get operations; the hosts' summaries stay
    const changed = plan.changes.map((c) => c.device);
    assert.ok(changed.includes("s2") && changed.includes("l2") && changed.includes("l3") && changed.includes("l1"), changed.join());
    for (const h of ["h1a", "h2a", "h3b"]) assert.ok(!changed.includes(h), `${h} unchanged`);
    // the cut link's own subnet stays reachable, through its ends' other links
    const cutNet = netOf(rec, "s2-l1");
    assert.deepEqual(hopsOf(routeTo(plan.routes["l2"]!, cutNet)), [addrOf(rec, "s2", "s2-l2")], "at its nearer end, s2");
  });

  it("every change applied gives the wanted routes, and its inverse the routes before", () => {
    const rec = irregular();
    for (const l of rec.links.filter((x) => x.endpoints.every((e) => /^[sl]\d$/.test(e)))) {
      const plan = planReroute(rec, [{ device: l.endpoints[0], link: l.name }]);
      for (const c of plan.changes) {
        const now = apply(rec.routes[c.device] ?? [], c.ops);
        assert.deepEqual(now, sorted(plan.routes[c.device]!), `${l.name}: ${c.device}`);
        assert.deepEqual(apply(now, c.undo), sorted(rec.routes[c.device]!), `${l.name}: ${c.device} undone`);
      }
    }
  });

  it("replaces come before deletes in a device's batch (no prefix without a route meanwhile)", () => {
    const have = {
      r: [
        { dst: "10.0.0.0/24", via: "10.9.0.1" },
        { dst: "10.0.1.0/24", via: "10.9.0.1" },
      ],
    };
    const [c] = diffRoutes(have, new Map([["r", [{ dst: "10.0.0.0/23", via: "10.9.0.2" }]]]));
    assert.deepEqual(
      c!.ops.map((o) => o.op),
      ["route-replace", "route-del", "route-del"],
    );
    assert.deepEqual(c!.undo[0], { op: "route-del", route: { dst: "10.0.0.0/23" } });
  });

  it("a cut that splits the network names the parts, and routes to what is cut off go", () => {
    const rec = irregular();
    const plan = planReroute(rec, [{ device: "h1a", link: "l1-h1a" }]);
    assert.equal(plan.parts.length, 2);
    assert.deepEqual(plan.parts[1], ["h1a"]);
    // h1a's routes all go (it reaches nobody), and nobody keeps a route to ... its link's subnet stays via l1
    assert.deepEqual(plan.routes["h1a"], []);
    const net = netOf(rec, "l1-h1a");
    assert.ok(routeTo(plan.routes["l2"]!, net), "the subnet of the cut host link is still reached at l1");
    // both links of l1 to the spines: l1 and its hosts are cut off from the rest
    const two = planReroute(rec, [
      { device: "l1", link: "s1-l1" },
      { device: "l1", link: "s2-l1" },
    ]);
    assert.deepEqual(two.parts, [
      ["h2a", "h2b", "h3a", "h3b", "l2", "l3", "s1", "s2", "s3"],
      ["h1a", "h1b", "l1"],
    ]);
    assert.equal(routeTo(two.routes["l2"]!, netOf(rec, "l1-h1a")), undefined, "l2 has no route to a host it cannot reach");
  });

  it("a k=4 fat tree: one cable cut at a time, every router still has a route to every subnet", () => {
    const rec = record(fatTree({ k: 4 }));
    const subnets = rec.links.map((l) => netOf(rec, l.name));
    for (const l of rec.links.filter((x) => !x.endpoints.some((e) => e.startsWith("h")))) {
      const plan = planReroute(rec, [{ device: l.endpoints[1], link: l.name }]);
      assert.deepEqual(plan.parts, [], l.name);
      for (const d of rec.devices.filter((x) => x.kind === "router")) {
        const mine = new Set(rec.links.filter((x) => x.endpoints.includes(d.name)).map((x) => netOf(rec, x.name)));
        for (const s of subnets) if (!mine.has(s)) assert.ok(routeTo(plan.routes[d.name]!, s), `${l.name} cut: ${d.name} -> ${s}`);
        // no route uses a next hop on the cut link
        const gone = l.addresses.map((a) => a.split("/")[0]!);
        for (const r of plan.routes[d.name]!) for (const h of hopsOf(r)) assert.ok(!gone.includes(h), `${d.name} ${r.dst} via ${h}`);
      }
    }
  });

  it("segments: a member's cut end takes only that member off the segment", () => {
    const spec: TopologySpec = {
      name: "seg",
      routing: "static",
      devices: [
        { name: "r1", kind: "router" },
        { name: "r2", kind: "router" },
        { name: "a", kind: "host" },
        { name: "b", kind: "host" },
      ],
      links: [{ endpoints: ["r1", "r2"], addresses: ["10.1.0.1/30", "10.1.0.2/30"] }],
      segments: [
        {
          name: "lan",
          device: "r1",
          address: "10.2.0.1/24",
          members: [
            { name: "a", address: "10.2.0.2/24" },
            { name: "b", address: "10.2.0.3/24" },
          ],
        },
      ],
    };
    const rec = record(spec);
    const c = carriesGiven(rec, [{ device: "a", link: "lan" }]);
    assert.equal(c("lan", "r1", "a"), false);
    assert.equal(c("lan", "r1", "b"), true);
    assert.equal(carriesGiven(rec, [{ device: "r1", link: "lan" }])("lan", "r1", "b"), false, "the segment's device: every member");
    assert.ok(routeTo(desiredRoutes(rec, c).get("b")!, "10.1.0.0/30"), "b still routes via r1");
  });

  it("reads the cut ends from the state's cut keys (lab-side veth ends; a node's filtered link)", () => {
    const rec = irregular();
    const st = {
      name: "irr",
      netns: "kinda-irr",
      domains: [],
      devices: [
        { name: "l1", container: "c-l1", interfaces: [{ name: "eth1", domain: "s2-l1", hostIf: "v-3-1" }] },
        { name: "s2", container: "c-s2", interfaces: [{ name: "eth0", domain: "s2-l1", hostIf: "v-1-0" }] },
      ],
    };
    const down: DownEnd[] = downEnds(rec, st, { cuts: [{ key: "netns:kinda-irr/v-3-1" }] });
    assert.deepEqual(down, [{ device: "l1", link: "s2-l1" }]);
    const withNode = {
      ...st,
      cluster: { nodes: [{ name: "w1", container: "c-w1" }], links: [{ node: "w1", device: "l1", nodeIf: "eth1", deviceIf: "eth9" }] },
    };
    const rec2 = withLink(rec, { name: "l99", endpoints: ["l1", "w1"], addresses: ["10.30.0.1/30", "10.30.0.2/30"] });
    assert.deepEqual(downEnds(rec2, withNode, { cuts: [{ key: "container:c-l1/eth9" }, { key: "container:c-w1/eth1" }] }), [
      { device: "w1", link: "l99" },
    ]);
  });

  it("links and devices removed or added change the graph the routes follow", () => {
    const rec = irregular();
    const h1a = netOf(rec, "l1-h1a");
    const gone = withoutLink(rec, "s2-l1");
    assert.deepEqual(hopsOf(routeTo(planReroute(gone, []).routes["l2"]!, h1a)), [addrOf(rec, "s1", "s1-l2")]);
    const s3l1 = withLink(rec, { name: "s3--l1", endpoints: ["s3", "l1"], addresses: ["10.22.9.1/30", "10.22.9.2/30"] });
    assert.equal(hopsOf(routeTo(planReroute(s3l1, []).routes["l2"]!, h1a)).length, 3, "a new cable to s3: three ways to l1");
    const noS1 = withoutDevice(rec, "s1");
    const p = planReroute(noS1, []);
    assert.ok(!("s1" in p.routes));
    assert.deepEqual(hopsOf(routeTo(p.routes["l3"]!, h1a)), [addrOf(rec, "s2", "s2-l3")]);
    const r9 = withLink(rec, { name: "r9--l3", endpoints: ["r9", "l3"], addresses: ["10.22.9.5/30", "10.22.9.6/30"] });
    const added = planReroute(r9, []);
    assert.ok(
      added.changes.some((c) => c.device === "r9" && c.ops.length > 10),
      "a new router gets every route",
    );
  });

  it("a device added back from its source returns with its links, and the others route to it again", () => {
    const rec = irregular();
    const h1a = netOf(rec, "l1-h1a");
    const noL1 = withoutDevice(rec, "l1");
    assert.equal(routeTo(planReroute(noL1, []).routes["l2"]!, h1a), undefined, "l1 gone: no route to its hosts");
    const back = withDeviceFrom(noL1, rec, "l1");
    assert.deepEqual(
      back.links
        .filter((l) => l.endpoints.includes("l1"))
        .map((l) => l.name)
        .sort(),
      rec.links
        .filter((l) => l.endpoints.includes("l1"))
        .map((l) => l.name)
        .sort(),
    );
    assert.deepEqual(back.routes["l1"], rec.routes["l1"], "its routes as compiled");
    assert.equal(hopsOf(routeTo(planReroute(back, []).routes["l2"]!, h1a)).length, 2, "over both spines again");
    assert.equal(withDeviceFrom(noL1, rec, "nosuch"), noL1, "a device the source does not have changes nothing");
  });

  it("encapsulation none: the nodes' pod ranges follow the cut too", () => {
    const spec = fatTree({ k: 4, controlPlanes: ["h1_1_1"], workers: "rest", encapsulation: "none" });
    const rec = record(spec);
    rec.pods = { h4_2_2: ["10.244.7.0/24"] };
    const base = desiredRoutes(rec);
    assert.equal(hopsOf(routeTo(base.get("edge1_1")!, "10.244.7.0/24")).length, 2, "over both aggregation routers");
    const link = rec.links.find((l) => l.endpoints.includes("edge1_1") && l.endpoints.includes("agg1_1"))!;
    const plan = planReroute({ ...rec, routes: Object.fromEntries(base) }, [{ device: "edge1_1", link: link.name }]);
    assert.equal(hopsOf(routeTo(plan.routes["edge1_1"]!, "10.244.7.0/24")).length, 1, "one way left");
    assert.ok(plan.changes.some((c) => c.device === "agg1_1"));
  });

  it("cluster attach records the pod ranges: a re-route then moves their routes; a node's removal takes them out", () => {
    const spec = fatTree({ k: 4, controlPlanes: ["h1_1_1"], workers: "rest", encapsulation: "none" });
    const upRec = record(spec);
    const pod = "10.244.7.0/24";
    // what `up` recorded: no pod ranges, so a cut leaves every pod route where it was
    assert.equal(upRec.pods, undefined);
    const link = upRec.links.find((l) => l.endpoints.includes("edge1_1") && l.endpoints.includes("agg1_1"))!;
    const cut = [{ device: "edge1_1", link: link.name }];
    assert.ok(!planReroute(upRec, cut).changes.some((c) => c.ops.some((o) => dstOf(o) === pod)), "before: nothing to move");
    const rec = withPods(upRec, { h4_2_2: [pod], h1_1_2: [] });
    assert.deepEqual(rec.pods, { h4_2_2: [pod] }, "nodes without ranges are left out");
    assert.equal(upRec.pods, undefined, "the record given is not changed");
    // attach: the routes to the pods are added where up's routes are (the cluster plan installed the same ones)
    const attached = planReroute(rec, []);
    assert.ok(attached.changes.length > 0);
    assert.ok(
      attached.changes.every((c) => c.ops.every((o) => o.op === "route-replace" && dstOf(o) === pod)),
      "only the pod routes are new",
    );
    const live = { ...rec, routes: attached.routes };
    assert.equal(hopsOf(routeTo(live.routes["edge1_1"]!, pod)).length, 2);
    // a cut moves them
    const after = planReroute(live, cut);
    const edge = after.changes.find((c) => c.device === "edge1_1")!;
    assert.ok(edge.ops.some((o) => o.op === "route-replace" && o.route.dst === pod && hopsOf(o.route).length === 1));
    assert.deepEqual(
      edge.undo.find((o) => dstOf(o) === pod),
      { op: "route-replace", route: routeTo(live.routes["edge1_1"]!, pod) },
      "its inverse puts the route back",
    );
    // node removal: the ranges and the routes to them leave the record; a re-route then changes nothing for them
    const less = withoutPods({ ...live, routes: after.routes }, "h4_2_2");
    assert.deepEqual(less.pods, {});
    assert.ok(Object.values(less.routes).every((rs) => rs.every((r) => r.dst !== pod)));
    assert.deepEqual(planReroute(less, cut).changes, []);
    assert.equal(withoutPods(less, "h4_2_2"), less, "a node without ranges changes nothing");
  });

  it("a node added from the command line joins the graph with its link, and its pods are routed", () => {
    const spec = fatTree({ k: 4, controlPlanes: ["h1_1_1"], workers: "rest", encapsulation: "none" });
    const rec = record(spec);
    const routes = Object.fromEntries(desiredRoutes(rec));
    const added = withPods(
      withNode({ ...rec, routes }, "extra", {
        name: "edge2_1--extra",
        endpoints: ["edge2_1", "extra"],
        addresses: ["10.99.0.1/24", "10.99.0.2/24"],
      }),
      { extra: ["10.244.40.0/24"] },
    );
    assert.equal(withNode(added, "extra", added.links.at(-1)!), added, "known already: unchanged");
    const p = planReroute(added, []);
    const on = (d: string) => p.routes[d]!;
    assert.deepEqual(routeTo(on("edge2_1"), "10.244.40.0/24"), { dst: "10.244.40.0/24", via: "10.99.0.2" });
    assert.ok(routeTo(on("edge1_1"), "10.244.40.0/24"), "the others route to its pods");
    assert.ok(routeTo(on("edge1_1"), "10.99.0.0/24"), "and to its link");
  });

  it("a P4 switch with lpm: its route entries are rewritten by key (delete, add) with inverses; the compiled ones recorded", () => {
    const program = join(mkdtempSync(join(tmpdir(), "kinda-rr-unit-")), "ipv4_lpm.json");
    writeFileSync(program, JSON.stringify({ header_types: [], parsers: [], deparsers: [], pipelines: [], actions: [] }));
    const rec = record({
      name: "p4rr",
      routing: "static",
      devices: [
        { name: "h1", kind: "host" },
        { name: "sw", kind: "p4-switch", program, lpm: true },
        { name: "ra", kind: "router" },
        { name: "rb", kind: "router" },
        { name: "rc", kind: "router" },
        { name: "h2", kind: "host" },
      ],
      links: [
        { endpoints: ["h1", "sw"], addresses: ["10.78.1.2/24", "10.78.1.1/24"] },
        { name: "sw--ra", endpoints: ["sw", "ra"], addresses: ["10.78.0.1/30", "10.78.0.2/30"] },
        { name: "sw--rb", endpoints: ["sw", "rb"], addresses: ["10.78.0.5/30", "10.78.0.6/30"], cost: 3 },
        { endpoints: ["ra", "rc"], addresses: ["10.78.0.9/30", "10.78.0.10/30"] },
        { endpoints: ["rb", "rc"], addresses: ["10.78.0.13/30", "10.78.0.14/30"], cost: 3 },
        { endpoints: ["rc", "h2"], addresses: ["10.78.2.1/24", "10.78.2.2/24"] },
      ],
    });
    const sw = rec.lpm!["sw"]!;
    const ra = sw.neighbours.find((n) => n.name === "ra")!;
    const rb = sw.neighbours.find((n) => n.name === "rb")!;
    assert.equal(sw.table, "MyIngress.ipv4_lpm");
    assert.deepEqual(sw.entries["10.78.2.0/24"], [ra.mac, String(ra.port)], "compiled: h2's subnet over ra");
    assert.equal(rec.routes["sw"], undefined, "no kernel routes recorded for the switch");
    assert.deepEqual(planReroute(rec, []).p4, [], "nothing cut: nothing to rewrite");

    const plan = planReroute(rec, [{ device: "sw", link: "sw--ra" }]);
    const ch = plan.p4.find((c) => c.device === "sw")!;
    const T = { table: sw.table };
    const at = ch.ops.findIndex((o) => o.op === "p4-entry-delete" && o.key === "10.78.2.0/24");
    assert.ok(at >= 0, "the old entry is deleted by its key");
    assert.deepEqual(ch.ops[at + 1], {
      op: "p4-entry-add",
      ...T,
      action: sw.action,
      key: "10.78.2.0/24",
      params: [rb.mac, String(rb.port)],
    });
    assert.deepEqual(plan.lpm["sw"]!["10.78.2.0/24"], [rb.mac, String(rb.port)]);
    // its inverse: the new entry deleted, the old one added back
    const u = ch.undo.findIndex((o) => o.op === "p4-entry-delete" && o.key === "10.78.2.0/24");
    assert.deepEqual(ch.undo[u + 1], {
      op: "p4-entry-add",
      ...T,
      action: sw.action,
      key: "10.78.2.0/24",
      params: [ra.mac, String(ra.port)],
    });
    // restored: back as compiled
    const back = planReroute({ ...rec, routes: plan.routes, lpm: { sw: { ...sw, entries: plan.lpm["sw"]! } } }, []);
    assert.deepEqual(back.lpm["sw"], sw.entries);
    // the kernel routers moved too
    assert.ok(plan.changes.some((c) => c.device === "rc"));
  });

  it("encapsulation none: a P4 switch's pod entries follow the cut once the pods are recorded, and leave with the node", () => {
    const rec = record(fatTree({ k: 4, controlPlanes: ["h1_1_1"], workers: "rest", encapsulation: "none" }));
    // a made-up switch record on edge1_1 (the fat tree has none): the neighbours are its routers' addresses
    const nb = rec.links
      .filter((l) => l.endpoints.includes("edge1_1") && l.endpoints.some((e) => e.startsWith("agg")))
      .map((l, i) => {
        const k = 1 - l.endpoints.indexOf("edge1_1");
        return { name: l.endpoints[k]!, address: l.addresses[k]!.split("/")[0]!, mac: `02:00:00:00:00:0${i}`, port: i };
      });
    const withSw = withPods(
      { ...rec, lpm: { edge1_1: { table: "t", action: "a", neighbours: nb, entries: {} } } },
      { h4_2_2: ["10.244.7.0/24"] },
    );
    const first = planReroute(withSw, []);
    assert.deepEqual(first.lpm["edge1_1"]!["10.244.7.0/24"], [nb[0]!.mac, "0"], "the first next hop, as compile writes");
    const cut = withSw.links.find((l) => l.endpoints.includes("edge1_1") && l.endpoints.includes(nb[0]!.name))!;
    const live = { ...withSw, lpm: { edge1_1: { ...withSw.lpm!["edge1_1"]!, entries: first.lpm["edge1_1"]! } } };
    assert.deepEqual(planReroute(live, [{ device: "edge1_1", link: cut.name }]).lpm["edge1_1"]!["10.244.7.0/24"], [nb[1]!.mac, "1"]);
    assert.equal(withoutPods(live, "h4_2_2").lpm!["edge1_1"]!.entries["10.244.7.0/24"], undefined);
  });
});
