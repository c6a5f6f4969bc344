/**
 * Writing P4 switches' pod entries at attach time (engine/p4.ts) against the in-memory runtime:
 * one simple_switch_CLI run per switch with the entries on its standard input, and a clear error
 * naming the switch when the CLI rejects one (it exits 0 then; its output says so).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deleteP4Entries, writeP4Entries } from "../../../src/engine/p4.js";
import { undoInDevices } from "../../../src/engine/cluster-apply.js";
import type { DeviceUndo } from "../../../src/model/ops.js";
import { p4Inverse } from "../../../src/plan/ops.js";
import { MemoryKernel } from "../../support/memory.js";
import { p4EntryAdd } from "../../../src/plan/ops.js";
import { MemoryRuntime } from "../../support/memory.js";

const T = ["MyIngress.ipv4_lpm", "MyIngress.ipv4_forward"] as const;

async function switches() {
  const runtime = new MemoryRuntime();
  const ids = new Map<string, string>();
  for (const name of ["r1", "r2"]) {
    const id = await runtime.create({ name: `kinda-l-${name}`, image: "x", labels: {} } as never);
    await runtime.start(id);
    ids.set(name, id);
  }
  const plan = {
    p4Entries: [
      {
        device: "r1",
        entries: [
          p4EntryAdd(...T, "10.244.0.0/24", ["02:6b:00:03:00:02", "1"]),
          p4EntryAdd(...T, "10.244.1.0/24", ["02:6b:00:01:00:01", "0"]),
        ],
      },
      { device: "r2", entries: [p4EntryAdd(...T, "10.244.0.0/24", ["02:6b:00:02:00:01", "0"])] },
    ],
  };
  return { runtime, plan, containerOf: (d: string) => ids.get(d) };
}

describe("writing P4 switches' entries for the pod CIDRs", () => {
  it("one CLI run per switch, the entries on its standard input, as argv (no shell)", async () => {
    const { runtime, plan, containerOf } = await switches();
    await writeP4Entries(runtime, plan, containerOf);
    const writes = runtime.execs.filter((e) => e.input?.startsWith("table_add"));
    assert.deepEqual(writes.map((e) => [e.container, e.argv.join(" "), e.input]).sort(), [
      [
        "kinda-l-r1",
        "simple_switch_CLI --thrift-port 9090",
        `table_add ${T.join(" ")} 10.244.0.0/24 => 02:6b:00:03:00:02 1\ntable_add ${T.join(" ")} 10.244.1.0/24 => 02:6b:00:01:00:01 0\n`,
      ],
      ["kinda-l-r2", "simple_switch_CLI --thrift-port 9090", `table_add ${T.join(" ")} 10.244.0.0/24 => 02:6b:00:02:00:01 0\n`],
    ]);
  });

  it("a rejected entry (exit 0, the CLI says so) is an error naming the switch, the field and the answer", async () => {
    const { runtime, plan, containerOf } = await switches();
    runtime.answer = (c, _argv, input) =>
      c === "kinda-l-r2" && input?.startsWith("table_add")
        ? { exitCode: 0, output: "RuntimeCmd: Invalid table operation (DUPLICATE_ENTRY)\n" }
        : { exitCode: 0, output: "" };
    await assert.rejects(writeP4Entries(runtime, plan, containerOf), (e: Error) => {
      assert.match(e.message, /r2.*lpm.*writing 1 table entries for the pod CIDRs failed at "table_add .*" \(exit 0\)/s);
      assert.match(e.message, /DUPLICATE_ENTRY/);
      return true;
    });
  });

  it("a switch that is not running is an error", async () => {
    const { runtime, plan } = await switches();
    await assert.rejects(
      writeP4Entries(runtime, plan, () => undefined),
      /P4 switch r1 is not running/,
    );
  });

  it("an entry the switch had before is not kinda's: the failed write says so, and the rollback (by key) leaves it", async () => {
    const { runtime, plan, containerOf } = await switches();
    // each switch's table as BMv2's CLI keeps it: a key once, a handle per entry
    const tables = new Map<string, Map<string, number>>([
      ["kinda-l-r1", new Map([["10.244.1.0/24", 7]])], // written by hand before the cluster came
      ["kinda-l-r2", new Map()],
    ]);
    let next = 100;
    runtime.answer = (c, _argv, input = "") => {
      const t = tables.get(c)!;
      const out: string[] = [];
      for (const line of input.trim().split("\n")) {
        const w = line.split(" ");
        if (w[0] === "table_add") {
          if (t.has(w[3]!)) out.push("RuntimeCmd: Invalid table operation (DUPLICATE_ENTRY)");
          else t.set(w[3]!, next++);
        } else if (w[0] === "table_dump_entry_from_key") {
          const h = t.get(w[2]!);
          out.push(
            h === undefined ? "RuntimeCmd: Invalid table operation (BAD_MATCH_KEY)" : `RuntimeCmd: Dumping entry 0x${h.toString(16)}`,
          );
        } else if (w[0] === "table_delete") {
          for (const [k, h] of t) if (h === Number(w[2])) t.delete(k);
        }
      }
      return { exitCode: 0, output: out.join("\n") };
    };
    // the state's record of the inverses, made by the planner before anything is written
    const undo: DeviceUndo[] = plan.p4Entries.map((p) => ({ device: p.device, undo: p.entries.map(p4Inverse) }));
    let saved = 0;
    const failed = await writeP4Entries(runtime, plan, containerOf, undo, () => saved++).then(
      () => assert.fail("the write must fail"),
      (e: Error) => e,
    );
    // the rollback the failed attach runs (destroyCluster: the recorded inverses, by key)
    const pids = new Map([
      ["r1", 1],
      ["r2", 2],
    ]);
    await undoInDevices(
      "l",
      undo,
      (d) => pids.get(d),
      new MemoryKernel(),
      (d, ops) => deleteP4Entries(runtime, containerOf(d)!, ops),
    );
    assert.deepEqual([...tables.get("kinda-l-r1")!], [["10.244.1.0/24", 7]], "the entry r1 had before is still there");
    assert.deepEqual([...tables.get("kinda-l-r2")!], [], "nothing of the failed write is left in r2");
    assert.ok(saved > 0, "the state's inverses were saved without the entry that is not kinda's");
    assert.match(failed.message, /r1 \[lpm\]: its table already has an entry for 10\.244\.1\.0\/24 \(not written by kinda/);
  });
});
