/**
 * Plans how Kubernetes nodes join the emulated network. Pure: from the requested links and the
 * facts discovered at run time (node PIDs, provider addresses, pod CIDRs, device interfaces) it
 * computes, per network namespace, typed kernel operations (model/ops.ts) that `applyClusterPlan`
 * renders and runs, and the inverses of what it leaves in devices. Validation happens here, all
 * at once, before anything. The parts: cluster/validate.ts, links.ts, overlay.ts, host.ts.
 */
import { TopologyError } from "../core/errors.js";
import type { ClusterOptions } from "../model/cluster.js";
import { PlanContext, type ClusterPlan, type ClusterPlanInput, type NsOps } from "./cluster/context.js";
import { planHostSide, planP4PodEntries, planPodRoutes } from "./cluster/host.js";
import { planLinks } from "./cluster/links.js";
import { planOverlay } from "./cluster/overlay.js";
import { indexIssues } from "./cluster/indexes.js";
import { validateLinks } from "./cluster/validate.js";
import type { KernelOp } from "../model/ops.js";
import {
  ethtoolArgs,
  killTcpArgs,
  p4AddLine,
  sysctlArgs,
  iptablesRestoreInput,
  renderFdb,
  renderIp,
  renderTbf,
  renderUndo,
  ruleArgs,
  TABLES,
} from "./ops.js";

export * from "./cluster/context.js";
export { validateLinks, type ValidateLinksInput } from "./cluster/validate.js";
export { uplinkCidr } from "./cluster/host.js";
export { emulatedIdentity, handOverLoadBalancer, subtractPlan } from "./cluster/identity.js";
export { tbf } from "./cluster/links.js";
export { freeIndex, recordedIndexes, withAddedNode, withoutNode } from "./cluster/indexes.js";
export { greIf, hostLinkPrefix, ruleComment, vxlanMac } from "../core/names.js";

/** All problems of the input at once: the links' and options', and nodes without a link. */
function planIssues(input: ClusterPlanInput): void {
  const { links, nodes, devices } = input;
  const providerCidr = nodes[0]?.providerCidr;
  const issues = validateLinks({
    ...input,
    nodeNames: nodes.map((n) => n.name),
    loadBalancer: input.loadBalancer !== undefined,
    deviceNames: devices.map((d) => d.name),
    ...(input.domains ? { domainNames: input.domains.map((d) => d.name) } : {}),
    ...(providerCidr ? { providerCidr } : {}),
    podCidrs: nodes.flatMap((n) => n.podCidrs),
  });
  if (input.nodeIndex) issues.push(...indexIssues(Object.fromEntries(nodes.map((n, i) => [n.name, input.nodeIndex![n.name] ?? i]))));
  for (const n of nodes.filter((n) => !links.some((l) => l.node === n.name)))
    issues.push({ field: `node ${n.name}`, message: "is not linked to any device; its traffic could not cross the network" });
  if (issues.length) throw new TopologyError(issues);
}

/**
 * The options for a plan of some of the cluster's nodes (the first wave, or the cluster before
 * a node is added): the pod routes of the nodes planned, not of those still to come.
 */
export function optionsForNodes(o: ClusterOptions, names: readonly string[]): ClusterOptions {
  return {
    ...o,
    ...(o.podRoutes ? { podRoutes: o.podRoutes.filter((r) => names.includes(r.node)) } : {}),
    ...(o.p4PodRoutes ? { p4PodRoutes: o.p4PodRoutes.filter((r) => names.includes(r.node)) } : {}),
  };
}

export function planCluster(input: ClusterPlanInput): ClusterPlan {
  planIssues(input);
  const ctx = new PlanContext(input);
  const links = planLinks(ctx);
  const overlay = planOverlay(ctx);
  const podRoutes = planPodRoutes(ctx);
  const p4Entries = planP4PodEntries(ctx);
  const host = planHostSide(ctx);
  const steps = [
    host.host,
    ...links.nodeOps.values(),
    links.labOps,
    ...links.devOps.values(),
    ...overlay.values(),
    ...podRoutes,
    ...host.devices,
  ].filter(nonEmpty);
  const size = steps.reduce((acc, o) => acc + opCount(o), 0);
  const encapsulation = input.options.encapsulation ?? "vxlan";
  return {
    lab: input.lab,
    encapsulation,
    steps,
    hostLinks: host.hostLinks,
    deviceUndo: ctx.undo.list(input.devices),
    linkIfs: ctx.linkIfs,
    size,
    nics: ctx.nics,
    p4Entries,
  };
}

/** `ss` destroying TCP sockets connected to any of these addresses (both ends send a reset). */
export function killTcpArgv(remotes: readonly string[]): string[] {
  return ["ss", ...killTcpArgs(remotes)];
}

/**
 * One namespace's operations as Kernel.apply takes them, in the order they run: the ip batch,
 * forwarding entries, qdiscs, offloads, sysctls, the rules (one iptables-restore), the conntrack
 * flush (after the rules, so that no connection is tracked the old way again), the socket kill.
 */
export function stepOps(o: NsOps): KernelOp[] {
  return [
    ...o.ip,
    ...o.bridge,
    ...o.tc,
    ...o.ethtool,
    ...o.sysctl,
    ...o.iptables.map((rule): KernelOp => ({ op: "rule-append", rule })),
    ...(o.flushConntrack ? [{ op: "conntrack-flush" } satisfies KernelOp] : []),
    ...(o.killTcp.length ? [{ op: "tcp-kill", remotes: [...o.killTcp] } satisfies KernelOp] : []),
  ];
}

/** Commands planned in one namespace. */
function opCount(o: NsOps): number {
  return o.ip.length + o.bridge.length + o.tc.length + o.ethtool.length + o.sysctl.length + o.iptables.length + (o.killTcp.length ? 1 : 0);
}

function nonEmpty(o: NsOps): boolean {
  return opCount(o) > 0 || o.flushConntrack;
}

/** One namespace's operations as the tools read them. */
export interface RenderedStep {
  ip: string[];
  bridge: string[];
  tc: string[];
  ethtool: string[][];
  sysctl: string[][];
  iptables: Record<(typeof TABLES)[number], string[]>;
  /** iptables-restore --noflush input ("" without rules). */
  iptablesRestore: string;
}

export function renderStep(o: NsOps): RenderedStep {
  const rules = (t: (typeof TABLES)[number]) => o.iptables.filter((r) => r.table === t).map((r) => ruleArgs(r).join(" "));
  return {
    ip: o.ip.map(renderIp),
    bridge: o.bridge.map(renderFdb),
    tc: o.tc.map(renderTbf),
    ethtool: o.ethtool.map(ethtoolArgs),
    sysctl: o.sysctl.map(sysctlArgs),
    iptables: { nat: rules("nat"), mangle: rules("mangle"), filter: rules("filter") },
    iptablesRestore: iptablesRestoreInput(o.iptables),
  };
}

function formatStep(o: NsOps): string[] {
  const r = renderStep(o);
  const out = [`  in ${o.label}:`];
  for (const l of r.ip) out.push(`    ip ${l}`);
  for (const l of r.bridge) out.push(`    bridge ${l}`);
  for (const l of r.tc) out.push(`    tc ${l}`);
  for (const a of r.ethtool) out.push(`    ethtool ${a.join(" ")}`);
  for (const a of r.sysctl) out.push(`    sysctl ${a.join(" ")}`);
  for (const t of TABLES) for (const rule of r.iptables[t]) out.push(`    iptables -t ${t} ${rule}`);
  if (o.flushConntrack) out.push("    conntrack -F");
  if (o.killTcp.length) out.push(`    ${killTcpArgv(o.killTcp).join(" ")}`);
  return out;
}

/** Readable listing of a cluster plan (for --dry-run and the GRE plan test). */
export function formatClusterPlan(p: ClusterPlan): string {
  const out: string[] = [`cluster plan for lab ${p.lab} (${p.encapsulation}), ${p.size} operations`];
  for (const phase of [0, 1, 2]) {
    out.push(["links from nodes and the host:", "device sides:", "routes, tunnels, rules:"][phase] as string);
    for (const o of p.steps.filter((x) => x.phase === phase)) out.push(...formatStep(o));
  }
  if (p.p4Entries.length) out.push("P4 switches' table entries (simple_switch_CLI), once their data planes run:");
  for (const sw of p.p4Entries) out.push(`  in device ${sw.device}:`, ...sw.entries.map((e) => `    ${p4AddLine(e)}`));
  return out.join("\n");
}

/** The recorded inverses, one readable line each, per device. */
export function formatDeviceUndo(p: Pick<ClusterPlan, "deviceUndo">): { device: string; undo: string[] }[] {
  return p.deviceUndo.map((u) => ({ device: u.device, undo: u.undo.map(renderUndo) }));
}
