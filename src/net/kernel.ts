/** The host's kernel behind the engine's Kernel interface (model/kernel.ts). */
import type { Kernel } from "../model/kernel.js";
import type { KernelOp } from "../model/ops.js";
import type { Netns } from "../model/netns.js";
import { renderBatches } from "../plan/ops.js";
import { run, runChecked } from "./exec.js";
import { inNetns, ipBatch, ipBatchForce, netnsAdd, netnsDelete, netnsExists } from "./ip.js";

/** Typed operations in one namespace: one process per tool, rendered by plan/ops.ts only. */
async function apply(ns: Netns, ops: readonly KernelOp[], opts: { force?: boolean } = {}): Promise<string> {
  let stderr = "";
  for (const b of renderBatches(ops)) {
    if (b.tool === "ip") {
      if (opts.force) stderr += await ipBatchForce(ns, b.lines);
      else await ipBatch(ns, b.lines);
      continue;
    }
    const argv = inNetns(ns, b.tool === "nft" ? ["nft", "-f", "-"] : [b.tool, ...(opts.force ? ["-force"] : []), "-batch", "-"]);
    const input = b.lines.join("\n") + "\n";
    if (opts.force) stderr += (await run(argv, input)).stderr;
    else await runChecked(argv, input);
  }
  return stderr;
}

export const hostKernel: Kernel = { netnsExists, netnsAdd, netnsDelete, apply, ipBatch, ipBatchForce, run };
