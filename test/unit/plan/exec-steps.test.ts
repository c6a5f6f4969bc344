import { test } from "node:test";
import assert from "node:assert/strict";
import { execSteps } from "../../../src/plan/exec-steps.js";

test("a run of ip object lines is one batched step; other commands stay one step each", () => {
  const steps = execSteps([
    "ip addr add 10.0.0.1/30 dev eth0",
    "ip route add 10.0.1.0/24 via 10.0.0.2",
    "echo hi",
    "ip route add 10.0.2.0/24 nexthop via 10.0.0.2 nexthop via 10.0.0.6",
  ]);
  assert.deepEqual(
    steps.map((s) => s.label),
    ["exec-0-1", "exec-2", "exec-3"],
  );
  const lines = steps[0]!.text.split("\n");
  assert.match(lines[0]!, /ip -force -batch -/);
  assert.deepEqual(lines.slice(1, 4), ["addr add 10.0.0.1/30 dev eth0", "route add 10.0.1.0/24 via 10.0.0.2", "KINDA_IP_BATCH"]);
  assert.equal(steps[1]!.text, "echo hi\n");
});

test("ip lines with shell syntax are not batched (they stay commands the shell reads)", () => {
  const steps = execSteps(["ip route add 10.0.0.0/8 via 10.0.0.1; touch /x", "ip addr add $(cat f) dev eth0"]);
  assert.deepEqual(
    steps.map((s) => s.text),
    ["ip route add 10.0.0.0/8 via 10.0.0.1; touch /x\n", "ip addr add $(cat f) dev eth0\n"],
  );
});
