/** Child processes with argv arrays (never a shell string), stdin text, and errors that show both. */
import { spawn } from "node:child_process";
import { CommandError } from "../core/errors.js";

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

export function run(argv: readonly string[], input?: string): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error("run: empty argv");
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") reject(new CommandError(argv, null, `${cmd}: not found on PATH`));
      else reject(e);
    });
    child.on("close", (code) => resolvePromise({ stdout, stderr, exitCode: code }));
    child.stdin.on("error", () => undefined);
    child.stdin.end(input ?? "");
  });
}

/** Runs argv and throws CommandError (with stderr and the failing batch line) unless it exits 0. */
export async function runChecked(argv: readonly string[], input?: string): Promise<string> {
  const r = await run(argv, input);
  if (r.exitCode !== 0) throw new CommandError(argv, r.exitCode, r.stderr || r.stdout, input);
  return r.stdout;
}
