import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nodeChangeLists } from "../../../src/app/node.js";

const source = {
  nodes: [
    { name: "c1", role: "control-plane" as const },
    { name: "w1", role: "worker" as const },
  ],
  links: [
    { node: "c1", device: "gw", nodeAddress: "10.0.7.2/24" },
    { node: "w1", device: "gw", nodeAddress: "10.0.4.2/24" },
  ],
  source: "racks.yaml",
};
const recorded = [
  { node: "c1", device: "gw", nodeAddress: "10.0.7.2/24", deviceIf: "eth1" },
  { node: "w1", device: "gw", nodeAddress: "10.0.4.2/24", deviceIf: "eth2" },
  { node: "w2", device: "gw", nodeAddress: "10.0.9.2/24", deviceAddress: "10.0.9.1/24", deviceIf: "eth3" },
  { node: "w3", device: "gw", nodeAddress: "10.0.10.2/24", deviceIf: "eth4" },
];

describe("kinda node: the cluster's nodes and links for a change", () => {
  it("removing a node added from the command line plans with it (its recorded link), in the order the nodes were made", () => {
    const r = nodeChangeLists({ ...source, recorded, made: ["c1", "w1", "w2", "w3"] }, "w2", false, {});
    assert.deepEqual(
      r.nodes.map((n) => n.name),
      ["c1", "w1", "w2", "w3"],
    );
    assert.deepEqual(r.links[2], { node: "w2", device: "gw", nodeAddress: "10.0.9.2/24", deviceAddress: "10.0.9.1/24", deviceIf: "eth3" });
  });

  it("adding from the command line: the new node last, with the given link; the earlier ones from the state", () => {
    const r = nodeChangeLists({ ...source, recorded: recorded.slice(0, 3), made: ["c1", "w1", "w2"] }, "w4", true, {
      device: "gw",
      address: "10.0.11.2/24",
    });
    assert.deepEqual(
      r.nodes.map((n) => n.name),
      ["c1", "w1", "w2", "w4"],
    );
    assert.deepEqual(r.links.at(-1), { node: "w4", device: "gw", nodeAddress: "10.0.11.2/24" });
  });

  it("a name the source does not define and no link given: an error naming it, nothing changed", () => {
    assert.throws(() => nodeChangeLists({ ...source, recorded, made: [] }, "w9", true, {}), /NAME w9: racks.yaml defines no node/);
    assert.throws(
      () => nodeChangeLists({ ...source, recorded, made: [] }, "w9", true, { device: "gw" }),
      /--device and --address go together/,
    );
  });
});
