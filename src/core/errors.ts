/** Errors that kinda raises on purpose: each says what failed, with what input, and what to do. */

/** Where a problem is: a file position, or a device and one of its fields. */
export interface Place {
  file?: string;
  line?: number;
  column?: number;
  device?: string;
  field?: string;
}

export interface Issue extends Place {
  message: string;
}

export function formatPlace(p: Place): string {
  const parts: string[] = [];
  if (p.file !== undefined) {
    let s = p.file;
    if (p.line !== undefined) s += `:${p.line}`;
    if (p.line !== undefined && p.column !== undefined) s += `:${p.column}`;
    parts.push(s);
  }
  if (p.device !== undefined) parts.push(`device ${p.device}${p.field !== undefined ? ` [${p.field}]` : ""}`);
  else if (p.field !== undefined) parts.push(`[${p.field}]`);
  return parts.join(": ");
}

export function formatIssue(i: Issue): string {
  const where = formatPlace(i);
  return where ? `${where}: ${i.message}` : i.message;
}

/** Base class: an error kinda anticipated, with a message fit for a user. */
export class KindaError extends Error {
  override name = "KindaError";
  /** Suggested next step for the user, printed after the message. */
  readonly hint: string | undefined;
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options?.hint;
  }
}

/** A topology (lab.conf, YAML, API) that cannot be deployed; lists every problem found at once. */
export class TopologyError extends KindaError {
  override name = "TopologyError";
  readonly issues: readonly Issue[];
  constructor(issues: readonly Issue[], options?: { hint?: string }) {
    const lines = issues.map((i) => `  - ${formatIssue(i)}`);
    super(`the topology is not valid (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n${lines.join("\n")}`, options);
    this.issues = issues;
  }
}

/** Something needed before deploying is missing (an image, the Docker engine, a tool). */
export class PreflightError extends TopologyError {
  override name = "PreflightError";
}

/** A deploy or build was aborted (Ctrl+C): what it created is being removed. */
export class InterruptedError extends KindaError {
  override name = "InterruptedError";
  constructor() {
    super("interrupted: removing what was created");
  }
}

/** A child process (ip, nsenter, ...) failed. */
export class CommandError extends KindaError {
  override name = "CommandError";
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(argv: readonly string[], exitCode: number | null, stderr: string, input?: string) {
    const shown = argv.join(" ");
    let msg = `command failed (exit ${exitCode ?? "signal"}): ${shown}\n${stderr.trim()}`;
    const m = /Command failed -:(\d+)/.exec(stderr);
    if (m && input !== undefined) {
      const line = input.split("\n")[Number(m[1]) - 1];
      if (line !== undefined) msg += `\n  failing batch line ${m[1]}: ${line}`;
    }
    super(msg);
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}
