/**
 * Writing P4 switches' pod entries at attach time (engine/p4.ts) against the in-memory runtime:
 * one simple_switch_CLI run per switch with the entries on its standard input, and a clear error
 * naming the switch when the CLI rejects one (it exits 0 then; its output says so).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { writeP4Entries } from "../../../src/engine/p4.js";
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
    assert.deepEqual(runtime.execs.map((e) => [e.container, e.argv.join(" "), e.input]).sort(), [
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
    runtime.answer = (c) =>
      c === "kinda-l-r2" ? { exitCode: 0, output: "RuntimeCmd: Invalid table operation (DUPLICATE_ENTRY)\n" } : { exitCode: 0, output: "" };
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
});
