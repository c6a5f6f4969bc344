/** Data-plane services: retried readiness, errors naming device and field, phases. No Docker. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runServices } from "../../../src/engine/services.js";
import type { ExecResult, Runtime } from "../../../src/model/container.js";

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

  it("cluster-phase steps wait for the cluster", async () => {
    const { rt, calls } = fakeRuntime([]);
    await runServices(rt, "id", { name: "s", services: [{ what: "later", argv: ["x"], after: "cluster" }] }, "network");
    assert.deepEqual(calls, []);
  });
});
