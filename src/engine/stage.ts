/**
 * A device's files, staged on the host and mounted read-only into the device at STAGE_MOUNT:
 *   root/       its lab folder, copied over `/` by the start-up runner (CRLF -> LF in text files)
 *   steps/      start-up steps (shared.startup, <device>.startup, exec commands), run in order
 *   shutdown/   shutdown steps, run at teardown
 * Reading happens before anything is created, so an unreadable or special file is a clean error;
 * one exec per device then does the copy and every step (no archive upload, no exec per step).
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
    if ("text" in s.from) return [{ name: `${dir}/${s.file}`, type: "file", mode: 0o755, data: Buffer.from(s.from.text) }];
    try {
      return [{ name: `${dir}/${s.file}`, type: "file", mode: 0o755, data: toUnixText(readFileSync(s.from.path)) }];
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
  return out;
}

/** Writes the staged files under `dir` (created). */
export function writeStage(dir: string, files: readonly StagedFile[]): void {
  mkdirSync(dir, { recursive: true });
  for (const f of files) {
    const p = join(dir, f.name);
    if (f.type === "directory") {
      mkdirSync(p, { recursive: true });
      continue;
    }
    mkdirSync(dirname(p), { recursive: true });
    if (f.type === "symlink") symlinkSync(f.linkname ?? "", p);
    else writeFileSync(p, f.data ?? Buffer.alloc(0));
  }
  // Modes last (a read-only folder must not stop its own content from being written), owner
  // always allowed to write: a lab checked out read-only still gives writable files in the device.
  for (const f of files) if (f.type !== "symlink") chmodSync(join(dir, f.name), f.mode | (f.type === "directory" ? 0o700 : 0o600));
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

/** Splits the runner's output into steps (a step without an exit line was cut short). */
export function parseRunnerOutput(text: string): { preamble: string; steps: StepOutcome[] } {
  const steps: StepOutcome[] = [];
  let preamble = "";
  let cur: StepOutcome | undefined;
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (const line of lines) {
    if (line.startsWith(STEP_MARK)) {
      cur = { file: line.slice(STEP_MARK.length), exitCode: undefined, output: "" };
      steps.push(cur);
    } else if (line.startsWith(EXIT_MARK) && cur) {
      cur.exitCode = Number(line.slice(EXIT_MARK.length));
      cur = undefined;
    } else if (cur) cur.output += line + "\n";
    else if (line !== "") preamble += line + "\n";
  }
  return { preamble, steps };
}
