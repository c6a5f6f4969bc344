import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hostVeth, hostVethSlot, nodeLinkMac } from "../../../src/core/names.js";

describe("lab-side veth names", () => {
  it("v-<slot>-<interface>, read back to the slot; anything else is not one", () => {
    assert.equal(hostVeth(0, 0), "v-0-0");
    assert.equal(hostVeth(12, 3), "v-12-3");
    assert.equal(hostVethSlot("v-12-3"), 12);
    for (const other of ["kn-0", "cd-1", "v-1", "v-a-0", "xv-1-0", "v-1-0x", ""]) assert.equal(hostVethSlot(other), undefined, other);
  });

  it("never longer than IFNAMSIZ allows (15 characters), never from a number that is not a slot", () => {
    assert.equal(hostVeth(999999, 999999), "v-999999-999999");
    assert.equal(hostVeth(999999, 999999).length, 15);
    assert.throws(() => hostVeth(1000000, 999999), /v-1000000-999999 is not 1-15 characters/);
    assert.throws(() => hostVeth(-1, 0), /slot -1/);
    assert.throws(() => hostVeth(1.5, 0), /slot 1.5/);
  });
});

describe("a node link's fixed MAC (nodeLinkMac)", () => {
  it("is the same for the same lab, node, far end and interface, and differs when any of them does", () => {
    const m = nodeLinkMac("lab1", "wk", "domain A", "eth1");
    assert.equal(nodeLinkMac("lab1", "wk", "domain A", "eth1"), m);
    const others = [
      nodeLinkMac("lab2", "wk", "domain A", "eth1"),
      nodeLinkMac("lab1", "cp", "domain A", "eth1"),
      nodeLinkMac("lab1", "wk", "domain B", "eth1"),
      nodeLinkMac("lab1", "wk", "device A", "eth1"),
      nodeLinkMac("lab1", "wk", "domain A", "eth2"),
    ];
    assert.equal(new Set([m, ...others]).size, 6);
  });

  it("is a unicast, locally administered MAC, over many names", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const m = nodeLinkMac("lab", `n${i}`, "domain A", "eth1");
      assert.match(m, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      const first = parseInt(m.slice(0, 2), 16);
      assert.equal(first & 1, 0, `${m} is unicast`);
      assert.equal(first & 2, 2, `${m} is locally administered`);
      seen.add(m);
    }
    assert.equal(seen.size, 2000, "no two nodes of a domain share one");
  });
});
