import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { expandShorthand, fastExec } from "../../../src/cli/argv.js";

const argv = (...w: string[]) => ["node", "kinda", ...w];

describe("expandShorthand", () => {
  it("turns kinda DEVICE CMD into exec, keeping --lab", () => {
    assert.deepEqual(expandShorthand(argv("h1", "ip", "-br", "a")), argv("exec", "h1", "--", "ip", "-br", "a"));
    assert.deepEqual(expandShorthand(argv("--lab", "x", "h1")), argv("exec", "--lab", "x", "h1", "--"));
  });
  it("leaves verbs and options alone", () => {
    for (const w of [argv("node", "lab", "w9", "add"), argv("link", "lab", "r1--r2", "down"), argv("--help")])
      assert.deepEqual(expandShorthand(w), w);
  });
});

describe("fastExec", () => {
  it("reads the plain exec forms", () => {
    assert.deepEqual(fastExec(argv("exec", "--lab", "l", "h1", "--", "true"), {}), { device: "h1", cmd: ["true"], stdin: false, lab: "l" });
    assert.deepEqual(fastExec(argv("exec", "--lab=l", "-i", "h1", "--", "cat"), {}), { device: "h1", cmd: ["cat"], stdin: true, lab: "l" });
    assert.deepEqual(fastExec(argv("exec", "h1"), {}), { device: "h1", cmd: [], stdin: false });
    assert.deepEqual(fastExec(expandShorthand(argv("h1", "hostname")), {}), { device: "h1", cmd: ["hostname"], stdin: false });
  });
  it("takes the lab from KINDA_LAB as the full CLI does, the flag first", () => {
    assert.equal(fastExec(argv("exec", "h1", "--", "true"), { KINDA_LAB: "env" })?.lab, "env");
    assert.equal(fastExec(argv("exec", "--lab", "flag", "h1", "--", "true"), { KINDA_LAB: "env" })?.lab, "flag");
  });
  it("leaves every other form to the full CLI (help, unknown options, words without --)", () => {
    for (const w of [
      argv("exec"),
      argv("exec", "--help"),
      argv("exec", "-h", "h1"),
      argv("exec", "h1", "ls", "-l"),
      argv("exec", "--lab"),
      argv("exec", "--lab", "--", "h1"),
      argv("exec", "--", "true"),
      argv("status"),
    ])
      assert.equal(fastExec(w, {}), undefined, w.join(" "));
  });
});
