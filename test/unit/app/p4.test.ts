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

  it("encapsulation none: where each node's pods go, said to come at attach time; one switch's lines stay CLI input", async () => {
    const notes: string[] = [];
    const one = await p4EntriesFor(TREE, "r1", { encapsulation: "none" }, (l) => notes.push(l));
    assert.equal(one, await p4EntriesFor(TREE, "r1"), "the same lines as with a tunnel");
    assert.match(notes[0]!, /^# r1, encapsulation none: an entry per pod CIDR, written when the cluster is attached/);
    assert.deepEqual(notes.slice(1), [
      "#   pods of w1 => 02:6b:00:03:00:02 1 (via 10.0.4.2)",
      "#   pods of w2 => 02:6b:00:04:00:02 2 (via 10.0.5.2)",
      "#   pods of w3 => 02:6b:00:01:00:01 0 (via 10.0.2.1)",
      "#   pods of c1 => 02:6b:00:01:00:01 0 (via 10.0.2.1)",
    ]);
    const all = await p4EntriesFor(TREE, undefined, { encapsulation: "none" });
    assert.match(all, /^# {3}pods of c1 => 02:6b:00:06:00:02 2 \(via 10\.0\.7\.2\)$/m);
    assert.doesNotMatch(await p4EntriesFor(TREE), /pods of/);
  });

  it("a device that is not a P4 switch, and a topology without any: errors that say so", async () => {
    await assert.rejects(p4EntriesFor(TREE, "gateway"), /gateway is not a P4 switch of p4-tree \(P4 switches: r1, r2\)/);
    await assert.rejects(p4EntriesFor(join(ROOT, "examples", "tree.yaml")), /topology tree has no P4 switches/);
  });
});
