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
import { upTopology } from "../../src/app/topology.js";
import { loadTopologyYaml } from "../../src/topology/yaml.js";
import { IMAGE_MAP, P4_IMAGE, ROOT } from "../support/env.js";
import { FixtureProvider, nodeReaches } from "../support/fixture.js";
import { assertNothingLeft, kindaOk } from "../support/kinda.js";
import { STANDIN, beforeP4Tests, p4Env, counter } from "../support/p4.js";

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

/** Packet counters of some ports, and the change since. */
async function counters(lab: string, ports: [string, string, "rx_packets" | "tx_packets"][]): Promise<() => Promise<number[]>> {
  const before = await Promise.all(ports.map(([d, i, w]) => counter(lab, d, i, w)));
  return async () => (await Promise.all(ports.map(([d, i, w]) => counter(lab, d, i, w)))).map((n, k) => n - before[k]!);
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
        assert.match(ps, /simple_switch --device-id 0 -i 0@eth0 -i 1@eth2 -i 2@eth3 --thrift-port 9090 \/kinda-p4\/program\.json/, ps);
        const printed = (await kindaOk("p4-entries", EXAMPLE, sw)).trim().split("\n");
        assert.equal(printed.length, 7);
        const got = await applied(lab, sw);
        assert.deepEqual(got, STANDIN ? printed : printed.length, `${sw} was given what kinda p4-entries prints`);
      }

      // w1 -> w2: both behind r1; r1 sends it out of w2's port (2 = eth3) only, not to the gateway
      const sameSwitch = await counters(lab, [
        ["r1", "eth2", "rx_packets"],
        ["r1", "eth3", "tx_packets"],
        ["r1", "eth0", "tx_packets"],
      ]);
      let r = provider.inPod("w1", 0, ["ping", "-c", "40", "-i", "0.02", "-W", "2", provider.podIp("w2", 0)]);
      assert.equal(r.code, 0, r.out);
      const [in1, out3, toGw] = await sameSwitch();
      assert.ok(in1! >= 40 && out3! >= 40, `w1's packets in on r1 port 1 (${in1}) and out on port 2 (${out3})`);
      assert.ok(toGw! < 40, `and not toward the gateway (${toGw} on port 0): forwarded by prefix, not flooded`);

      // w1 -> c1: r1 (port 1 -> 0), the gateway's kernel routes, r2 (port 0 -> 2 = eth3)
      const acrossTree = await counters(lab, [
        ["r1", "eth0", "tx_packets"],
        ["gateway", "eth2", "tx_packets"],
        ["r2", "eth3", "tx_packets"],
        ["r2", "eth2", "tx_packets"],
      ]);
      r = provider.inPod("w1", 0, ["ping", "-c", "40", "-i", "0.02", "-W", "2", provider.podIp("c1", 0)]);
      assert.equal(r.code, 0, r.out);
      const [up, gw, down, w3] = await acrossTree();
      assert.ok(up! >= 40 && gw! >= 40 && down! >= 40, `r1 port 0: ${up}, gateway to r2: ${gw}, r2 port 2 (c1): ${down}`);
      assert.ok(w3! < 40, `r2 did not send them to w3 (${w3})`);
      r = provider.inPod("w3", 1, ["ping", "-c", "5", "-i", "0.1", "-W", "2", provider.podIp("w2", 1)]);
      assert.equal(r.code, 0, r.out);

      if (STANDIN) {
        // the stand-in's count per entry: the entries kinda wrote are the ones that carried the traffic
        const hits = await kindaOk("exec", "--lab", lab, "r1", "--", "cat", "/run/kinda-p4-standin/hits");
        assert.match(hits, /^10\.0\.5\.2\/32 2 ([4-9]\d|\d{3,})$/m, hits);
        assert.match(hits, /^10\.0\.7\.0\/24 0 ([4-9]\d|\d{3,})$/m, hits);
      }
      // the switch's kernel keeps its addresses and answers for them on its own links
      assert.ok(nodeReaches(provider, "w1", ["10.0.4.1"]), "w1 reaches r1's address on its link");
    } finally {
      await h.down();
      await provider.delete();
    }
    await assertNothingLeft(lab, p4Env.linksBefore);
  });
});
