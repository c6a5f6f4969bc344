/**
 * P4 switches' table entries that a cluster adds (pod CIDRs, encapsulation "none"): written and
 * deleted through the switch's own CLI in its container (simple_switch_CLI, an argv, the commands
 * on its standard input; nothing is built into a shell string). Adding fails loudly; deleting is
 * best effort, like the other inverses (an entry already gone, or a switch that stopped, is fine).
 */
import { KindaError, formatIssue } from "../core/errors.js";
import { P4_THRIFT_PORT } from "../core/defaults.js";
import { cliFailure } from "../core/p4cli.js";
import type { Runtime } from "../model/container.js";
import type { P4EntryDeleteOp } from "../model/ops.js";
import type { ClusterPlan } from "../plan/cluster.js";
import { p4AddLine, p4DeleteLine, p4FindLine, p4HandleIn } from "../plan/ops.js";

const CLI = ["simple_switch_CLI", "--thrift-port", String(P4_THRIFT_PORT)];

function cli(runtime: Runtime, id: string, lines: readonly string[]) {
  return runtime.exec(id, CLI, { input: lines.join("\n") + "\n" });
}

/** Writes each switch's entries (switches in parallel); throws naming the switch and the CLI's answer. */
export async function writeP4Entries(
  runtime: Runtime,
  plan: Pick<ClusterPlan, "p4Entries">,
  containerOf: (device: string) => string | undefined,
): Promise<void> {
  await Promise.all(
    plan.p4Entries.map(async ({ device, entries }) => {
      const id = containerOf(device);
      if (!id) throw new KindaError(`P4 switch ${device} is not running; its pod entries cannot be written`);
      const lines = entries.map(p4AddLine);
      const r = await cli(runtime, id, lines);
      const f = cliFailure(r.output, lines.length, r.exitCode);
      if (f) {
        const which = f.index === undefined ? "" : ` at ${JSON.stringify(lines[f.index])}`;
        throw new KindaError(
          formatIssue({
            device,
            field: "lpm",
            message: `writing ${entries.length} table entries for the pod CIDRs failed${which} (exit ${r.exitCode}): ${CLI.join(" ")}\n  ${f.answer.split("\n").join("\n  ")}`,
          }),
        );
      }
    }),
  );
}

/** Deletes entries by key: the switch tells each one's handle, then they go in one CLI run. */
export async function deleteP4Entries(runtime: Runtime, id: string, ops: readonly P4EntryDeleteOp[]): Promise<void> {
  const deletes: string[] = [];
  for (const o of ops) {
    const r = await cli(runtime, id, [p4FindLine(o)]).catch(() => undefined);
    const handle = r?.exitCode === 0 ? p4HandleIn(r.output) : undefined;
    if (handle !== undefined) deletes.push(p4DeleteLine(o, handle));
  }
  if (deletes.length) await cli(runtime, id, deletes).catch(() => undefined);
}
