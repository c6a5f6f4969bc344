/**
 * The seed's tree with P4 switches and pods routed natively (examples/p4-tree.yaml with
 * --var encapsulation=none, fixture nodes): the pod CIDRs exist only once the cluster assigns
 * them, so kinda writes each switch's entries for them when it attaches the cluster (next hop's
 * MAC and port, from the static route plan), and deletes them when the cluster goes while the
 * lab stays.
 *
 * By default the image is the STAND-IN kinda-test/p4-standin (scripts/test-env/p4-standin/; not
 * BMv2, none can be had here): its simple_switch_CLI records what it is given and keeps the
 * entries (add, find by key, delete by handle, as BMv2's CLI), and its lpm_forward forwards by
 * them as the example program does, so a wrong MAC or port breaks the pods' traffic. With
 *   KINDA_P4_IMAGE=kathara/p4 npm run test:p4
 * BMv2 runs the compiled program (the test then counts the table's entries).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { destroyCluster } from "../../src/app/library.js";
import { up as upTopology } from "../../src/app/up.js";
import { loadTopologyYaml } from "../../src/topology/yaml.js";
import { IMAGE_MAP, P4_IMAGE, ROOT } from "../support/env.js";
import { FixtureProvider } from "../support/fixture.js";
import { assertNothingLeft, kindaOk } from "../support/kinda.js";
import { STANDIN, beforeP4Tests, p4Env, treeTraffic } from "../support/p4.js";

const EXAMPLE = join(ROOT, "examples", "p4-tree.yaml");
const T = "table_add MyIngress.ipv4_lpm MyIngress.ipv4_forward";
beforeP4Tests();

/** Where each switch sends each node's pods: the next hop's MAC (link i, end k: 02:6b:00:0i:00:0k+1) and the port. */
const NEXT: Record<string, Record<string, string>> = {
  r1: { w1: "02:6b:00:03:00:02 1", w2: "02:6b:00:04:00:02 2", w3: "02:6b:00:01:00:01 0", c1: "02:6b:00:01:00:01 0" },
  r2: { w1: "02:6b:00:02:00:01 0", w2: "02:6b:00:02:00:01 0", w3: "02:6b:00:05:00:02 1", c1: "02:6b:00:06:00:02 2" },
};

function loadNative() {
  const y = loadTopologyYaml(EXAMPLE, { vars: { encapsulation: "none" } });
  for (const d of y.spec.devices)
    if (d.kind === "p4-switch")
      Object.assign(d, { program: join(p4Env.build, "ipv4_lpm.json"), p4info: join(p4Env.build, "ipv4_lpm.p4info.txt") });
  return y;
}

const inSwitch = (lab: string, sw: string, ...cmd: string[]) => kindaOk("exec", "--lab", lab, sw, "--", ...cmd);

/** The switch's table: the stand-in's entries ("PREFIX MAC PORT" lines), or for BMv2 the number of entries. */
async function table(lab: string, sw: string): Promise<string[] | number> {
  if (STANDIN)
    return (await inSwitch(lab, sw, "cat", "/run/kinda-p4-standin/lpm"))
      .trim()
      .split("\n")
      .map((l) => l.split(" ").slice(1).join(" "));
  const out = await inSwitch(lab, sw, "sh", "-c", "echo table_num_entries MyIngress.ipv4_lpm | simple_switch_CLI");
  return Number(/(\d+)\s*$/.exec(out.replace(/RuntimeCmd:\s*$/, "").trim())?.[1]);
}

describe(`P4 switches with pods routed natively: pod CIDR entries at attach time (image ${P4_IMAGE}${STANDIN ? ": a stand-in, not BMv2" : ""})`, () => {
  it("each switch gets an entry per pod CIDR toward its node; pods cross the tree by them; the entries go with the cluster", async () => {
    const provider = new FixtureProvider("kfxp4n");
    const y = loadNative();
    const lab = y.spec.name;
    const h = await upTopology(y.spec, { provider, imageMap: IMAGE_MAP, where: y.where });
    try {
      const pods = (node: string) => provider.fact(node).podCidrs;
      const staticLines = async (sw: string) =>
        (await kindaOk("p4-entries", EXAMPLE, sw, "--var", "encapsulation=none")).trim().split("\n");
      for (const sw of ["r1", "r2"]) {
        const podLines = ["w1", "w2", "w3", "c1"].flatMap((n) => pods(n).map((c) => `${T} ${c} => ${NEXT[sw]![n]}`));
        const expected = [...(await staticLines(sw)), ...podLines];
        if (STANDIN) {
          const all = (await inSwitch(lab, sw, "cat", "/var/log/kinda-p4-standin/cli")).trim().split("\n");
          // before writing a pod CIDR's entry kinda asks the switch whether the key has one already
          // (an entry that was there is not kinda's to remove later): those queries, then the entries
          const asked = all.filter((l) => l.startsWith("table_dump_entry_from_key "));
          const record = all.filter((l) => !l.startsWith("table_dump_entry_from_key "));
          assert.deepEqual(
            asked.map((l) => l.split(" ").pop()).sort(),
            ["w1", "w2", "w3", "c1"].flatMap((n) => pods(n)).sort(),
            `${sw}: every pod CIDR's key asked for first`,
          );
          assert.deepEqual(record, expected, `${sw}: the static entries at start, the pod CIDRs' at attach`);
          assert.deepEqual(
            await table(lab, sw),
            expected.map((l) => l.slice(T.length + 1).replace(" => ", " ")),
          );
        } else assert.equal(await table(lab, sw), expected.length);
      }
      // no kernel route for pods in the switches (their program forwards); the gateway, a router, has them
      assert.doesNotMatch(await inSwitch(lab, "r1", "ip", "route"), /10\.244\./);
      assert.match(
        await inSwitch(lab, "gateway", "ip", "route"),
        new RegExp(`^${pods("c1")[0]!.replace(/\./g, "\\.")} via 10\\.0\\.3\\.2`, "m"),
      );

      // pods across the tree, by the pod CIDRs' entries: r1 alone between w1 and w2, r1 -> gateway -> r2 to c1
      await treeTraffic(lab, provider);

      if (STANDIN) {
        // the stand-in's count per entry: the pod CIDRs' entries carried the pods' packets (replies included)
        const esc = (c: string) => c.replace(/[./]/g, "\\$&");
        const hits1 = await inSwitch(lab, "r1", "cat", "/run/kinda-p4-standin/hits");
        assert.match(hits1, new RegExp(`^${esc(pods("w2")[0]!)} 2 ([4-9]\\d|\\d{3,})$`, "m"), hits1);
        assert.match(hits1, new RegExp(`^${esc(pods("c1")[0]!)} 0 ([4-9]\\d|\\d{3,})$`, "m"), hits1);
        assert.match(hits1, new RegExp(`^${esc(pods("w1")[0]!)} 1 ([4-9]\\d|\\d{3,})$`, "m"), hits1);
        const hits2 = await inSwitch(lab, "r2", "cat", "/run/kinda-p4-standin/hits");
        assert.match(hits2, new RegExp(`^${esc(pods("c1")[0]!)} 2 ([4-9]\\d|\\d{3,})$`, "m"), hits2);
      }

      // the cluster goes, the lab stays: the pod CIDRs' entries are deleted (by key), the static ones stay
      await destroyCluster(lab, { provider });
      for (const sw of ["r1", "r2"]) {
        const statics = await staticLines(sw);
        if (STANDIN) {
          assert.deepEqual(
            await table(lab, sw),
            statics.map((l) => l.slice(T.length + 1).replace(" => ", " ")),
            `${sw}: only the static entries`,
          );
          const record = (await inSwitch(lab, sw, "cat", "/var/log/kinda-p4-standin/cli")).trim().split("\n");
          const deletes = record.filter((l) => l.startsWith("table_delete "));
          assert.equal(deletes.length, 4, `${sw}: one table_delete per pod CIDR:\n${record.join("\n")}`);
        } else assert.equal(await table(lab, sw), statics.length);
      }
      assert.doesNotMatch(await inSwitch(lab, "gateway", "ip", "route"), /10\.244\./, "the gateway's pod routes went too");
    } finally {
      await h.down();
      await provider.delete();
    }
    await assertNothingLeft(lab, p4Env.linksBefore);
  });
});
