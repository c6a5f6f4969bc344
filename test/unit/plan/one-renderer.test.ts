/**
 * One vocabulary for kernel operations (issue 29): outside plan/ops.ts, no file of src/ builds
 * an argv of ip, tc or bridge by hand. Changes are typed operations applied through
 * Kernel.apply; reads are ReadOps rendered by readArgv; namespaces are made, deleted and entered
 * through netnsArgv and inNamedNetns. The few exceptions are named below with the reason; a new
 * hand-built argv anywhere else fails this test (the scan is shown to catch one first).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { inNamedNetns, netnsArgv, readArgv } from "../../../src/plan/ops.js";
import { ROOT } from "../../support/env.js";

const TOOLS = "ip|tc|bridge";
/**
 * An array starting with the tool's name, or the tool's name followed by another word of an argv;
 * or command text running it with a flag (`ip -n ...`, a script's `then ip -force -batch -`).
 */
const HAND_BUILT = [
  new RegExp(`\\[\\s*"(${TOOLS})"\\s*,`),
  new RegExp(`"(${TOOLS})",\\s*"`),
  new RegExp(`(?:^|[\`"';]|\\b(?:if|then|else|do)\\s)\\s*(${TOOLS})\\s+-[a-z]`),
];

/** The one file that renders kernel argv. */
const RENDERER = "src/plan/ops.ts";

/**
 * Files allowed to build such an argv anyway, and why (each stays until it has a typed form).
 * None left: doctor's probes are typed operations, live.ts' netem probe is a NetemOp, an Open
 * vSwitch device's bridge comes up by a ServiceStep's `op` (engine/services.ts renders it).
 */
const ALLOWED: Record<string, string> = {};

function handBuilt(text: string): string[] {
  return text.split("\n").filter((line) => !/^\s*(\/\/|\/?\*)/.test(line) && HAND_BUILT.some((re) => re.test(line)));
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

describe("one renderer of kernel argv", () => {
  it("the scan catches a hand-built argv and passes a rendered one", () => {
    assert.deepEqual(handBuilt('  const r = await kernel.run(["ip", "-j", "link", "show"]);'), [
      '  const r = await kernel.run(["ip", "-j", "link", "show"]);',
    ]);
    assert.equal(handBuilt('  await run(["unshare", "-n", "tc", "qdisc", "show"]);').length, 1);
    assert.equal(handBuilt('  await runChecked(["ip", "netns", "add", name]);').length, 1);
    assert.equal(handBuilt("    `if ip -batch /dev/null 2>/dev/null; then ip -force -batch -; fi`,").length, 1);
    assert.equal(handBuilt("  out.push(`  ip -n ${plan.netns} ${l}`);").length, 1);
    assert.deepEqual(handBuilt('  const r = await kernel.run(readArgv({ read: "links" }));'), []);
    assert.deepEqual(handBuilt("  out.push(`  ${ipCommandText(o, plan.netns)}`);"), []);
    assert.deepEqual(handBuilt('  { op: "link-add", name: i.bridge, kind: { type: "bridge" } },'), []);
  });

  it("no file of src/ outside the renderer builds an ip, tc or bridge argv", () => {
    const found = sources(join(ROOT, "src")).flatMap((f) => {
      const rel = relative(ROOT, f);
      return rel === RENDERER || ALLOWED[rel] ? [] : handBuilt(readFileSync(f, "utf8")).map((l) => `${rel}: ${l.trim()}`);
    });
    assert.deepEqual(found, [], "render through plan/ops.ts (a KernelOp for Kernel.apply, readArgv, netnsArgv, inNamedNetns)");
  });

  it("each exception still needs its place (a stale one is removed)", () => {
    for (const rel of Object.keys(ALLOWED))
      assert.ok(handBuilt(readFileSync(join(ROOT, rel), "utf8")).length > 0, `${rel} builds no argv any more: drop it from ALLOWED`);
  });

  it("reads and namespaces render to the argv iproute2 takes", () => {
    assert.deepEqual(readArgv({ read: "links" }), ["ip", "-j", "link", "show"]);
    assert.deepEqual(readArgv({ read: "links", dev: "eth0" }), ["ip", "-j", "link", "show", "dev", "eth0"]);
    assert.deepEqual(readArgv({ read: "links", details: true }), ["ip", "-d", "-j", "link", "show"]);
    assert.deepEqual(readArgv({ read: "links", stats: true }), ["ip", "-s", "-j", "link", "show"]);
    assert.deepEqual(readArgv({ read: "default-routes-v4" }), ["ip", "-4", "-j", "route", "show", "default"]);
    assert.deepEqual(readArgv({ read: "qdisc-stats" }), ["tc", "-s", "-j", "qdisc", "show"]);
    assert.deepEqual(readArgv({ read: "fdb" }), ["bridge", "-j", "fdb", "show"]);
    assert.deepEqual(readArgv({ read: "netns-list" }), ["ip", "-j", "netns", "list"]);
    assert.deepEqual(netnsArgv("add", "kinda-x"), ["ip", "netns", "add", "kinda-x"]);
    assert.deepEqual(netnsArgv("delete", "kinda-x"), ["ip", "netns", "delete", "kinda-x"]);
    assert.deepEqual(inNamedNetns("kinda-x", ["ip", "-j", "link", "show"]), ["ip", "-n", "kinda-x", "-j", "link", "show"]);
    assert.deepEqual(inNamedNetns("kinda-x", ["sysctl", "-q"]), ["ip", "netns", "exec", "kinda-x", "sysctl", "-q"]);
    assert.deepEqual(inNamedNetns("kinda-x", ["tc", "-batch", "-"]), ["tc", "-n", "kinda-x", "-batch", "-"]);
    assert.deepEqual(inNamedNetns("kinda-x", ["bridge", "-j", "fdb", "show"]), ["bridge", "-n", "kinda-x", "-j", "fdb", "show"]);
    assert.deepEqual(inNamedNetns("kinda-x", ["ip", "link"], { exec: true }), ["ip", "netns", "exec", "kinda-x", "ip", "link"]);
  });
});
