/**
 * Reading simple_switch_CLI's answers (core/p4cli.ts). The outputs here have the shape the real
 * CLI prints (BMv2's tools/runtime_CLI.py, a Python cmd.Cmd loop: a "RuntimeCmd: " prompt before
 * each command's answer, exit 0 whatever happened), as read in its source.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cliFailure, cliLines } from "../../../src/core/p4cli.js";

const HEAD = "Obtaining JSON from switch...\nDone\nControl utility for runtime P4 table manipulation\n";
const ADDED = "Adding entry to lpm match table MyIngress.ipv4_lpm\nEntry has been added with handle 0\n";

describe("simple_switch_CLI answers", () => {
  it("all commands went through: no failure", () => {
    assert.equal(cliFailure(`${HEAD}RuntimeCmd: ${ADDED}RuntimeCmd: ${ADDED}RuntimeCmd: \n`, 2, 0), undefined);
  });

  it("a mistyped command: cmd's '*** Unknown syntax' with exit 0 is a failure of that line", () => {
    const out = `${HEAD}RuntimeCmd: ${ADDED}RuntimeCmd: *** Unknown syntax: tabel_add MyIngress.ipv4_lpm x\nRuntimeCmd: ${ADDED}RuntimeCmd: \n`;
    assert.deepEqual(cliFailure(out, 3, 0), { index: 1, answer: "*** Unknown syntax: tabel_add MyIngress.ipv4_lpm x" });
  });

  it("the error handler's answers: Error, Invalid match key, Invalid table operation, a traceback", () => {
    for (const a of [
      "Error: Invalid table name (nope)",
      "Invalid match key: Error while parsing 10.0.0.300 - Invalid IPv4 address",
      "Invalid runtime data: Error while parsing x - Invalid input",
      "Invalid table operation (DUPLICATE_ENTRY)",
      'Traceback (most recent call last):\n  File "x", line 1',
    ])
      assert.equal(cliFailure(`${HEAD}RuntimeCmd: ${ADDED}RuntimeCmd: ${a}\nRuntimeCmd: \n`, 2, 0)?.index, 1, a);
  });

  it("no prompt at all (it could not connect): a failure without a line", () => {
    assert.deepEqual(cliFailure("Could not connect to thrift client on port 9090\n", 2, 1), {
      answer: "Could not connect to thrift client on port 9090",
    });
  });

  it("blank lines (cmd repeats the previous command on them) and comments (it has none) are not sent", () => {
    const lines = ["a", "", "  ", "# note", "b"].map((text, k) => ({ text, field: `cli[${k}]` }));
    assert.deepEqual(
      cliLines(lines).map((l) => l.field),
      ["cli[0]", "cli[4]"],
    );
  });
});
