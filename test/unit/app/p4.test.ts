/** `kinda p4-entries`: the lines for one switch or all, from a topology file, without the compiled program. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { p4EntriesFor } from "../../../src/app/p4.js";
import { ROOT } from "../../support/env.js";

const TREE = join(ROOT, "examples", "p4-tree.yaml");

describe("p4EntriesFor (kinda p4-entries)", () => {
  it("one switch: its lines only, ready for simple_switch_CLI", async () => {
    const out = await p4EntriesFor(TREE, "r1");
    const lines = out.trimEnd().split("\n");
    assert.equal(lines.length, 7);
    assert.equal(lines[0], "table_add MyIngress.ipv4_lpm MyIngress.ipv4_forward 10.0.2.1/32 => 02:6b:00:01:00:01 0");
    assert.ok(lines.every((l) => l.startsWith("table_add ")));
  });

  it("all switches: a header with the port order for each", async () => {
    const out = await p4EntriesFor(TREE);
    assert.match(out, /^# r1: ports 0@eth0 1@eth2 2@eth3; applied with simple_switch_CLI --thrift-port 9090$/m);
    assert.match(out, /^# r2: ports 0@eth0 1@eth2 2@eth3/m);
  });

  it("a device that is not a P4 switch, and a topology without any: errors that say so", async () => {
    await assert.rejects(p4EntriesFor(TREE, "gateway"), /gateway is not a P4 switch of p4-tree \(P4 switches: r1, r2\)/);
    await assert.rejects(p4EntriesFor(join(ROOT, "examples", "tree.yaml")), /topology tree has no P4 switches/);
  });
});
