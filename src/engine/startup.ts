/**
 * Runs a device's start-up: the runner copies its folder and runs each step in order. Output goes
 * to the device's log as it arrives, with bounded memory and a bounded log; the whole start-up is
 * stopped (the runner and what it started killed) after its timeout, or at once on abort.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { Writable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { KindaError } from "../core/errors.js";
import type { DevicePlan } from "../plan/lab.js";
import type { ExecResult, Runtime } from "../model/container.js";
import type { StartupResult } from "../state/store.js";
import { KATHARA_RUNNER, RUNNER, RunnerOutputReader } from "./stage.js";

/** Default seconds a device's start-up may run (KINDA_STARTUP_TIMEOUT, default 300). */
export function startupTimeoutMs(env: string | undefined = process.env["KINDA_STARTUP_TIMEOUT"]): number {
  const s = env === undefined || env.trim() === "" ? 300 : Number(env);
  if (!Number.isFinite(s) || s <= 0) throw new KindaError(`KINDA_STARTUP_TIMEOUT=${env} is not a positive number of seconds`);
  return s * 1000;
}

/** Bytes of start-up output kept in a device's log; the rest is counted and dropped. */
export const LOG_MAX_BYTES = 16 * 1024 * 1024;
const SHELL_MISSING = /no such file or directory|executable file not found/i;
const COPY_FAILED = "kinda: copying the device folder failed";

interface Run {
  r: ExecResult;
  reader: RunnerOutputReader;
  /** The first bytes of output (to tell "no such shell" apart). */
  head: string;
  copyFailed: boolean;
}

/** The device log: a header per step, its output, capped at LOG_MAX_BYTES. */
class DeviceLog {
  private readonly fd: number;
  private written = 0;
  dropped = 0;
  private header: string | undefined = "";
  constructor(
    path: string,
    private readonly labelOf: (file: string) => string,
  ) {
    this.fd = openSync(path, "w", 0o600);
  }
  write(text: string, step: string | undefined): void {
    if (step !== this.header && step !== undefined) {
      this.header = step;
      this.raw(`=== ${this.labelOf(step)}\n`);
    }
    this.raw(text);
  }
  raw(text: string): void {
    const b = Buffer.from(text);
    if (this.written + b.length > LOG_MAX_BYTES) {
      this.dropped += b.length;
      return;
    }
    writeSync(this.fd, b);
    this.written += b.length;
  }
  close(summary: string): void {
    if (this.dropped)
      writeSync(this.fd, `\n=== kinda: ${this.dropped} more bytes of output were dropped (the log keeps ${LOG_MAX_BYTES})\n`);
    writeSync(this.fd, summary);
    closeSync(this.fd);
  }
}

async function runOnce(runtime: Runtime, id: string, dev: DevicePlan, shell: string, log: DeviceLog, opts: StartupOptions): Promise<Run> {
  let head = "";
  let copyFailed = false;
  const reader = new RunnerOutputReader((text, step) => {
    if (step === undefined && text.includes(COPY_FAILED)) copyFailed = true;
    log.write(text, step);
  });
  const decoder = new StringDecoder("utf8");
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = decoder.write(chunk);
      if (head.length < 4096) head += text.slice(0, 4096 - head.length);
      reader.push(text);
      cb();
    },
  });
  // a Kathara lab's device: Kathara's start-up wrapper, told the device's name
  const argv = dev.kathara
    ? [shell, "-c", KATHARA_RUNNER, "kinda-startup", shell, dev.name]
    : [shell, "-c", RUNNER, "kinda-startup", shell];
  const r = await runtime.exec(id, argv, {
    stdout: sink,
    stderr: sink,
    timeoutMs: dev.startupTimeoutMs ?? opts.defaultTimeoutMs,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  reader.push(decoder.end());
  reader.end();
  return { r, reader, head, copyFailed };
}

export interface StartupOptions {
  logPath: string;
  defaultTimeoutMs: number;
  signal?: AbortSignal;
  /** A first step kinda ran from the host (the device's netConfig): logged and counted first. */
  before?: HostStep;
}

/** A start-up step kinda ran itself, outside the device's runner. */
export interface HostStep {
  label: string;
  exitCode: number;
  output: string;
}

/** The log and result of a device whose whole start-up was a host step (no runner). */
export function hostStepResult(step: HostStep, logPath: string): StartupResult {
  const log = new DeviceLog(logPath, (f) => f);
  log.write(step.output, step.label);
  log.close(`=== kinda: summary\n${step.label}: exit ${step.exitCode}\n`);
  return step.exitCode === 0
    ? { status: "ok", log: logPath }
    : { status: "failed", failedStep: step.label, exitCode: step.exitCode, log: logPath };
}

/** Runs the start-up runner once (with /bin/sh when the image lacks the device's shell). */
export async function runStartupSteps(runtime: Runtime, id: string, dev: DevicePlan, opts: StartupOptions): Promise<StartupResult> {
  const byFile = new Map(dev.startup.map((s) => [s.file, s.label]));
  const labelOf = (file: string) => byFile.get(file) ?? file;
  const { before } = opts;
  const newLog = () => {
    const l = new DeviceLog(opts.logPath, labelOf);
    if (before) l.write(before.output, before.label);
    return l;
  };
  let log = newLog();
  let run = await runOnce(runtime, id, dev, dev.shell, log, opts);
  const { exitCode } = run.r;
  if ((exitCode === 126 || exitCode === 127) && dev.shell !== "/bin/sh" && SHELL_MISSING.test(run.head) && run.head.includes(dev.shell)) {
    log.close("");
    log = newLog();
    run = await runOnce(runtime, id, dev, "/bin/sh", log, opts);
  }
  const ran = outcome(run, dev, labelOf, opts);
  // the host step ran first: its failure is the first one
  const result: Omit<StartupResult, "log"> =
    before && before.exitCode !== 0 ? { status: "failed", failedStep: before.label, exitCode: before.exitCode } : ran;
  const lines = [
    ...(before ? [`${before.label}: exit ${before.exitCode}`] : []),
    ...run.reader.steps.map((s) => `${labelOf(s.file)}: ${s.exitCode === undefined ? "stopped" : `exit ${s.exitCode}`}`),
  ];
  if (ran.timedOut) lines.push(`stopped after ${ran.timedOut} s (the device's start-up timeout)`);
  log.close(`=== kinda: summary\n${lines.map((l) => `${l}\n`).join("")}`);
  return { ...result, log: opts.logPath };
}

function outcome(run: Run, dev: DevicePlan, labelOf: (f: string) => string, opts: StartupOptions): StartupResult {
  const { r, reader } = run;
  const cut = reader.steps.find((s) => s.exitCode === undefined);
  if (r.stopped === "timeout") {
    const seconds = (dev.startupTimeoutMs ?? opts.defaultTimeoutMs) / 1000;
    return { status: "failed", failedStep: cut ? labelOf(cut.file) : "start-up", timedOut: seconds };
  }
  if (r.stopped === "aborted") return { status: "failed", failedStep: cut ? labelOf(cut.file) : "start-up" };
  const bad = reader.steps.find((s) => s.exitCode !== 0);
  if (bad) return { status: "failed", failedStep: labelOf(bad.file), exitCode: bad.exitCode ?? -1 };
  if (r.exitCode !== 0) return { status: "failed", failedStep: "runner", exitCode: r.exitCode };
  if (run.copyFailed) return { status: "failed", failedStep: "copying the device folder", exitCode: 1 };
  return { status: "ok" };
}
