/**
 * The nodes' Kubernetes identity on the emulated network, and attaching in two steps: before
 * Kubernetes runs (links, routes, tunnels) and once the pod CIDRs are known (their routes).
 */
import { hostOf, isIpv4Cidr } from "../../core/addr.js";
import { LOAD_BALANCER, type ClusterOptions, type NodeFacts, type NodeLink, type ProviderContainerFacts } from "../../model/cluster.js";
import { nsOps, type ClusterPlan, type NodeIdentity, type NsOps } from "./context.js";

/**
 * The emulated identity when the cluster can have it: API traffic asked to cross the network
 * (`apiThroughNetwork`) and every node linked with an IPv4 address known before the cluster
 * exists (so that it can be given to kubeadm). The API endpoint is the control plane's address;
 * with several control planes, the provider's API load balancer's, which must then be linked
 * too: it forwards to the control planes' emulated addresses (`backends`).
 */
export function emulatedIdentity(
  nodes: readonly { name: string; role: string }[],
  links: readonly NodeLink[],
  options: ClusterOptions,
  apiPort: number,
): NodeIdentity | undefined {
  const cps = nodes.filter((n) => n.role === "control-plane");
  if (!options.apiThroughNetwork || cps.length === 0) return undefined;
  const linked = (name: string) => {
    const l = links.find((x) => x.node === name);
    return l && isIpv4Cidr(l.nodeAddress) ? hostOf(l.nodeAddress) : undefined;
  };
  const addresses: Record<string, string> = {};
  for (const n of nodes) {
    const a = linked(n.name);
    if (!a) return undefined;
    addresses[n.name] = a;
  }
  if (cps.length === 1) return { addresses, apiEndpoint: `${addresses[cps[0]!.name]}:${apiPort}` };
  const lb = linked(LOAD_BALANCER);
  if (!lb) return undefined; // an unlinked load balancer forwards on the provider's network: keep its addresses
  const backends = Object.fromEntries(cps.map((c) => [c.name, `${addresses[c.name]}:${apiPort}`]));
  return { addresses, apiEndpoint: `${lb}:${apiPort}`, backends };
}

/**
 * Once the load balancer forwards to the control planes' emulated addresses (its configuration
 * reloaded), the connections it opened to their provider addresses before, which its old process
 * keeps serving, are cut (`ss -K`): their clients reconnect, through the network.
 */
export function handOverLoadBalancer(plan: ClusterPlan, lb: ProviderContainerFacts, nodes: readonly NodeFacts[]): ClusterPlan {
  const step = nsOps(2, "load balancer", { pid: lb.pid });
  step.killTcp.push(...nodes.filter((n) => n.role === "control-plane").map((n) => n.internalIp));
  return { ...plan, steps: [step], hostLinks: [], deviceUndo: [], linkIfs: [], size: 1 };
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
