/**
 * The seed's tree with P4 switches (examples/p4-tree.yaml, fixture nodes): r1 and r2 run the
 * IPv4 LPM example program with the table entries kinda writes from the static route plan
 * (`lpm: true`); the gateway is a router with kernel routes.
 *
 * By default the image is the STAND-IN kinda-test/p4-standin (scripts/test-env/p4-standin/; not
 * BMv2, none can be had here): its simple_switch_CLI records the entries it is given and its
 * lpm_forward forwards by them as the example program does (longest prefix, next hop's MAC, port),
 * so a wrong MAC or port in an entry breaks the traffic. With a real image,
 *   KINDA_P4_IMAGE=kathara/p4 npm run test:p4
 * runs the same test with BMv2 running the compiled program (checking the number of entries in its
 * table, since the real CLI keeps no record).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { up as upTopology } from "../../src/app/up.js";
import { loadTopologyYaml } from "../../src/topology/yaml.js";
import { IMAGE_MAP, P4_IMAGE, ROOT } from "../support/env.js";
import { FixtureProvider, nodeReaches } from "../support/fixture.js";
import { assertNothingLeft, kindaOk } from "../support/kinda.js";
import { STANDIN, beforeP4Tests, p4Env, treeTraffic } from "../support/p4.js";

const EXAMPLE = join(ROOT, "examples", "p4-tree.yaml");
beforeP4Tests();

function loadExample() {
  const y = loadTopologyYaml(EXAMPLE);
  for (const d of y.spec.devices)
    if (d.kind === "p4-switch")
      Object.assign(d, { program: join(p4Env.build, "ipv4_lpm.json"), p4info: join(p4Env.build, "ipv4_lpm.p4info.txt") });
  return y;
}

/** The lines the switch's CLI was given (stand-in: its record), or for BMv2 the number of entries in its table. */
async function applied(lab: string, sw: string): Promise<string[] | number> {
  if (STANDIN) return (await kindaOk("exec", "--lab", lab, sw, "--", "cat", "/var/log/kinda-p4-standin/cli")).trim().split("\n");
  const out = await kindaOk("exec", "--lab", lab, sw, "--", "sh", "-c", "echo table_num_entries MyIngress.ipv4_lpm | simple_switch_CLI");
  return Number(/(\d+)\s*$/.exec(out.replace(/RuntimeCmd:\s*$/, "").trim())?.[1]);
}

describe(`the seed's tree with P4 switches forwarding by kinda's LPM entries (image ${P4_IMAGE}${STANDIN ? ": a stand-in, not BMv2" : ""})`, () => {
  it("each switch gets the entries kinda p4-entries prints; pods across the tree reach each other through them", async () => {
    const provider = new FixtureProvider("kfxp4t");
    const y = loadExample();
    const lab = y.spec.name;
    const h = await upTopology(y.spec, { provider, imageMap: IMAGE_MAP, where: y.where });
    try {
      for (const sw of ["r1", "r2"]) {
        const ps = await kindaOk("exec", "--lab", lab, sw, "--", "ps", "-eo", "args");
        assert.match(
          ps,
          /simple_switch --device-id 0 -i 0@eth0 -i 1@eth2 -i 2@eth3 --thrift-port 9090 --log-console --log-level info \/kinda-p4\/program\.json/,
          ps,
        );
        const printed = (await kindaOk("p4-entries", EXAMPLE, sw)).trim().split("\n");
        assert.equal(printed.length, 7);
        const got = await applied(lab, sw);
        assert.deepEqual(got, STANDIN ? printed : printed.length, `${sw} was given what kinda p4-entries prints`);
      }

      // pods across the tree, by the entries: r1 alone between w1 and w2, r1 -> gateway -> r2 to c1
      await treeTraffic(lab, provider);

      if (STANDIN) {
        // the stand-in's count per entry: the entries kinda wrote are the ones that carried the traffic
        const hits = await kindaOk("exec", "--lab", lab, "r1", "--", "cat", "/run/kinda-p4-standin/hits");
        assert.match(hits, /^10\.0\.5\.2\/32 2 ([4-9]\d|\d{3,})$/m, hits);
        assert.match(hits, /^10\.0\.7\.0\/24 0 ([4-9]\d|\d{3,})$/m, hits);
      }
      // the switch's kernel stays off its ports: its address is w1's gateway only, nothing answers there
      assert.ok(!nodeReaches(provider, "w1", ["10.0.4.1"]), "r1's address answers nothing (no kernel on its ports)");
    } finally {
      await h.down();
      await provider.delete();
    }
    await assertNothingLeft(lab, p4Env.linksBefore);
  });
});
