/** Data-plane services: retried readiness, errors naming device and field, phases. No Docker. */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { runServices } from "../../../src/engine/services.js";
import type { ExecResult, Runtime } from "../../../src/model/container.js";
import { ROOT } from "../../support/env.js";

/** p4c's real output for BMv2's own repository (read from there, never copied in). */
const PROGRAMS = resolve(process.env["KINDA_P4_PROGRAMS_DIR"] ?? join(ROOT, "..", "shared", "p4-programs"));

describe("services", () => {
  function fakeRuntime(answers: ExecResult[]): { rt: Runtime; calls: string[][] } {
    const calls: string[][] = [];
    const rt = {
      exec: async (_id: string, argv: string[]) => {
        calls.push(argv);
        return answers.shift() ?? { exitCode: 0, output: "" };
      },
    } as unknown as Runtime;
    return { rt, calls };
  }

  it("a readiness step is retried until it answers; then the next runs", async () => {
    const { rt, calls } = fakeRuntime([
      { exitCode: 1, output: "Could not connect to thrift client on port 9090" },
      { exitCode: 0, output: "Could not connect to thrift client on port 9090" },
      { exitCode: 0, output: "RuntimeCmd: " },
      { exitCode: 0, output: "done" },
    ]);
    await runServices(
      rt,
      "id",
      {
        name: "s",
        services: [
          { what: "wait", argv: ["ready"], retrySeconds: 30, failOn: "Could not connect" },
          { what: "next", argv: ["next"] },
        ],
      },
      "network",
    );
    assert.deepEqual(calls, [["ready"], ["ready"], ["ready"], ["next"]]);
  });

  it("a step given as a typed operation runs as plan/ops.ts renders it; its failure shows that command", async () => {
    const { rt, calls } = fakeRuntime([
      { exitCode: 0, output: "" },
      { exitCode: 1, output: 'Cannot find device "br9"' },
    ]);
    const up = (name: string) => ({ what: "bring the bridge up", op: { op: "link-set" as const, name, up: true } });
    await runServices(rt, "id", { name: "sw", services: [up("br0")] }, "network");
    assert.deepEqual(calls, [["ip", "link", "set", "br0", "up"]]);
    await assert.rejects(
      runServices(rt, "id", { name: "sw", services: [up("br9")] }, "network"),
      /device sw.*bring the bridge up failed \(exit 1\): ip link set br9 up\n.*Cannot find device "br9"/s,
    );
  });

  it("a failing step names the device and field, with the program's words", async () => {
    const { rt } = fakeRuntime([{ exitCode: 1, output: "ovs-ofctl: unknown action frobnicate" }]);
    await assert.rejects(
      runServices(
        rt,
        "id",
        { name: "sw", services: [{ what: "add flow", argv: ["ovs-ofctl", "add-flow", "br0", "x"], field: "flows[2]" }] },
        "network",
      ),
      /device sw.*flows\[2\].*add flow failed .*unknown action frobnicate/s,
    );
  });

  it("cli lines checked against the JSON p4c wrote in the device: the first refused one fails at its field, before the switch starts", async (t) => {
    const file = join(PROGRAMS, "targets_simple_router_simple_router.json");
    if (!existsSync(file)) {
      assert.ok(process.env["CI"] !== "true", `no ${file}`);
      t.diagnostic(`did not run: no ${file} (KINDA_P4_PROGRAMS_DIR)`);
      return;
    }
    const json = readFileSync(file, "utf8");
    const step = (checkCli: { text: string; field: string }[]) => ({
      what: "check the cli lines against the compiled program",
      argv: ["cat", "/var/lib/kinda-p4/simple_router.json"],
      field: "program",
      checkCli,
    });
    const ok = fakeRuntime([
      { exitCode: 0, output: json },
      { exitCode: 0, output: "" },
    ]);
    const good = [{ text: "table_add ipv4_lpm set_nhop 10.0.0.10/32 => 10.0.0.10 1", field: "cli[0]" }];
    await runServices(ok.rt, "id", { name: "s1", services: [step(good), { what: "start the switch", argv: ["start"] }] }, "network");
    assert.deepEqual(ok.calls, [["cat", "/var/lib/kinda-p4/simple_router.json"], ["start"]]);

    const bad = fakeRuntime([{ exitCode: 0, output: json }]);
    const lines = [...good, { text: "table_add ipv4_lpm set_nhop 10.0.1.10/32 => 10.0.1.10", field: "cli[2]" }];
    await assert.rejects(
      runServices(bad.rt, "id", { name: "s1", services: [step(lines), { what: "start the switch", argv: ["start"] }] }, "network"),
      /device s1 \[cli\[2\]\]: .*set_nhop takes 2 parameters .*p4c compiled in the device, before the switch started/s,
    );
    assert.equal(bad.calls.length, 1, "the switch was not started");
    // a JSON with no pipeline (the stand-in p4c's) has nothing to check against
    const none = fakeRuntime([{ exitCode: 0, output: '{"pipelines": []}' }]);
    await runServices(none.rt, "id", { name: "s1", services: [step(lines)] }, "network");
  });

  it("cluster-phase steps wait for the cluster", async () => {
    const { rt, calls } = fakeRuntime([]);
    await runServices(rt, "id", { name: "s", services: [{ what: "later", argv: ["x"], after: "cluster" }] }, "network");
    assert.deepEqual(calls, []);
  });
});
