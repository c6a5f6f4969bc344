import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Issue } from "../../../src/core/errors.js";
import { planLab } from "../../../src/plan/lab.js";
import { collectDeviceFiles, parseRunnerOutput, stagedMode, writeStage } from "../../../src/engine/stage.js";
import { parseLabConf } from "../../../src/topology/kathara.js";

function devicePlan(folder: string, stageRoot = "/st") {
  const p = parseLabConf('r1[0]="A"\nr1[exec]="echo done"\n');
  p.devices[0]!.folder = folder;
  return planLab({ metadata: {}, devices: p.devices, warnings: [] }, { name: "t", sharedDir: "/s", stageRoot }).devices[0]!;
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
    // an exec command is run by the device's shell, as root: nobody else needs to read it
    assert.equal(statSync(join(out, "steps/000-exec-0")).mode & 0o7777, 0o600);
  });

  it("drops setuid, setgid and write-for-others bits, keeps private modes, and keeps the stage root-only", () => {
    const src = mkdtempSync(join(tmpdir(), "kinda-stage-modes-"));
    const modes: [string, number, number][] = [
      ["usr/local/bin/x", 0o4755, 0o755],
      ["usr/local/bin/g", 0o2755, 0o755],
      ["etc/secret", 0o600, 0o600],
      ["etc/open", 0o666, 0o664],
      ["ro", 0o444, 0o644],
    ];
    mkdirSync(join(src, "usr", "local", "bin"), { recursive: true });
    mkdirSync(join(src, "etc"));
    mkdirSync(join(src, "tmpdir"));
    for (const [f, m] of modes) {
      writeFileSync(join(src, f), "x");
      chmodSync(join(src, f), m);
    }
    chmodSync(join(src, "tmpdir"), 0o1777);
    chmodSync(join(src, "etc"), 0o700);
    const issues: Issue[] = [];
    const files = collectDeviceFiles(devicePlan(src), issues);
    assert.deepEqual(issues, []);
    const out = join(mkdtempSync(join(tmpdir(), "kinda-stage-out-")), "r1");
    writeStage(out, files);
    for (const [f, , want] of modes) assert.equal(statSync(join(out, "root", f)).mode & 0o7777, want, f);
    assert.equal(statSync(join(out, "root/tmpdir")).mode & 0o7777, 0o1775, "a 1777 folder is not writable by others");
    assert.equal(statSync(join(out, "root/etc")).mode & 0o7777, 0o700, "a private folder stays private");
    assert.equal(statSync(out).mode & 0o777, 0o700, "the device's stage folder is root's only");
    assert.equal(statSync(join(out, "root")).mode & 0o777, 0o755, "root/ gives the device's / its usual mode");
    assert.equal(stagedMode(0o6777, "file"), 0o775);
  });

  it("keeps a private start-up script private", () => {
    const lab = mkdtempSync(join(tmpdir(), "kinda-stage-startup-"));
    writeFileSync(join(lab, "a.startup"), "echo secret\n", { mode: 0o600 });
    const p = parseLabConf('a[0]="A"\n');
    p.devices[0]!.startup = join(lab, "a.startup");
    const dev = planLab({ metadata: {}, devices: p.devices, warnings: [] }, { name: "t", sharedDir: "/s", stageRoot: "/st" }).devices[0]!;
    const files = collectDeviceFiles(dev, []);
    const out = join(mkdtempSync(join(tmpdir(), "kinda-stage-out-")), "a");
    writeStage(out, files);
    assert.equal(statSync(join(out, "steps/000-a.startup")).mode & 0o7777, 0o600);
  });

  it("refuses, before anything is created, a file whose staged path would be too long for Linux", () => {
    const src = mkdtempSync(join(tmpdir(), "kinda-stage-long-"));
    let d = src;
    for (let i = 0; i < 20; i++) d = join(d, "x".repeat(200));
    d = join(d, "y".repeat(30));
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, "f"), "x"); // fits here; under the stage root below it would not
    const issues: Issue[] = [];
    collectDeviceFiles(devicePlan(src, `/var/lib/kinda/labs/${"l".repeat(40)}/devices`), issues);
    assert.ok(issues.length >= 1, "the too-long path is named");
    assert.ok(
      issues.every((i) => i.device === "r1" && /^path too long to stage .* Linux allows 4095/.test(i.message)),
      "each one says why",
    );
    assert.ok(
      issues.some((i) => i.file === join(d, "f")),
      "the file is named by its path in the lab",
    );
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
