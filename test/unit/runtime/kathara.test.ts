import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { katharaBridge, katharaLabHash } from "../../../src/runtime/kathara.js";

describe("Kathara's names", () => {
  it("lab hash of a directory as utils.generate_urlsafe_hash (value from Kathara's Python algorithm run on /tmp)", () => {
    assert.equal(katharaLabHash("/tmp"), "1CucV9JM9ds72NMy3DVDfw");
  });

  it("bridge of a collision-domain network: kt- and the network id's first 12 hex digits (DockerLink._get_bridge_name)", () => {
    assert.equal(katharaBridge("0123456789abcdef0123"), "kt-0123456789ab");
  });
});
