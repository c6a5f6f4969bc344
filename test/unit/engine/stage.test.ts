import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Issue } from "../../../src/core/errors.js";
import { planLab } from "../../../src/plan/lab.js";
import { collectDeviceFiles, parseRunnerOutput, writeStage } from "../../../src/engine/stage.js";
import { parseLabConf } from "../../../src/topology/kathara.js";

function devicePlan(folder: string) {
  const p = parseLabConf('r1[0]="A"\nr1[exec]="echo done"\n');
  p.devices[0]!.folder = folder;
  return planLab({ metadata: {}, devices: p.devices, warnings: [] }, { name: "t", sharedDir: "/s", stageRoot: "/st" }).devices[0]!;
}

describe("device file staging", () => {
  it("stages the folder with CRLF turned to LF, symlinks kept, and the steps", () => {
    const src = mkdtempSync(join(tmpdir(), "kinda-stage-src-"));
    mkdirSync(join(src, "etc", "frr"), { recursive: true });
    writeFileSync(join(src, "etc", "frr", "daemons"), "bgpd=yes\r\nzebra=yes\r\n");
    writeFileSync(join(src, "bin.dat"), Buffer.from([0, 13, 10, 1]));
    symlinkSync("daemons", join(src, "etc", "frr", "link"));
    const issues: Issue[] = [];
    const files = collectDeviceFiles(devicePlan(src), issues);
    assert.deepEqual(issues, []);
    const out = mkdtempSync(join(tmpdir(), "kinda-stage-out-"));
    writeStage(out, files);
    assert.equal(readFileSync(join(out, "root/etc/frr/daemons"), "utf8"), "bgpd=yes\nzebra=yes\n");
    assert.deepEqual([...readFileSync(join(out, "root/bin.dat"))], [0, 13, 10, 1]);
    assert.equal(readFileSync(join(out, "steps/000-exec-0"), "utf8"), "echo done\n");
    assert.ok(statSync(join(out, "steps/000-exec-0")).mode & 0o100);
  });

  it("names a file that cannot be copied (a FIFO)", () => {
    const src = mkdtempSync(join(tmpdir(), "kinda-stage-fifo-"));
    execFileSync("mkfifo", [join(src, "pipe")]);
    const issues: Issue[] = [];
    collectDeviceFiles(devicePlan(src), issues);
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.file, join(src, "pipe"));
    assert.equal(issues[0]?.device, "r1");
    assert.match(issues[0]!.message, /not a regular file/);
  });

  it("splits the runner's output per step with exit codes", () => {
    const r = parseRunnerOutput(
      "warn\n=== kinda step 000-a.startup\nhello\n=== kinda exit 0\n=== kinda step 001-exec-0\noops\n=== kinda exit 3\n=== kinda step 002-x\n",
    );
    assert.equal(r.preamble, "warn\n");
    assert.deepEqual(r.steps, [
      { file: "000-a.startup", exitCode: 0, output: "hello\n" },
      { file: "001-exec-0", exitCode: 3, output: "oops\n" },
      { file: "002-x", exitCode: undefined, output: "" },
    ]);
  });
});
