import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TopologyError } from "../../../src/core/errors.js";
import { parseAttachSpec } from "../../../src/app/kathara.js";

describe("kinda attach file", () => {
  it("reads nodes, links and cluster options", () => {
    const s = parseAttachSpec(
      "encapsulation: gre\ncluster: {name: c}\nnodes: [{name: c1, role: control-plane}, {name: w1}]\nlinks:\n  - {node: w1, domain: A, nodeAddress: 10.0.0.3/24}\n",
      "a.yaml",
    );
    assert.deepEqual(s.options, { encapsulation: "gre" });
    assert.deepEqual(s.nodes, [
      { name: "c1", role: "control-plane" },
      { name: "w1", role: "worker" },
    ]);
    assert.equal(s.links[0]!.domain, "A");
    assert.equal(s.cluster?.name, "c");
  });

  it("names every problem: unknown keys, a bad role, no nodes", () => {
    try {
      parseAttachSpec("colour: red\nnodes: [{name: a, role: boss}]\nlinks: [{node: a, dev: r1}]\n", "a.yaml");
      assert.fail("accepted");
    } catch (e) {
      assert.ok(e instanceof TopologyError);
      assert.deepEqual(
        e.issues.map((i) => i.field),
        ["colour", "nodes[0].role", "links[0].dev"],
      );
    }
  });
});
