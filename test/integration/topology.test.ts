/**
 * kinda's own topologies with fixture nodes: the seed's tree example (TypeScript API, static
 * routing) for each encapsulation, and the YAML two-router example with native pod routing.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { treeExample } from "../../examples/tree.js";
import { KindaCluster } from "../../src/app/tree.js";
import { up as upTopology } from "../../src/app/up.js";
import { loadTopologyYaml } from "../../src/topology/yaml.js";
import { IMAGE_MAP, ROOT, ensureTestEnv } from "../support/env.js";
import { FixtureProvider, nodeReaches } from "../support/fixture.js";
import { assertNothingLeft, hostLinks, kindaOk, stateDir, txPackets } from "../support/kinda.js";

process.env["KINDA_STATE_DIR"] = stateDir;
let linksBefore: string[];
before(() => {
  ensureTestEnv();
  linksBefore = hostLinks();
});

for (const encapsulation of ["vxlan", "none"] as const) {
  describe(`the seed's tree example, static routing, encapsulation ${encapsulation}`, () => {
    it("every node reaches every node and the internet device; pod traffic crosses the tree", async () => {
      const provider = new FixtureProvider(`kfxt${encapsulation === "none" ? "n" : "v"}`);
      const { network, builder } = treeExample(encapsulation);
      {
        await using cluster = new KindaCluster("unused-by-fixture", network, { provider, imageMap: IMAGE_MAP });
        await builder.setupNetwork(cluster);
        await builder.attachAndBuildCluster(cluster);
        const nodeAddr: Record<string, string> = { w1: "10.0.4.2", w2: "10.0.5.2", w3: "10.0.6.2", c1: "10.0.7.2" };
        for (const n of Object.keys(nodeAddr)) {
          const others = Object.entries(nodeAddr)
            .filter(([m]) => m !== n)
            .map(([, a]) => a);
          assert.ok(nodeReaches(provider, n, [...others, "10.0.1.1"]), `${n} reaches ${others.join(" ")} and internet`);
        }
        const before = await txPackets("tree", "gateway", "eth2"); // gateway -> r2
        const r = provider.inPod("w1", 0, ["ping", "-c", "50", "-i", "0.01", "-W", "2", provider.podIp("c1", 0)]);
        assert.equal(r.code, 0, r.out);
        const after = await txPackets("tree", "gateway", "eth2");
        assert.ok(after - before >= 50, `gateway forwarded the pod traffic toward r2 (${after - before} packets)`);
        if (encapsulation === "none") {
          const tcpdumpless = await kindaOk("exec", "--lab", "tree", "r2", "--", "ip", "route", "show", provider.fact("c1").podCidrs[0]!);
          assert.match(tcpdumpless, /via 10\.0\.7\.2/, "r2 routes c1's pods natively");
        }
      }
      await assertNothingLeft("tree", linksBefore);
      const left = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
      assert.ok(!left.includes("kfxt"), "fixture pods removed");
      await provider.delete();
    });
  });
}

describe("the YAML two-router example (native pod routing, shaped worker link)", () => {
  it("pods reach each other through ra and rb without tunnels", async () => {
    const provider = new FixtureProvider("kfxy");
    const y = loadTopologyYaml(join(ROOT, "examples", "two-routers-static.yaml"));
    const h = await upTopology(y.spec, { provider, imageMap: IMAGE_MAP, where: y.where });
    try {
      const r = provider.inPod("wk", 0, ["ping", "-c", "3", "-W", "2", provider.podIp("cp", 1)]);
      assert.equal(r.code, 0, r.out);
      const vx = execFileSync("nsenter", ["-t", String(provider.fact("wk").pid), "-n", "ip", "-br", "link"], { encoding: "utf8" });
      assert.ok(!vx.includes("kinda-vx"), "no tunnel device with encapsulation none");
      const tc = execFileSync("nsenter", ["-t", String(provider.fact("wk").pid), "-n", "tc", "qdisc", "show", "dev", "eth1"], {
        encoding: "utf8",
      });
      assert.match(tc, /tbf .*rate 50Mbit/);
    } finally {
      await h.down();
      await provider.delete();
    }
    await assertNothingLeft("two-routers", linksBefore);
  });
});
