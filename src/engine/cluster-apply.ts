/**
 * Runs a cluster plan: per namespace one `ip -batch`, one `bridge -batch`, one `tc -batch`, one
 * `iptables-restore --noflush`; namespaces of one phase in parallel. Host-side objects are removed
 * by name prefix and rule comment, so removal works without any record.
 */
import { runChecked, run } from "../net/exec.js";
import { inNetns, ipBatch, type Netns } from "../net/ip.js";
import { hostKernel } from "../net/kernel.js";
import { deleteArgv, hasComment, rulesWithComment, saveWords, showArgv } from "../net/iptables.js";
import { hostLinkPrefix, ruleComment } from "../core/names.js";
import type { DeviceUndo, LegacyDeviceUndo, P4EntryDeleteOp } from "../model/ops.js";
import type { Kernel } from "../model/kernel.js";
import { killTcpArgv, renderStep, type ClusterPlan, type NsOps } from "../plan/cluster.js";
import { renderIp, ruleArgs } from "../plan/ops.js";

async function batch(ns: Netns, tool: "bridge" | "tc", lines: readonly string[]): Promise<void> {
  if (!lines.length) return;
  await runChecked(inNetns(ns, [tool, "-batch", "-"]), lines.join("\n") + "\n");
}

async function applyOps(o: NsOps): Promise<void> {
  const r = renderStep(o);
  try {
    await ipBatch(o.ns, r.ip);
    await batch(o.ns, "bridge", r.bridge);
    await batch(o.ns, "tc", r.tc);
    for (const args of r.ethtool) await runChecked(inNetns(o.ns, ["ethtool", ...args]));
    for (const args of r.sysctl) await runChecked(inNetns(o.ns, ["sysctl", ...args]));
    if (r.iptablesRestore) await runChecked(inNetns(o.ns, ["iptables-restore", "--noflush", "--wait"]), r.iptablesRestore);
    // a flush that fails would leave connections NATed the old way: an error, not a shrug
    if (o.flushConntrack) await runChecked(inNetns(o.ns, ["conntrack", "-F"]));
    // best effort, like the flush: a kernel without SOCK_DESTROY leaves the connections as they are
    if (o.killTcp.length) await run(inNetns(o.ns, killTcpArgv(o.killTcp)));
  } catch (e) {
    (e as Error).message = `in ${o.label}: ${(e as Error).message}`;
    throw e;
  }
}

export async function applyClusterPlan(plan: ClusterPlan): Promise<void> {
  const phases = [...new Set(plan.steps.map((s) => s.phase))].sort((a, b) => a - b);
  for (const p of phases) {
    // wait for every namespace of the phase before reporting a failure, so that cleanup does
    // not race commands still running
    const results = await Promise.allSettled(plan.steps.filter((s) => s.phase === p).map(applyOps));
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
    // a state written before typed operations: its lines are already the inverses
    await kernel.ipBatchForce(ns, u.ip);
    if (u.rules) await removeRules(ns, lab, kernel);
    return;
  }
  const entries = u.undo.filter((o): o is P4EntryDeleteOp => o.op === "p4-entry-delete");
  if (entries.length && p4) await p4(u.device, entries);
  await kernel.ipBatchForce(
    ns,
    u.undo.flatMap((o) => (o.op === "rule-delete" || o.op === "p4-entry-delete" ? [] : [renderIp(o)])),
  );
  for (const o of u.undo) {
    // best effort: a rule someone removed already is not an error
    if (o.op === "rule-delete") await kernel.run(inNetns(ns, ["iptables", "--wait", "-t", o.rule.table, ...ruleArgs(o.rule, "-D")]));
  }
}

/** Runs recorded device inverses in the devices (those that are gone need nothing). */
export async function undoInDevices(
  lab: string,
  undo: readonly (DeviceUndo | LegacyDeviceUndo)[],
  pidOf: (device: string) => number | undefined,
  kernel: Kernel = hostKernel,
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
export async function removeRules(ns: Netns, lab: string, kernel: Pick<Kernel, "run"> = hostKernel): Promise<number> {
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
export async function removeHostSide(
  lab: string,
  recorded: readonly string[] = [],
  kernel: Pick<Kernel, "run"> = hostKernel,
): Promise<void> {
  const prefix = hostLinkPrefix(lab);
  const r = await kernel.run(["ip", "-j", "link", "show"]);
  if (r.exitCode === 0 && r.stdout.trim()) {
    const names = (JSON.parse(r.stdout) as { ifname: string }[])
      .map((l) => l.ifname)
      .filter((n) => n.startsWith(`${prefix}-`) || recorded.includes(n));
    for (const n of names) await kernel.run(["ip", "link", "delete", n]);
  }
  await removeRules({ host: true }, lab, kernel);
}
