/**
 * The kernel as the engine sees it: network namespaces, `ip -batch` per namespace, and other
 * host programs by argv. net/kernel.ts is the real one; unit tests give an in-memory one.
 */
import type { Netns } from "./netns.js";
import type { KernelOp } from "./ops.js";

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

export interface Kernel {
  netnsExists(name: string): boolean;
  netnsAdd(name: string): Promise<void>;
  /** No error when it is gone. */
  netnsDelete(name: string): Promise<void>;
  /**
   * Applies typed operations in one namespace: rendered once (plan/ops.ts renderBatches), one
   * process per tool (`ip -batch`, `bridge -batch`, `tc -batch`), in the order first seen.
   * Throws with the failing line; with `force`, goes on past failing lines and returns the
   * tools' stderr (`Command failed -:N` names the failing line of the ip batch).
   */
  apply(ns: Netns, ops: readonly KernelOp[], opts?: { force?: boolean }): Promise<string>;
  /** Applies the lines in one process; throws with the failing line. */
  ipBatch(ns: Netns, lines: readonly string[]): Promise<void>;
  /** Applies the lines in one process, going on past failing ones (undo); the stderr text. */
  ipBatchForce(ns: Netns, lines: readonly string[]): Promise<string>;
  /** Runs argv (never a shell string); the result whatever the exit code. */
  run(argv: readonly string[], input?: string): Promise<CommandResult>;
}
