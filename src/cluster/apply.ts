/**
 * Runs a cluster plan: per namespace one `ip -batch`, one `bridge -batch`, one `tc -batch`, one
 * `iptables-restore --noflush`; namespaces of one phase in parallel. Host-side objects are removed
 * by name prefix and rule comment, so removal works without any record.
 */
import { runChecked, run } from "../net/exec.js";
import { inNetns, ipBatch, type Netns } from "../net/ip.js";
import { hostLinkPrefix, ruleComment, type ClusterPlan, type IptablesRules, type NsOps } from "./plan.js";

async function batch(ns: Netns, tool: "bridge" | "tc", lines: readonly string[]): Promise<void> {
  if (!lines.length) return;
  await runChecked(inNetns(ns, [tool, "-batch", "-"]), lines.join("\n") + "\n");
}

export function iptablesRestoreInput(rules: IptablesRules): string {
  let text = "";
  for (const table of ["nat", "mangle", "filter"] as const) {
    if (!rules[table].length) continue;
    text += `*${table}\n${rules[table].join("\n")}\nCOMMIT\n`;
  }
  return text;
}

async function applyOps(o: NsOps): Promise<void> {
  try {
    await ipBatch(o.ns, o.ip);
    await batch(o.ns, "bridge", o.bridge);
    await batch(o.ns, "tc", o.tc);
    for (const args of o.ethtool) await runChecked(inNetns(o.ns, ["ethtool", ...args]));
    const rules = iptablesRestoreInput(o.iptables);
    if (rules) await runChecked(inNetns(o.ns, ["iptables-restore", "--noflush", "--wait"]), rules);
    if (o.flushConntrack) await run(inNetns(o.ns, ["conntrack", "-F"]));
  } catch (e) {
    (e as Error).message = `in ${o.label}: ${(e as Error).message}`;
    throw e;
  }
}

export async function applyClusterPlan(plan: ClusterPlan): Promise<void> {
  const phases = [...new Set(plan.steps.map((s) => s.phase))].sort((a, b) => a - b);
  for (const p of phases) await Promise.all(plan.steps.filter((s) => s.phase === p).map(applyOps));
}

/** Deletes rules carrying the lab's comment from a namespace's iptables (nat, mangle, filter). */
export async function removeRules(ns: Netns, lab: string): Promise<number> {
  const r = await run(inNetns(ns, ["iptables-save"]));
  if (r.exitCode !== 0) return 0;
  const comment = ruleComment(lab);
  let table = "";
  let removed = 0;
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    if (!line.startsWith("-A ")) continue;
    // iptables-save quotes comments; kinda's own have no spaces, so words split cleanly
    const args = line.split(" ").map((w) => w.replace(/^"(.*)"$/, "$1"));
    if (!args.includes(comment)) continue;
    args[0] = "-D";
    const res = await run(inNetns(ns, ["iptables", "--wait", "-t", table, ...args]));
    if (res.exitCode === 0) removed++;
  }
  return removed;
}

/** Removes the lab's host-side links (by prefix) and host iptables rules (by comment). */
export async function removeHostSide(lab: string): Promise<void> {
  const prefix = hostLinkPrefix(lab);
  const r = await run(["ip", "-j", "link", "show"]);
  if (r.exitCode === 0 && r.stdout.trim()) {
    const names = (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n.startsWith(`${prefix}-`));
    for (const n of names) await run(["ip", "link", "delete", n]);
  }
  await removeRules({ host: true }, lab);
}
