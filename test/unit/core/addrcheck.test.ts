/** The address checks topology validation and the cluster links' checks share. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AddressOwners, Subnets, clusterRanges, inOneSubnet, outsideFirstSubnet, rangeClashes } from "../../../src/core/addrcheck.js";

describe("shared address checks", () => {
  it("names each reserved range an address is inside", () => {
    assert.deepEqual(rangeClashes("10.244.3.1/24", clusterRanges()), ["10.244.3.1/24 is inside the pod range 10.244.0.0/16"]);
    assert.deepEqual(rangeClashes("10.1.0.1/24", clusterRanges()), []);
    assert.deepEqual(rangeClashes("10.9.0.1/24", clusterRanges("10.9.0.0/16", "10.8.0.0/16")), [
      "10.9.0.1/24 is inside the pod range 10.9.0.0/16",
    ]);
  });

  it("an address used by two owners names the first; one owner may use it again", () => {
    const o = new AddressOwners();
    assert.equal(o.claim("10.0.0.1/24", "r1/br0"), undefined);
    assert.equal(o.claim("10.0.0.1/30", "r1/br0"), undefined, "the same owner (a bridge shared by several links)");
    assert.equal(o.claim("10.0.0.1/24", "links[2]"), "r1/br0");
  });

  it("one subnet: exact for a link's addresses, overlapping for a node and its device", () => {
    assert.equal(outsideFirstSubnet(["10.0.0.1/24", "10.0.0.2/24"]), undefined);
    assert.equal(outsideFirstSubnet(["10.0.0.1/24", "10.0.0.2/16"]), "10.0.0.2/16");
    assert.equal(outsideFirstSubnet(["10.0.0.1/24", "oops"]), undefined, "malformed addresses are reported elsewhere");
    assert.equal(inOneSubnet("10.0.0.1/24", "10.0.0.2/16"), true);
    assert.equal(inOneSubnet("10.0.0.1/24", "10.0.1.2/24"), false);
  });

  it("a subnet overlapping one seen before names its owner, whatever the order of prefix lengths", () => {
    const s = new Subnets<string>();
    assert.equal(s.add("10.0.0.1/24", "a"), undefined);
    assert.equal(s.add("10.0.1.1/24", "b"), undefined);
    assert.equal(s.add("10.0.0.0/16", "c"), "a");
    assert.equal(s.add("fd00::1/64", "d"), undefined, "another family never overlaps");
  });
});
