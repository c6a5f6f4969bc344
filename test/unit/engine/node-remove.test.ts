import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DeviceFacts, NodeLink } from "../../../src/model/cluster.js";
import { planCluster, vxlanMac } from "../../../src/plan/cluster.js";
import { removedFromNodes } from "../../../src/engine/cluster.js";
import { fakeNodes } from "../../support/facts.js";
import { renderLines } from "../../../src/plan/ops.js";

const devices: DeviceFacts[] = [{ name: "r1", container: "kinda-l-r1", pid: 50, interfaces: ["lo", "eth0"] }];
const links: NodeLink[] = [0, 1, 2].map((i) => ({
  node: `n${i}`,
  device: "r1",
  nodeAddress: `10.1.${i}.2/24`,
  deviceAddress: `10.1.${i}.1/24`,
}));

describe("a node's removal: what the other nodes held for it", () => {
  const all = fakeNodes(3);
  const plan = (n: typeof all) =>
    planCluster({
      lab: "l",
      links: links.filter((l) => n.some((x) => x.name === l.node)),
      nodes: n,
      devices,
      options: { encapsulation: "vxlan" },
    });

  it("takes back the tunnel's forwarding and neighbour entries, routes and pod rules for the removed VTEP, in every other node", () => {
    const lines = removedFromNodes(plan(all), plan(all.slice(0, 2)), all, "n2");
    assert.deepEqual(
      lines.map((l) => l.node),
      ["n0", "n1"],
    );
    for (const { ops } of lines) {
      // as the kernel gets them: ip lines, then the bridge's
      const l = {
        ip: ops.filter((o) => !o.op.startsWith("fdb-")).flatMap(renderLines),
        bridge: ops.filter((o) => o.op.startsWith("fdb-")).flatMap(renderLines),
      };
      // the forwarding entry the report saw left behind: the removed node's MAC toward its address
      assert.deepEqual(l.bridge, [`fdb del ${vxlanMac(2)} dev kinda-vx dst 10.1.2.2`]);
      assert.ok(
        l.ip.some((x) => x.startsWith("neigh del ") && x.endsWith(" dev kinda-vx")),
        l.ip.join("\n"),
      );
      for (const pod of all[2]!.podCidrs) {
        assert.ok(l.ip.includes(`rule del to ${pod} lookup 4242 pref 4242`), l.ip.join("\n"));
        assert.ok(
          l.ip.some((x) => x.startsWith(`route del ${pod} `)),
          l.ip.join("\n"),
        );
      }
      // nothing of the nodes that stay
      assert.ok(!l.ip.some((x) => x.includes(vxlanMac(0)) || x.includes(vxlanMac(1))), l.ip.join("\n"));
    }
  });
});
