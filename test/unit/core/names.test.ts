import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hostVeth, hostVethSlot } from "../../../src/core/names.js";

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
