/**
 * Runs a cluster plan: per namespace one `ip -batch`, one `bridge -batch`, one `tc -batch`, one
 * `iptables-restore --noflush`; namespaces of one phase in parallel. Host-side objects are removed
 * by name prefix and rule comment, so removal works without any record.
 */
import { runChecked, run } from "../net/exec.js";
import { inNetns, ipBatch, ipBatchForce, type Netns } from "../net/ip.js";
import { hostLinkPrefix, killTcpArgv, ruleComment, type ClusterPlan, type IptablesRules, type NsOps } from "../plan/cluster.js";

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

/** What a cluster plan leaves inside a device that outlives the cluster (the lab stays up). */
export interface DeviceUndo {
  device: string;
  /** ip batch lines that remove it (bridges made in the device, pod routes). */
  ip: string[];
  /** The device holds iptables rules of the lab (NAT of a gateway). */
  rules: boolean;
}

/**
 * Derived from the plan: what a cluster plan leaves inside devices when the nodes go, and how to
 * undo it: a bridge made in a device (a bridge it already had stays), addresses put on an
 * interface the device already had, a route via an address of the device's own segments, NAT
 * rules, and a gateway's default route (its own is put back). Also the device ends of the nodes'
 * veths: they would go with the nodes' namespaces, but the kernel removes those asynchronously
 * (here 108 s after `kind delete cluster`), and a lab that stays up should be as it was at once.
 */
export function deviceUndo(plan: ClusterPlan, devices: readonly { name: string; pid: number; defaultRoute?: string }[]): DeviceUndo[] {
  const out = new Map<string, DeviceUndo>();
  const undoOf = (device: string) => {
    const u = out.get(device) ?? { device, ip: [], rules: false };
    out.set(device, u);
    return u;
  };
  const devOf = (pid: number | undefined) => devices.find((d) => d.pid === pid);
  /** Interfaces the plan creates in each device: removing them removes their addresses and routes. */
  const made = new Map<string, Set<string>>();
  const mark = (device: string, ifname: string) => made.set(device, (made.get(device) ?? new Set()).add(ifname));
  const nodeVeths: { device: string; ifname: string }[] = [];
  for (const o of plan.steps) {
    const self = "pid" in o.ns ? devOf(o.ns.pid) : undefined;
    for (const l of o.ip) {
      // `link add IF ... type veth peer name DEVIF ... netns DEVPID`, from a node, the load balancer or the host
      const m = / type veth peer name (\S+) .*netns (\d+)$/.exec(l);
      const dev = m && devOf(Number(m[2]));
      if (dev) {
        mark(dev.name, m[1]!);
        if ("pid" in o.ns && !self) nodeVeths.push({ device: dev.name, ifname: m[1]! });
      }
      const br = self && /^link add (\S+) type bridge$/.exec(l);
      if (br) mark(self.name, br[1]!);
    }
  }
  for (const o of plan.steps) {
    const dev = "pid" in o.ns ? devOf(o.ns.pid) : undefined;
    if (!dev) continue;
    const u = undoOf(dev.name);
    for (const l of o.ip) {
      const br = /^link add (\S+) type bridge$/.exec(l);
      if (br) u.ip.push(`link delete ${br[1]}`);
      const addr = /^addr add (\S+) dev (\S+)$/.exec(l);
      if (addr && !made.get(dev.name)?.has(addr[2]!)) u.ip.push(`addr del ${addr[1]} dev ${addr[2]}`);
      const rt = /^route replace (\S+) via (\S+)$/.exec(l);
      if (rt) u.ip.push(`route del ${rt[1]} via ${rt[2]}`);
      // the uplink's default route goes with the uplink; the device's own comes back
      if (/^route replace default via \S+ dev \S+$/.test(l) && dev.defaultRoute) u.ip.push(`route replace ${dev.defaultRoute}`);
    }
    if (iptablesRestoreInput(o.iptables)) u.rules = true;
  }
  for (const v of nodeVeths) undoOf(v.device).ip.push(`link delete ${v.ifname}`);
  return [...out.values()].filter((u) => u.ip.length || u.rules);
}

/** Runs deviceUndo entries in the devices (those that are gone need nothing). */
export async function undoInDevices(
  lab: string,
  undo: readonly DeviceUndo[],
  pidOf: (device: string) => number | undefined,
): Promise<void> {
  await Promise.all(
    undo.map(async (u) => {
      const pid = pidOf(u.device);
      if (!pid) return;
      await ipBatchForce({ pid }, u.ip);
      if (u.rules) await removeRules({ pid }, lab);
    }),
  );
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

/**
 * Removes the lab's host-side links (by prefix, and those the state recorded, which an older
 * prefix may have named) and host iptables rules (by comment).
 */
export async function removeHostSide(lab: string, recorded: readonly string[] = []): Promise<void> {
  const prefix = hostLinkPrefix(lab);
  const r = await run(["ip", "-j", "link", "show"]);
  if (r.exitCode === 0 && r.stdout.trim()) {
    const names = (JSON.parse(r.stdout) as { ifname: string }[])
      .map((l) => l.ifname)
      .filter((n) => n.startsWith(`${prefix}-`) || recorded.includes(n));
    for (const n of names) await run(["ip", "link", "delete", n]);
  }
  await removeRules({ host: true }, lab);
}
