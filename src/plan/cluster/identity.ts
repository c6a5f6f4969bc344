/**
 * The nodes' Kubernetes identity on the emulated network, and attaching in two steps: before
 * Kubernetes runs (links, routes, tunnels) and once the pod CIDRs are known (their routes).
 */
import { hostOf, isIpv4Cidr } from "../../core/addr.js";
import type { ClusterOptions, NodeLink } from "../../model/cluster.js";
import { nsOps, type ClusterPlan, type NodeIdentity, type NsOps } from "./context.js";

/**
 * The emulated identity when the cluster can have it: API traffic asked to cross the network
 * (`apiThroughNetwork`), one control plane (with several, Kind's load balancer forwards to the
 * control planes' provider addresses; those keep the address rewriting), and every node linked
 * with an IPv4 address known before the cluster exists (so that it can be given to kubeadm).
 */
export function emulatedIdentity(
  nodes: readonly { name: string; role: string }[],
  links: readonly NodeLink[],
  options: ClusterOptions,
  apiPort: number,
): NodeIdentity | undefined {
  const cps = nodes.filter((n) => n.role === "control-plane");
  if (!options.apiThroughNetwork || cps.length !== 1) return undefined;
  const addresses: Record<string, string> = {};
  for (const n of nodes) {
    const l = links.find((x) => x.node === n.name);
    if (!l || !isIpv4Cidr(l.nodeAddress)) return undefined;
    addresses[n.name] = hostOf(l.nodeAddress);
  }
  return { addresses, apiEndpoint: `${addresses[cps[0]!.name]}:${apiPort}` };
}

/** The items of `a` not in `b`, compared as values (typed operations are plain data). */
function minus<T>(a: readonly T[], b: readonly T[]): T[] {
  const done = new Set(b.map((x) => JSON.stringify(x)));
  return a.filter((x) => !done.has(JSON.stringify(x)));
}

/**
 * The part of `full` that `applied` (planned from the same input before the pod CIDRs were
 * known) has not done: per namespace step, the operations it lacks, in order. Attaching early
 * (before kubeadm runs) applies the links, routes and tunnels; this is what the pod CIDRs add.
 */
export function subtractPlan(full: ClusterPlan, applied: ClusterPlan): ClusterPlan {
  const key = (o: NsOps) => `${o.phase} ${o.label}`;
  const done = new Map(applied.steps.map((o) => [key(o), o]));
  const steps = full.steps
    .map((o) => {
      const d = done.get(key(o));
      if (!d) return o;
      return {
        ...nsOps(o.phase, o.label, o.ns),
        ip: minus(o.ip, d.ip),
        bridge: minus(o.bridge, d.bridge),
        tc: minus(o.tc, d.tc),
        ethtool: minus(o.ethtool, d.ethtool),
        sysctl: minus(o.sysctl, d.sysctl),
        iptables: minus(o.iptables, d.iptables),
        flushConntrack: o.flushConntrack && !d.flushConntrack,
        killTcp: minus(o.killTcp, d.killTcp),
      };
    })
    .filter(
      (o) =>
        o.ip.length + o.bridge.length + o.tc.length + o.ethtool.length + o.sysctl.length + o.iptables.length + o.killTcp.length > 0 ||
        o.flushConntrack,
    );
  const size = full.size - applied.size;
  return { ...full, steps, hostLinks: minus(full.hostLinks, applied.hostLinks), size };
}
