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
import type { DeviceUndo, LegacyDeviceUndo, P4EntryAddOp, P4EntryDeleteOp } from "../model/ops.js";
import type { ClusterPlan } from "../plan/cluster.js";
import { p4AddLine, p4DeleteLine, p4FindLine, p4HandleIn, p4Inverse } from "../plan/ops.js";

const CLI = ["simple_switch_CLI", "--thrift-port", String(P4_THRIFT_PORT)];

function cli(runtime: Pick<Runtime, "exec">, id: string, lines: readonly string[]) {
  return runtime.exec(id, CLI, { input: lines.join("\n") + "\n" });
}

/**
 * Writes each switch's entries (switches in parallel); throws naming the switch and the CLI's answer.
 * First it asks the switch for each key: an entry that is there already is not kinda's (someone
 * wrote it by hand, or another tool), so its inverse is dropped from `undo` (the state's record,
 * saved with `save` before anything is written) and the write fails naming it. Without that, the
 * rollback of the failed write deleted, by key, the entry that was there before.
 */
export async function writeP4Entries(
  runtime: Runtime,
  plan: Pick<ClusterPlan, "p4Entries">,
  containerOf: (device: string) => string | undefined,
  undo: (DeviceUndo | LegacyDeviceUndo)[] = [],
  save: () => void = () => undefined,
): Promise<void> {
  const ids = new Map<string, string>();
  for (const { device } of plan.p4Entries) {
    const id = containerOf(device);
    if (!id) throw new KindaError(`P4 switch ${device} is not running; its pod entries cannot be written`);
    ids.set(device, id);
  }
  const there = new Map<string, string[]>();
  await Promise.all(
    plan.p4Entries.map(async ({ device, entries }) => {
      const found: string[] = [];
      for (const e of entries) if ((await handleOf(runtime, ids.get(device)!, p4Inverse(e))) !== undefined) found.push(e.key);
      if (found.length) there.set(device, found);
    }),
  );
  if (there.size) {
    for (const u of undo) {
      const keys = there.get(u.device);
      if (keys && "undo" in u) u.undo = u.undo.filter((o) => o.op !== "p4-entry-delete" || !keys.includes(o.key));
    }
    save();
    throw new KindaError(
      [...there]
        .map(([device, keys]) =>
          formatIssue({
            device,
            field: "lpm",
            message: `its table already has an entry for ${keys.join(", ")} (not written by kinda: left as it is); the cluster's pod CIDRs need those keys`,
          }),
        )
        .join("\n"),
      { hint: "delete those entries from the switch (simple_switch_CLI table_delete), or give the cluster other pod CIDRs" },
    );
  }
  await Promise.all(
    plan.p4Entries.map(async ({ device, entries }) => {
      const lines = entries.map(p4AddLine);
      const r = await cli(runtime, ids.get(device)!, lines);
      throwOnCliFailure(device, `writing ${entries.length} table entries for the pod CIDRs`, lines, r);
    }),
  );
}

/** The handle of the entry with this key, undefined when there is none (or the switch does not answer). */
async function handleOf(runtime: Pick<Runtime, "exec">, id: string, o: P4EntryDeleteOp): Promise<number | undefined> {
  const r = await cli(runtime, id, [p4FindLine(o)]).catch(() => undefined);
  return r?.exitCode === 0 ? p4HandleIn(r.output) : undefined;
}

/** Deletes entries by key: the switch tells each one's handle, then they go in one CLI run. */
export async function deleteP4Entries(runtime: Runtime, id: string, ops: readonly P4EntryDeleteOp[]): Promise<void> {
  const deletes: string[] = [];
  for (const o of ops) {
    const handle = await handleOf(runtime, id, o);
    if (handle !== undefined) deletes.push(p4DeleteLine(o, handle));
  }
  if (deletes.length) await cli(runtime, id, deletes).catch(() => undefined);
}

/**
 * Rewrites entries of one switch in the order given (a re-route's, plan/reroute.ts diffLpm):
 * each delete finds its entry's handle first (an entry already gone is skipped), then all the
 * lines go in one CLI run. Throws naming the switch and the CLI's answer, unless `force` (undo).
 */
export async function applyP4Ops(
  runtime: Pick<Runtime, "exec">,
  id: string,
  device: string,
  ops: readonly (P4EntryAddOp | P4EntryDeleteOp)[],
  opts: { force?: boolean } = {},
): Promise<void> {
  const lines: string[] = [];
  for (const o of ops) {
    if (o.op === "p4-entry-add") lines.push(p4AddLine(o));
    else {
      const handle = await handleOf(runtime, id, o);
      if (handle !== undefined) lines.push(p4DeleteLine(o, handle));
    }
  }
  if (!lines.length) return;
  const r = await cli(runtime, id, lines).catch((e: unknown) => {
    if (opts.force) return undefined;
    throw e;
  });
  if (!r || opts.force) return;
  throwOnCliFailure(device, `re-route: rewriting ${ops.length} table entries`, lines, r);
}

/** The switch CLI's answer to `lines` read for a failure; one found is thrown at the device's `lpm`, with the failing line. */
function throwOnCliFailure(device: string, what: string, lines: readonly string[], r: { output: string; exitCode: number }): void {
  const f = cliFailure(r.output, lines.length, r.exitCode);
  if (!f) return;
  const which = f.index === undefined ? "" : ` at ${JSON.stringify(lines[f.index])}`;
  throw new KindaError(
    formatIssue({
      device,
      field: "lpm",
      message: `${what} failed${which} (exit ${r.exitCode}): ${CLI.join(" ")}\n  ${f.answer.split("\n").join("\n  ")}`,
    }),
  );
}
