/**
 * Runs a cluster plan through Kernel.apply: per namespace one `ip -batch`, one `bridge -batch`,
 * one `tc -batch`, one `iptables-restore --noflush` (plan/ops.ts renders them); namespaces of one
 * phase in parallel. Host-side objects are removed
 * by name prefix and rule comment, so removal works without any record.
 */
import { inNetns, type Netns } from "../net/ip.js";
import { deleteArgv, hasComment, rulesWithComment, saveWords, showArgv } from "../net/iptables.js";
import { hostLinkPrefix, ruleComment } from "../core/names.js";
import type { DeviceUndo, KernelOp, LegacyDeviceUndo, P4EntryDeleteOp } from "../model/ops.js";
import type { Kernel } from "../model/kernel.js";
import { stepOps, type ClusterPlan, type NsOps } from "../plan/cluster.js";
import { parseIpLine, readArgv } from "../plan/ops.js";

async function applyOps(kernel: Kernel, o: NsOps): Promise<void> {
  try {
    await kernel.apply(o.ns, stepOps(o));
  } catch (e) {
    (e as Error).message = `in ${o.label}: ${(e as Error).message}`;
    throw e;
  }
}

export async function applyClusterPlan(plan: ClusterPlan, kernel: Kernel): Promise<void> {
  const phases = [...new Set(plan.steps.map((s) => s.phase))].sort((a, b) => a - b);
  for (const p of phases) {
    // wait for every namespace of the phase before reporting a failure, so that cleanup does
    // not race commands still running
    const results = await Promise.allSettled(plan.steps.filter((s) => s.phase === p).map((s) => applyOps(kernel, s)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }
}

/** Deletes P4 table entries in a device (through its switch's CLI: engine/p4.ts). */
export type P4Deleter = (device: string, ops: P4EntryDeleteOp[]) => Promise<void>;

/**
 * Replays recorded inverses in one device: P4 table entries first (while the switch's ports are
 * still there), ip operations in one forced batch, then rule deletions.
 */
async function undoInDevice(kernel: Kernel, ns: Netns, lab: string, u: DeviceUndo | LegacyDeviceUndo, p4?: P4Deleter): Promise<void> {
  if ("ip" in u) {
    // a state written before typed operations: its lines are already the inverses, read back as operations
    const ops = u.ip.flatMap((l): KernelOp[] => {
      const o = parseIpLine(l);
      return o ? [o] : [];
    });
    await kernel.apply(ns, ops, { force: true });
    if (u.rules) await removeRules(ns, lab, kernel);
    return;
  }
  const entries = u.undo.filter((o): o is P4EntryDeleteOp => o.op === "p4-entry-delete");
  if (entries.length && p4) await p4(u.device, entries);
  // ip operations in one forced batch (what is gone already is fine), then the rules by their words
  const ops = u.undo.filter((o): o is Exclude<typeof o, P4EntryDeleteOp> => o.op !== "p4-entry-delete");
  await kernel.apply(ns, [...ops.filter((o) => o.op !== "rule-delete"), ...ops.filter((o) => o.op === "rule-delete")], { force: true });
}

/** Runs recorded device inverses in the devices (those that are gone need nothing). */
export async function undoInDevices(
  lab: string,
  undo: readonly (DeviceUndo | LegacyDeviceUndo)[],
  pidOf: (device: string) => number | undefined,
  kernel: Kernel,
  p4?: P4Deleter,
): Promise<void> {
  await Promise.all(
    undo.map(async (u) => {
      const pid = pidOf(u.device);
      if (pid) await undoInDevice(kernel, { pid }, lab, u, p4);
    }),
  );
}

/**
 * Deletes rules carrying the lab's comment from a namespace's iptables (nat, mangle, filter), by
 * chain and position (net/iptables.ts says why not by the saved words). Each rule is checked at its
 * position just before it goes, since another lab may add or remove rules of the host meanwhile;
 * when one moved, the rules are read again.
 */
export async function removeRules(ns: Netns, lab: string, kernel: Pick<Kernel, "run">): Promise<number> {
  const comment = ruleComment(lab);
  let removed = 0;
  for (let round = 0; round < 5; round++) {
    const r = await kernel.run(inNetns(ns, ["iptables-save"]));
    if (r.exitCode !== 0) return removed;
    const rules = rulesWithComment(r.stdout, comment);
    if (!rules.length) return removed;
    for (const rule of rules) {
      const now = await kernel.run(inNetns(ns, ["iptables", ...showArgv(rule)]));
      if (now.exitCode !== 0 || !hasComment(saveWords(now.stdout.trim()), comment)) break; // moved: read again
      if ((await kernel.run(inNetns(ns, ["iptables", ...deleteArgv(rule)]))).exitCode === 0) removed++;
    }
  }
  return removed;
}

/**
 * Removes the lab's host-side links (by prefix, and those the state recorded, which an older
 * prefix may have named) and host iptables rules (by comment).
 */
export async function removeHostSide(lab: string, recorded: readonly string[], kernel: Pick<Kernel, "run" | "apply">): Promise<void> {
  const prefix = hostLinkPrefix(lab);
  const r = await kernel.run(readArgv({ read: "links" }));
  if (r.exitCode === 0 && r.stdout.trim()) {
    const names = (JSON.parse(r.stdout) as { ifname: string }[])
      .map((l) => l.ifname)
      .filter((n) => n.startsWith(`${prefix}-`) || recorded.includes(n));
    // one by one: a link another process removed meanwhile must not keep the others
    for (const n of names) await kernel.apply({ host: true }, [{ op: "link-delete", name: n }], { force: true });
  }
  await removeRules({ host: true }, lab, kernel);
}
