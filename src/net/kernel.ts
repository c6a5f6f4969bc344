/** The host's kernel behind the engine's Kernel interface (model/kernel.ts). */
import type { Kernel } from "../model/kernel.js";
import type { KernelOp } from "../model/ops.js";
import type { Netns } from "../model/netns.js";
import { inNamedNetns, renderInvocations } from "../plan/ops.js";
import { run, runChecked } from "./exec.js";
import { inNetns, netnsAdd, netnsDelete, netnsExists } from "./ip.js";

/** argv in the namespace; ip in a named one by `ip -n` (no `ip netns exec` process in between). */
function argvIn(ns: Netns, argv: string[]): string[] {
  return "name" in ns ? inNamedNetns(ns.name, argv) : inNetns(ns, argv);
}

/**
 * Typed operations in one namespace, rendered by plan/ops.ts only: one process per batched tool,
 * one per other operation, in order. Without force the first failure throws (CommandError shows
 * the failing batch line); with force every process runs and their stderr is returned.
 */
async function apply(ns: Netns, ops: readonly KernelOp[], opts: { force?: boolean } = {}): Promise<string> {
  let stderr = "";
  for (const inv of renderInvocations(ops, opts)) {
    const argv = argvIn(ns, inv.argv);
    if (opts.force || inv.bestEffort) stderr += (await run(argv, inv.input)).stderr;
    else await runChecked(argv, inv.input);
  }
  return stderr;
}

export const hostKernel: Kernel = { netnsExists, netnsAdd, netnsDelete, apply, run };
