/** Address maths (core/addr.ts): the one module for CIDRs, hosts and MACs. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  addressRange,
  coveringPrefixes,
  nthAddress,
  overlaps,
  contains,
  networkOf,
  isCidr,
  isIp,
  macProblem,
} from "../../../src/core/addr.js";

describe("address maths", () => {
  it("works on ranges", () => {
    assert.equal(nthAddress("100.64.0.0/16", 257), "100.64.1.1");
    assert.equal(networkOf("10.0.1.7/24"), "10.0.1.0/24");
    assert.ok(contains("10.244.0.0/16", "10.244.3.2/24"));
    assert.ok(overlaps("10.0.0.0/8", "10.1.0.0/16"));
    assert.ok(!overlaps("10.0.0.0/16", "10.1.0.0/16"));
    // the numeric form topology validation compares subnets with
    assert.deepEqual(addressRange("10.1.2.3/24"), { family: "ipv4", first: 0x0a010200n, last: 0x0a0102ffn });
    assert.deepEqual(addressRange("fd00::1/126"), { family: "ipv6", first: 0xfd00n << 112n, last: (0xfd00n << 112n) | 3n });
    assert.throws(() => nthAddress("10.0.0.0/30", 4), /outside/);
  });

  it("covers subnets with the fewest, smallest prefixes, none wider than a /8 (IPv6: /16)", () => {
    assert.deepEqual(coveringPrefixes(["10.0.0.0/30", "10.0.1.4/30"]), ["10.0.0.0/23"]);
    assert.deepEqual(coveringPrefixes(["10.0.0.8/30"]), ["10.0.0.8/30"], "one subnet covers itself");
    assert.deepEqual(coveringPrefixes(["10.0.0.0/30", "10.0.0.4/30", "10.0.0.8/30", "10.0.0.12/30"]), ["10.0.0.0/28"]);
    // across /8s: one prefix each, not 0.0.0.0/0 (a default route)
    assert.deepEqual(coveringPrefixes(["10.0.0.0/30", "192.168.1.0/24", "10.0.1.4/30"]), ["10.0.0.0/23", "192.168.1.0/24"]);
    assert.deepEqual(coveringPrefixes(["10.0.0.0/24", "10.255.0.0/24"]), ["10.0.0.0/8"]);
    assert.deepEqual(coveringPrefixes(["fd00::/64", "fd00:0:0:1::/64", "10.0.0.0/24"]), ["fd00::/63", "10.0.0.0/24"]);
    assert.deepEqual(coveringPrefixes(["2001:db8::/64", "2001:db9::/64"]), ["2001:db8::/31"]);
    assert.deepEqual(coveringPrefixes([]), []);
    // every input inside one of the covers
    const some = ["10.1.2.0/24", "10.1.3.128/25", "10.1.9.0/30", "172.16.0.0/30", "172.31.0.0/30"];
    const cover = coveringPrefixes(some);
    for (const c of some)
      assert.ok(
        cover.some((p) => contains(p, c)),
        `${c} in ${cover.join(", ")}`,
      );
  });

  it("takes canonical address text only", () => {
    for (const s of ["10.0.0.1/24", "10.0.0.1/0", "255.255.255.255/32", "fe80::1/64", "FE80::1/64", "::/0", "::/128", "::ffff:1.2.3.4/96"])
      assert.ok(isCidr(s), s);
    for (const s of [
      "10.1/24", // short form
      "010.0.0.1/8", // leading zero (octal to some parsers)
      "10.0.0.01/8",
      "0xa.0.0.1/8", // hex
      "167772161/8", // one number
      "10.0.0.1/024", // leading zero in the prefix length
      "10.0.0.1/+8",
      "10.0.0.1/ 8",
      "10.0.0.1/33",
      "::/129",
      "256.0.0.0/8",
      "fe80::1%eth0/64", // zone
      "::ffff:01.2.3.4/96",
      "1::2::3/64",
      "10.0.0.1/",
      "10.0.0.1",
      " 10.0.0.1/8",
    ])
      assert.ok(!isCidr(s), s);
    for (const s of ["10.0.0.1", "0.0.0.0", "2001:db8::1", "1:2:3:4:5:6:7::"]) assert.ok(isIp(s), s);
    for (const s of ["10.1", "010.0.0.1", "0x0a000001", "10.0.0.1/32", "fe80::1%1", "10.0.0.1 "]) assert.ok(!isIp(s), s);
  });

  it("takes unicast, non-zero MACs in either case", () => {
    assert.equal(macProblem("02:AB:cd:00:00:01"), undefined);
    assert.equal(macProblem("aa:00:00:00:00:01"), undefined);
    assert.equal(macProblem("00:00:00:00:00:00"), "is all zeros, which no interface may have");
    for (const m of ["01:00:5e:00:00:01", "33:33:00:00:00:01", "ff:ff:ff:ff:ff:ff", "03:00:00:00:00:01"])
      assert.equal(macProblem(m), "is a multicast address (the lowest bit of the first octet is set); use a unicast one", m);
    assert.equal(macProblem("02:00:00:00:01"), "is not six hex pairs separated by colons");
  });
});
