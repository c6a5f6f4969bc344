/**
 * Removing a cluster while its lab stays, against the in-memory runtime and kernel: the inverses
 * recorded in the state are replayed in the devices through the kernel adapter, for states
 * written before typed operations (ip lines and a "rules" flag) as for typed ones. The real
 * kernel's side is test/integration/cluster-undo.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { programsFor } from "../../../src/core/host.js";
import { LABEL_DEVICE, LABEL_LAB, ruleComment } from "../../../src/core/names.js";
import { destroyCluster } from "../../../src/engine/cluster.js";
import { deploy } from "../../../src/engine/lab.js";
import type { ClusterProvider } from "../../../src/model/provider.js";
import type { ClusterState } from "../../../src/state/store.js";
import { planLab } from "../../../src/plan/lab.js";
import { StateStore } from "../../../src/state/store.js";
import { parseLabConf } from "../../../src/topology/kathara.js";
import { MemoryKernel, MemoryRuntime } from "../../support/memory.js";
import { pathWith } from "../../support/path.js";

const hostPath = pathWith(programsFor(["lab"]).map((p) => p.name));
const MARK = `-m comment --comment ${ruleComment("mem")}`;

/** Lab "mem" up in memory (r1, r2 on A; r2 stopped later) with a recorded cluster `c`. */
async function upWithCluster(
  cluster: Omit<ClusterState, "provider" | "name" | "providerOptions" | "phase" | "encapsulation" | "nodes" | "hostLinks">,
) {
  const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-mem-state-")));
  const p = parseLabConf('r1[0]="A"\nr2[0]="A"\n');
  const plan = planLab(
    { metadata: p.metadata, devices: p.devices, warnings: p.warnings },
    { name: "mem", sharedDir: store.sharedDir("mem"), stageRoot: store.stageRoot("mem") },
  );
  const runtime = new MemoryRuntime();
  const kernel = new MemoryKernel();
  await deploy(plan, { runtime, store, kernel, hostPath });
  const state = store.read("mem")!;
  state.cluster = {
    provider: "kind",
    name: "c",
    providerOptions: {},
    phase: "up",
    encapsulation: "vxlan",
    nodes: [],
    hostLinks: [],
    ...cluster,
  };
  store.write(state);
  const pidOf = async (device: string) => (await runtime.list({ [LABEL_LAB]: "mem", [LABEL_DEVICE]: device }))[0]!.pid;
  let deleted = 0;
  const provider: ClusterProvider = {
    kind: "kind",
    name: "c",
    exists: async () => true,
    create: async () => {},
    discover: async () => [],
    delete: async () => void deleted++,
  };
  return { store, runtime, kernel, provider, pidOf, deleted: () => deleted };
}

describe("removing a cluster from a lab that stays (in-memory kernel)", () => {
  it("replays an older state's recorded ip lines in the device, and removes its rules carrying the lab's comment only", async () => {
    const legacy = ["link delete kcbr0", "addr del 10.1.0.1/24 dev eth0", "route del 10.244.1.0/24 via 10.1.0.2", "link delete kn3"];
    const lab = await upWithCluster({ deviceUndo: [{ device: "r1", ip: legacy, rules: true }] });
    const r1 = { pid: await lab.pidOf("r1") };
    lab.kernel.addRule(r1, "nat", "-A POSTROUTING -o eth1 -j MASQUERADE");
    lab.kernel.addRule(r1, "nat", `-A POSTROUTING -o eth0 ${MARK} -j MASQUERADE`);
    lab.kernel.addRule(r1, "filter", `-A FORWARD -i eth0 ${MARK} -j ACCEPT`);
    lab.kernel.addRule(r1, "nat", `-A POSTROUTING -o eth2 -m comment --comment kinda:other -j MASQUERADE`);

    await destroyCluster("mem", { runtime: lab.runtime, store: lab.store, provider: lab.provider, kernel: lab.kernel });

    assert.deepEqual(lab.kernel.linesIn(r1, true), legacy, "the recorded lines, as recorded, in one forced batch in r1");
    assert.deepEqual(lab.kernel.linesIn({ pid: await lab.pidOf("r2") }, true), [], "nothing in r2, which recorded nothing");
    assert.deepEqual(
      lab.kernel.rulesLeft(r1),
      ["nat -A POSTROUTING -o eth1 -j MASQUERADE", "nat -A POSTROUTING -o eth2 -m comment --comment kinda:other -j MASQUERADE"],
      "the lab's rules are gone, another's and an unmarked one stay",
    );
    assert.equal(lab.deleted(), 1, "the provider deleted the nodes");
    assert.equal(lab.store.read("mem")?.cluster, undefined, "the state forgets the cluster");
    assert.equal(lab.store.read("mem")?.phase, "up", "the lab stays up");
  });

  it("replays typed inverses: ip operations rendered in one forced batch, the recorded rule deleted by its words", async () => {
    const rule = { table: "nat" as const, chain: "POSTROUTING", match: ["-o", "eth0"], comment: ruleComment("mem"), jump: ["MASQUERADE"] };
    const lab = await upWithCluster({
      deviceUndo: [
        {
          device: "r2",
          undo: [
            { op: "route-del", route: { dst: "10.244.2.0/24", via: "10.1.0.3" } },
            { op: "rule-delete", rule },
          ],
        },
      ],
    });
    const r2 = { pid: await lab.pidOf("r2") };
    lab.kernel.addRule(r2, "nat", `-A POSTROUTING -o eth0 ${MARK} -j MASQUERADE`);
    lab.kernel.addRule(r2, "nat", `-A POSTROUTING -o eth1 ${MARK} -j MASQUERADE`);

    await destroyCluster("mem", { runtime: lab.runtime, store: lab.store, provider: lab.provider, kernel: lab.kernel });

    // the ip batch first, then the rule by its words (iptables -D, one process of its own)
    assert.deepEqual(lab.kernel.linesIn(r2, true), [
      "route del 10.244.2.0/24 via 10.1.0.3",
      `iptables --wait -t nat -D POSTROUTING -o eth0 ${MARK} -j MASQUERADE`,
    ]);
    assert.deepEqual(lab.kernel.rulesLeft(r2), [`nat -A POSTROUTING -o eth1 ${MARK} -j MASQUERADE`], "only the recorded rule goes");
  });

  it("deletes a P4 switch's pod entries through its CLI, by the handle it reports for each key, before the ip inverses", async () => {
    const T = "MyIngress.ipv4_lpm";
    const lab = await upWithCluster({
      deviceUndo: [
        {
          device: "r1",
          undo: [
            { op: "p4-entry-delete", table: T, key: "10.244.1.0/24" },
            { op: "p4-entry-delete", table: T, key: "10.244.2.0/24" },
            { op: "p4-entry-delete", table: T, key: "10.244.3.0/24" },
            { op: "link-delete", name: "eth3" },
          ],
        },
      ],
    });
    // the switch knows two of the three (one went already: no handle, nothing to delete)
    const handles: Record<string, string> = { "10.244.1.0/24": "0x7", "10.244.3.0/24": "0xa" };
    lab.runtime.answer = (_c, _argv, input) => {
      const key = /table_dump_entry_from_key \S+ (\S+)/.exec(input ?? "")?.[1];
      if (!key) return { exitCode: 0, output: "RuntimeCmd: " };
      const h = handles[key];
      return {
        exitCode: 0,
        output: h ? `RuntimeCmd: Dumping entry ${h}\nMatch key:\n` : "RuntimeCmd: Invalid table operation (BAD_MATCH_KEY)\n",
      };
    };

    await destroyCluster("mem", { runtime: lab.runtime, store: lab.store, provider: lab.provider, kernel: lab.kernel });

    const cli = lab.runtime.execs.filter((e) => e.argv[0] === "simple_switch_CLI");
    assert.ok(cli.every((e) => e.container === "kinda-mem-r1" && e.argv.join(" ") === "simple_switch_CLI --thrift-port 9090"));
    assert.deepEqual(
      cli.map((e) => e.input),
      [
        `table_dump_entry_from_key ${T} 10.244.1.0/24\n`,
        `table_dump_entry_from_key ${T} 10.244.2.0/24\n`,
        `table_dump_entry_from_key ${T} 10.244.3.0/24\n`,
        `table_delete ${T} 7\ntable_delete ${T} 10\n`,
      ],
    );
    assert.deepEqual(lab.kernel.linesIn({ pid: await lab.pidOf("r1") }, true), ["link delete eth3"], "no P4 op reaches ip");
  });

  it("a device that is not running needs nothing (its namespace is gone with it)", async () => {
    const lab = await upWithCluster({ deviceUndo: [{ device: "r1", ip: ["link delete kcbr0"], rules: true }] });
    const r1 = await lab.pidOf("r1");
    const id = (await lab.runtime.list({ [LABEL_LAB]: "mem", [LABEL_DEVICE]: "r1" }))[0]!.id;
    await lab.runtime.remove(id);
    await destroyCluster("mem", { runtime: lab.runtime, store: lab.store, provider: lab.provider, kernel: lab.kernel });
    assert.deepEqual(lab.kernel.linesIn({ pid: r1 }, true), []);
    assert.ok(!lab.kernel.commands.some((c) => c.includes(String(r1))), "no command entered its namespace");
  });
});
