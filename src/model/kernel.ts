/**
 * The kernel as the engine sees it: network namespaces, typed operations applied in one, and
 * host programs by argv (reading: `ip -j ...`, iptables-save). net/kernel.ts is the real one; unit tests give an in-memory one.
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
   * Applies typed operations in one namespace: rendered once (plan/ops.ts renderInvocations), one
   * process per batched tool (`ip -batch`, `bridge -batch`, `tc -batch`, `nft -f`,
   * `iptables-restore`) and one per other operation (ethtool, sysctl, iptables -D, conntrack, ss).
   * Throws with the failing line; with `force` (teardown: objects already gone), goes on past
   * failing lines and returns the tools' stderr (`Command failed -:N` names the ip batch's line).
   */
  apply(ns: Netns, ops: readonly KernelOp[], opts?: { force?: boolean }): Promise<string>;
  /** Runs argv (never a shell string); the result whatever the exit code. */
  run(argv: readonly string[], input?: string): Promise<CommandResult>;
}
