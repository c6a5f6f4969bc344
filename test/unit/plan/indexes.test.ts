import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TopologyError } from "../../../src/core/errors.js";
import type { DeviceFacts, NodeFacts, NodeLink } from "../../../src/model/cluster.js";
import {
  planCluster,
  recordedIndexes,
  renderStep,
  subtractPlan,
  vxlanMac,
  withAddedNode,
  withoutNode,
  type ClusterPlan,
} from "../../../src/plan/cluster.js";
import { freeIndex } from "../../../src/plan/cluster/indexes.js";
import { removedFromNodes } from "../../../src/engine/cluster.js";
import { renderBatches } from "../../../src/plan/ops.js";
import { fakeNodes, findStep } from "../../support/facts.js";

const devices: DeviceFacts[] = [{ name: "r1", container: "kinda-l-r1", pid: 50, interfaces: ["lo", "eth0"] }];
const linkOf = (i: number): NodeLink => ({ node: `n${i}`, device: "r1", nodeAddress: `10.1.${i}.2/24`, deviceAddress: `10.1.${i}.1/24` });
const facts = fakeNodes(5);
const rec = (n: NodeFacts) => ({ name: n.name, role: n.role, k8sName: n.k8sName, container: n.container });

function plan(nodes: NodeFacts[], nodeIndex: Record<string, number> | undefined, encapsulation: "vxlan" | "gre" = "vxlan"): ClusterPlan {
  return planCluster({
    lab: "l",
    links: nodes.map((n) => linkOf(Number(n.name.slice(1)))),
    nodes,
    devices,
    options: { encapsulation },
    ...(nodeIndex ? { nodeIndex } : {}),
  });
}

/** Each node's own VXLAN MAC and tunnel address, as its plan sets them on kinda-vx. */
function tunnelIds(p: ClusterPlan, nodes: NodeFacts[]): Map<string, { mac: string; addr: string }> {
  return new Map(
    nodes.map((n) => {
      const s = findStep(p, (x) => x.phase === 2 && x.label === `node ${n.name}`)!;
      const mac = s.ip.map((l) => /^link set kinda-vx address (\S+)/.exec(l)?.[1]).find(Boolean)!;
      const addr = s.ip
        .map((l) => /^address add (\S+) dev kinda-vx/.exec(l)?.[1] ?? /^addr add (\S+) dev kinda-vx/.exec(l)?.[1])
        .find(Boolean)!;
      assert.ok(mac && addr, `node ${n.name} sets its MAC and tunnel address:\n${s.ip.join("\n")}`);
      return [n.name, { mac, addr }];
    }),
  );
}

describe("nodes' tunnel indexes: allocated when made, kept while they exist", () => {
  it("a state without indexes: each node its place in the list; the lowest free index for a new one", () => {
    assert.deepEqual(recordedIndexes([{ name: "a" }, { name: "b" }, { name: "c" }]), { a: 0, b: 1, c: 2 });
    assert.deepEqual(recordedIndexes([{ name: "a", index: 1 }, { name: "b" }, { name: "c", index: 0 }]), { a: 1, c: 0, b: 2 });
    assert.equal(freeIndex([0, 1, 3]), 2);
    assert.equal(freeIndex([]), 0);
  });

  it("remove a middle node, add one: no two nodes share a tunnel address or MAC, and those that stay keep theirs", () => {
    // a state written before indexes: n0..n3, planned by their places
    const before = facts.slice(0, 4);
    const idsBefore = tunnelIds(plan(before, undefined), before);
    let state: { name: string; index?: number }[] = before.map(rec);
    assert.deepEqual(tunnelIds(plan(before, recordedIndexes(state)), before), idsBefore, "an old state plans as it did");

    state = withoutNode(state, "n1");
    state = withAddedNode(state, rec(facts[4]!));
    const after = [facts[0]!, facts[2]!, facts[3]!, facts[4]!];
    const ids = tunnelIds(plan(after, recordedIndexes(state)), after);
    const macs = [...ids.values()].map((x) => x.mac);
    const addrs = [...ids.values()].map((x) => x.addr);
    assert.equal(new Set(macs).size, 4, `MACs: ${macs.join(" ")}`);
    assert.equal(new Set(addrs).size, 4, `tunnel addresses: ${addrs.join(" ")}`);
    for (const n of ["n0", "n2", "n3"]) assert.deepEqual(ids.get(n), idsBefore.get(n), `${n} keeps its MAC and tunnel address`);
    // the new node takes the index the removed one freed (the removal took back its entries)
    assert.deepEqual(ids.get("n4"), idsBefore.get("n1"));
    // by place in the list it would have been index 3, n3's
    assert.deepEqual(tunnelIds(plan(after, undefined), after).get("n4"), idsBefore.get("n3"));
  });

  it("the others' entries for one another are not what a middle node's removal takes back", () => {
    const all = facts.slice(0, 4);
    const index = recordedIndexes(all.map(rec));
    const less = all.filter((n) => n.name !== "n1");
    const lines = removedFromNodes(plan(all, index), plan(less, index), all, "n1");
    assert.deepEqual(lines.map((l) => l.node).sort(), ["n0", "n2", "n3"]);
    for (const l of lines) {
      const of = (tool: string) => renderBatches(l.ops).find((b) => b.tool === tool)?.lines ?? [];
      assert.deepEqual(of("bridge"), [`fdb del ${vxlanMac(1)} dev kinda-vx dst 10.1.1.2`], `${l.node}: only n1's forwarding entry`);
      const ip = of("ip");
      for (const keep of [0, 2, 3])
        assert.ok(!ip.some((x) => x.includes(vxlanMac(keep))), `${l.node} keeps ${vxlanMac(keep)}:\n${ip.join("\n")}`);
    }
  });

  it("GRE: a kept node's devices and /31s stay as they were after a middle node goes", () => {
    const all = facts.slice(0, 4);
    const index = recordedIndexes(all.map(rec));
    const less = all.filter((n) => n.name !== "n1");
    const n3 = (p: ClusterPlan) => findStep(p, (x) => x.phase === 2 && x.label === "node n3")!.ip.filter((l) => /kgre[02]\b/.test(l));
    assert.deepEqual(n3(plan(less, index, "gre")), n3(plan(all, index, "gre")));
  });

  it("two nodes given one index: an error naming both, before anything", () => {
    assert.throws(
      () => plan(facts.slice(0, 3), { n0: 0, n1: 1, n2: 1 }),
      (e: unknown) => e instanceof TopologyError && e.issues.some((i) => i.field === "node n2" && /n1's too/.test(i.message)),
    );
  });
});

describe("a build's plans with the recorded indexes", () => {
  it("the full plan lists the nodes in another order than the early one: still only the pod routes are left", () => {
    const three = facts.slice(0, 3);
    const index = { n0: 0, n1: 1, n2: 2 };
    const opts = {
      lab: "l",
      links: three.map((_, i) => linkOf(i)),
      devices,
      options: { encapsulation: "vxlan" as const },
      nodeIndex: index,
    };
    const early = planCluster({ ...opts, nodes: three.map((n) => ({ ...n, podCidrs: [] })) });
    const rest = subtractPlan(planCluster({ ...opts, nodes: [...three].reverse() }), early)
      .steps.flatMap((s) => renderStep(s).ip)
      .filter((l) => !/^(route replace|rule add to) 10\.244\./.test(l));
    assert.deepEqual(rest, [], "no second tunnel address, MAC or neighbour");
  });
});
