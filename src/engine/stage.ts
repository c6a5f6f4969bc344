/**
 * A device's files, staged on the host and mounted read-only into the device at STAGE_MOUNT:
 *   root/       its lab folder, copied over `/` by the start-up runner (CRLF -> LF in text files)
 *   steps/      start-up steps (shared.startup, <device>.startup, exec commands), run in order
 *   shutdown/   shutdown steps, run at teardown
 * Reading happens before anything is created, so an unreadable or special file is a clean error;
 * one exec per device then does the copy and every step (no archive upload, no exec per step).
 * Modes are kept as the lab has them (a private file stays private), except that setuid and
 * setgid bits and write permission for others are dropped: nothing kinda stages as root can
 * give another user root or a place to plant files.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { Issue } from "../core/errors.js";
import { STAGE_MOUNT } from "../core/defaults.js";
import type { DevicePlan, StartupStep } from "../plan/lab.js";

export interface StagedFile {
  /** Path relative to the stage folder. */
  name: string;
  type: "file" | "directory" | "symlink";
  mode: number;
  data?: Buffer;
  linkname?: string;
}

/** Bits never staged: setuid, setgid, and write permission for others. */
const UNSAFE_BITS = 0o6002;

/** The mode a staged file or folder gets: the source's, less UNSAFE_BITS, its owner (root) may read and write. */
export function stagedMode(sourceMode: number, type: "file" | "directory"): number {
  return (sourceMode & 0o7777 & ~UNSAFE_BITS) | (type === "directory" ? 0o700 : 0o600);
}

/** Longest path Linux takes (PATH_MAX less the final NUL) and longest name in it (NAME_MAX). */
const PATH_MAX = 4095;
const NAME_MAX = 255;

function toUnixText(buf: Buffer): Buffer {
  if (buf.includes(0) || !buf.includes("\r\n")) return buf;
  return Buffer.from(buf.toString("latin1").replace(/\r\n/g, "\n"), "latin1");
}

function walk(root: string, dir: string, out: StagedFile[], issues: Issue[], device: string): void {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    issues.push({ file: dir, device, message: `cannot read this folder of the device: ${(e as Error).message}` });
    return;
  }
  if (dir !== root) out.push({ name: join("root", relative(root, dir)), type: "directory", mode: lstatSync(dir).mode & 0o7777 });
  for (const n of names) {
    const p = join(dir, n);
    const name = join("root", relative(root, p));
    try {
      const st = lstatSync(p);
      if (st.isDirectory()) walk(root, p, out, issues, device);
      else if (st.isFile()) out.push({ name, type: "file", mode: st.mode & 0o7777, data: toUnixText(readFileSync(p)) });
      else if (st.isSymbolicLink()) out.push({ name, type: "symlink", mode: 0o777, linkname: readlinkSync(p) });
      else issues.push({ file: p, device, message: "cannot be copied into the device: not a regular file, folder or symbolic link" });
    } catch (e) {
      issues.push({ file: p, device, message: `cannot be copied into the device: ${(e as Error).message}` });
    }
  }
}

function stepFiles(dir: "steps" | "shutdown", steps: readonly StartupStep[], device: string, issues: Issue[]): StagedFile[] {
  return steps.flatMap((s): StagedFile[] => {
    if ("text" in s.from) return [{ name: `${dir}/${s.file}`, type: "file", mode: 0o600, data: Buffer.from(s.from.text) }];
    try {
      // the script's own mode, so a private one stays private (the runner reads it, needs no x bit)
      const mode = lstatSync(s.from.path).mode & 0o7777;
      return [{ name: `${dir}/${s.file}`, type: "file", mode, data: toUnixText(readFileSync(s.from.path)) }];
    } catch (e) {
      issues.push({ file: s.from.path, device, message: `cannot read: ${(e as Error).message}` });
      return [];
    }
  });
}

/** Reads everything a device needs staged; problems are appended to `issues`. */
export function collectDeviceFiles(dev: DevicePlan, issues: Issue[]): StagedFile[] {
  const out: StagedFile[] = [];
  if (dev.folder) walk(dev.folder, dev.folder, out, issues, dev.name);
  out.push(...stepFiles("steps", dev.startup, dev.name, issues), ...stepFiles("shutdown", dev.shutdown, dev.name, issues));
  for (const f of dev.stageFiles ?? []) out.push({ name: f.name, type: "file", mode: 0o644, data: Buffer.from(f.text) });
  issues.push(...pathLengthIssues(dev, out));
  return out;
}

/** Staged paths Linux would refuse (ENAMETOOLONG), found before anything is created. */
function pathLengthIssues(dev: DevicePlan, files: readonly StagedFile[]): Issue[] {
  const tooLong = files.filter((f) => Buffer.byteLength(join(dev.stageDir, f.name)) > PATH_MAX);
  const issues: Issue[] = tooLong.slice(0, 3).map((f) => ({
    file: dev.folder && f.name.startsWith("root/") ? join(dev.folder, f.name.slice(5)) : f.name,
    device: dev.name,
    message: `path too long to stage (${Buffer.byteLength(join(dev.stageDir, f.name))} bytes once under ${dev.stageDir}; Linux allows ${PATH_MAX}): shorten the folder names`,
  }));
  if (tooLong.length > 3) issues.push({ device: dev.name, message: `and ${tooLong.length - 3} more paths too long to stage` });
  const longName = files.find((f) => f.name.split("/").some((c) => Buffer.byteLength(c) > NAME_MAX));
  if (longName) issues.push({ file: longName.name, device: dev.name, message: `a file name is longer than ${NAME_MAX} bytes` });
  return issues;
}

/** Writes the staged files under `dir` (created, 0700, like the folders above it). */
export function writeStage(dir: string, files: readonly StagedFile[]): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  // copied over the device's `/` by `cp -a`, so it carries the mode `/` should have
  if (files.some((f) => f.name.startsWith("root/"))) {
    mkdirSync(join(dir, "root"), { recursive: true });
    chmodSync(join(dir, "root"), 0o755);
  }
  for (const f of files) {
    const p = join(dir, f.name);
    if (f.type === "directory") {
      mkdirSync(p, { recursive: true });
      continue;
    }
    mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
    if (f.type === "symlink") symlinkSync(f.linkname ?? "", p);
    else writeFileSync(p, f.data ?? Buffer.alloc(0));
  }
  // Modes last (a read-only folder must not stop its own content from being written), owner
  // always allowed to write: a lab checked out read-only still gives writable files in the device.
  for (const f of files) if (f.type !== "symlink") chmodSync(join(dir, f.name), stagedMode(f.mode, f.type));
}

/** Does the device need the start-up runner at all (files to copy or steps to run)? */
export function needsRunner(files: readonly StagedFile[]): boolean {
  return files.some((f) => f.name.startsWith("root/") || f.name.startsWith("steps/"));
}

const STEP_MARK = "=== kinda step ";
const EXIT_MARK = "=== kinda exit ";

/**
 * The start-up runner: fixed text (nothing from the lab is interpolated), run as
 * `SHELL -c RUNNER kinda-startup SHELL`. Copies root/ over `/`, then runs each step with SHELL,
 * printing a marker before and the exit code after each one.
 */
export const RUNNER = [
  `if [ -d ${STAGE_MOUNT}/root ]; then cp -a ${STAGE_MOUNT}/root/. / || echo "kinda: copying the device folder failed" >&2; fi`,
  `for s in ${STAGE_MOUNT}/steps/*; do`,
  `  [ -f "$s" ] || continue`,
  `  echo "${STEP_MARK}\${s##*/}"`,
  `  "$1" "$s" 2>&1`,
  `  echo "${EXIT_MARK}$?"`,
  `done`,
].join("\n");

/** Path inside the device of a shutdown step. */
export function shutdownPath(file: string): string {
  return `${STAGE_MOUNT}/shutdown/${file}`;
}

export interface StepOutcome {
  file: string;
  exitCode: number | undefined;
  output: string;
}

/** Longest line kept whole while looking for the runner's markers; longer output passes through. */
const MAX_LINE = 64 * 1024;

/**
 * Reads the runner's output as it arrives, in bounded memory: markers start and end steps, other
 * text goes to `sink` as (label, text) pairs. A step whose exit line never came was cut short.
 */
export class RunnerOutputReader {
  readonly steps: { file: string; exitCode: number | undefined }[] = [];
  private pending = "";
  private open = false;

  constructor(private readonly sink: (text: string, step: string | undefined) => void) {}

  push(chunk: string): void {
    this.pending += chunk;
    let nl: number;
    while ((nl = this.pending.indexOf("\n")) >= 0) {
      this.line(this.pending.slice(0, nl));
      this.pending = this.pending.slice(nl + 1);
    }
    if (this.pending.length > MAX_LINE) {
      this.sink(this.pending, this.current());
      this.pending = "";
    }
  }

  end(): void {
    if (this.pending !== "") this.line(this.pending);
    this.pending = "";
  }

  /** The step running now (its file name), if any. */
  current(): string | undefined {
    return this.open ? this.steps[this.steps.length - 1]?.file : undefined;
  }

  private line(line: string): void {
    if (line.startsWith(STEP_MARK)) {
      this.steps.push({ file: line.slice(STEP_MARK.length), exitCode: undefined });
      this.open = true;
    } else if (line.startsWith(EXIT_MARK) && this.open) {
      this.steps[this.steps.length - 1]!.exitCode = Number(line.slice(EXIT_MARK.length));
      this.open = false;
    } else this.sink(line + "\n", this.current());
  }
}

/** Splits the runner's whole output into steps (a step without an exit line was cut short). */
export function parseRunnerOutput(text: string): { preamble: string; steps: StepOutcome[] } {
  let preamble = "";
  const outputs = new Map<string, string>();
  const r = new RunnerOutputReader((t, step) => {
    if (step === undefined) {
      if (t !== "\n") preamble += t;
    } else outputs.set(step, (outputs.get(step) ?? "") + t);
  });
  r.push(text);
  r.end();
  return { preamble, steps: r.steps.map((s) => ({ ...s, output: outputs.get(s.file) ?? "" })) };
}
