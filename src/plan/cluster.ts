/**
 * Plans how Kubernetes nodes join the emulated network. Pure: from the requested links and the
 * facts discovered at run time (node PIDs, provider addresses, pod CIDRs, device interfaces) it
 * computes, per network namespace, the iproute2/bridge/tc batches, iptables rules and ethtool
 * calls that `applyClusterPlan` runs. Validation happens here, all at once, before anything.
 */
import { createHash } from "node:crypto";
import { TopologyError, type Issue } from "../core/errors.js";
import { contains, hostOf, isCidr, isIp, isIpv4Cidr, macProblem, networkOf, nthAddress, overlaps, prefixLength } from "../core/addr.js";
import { DEFAULT_POD_CIDR, DEFAULT_TUNNEL_CIDR } from "../core/defaults.js";
import type { Netns } from "../model/netns.js";
import {
  LOAD_BALANCER,
  type ClusterOptions,
  type DeviceFacts,
  type LoadBalancerFacts,
  type NodeFacts,
  type NodeLink,
  type ProviderContainerFacts,
  type TrafficControl,
} from "../model/cluster.js";

export const VXLAN_IF = "kinda-vx";
export const VXLAN_ID = 4242;
export const VXLAN_PORT = 4789;
/** Policy-routing table and rule priority for pod-CIDR routes (win over the provider's own routes). */
export const POD_TABLE = 4242;
export const POD_RULE_PREF = 4242;
export const VXLAN_OVERHEAD = 50;
export const GRE_OVERHEAD = 24;
export const DEFAULT_NODE_IF = "eth1";

/** iptables comment on every rule kinda adds for a lab. */
export function ruleComment(lab: string): string {
  return `kinda:${lab}`;
}

/** Host-namespace link names: `kh<hash>-<n>`, unique per lab, recognisable by prefix. */
export function hostLinkPrefix(lab: string): string {
  // 36 bits of hash: "kh" + 9 + "-" + up to 3 digits fits IFNAMSIZ (15), and two labs'
  // prefixes practically never collide (teardown deletes host links by this prefix)
  return `kh${createHash("sha256").update(lab).digest("hex").slice(0, 9)}`;
}

export function greIf(peerIndex: number): string {
  return `kgre${peerIndex}`;
}

/** Deterministic, locally administered MAC for a node's VXLAN device. */
export function vxlanMac(nodeIndex: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return `02:6b:64:00:${hex(Math.floor(nodeIndex / 256) % 256)}:${hex(nodeIndex % 256)}`;
}

export interface IptablesRules {
  nat: string[];
  mangle: string[];
  filter: string[];
}

/** Everything to do inside one namespace, in order: ip, bridge, tc, ethtool, iptables, conntrack. */
export interface NsOps {
  /** Ops of one phase run in parallel across namespaces; phases run in order. */
  phase: number;
  label: string;
  ns: Netns;
  ip: string[];
  bridge: string[];
  tc: string[];
  ethtool: string[][];
  iptables: IptablesRules;
  flushConntrack: boolean;
  /**
   * After the rules and the conntrack flush: TCP sockets whose remote end is one of these addresses
   * are destroyed (`ss -K`), so that their programs reconnect through the new NAT rules.
   */
  killTcp: string[];
}

export interface ClusterPlan {
  lab: string;
  encapsulation: ClusterOptions["encapsulation"] & string;
  /** Phase 0: veths from nodes (and the host) into devices; 1: device sides; 2: routes, tunnels, rules. */
  steps: NsOps[];
  /** Host-namespace links created (deleted at teardown). */
  hostLinks: string[];
  /** Number of kernel objects/commands planned (plan size, for the bench). */
  size: number;
}

function ops(phase: number, label: string, ns: Netns): NsOps {
  return {
    phase,
    label,
    ns,
    ip: [],
    bridge: [],
    tc: [],
    ethtool: [],
    iptables: { nat: [], mangle: [], filter: [] },
    flushConntrack: false,
    killTcp: [],
  };
}

function tbf(dev: string, tc: TrafficControl): string {
  return `qdisc replace dev ${dev} root tbf rate ${tc.rate} burst ${tc.burst ?? "32kbit"} latency ${tc.latency ?? "50ms"}`;
}

const TC_RATE = /^\d+(\.\d+)?(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/;
const TC_SIZE = /^\d+(b|k|kb|kbit|m|mb|mbit)?$/;
const TC_TIME = /^\d+(\.\d+)?(us|ms|s)$/;
const IFNAME = /^[a-zA-Z0-9_.-]{1,15}$/;

export interface ClusterPlanInput {
  lab: string;
  /** The lab's namespace and collision domains (for links that join a domain). */
  labNetns?: string;
  domains?: { name: string; bridge: string }[];
  links: NodeLink[];
  nodes: NodeFacts[];
  /** The provider's API load balancer, when the cluster has one (linked with node LOAD_BALANCER). */
  loadBalancer?: LoadBalancerFacts;
  devices: DeviceFacts[];
  options: ClusterOptions;
  /** The cluster's pod range as configured (checked even before pod CIDRs are known). */
  podCidr?: string;
  /**
   * The nodes' Kubernetes identity is their emulated address (see `emulatedIdentity`): their API,
   * etcd and kubelet traffic goes there by itself, so no address of the provider's is rewritten.
   */
  emulatedIdentity?: NodeIdentity;
}

/**
 * Each node's Kubernetes identity on the emulated network: its InternalIP (kubelet --node-ip),
 * for a control plane also the API server's advertise address and etcd's URLs; `apiEndpoint` is
 * the address:port every node and pod reaches the API at (kubeadm's controlPlaneEndpoint).
 */
export interface NodeIdentity {
  addresses: Record<string, string>;
  apiEndpoint: string;
}

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

/**
 * The part of `full` that `applied` (planned from the same input before the pod CIDRs were
 * known) has not done: per namespace step, the lines it lacks, in order. Attaching early (before
 * kubeadm runs) applies the links, routes and tunnels; this is then what the pod CIDRs add.
 */
export function subtractPlan(full: ClusterPlan, applied: ClusterPlan): ClusterPlan {
  const key = (o: NsOps) => `${o.phase} ${o.label}`;
  const done = new Map(applied.steps.map((o) => [key(o), o]));
  const minus = (a: readonly string[], b: readonly string[] | undefined) => a.filter((x) => !(b ?? []).includes(x));
  const steps = full.steps
    .map((o) => {
      const d = done.get(key(o));
      if (!d) return o;
      const left = ops(o.phase, o.label, o.ns);
      left.ip = minus(o.ip, d.ip);
      left.bridge = minus(o.bridge, d.bridge);
      left.tc = minus(o.tc, d.tc);
      left.ethtool = o.ethtool.filter((a) => !d.ethtool.some((b) => b.join(" ") === a.join(" ")));
      for (const t of ["nat", "mangle", "filter"] as const) left.iptables[t] = minus(o.iptables[t], d.iptables[t]);
      left.flushConntrack = o.flushConntrack && !d.flushConntrack;
      left.killTcp = minus(o.killTcp, d.killTcp);
      return left;
    })
    .filter(nonEmpty);
  const size = steps.reduce((acc, o) => acc + opCount(o), 0);
  return { ...full, steps, hostLinks: full.hostLinks.filter((h) => !applied.hostLinks.includes(h)), size };
}

/** Checks requested links against each other and the known ranges; all problems at once. */
export function validateLinks(
  input: Omit<ClusterPlanInput, "nodes" | "devices" | "loadBalancer"> & {
    nodeNames: string[];
    /** The cluster has an API load balancer that links may attach (node LOAD_BALANCER). */
    loadBalancer?: boolean;
    deviceNames: string[];
    domainNames?: string[];
    providerCidr?: string;
    podCidrs?: string[];
  },
): Issue[] {
  const issues: Issue[] = [];
  const opts = input.options;
  const encapsulation = opts.encapsulation ?? "vxlan";
  const tunnel = opts.tunnelCidr ?? DEFAULT_TUNNEL_CIDR;
  const podCidr = input.podCidr ?? DEFAULT_POD_CIDR;
  // the ranges' own problems first: only well-formed ones are compared with the links below
  if (!isCidr(podCidr))
    issues.push({ field: "podCidr", message: `podCidr ${JSON.stringify(podCidr)} is not a CIDR (e.g. ${DEFAULT_POD_CIDR})` });
  if (!isCidr(tunnel)) {
    issues.push({ field: "tunnelCidr", message: `tunnelCidr ${JSON.stringify(tunnel)} is not a CIDR (e.g. ${DEFAULT_TUNNEL_CIDR})` });
  } else if (!isIpv4Cidr(tunnel)) {
    issues.push({ field: "tunnelCidr", message: `tunnelCidr ${tunnel} is not IPv4 (tunnel endpoints are IPv4 addresses)` });
  } else if (encapsulation !== "none") {
    // vxlan: one /32 per node from the 2nd address on; gre: one /31 per pair of nodes
    const n = input.nodeNames.length;
    const need = encapsulation === "gre" ? n * (n - 1) : n + 1;
    const size = 2 ** (32 - prefixLength(tunnel));
    if (need > size) {
      issues.push({
        field: "tunnelCidr",
        message: `tunnelCidr ${tunnel} has ${size} addresses; ${encapsulation} for ${n} nodes needs ${need}`,
      });
    }
  }
  const ranges: [string, string][] = [
    [podCidr, "the pod range"],
    [tunnel, "the tunnel range"],
  ];
  for (const p of input.podCidrs ?? []) ranges.push([p, "a node's pod range"]);
  if (input.providerCidr) ranges.push([input.providerCidr, "the Kind network"]);
  const validRanges = ranges.filter(([r]) => isCidr(r));
  const seen = new Map<string, string>();
  const linked = new Set<string>();
  input.links.forEach((l, i) => {
    const where = { field: `links[${i}] (${l.node} -> ${l.device ?? `domain ${l.domain}`})` };
    const bad = (message: string) => issues.push({ ...where, message });
    if (l.node === LOAD_BALANCER) {
      if (!input.loadBalancer)
        bad("the cluster has no API load balancer to link (Kind puts one in front of the control planes only when there are two or more)");
    } else if (!input.nodeNames.includes(l.node)) {
      bad(`unknown Kubernetes node ${JSON.stringify(l.node)} (nodes: ${input.nodeNames.join(", ") || "none"})`);
    }
    if ((l.device === undefined) === (l.domain === undefined)) bad("give either device or domain");
    if (l.device !== undefined && !input.deviceNames.includes(l.device)) {
      bad(`unknown device ${JSON.stringify(l.device)} (devices: ${input.deviceNames.join(", ") || "none"})`);
    }
    if (l.domain !== undefined && input.domainNames && !input.domainNames.includes(l.domain)) {
      bad(`unknown collision domain ${JSON.stringify(l.domain)} (domains: ${input.domainNames.join(", ")})`);
    }
    if (l.domain !== undefined && (l.deviceAddress || l.deviceBridge || l.deviceIf || l.deviceTc || l.deviceMac)) {
      bad("a link into a domain has no device side (deviceAddress, deviceBridge, deviceIf, deviceTc, deviceMac)");
    }
    if (typeof l.nodeAddress !== "string") bad("nodeAddress is missing (an address with a prefix length, e.g. 10.0.4.2/24)");
    if (l.gateway !== undefined) {
      if (!isIp(l.gateway)) bad(`gateway ${JSON.stringify(l.gateway)} is not an address (e.g. 10.0.4.1)`);
      else if (isCidr(l.nodeAddress) && !contains(networkOf(l.nodeAddress), l.gateway))
        bad(`gateway ${l.gateway} is not in the subnet of nodeAddress ${l.nodeAddress}; the node could not reach it`);
    }
    if (linked.has(l.node))
      bad(`${l.node === LOAD_BALANCER ? "the load balancer" : `node ${l.node}`} is linked twice; it has one link into the network`);
    linked.add(l.node);
    for (const [k, v] of [
      ["nodeAddress", l.nodeAddress],
      ["deviceAddress", l.deviceAddress],
    ] as const) {
      if (v === undefined) continue;
      if (!isCidr(v)) {
        bad(`${k} ${JSON.stringify(v)} is not an address with a prefix length (e.g. 10.0.4.2/24)`);
        continue;
      }
      if (!isIpv4Cidr(v)) {
        bad(`${k} ${v} is not IPv4 (a node's link carries IPv4 routes and tunnels)`);
        continue;
      }
      for (const [r, what] of validRanges) if (contains(r, v)) bad(`${k} ${v} is inside ${what} ${r}`);
      // several nodes on one device bridge share the bridge's address
      const owner = k === "deviceAddress" && l.deviceBridge ? `${l.device}/${l.deviceBridge}` : `links[${i}].${k}`;
      const prev = seen.get(hostOf(v));
      if (prev && prev !== owner) bad(`${k} ${hostOf(v)} is already used by ${prev}`);
      seen.set(hostOf(v), owner);
    }
    if (
      l.deviceAddress &&
      isIpv4Cidr(l.nodeAddress) &&
      isIpv4Cidr(l.deviceAddress) &&
      !overlaps(networkOf(l.nodeAddress), networkOf(l.deviceAddress))
    ) {
      bad(`nodeAddress ${l.nodeAddress} and deviceAddress ${l.deviceAddress} are not in one subnet`);
    }
    for (const [k, v] of [
      ["nodeIf", l.nodeIf],
      ["deviceIf", l.deviceIf],
      ["deviceBridge", l.deviceBridge],
      ["deviceAddressIf", l.deviceAddressIf],
    ] as const) {
      if (v !== undefined && !IFNAME.test(v)) bad(`${k} ${JSON.stringify(v)} is not an interface name (1-15 of letters, digits, _ . -)`);
    }
    for (const [k, v] of [
      ["nodeMac", l.nodeMac],
      ["deviceMac", l.deviceMac],
    ] as const) {
      const problem = v === undefined ? undefined : macProblem(v);
      if (problem) bad(`${k} ${JSON.stringify(v)} ${problem}`);
    }
    if (l.mtu !== undefined && (!Number.isInteger(l.mtu) || l.mtu < 1280 || l.mtu > 65535))
      bad(`mtu ${l.mtu} must be an integer from 1280 to 65535`);
    for (const [k, tc] of [
      ["nodeTc", l.nodeTc],
      ["deviceTc", l.deviceTc],
    ] as const) {
      if (!tc) continue;
      if (!TC_RATE.test(tc.rate)) bad(`${k}.rate ${JSON.stringify(tc.rate)} is not a tc rate (e.g. 20mbit)`);
      if (tc.burst !== undefined && !TC_SIZE.test(tc.burst)) bad(`${k}.burst ${JSON.stringify(tc.burst)} is not a tc size (e.g. 32kbit)`);
      if (tc.latency !== undefined && !TC_TIME.test(tc.latency))
        bad(`${k}.latency ${JSON.stringify(tc.latency)} is not a tc time (e.g. 50ms)`);
    }
  });
  (opts.hostRoutes ?? []).forEach((r, k) => {
    const field = `hostRoutes[${k}]`;
    // routed via the Kind network's (IPv4) gateway
    if (!isCidr(r)) issues.push({ field, message: `hostRoutes entry ${JSON.stringify(r)} is not a CIDR (e.g. 203.0.113.0/24)` });
    else if (!isIpv4Cidr(r))
      issues.push({ field, message: `hostRoutes entry ${r} is not IPv4 (it is routed via the Kind network's IPv4 gateway)` });
  });
  if (opts.uplinkCidr !== undefined) {
    const up = opts.uplinkCidr;
    if (!isCidr(up)) issues.push({ field: "uplinkCidr", message: `uplinkCidr ${JSON.stringify(up)} is not a CIDR (e.g. 100.127.0.0/30)` });
    else if (!isIpv4Cidr(up) || prefixLength(up) !== 30)
      issues.push({
        field: "uplinkCidr",
        message: `uplinkCidr ${up} is not an IPv4 /30 (the host takes its 1st address, the gateway device its 2nd)`,
      });
    else
      for (const [r, what] of validRanges)
        if (overlaps(up, r)) issues.push({ field: "uplinkCidr", message: `uplinkCidr ${up} overlaps ${what} ${r}` });
  }
  (opts.podRoutes ?? []).forEach((r, i) => {
    const field = `podRoutes[${i}]`;
    if (!input.deviceNames.includes(r.device)) issues.push({ field, message: `unknown device ${JSON.stringify(r.device)}` });
    if (!input.nodeNames.includes(r.node)) issues.push({ field, message: `unknown Kubernetes node ${JSON.stringify(r.node)}` });
    if (!isIp(r.via)) issues.push({ field, message: `via ${JSON.stringify(r.via)} is not an address (e.g. 10.0.4.1)` });
  });
  (opts.hostConnections ?? []).forEach((hc, i) => {
    const field = `hostConnections[${i}]`;
    if (!input.deviceNames.includes(hc.device)) issues.push({ field, message: `unknown device ${JSON.stringify(hc.device)}` });
    for (const [k, v] of [
      ["hostAddress", hc.hostAddress],
      ["deviceAddress", hc.deviceAddress],
    ] as const) {
      if (!isCidr(v))
        issues.push({ field, message: `${k} ${JSON.stringify(v)} is not an address with a prefix length (e.g. 192.168.100.1/30)` });
    }
    if (isCidr(hc.hostAddress) && isCidr(hc.deviceAddress) && !overlaps(networkOf(hc.hostAddress), networkOf(hc.deviceAddress)))
      issues.push({ field, message: `hostAddress ${hc.hostAddress} and deviceAddress ${hc.deviceAddress} are not in one subnet` });
    (hc.routes ?? []).forEach((r, k) => {
      if (!isCidr(r)) issues.push({ field, message: `routes[${k}] ${JSON.stringify(r)} is not a CIDR` });
      else if (isCidr(hc.deviceAddress) && isIpv4Cidr(r) !== isIpv4Cidr(hc.deviceAddress))
        issues.push({ field, message: `routes[${k}] ${r} is not of the family of deviceAddress ${hc.deviceAddress}, its next hop` });
    });
  });
  if (opts.internetVia !== undefined && !input.deviceNames.includes(opts.internetVia)) {
    issues.push({ field: "internetVia", message: `unknown device ${JSON.stringify(opts.internetVia)}` });
  }
  return issues;
}

/** The uplink /30 for internet access: given, or derived from the lab name inside 100.127.0.0/16. */
export function uplinkCidr(lab: string, options: ClusterOptions): string {
  if (options.uplinkCidr) return options.uplinkCidr;
  const n = parseInt(createHash("sha256").update(lab).digest("hex").slice(0, 4), 16) % 16384;
  return `${nthAddress("100.127.0.0/16", n * 4)}/30`;
}

export function planCluster(input: ClusterPlanInput): ClusterPlan {
  const { lab, links, nodes, devices, options } = input;
  const encapsulation = options.encapsulation ?? "vxlan";
  const tunnelCidr = options.tunnelCidr ?? DEFAULT_TUNNEL_CIDR;
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
  const unlinked = nodes.filter((n) => !links.some((l) => l.node === n.name));
  for (const n of unlinked)
    issues.push({ field: `node ${n.name}`, message: "is not linked to any device; its traffic could not cross the network" });
  if (issues.length) throw new TopologyError(issues);

  const comment = ruleComment(lab);
  // a linked load balancer gets a link like a node's, routes and API redirection, but no pod tunnel
  const lb = input.loadBalancer && links.some((l) => l.node === LOAD_BALANCER) ? input.loadBalancer : undefined;
  const attached: ProviderContainerFacts[] = [...nodes, ...(lb ? [lb] : [])];
  const label = (name: string) => (name === LOAD_BALANCER ? "load balancer" : `node ${name}`);
  const nodeOps = new Map(attached.map((n) => [n.name, ops(0, label(n.name), { pid: n.pid })]));
  const devOps = new Map(devices.map((d) => [d.name, ops(1, `device ${d.name}`, { pid: d.pid })]));
  const nextIf = new Map(
    devices.map((d) => [d.name, Math.max(-1, ...d.interfaces.map((i) => (/^eth(\d+)$/.exec(i) ? Number(i.slice(3)) : -1))) + 1]),
  );
  const bridges = new Map<string, Set<string>>();
  const linkOf = new Map(links.map((l) => [l.node, l]));

  // 1. links
  const labOps = ops(1, `lab namespace ${input.labNetns ?? ""}`, { name: input.labNetns ?? "" });
  links.forEach((l, li) => {
    if (l.domain === undefined) return;
    const n = nodeOps.get(l.node)!;
    const node = attached.find((x) => x.name === l.node)!;
    const nodeIf = l.nodeIf ?? DEFAULT_NODE_IF;
    const mtu = l.mtu ?? 1500;
    const bridge = input.domains?.find((d) => d.name === l.domain)?.bridge;
    if (!bridge || !input.labNetns)
      throw new TopologyError([{ field: `links[${li}]`, message: `collision domain ${l.domain} is not known in this lab` }]);
    const peer = `kn-${li}`;
    n.ip.push(
      `link add ${nodeIf}${l.nodeMac ? ` address ${l.nodeMac}` : ""} mtu ${mtu} type veth peer name ${peer} mtu ${mtu} netns ${input.labNetns}`,
      `addr add ${l.nodeAddress} dev ${nodeIf}`,
      `link set ${nodeIf} up`,
    );
    n.ethtool.push(["-K", nodeIf, "rx", "off", "tx", "off"]);
    labOps.ip.push(`link set ${peer} master ${bridge} up`);
    if (l.nodeTc) n.tc.push(tbf(nodeIf, l.nodeTc));
    if (l.defaultRoute && l.gateway) {
      for (const r of options.hostRoutes ?? []) n.ip.push(`route replace ${r} via ${node.providerGateway} dev ${node.providerIf}`);
      n.ip.push(`route replace default via ${l.gateway} dev ${nodeIf}`);
    }
  });
  for (const l of links) {
    if (l.device === undefined) continue;
    const n = nodeOps.get(l.node)!;
    const d = devOps.get(l.device)!;
    const node = attached.find((x) => x.name === l.node)!;
    const nodeIf = l.nodeIf ?? DEFAULT_NODE_IF;
    let devIf = l.deviceIf;
    if (!devIf) {
      const k = nextIf.get(l.device)!;
      devIf = `eth${k}`;
      nextIf.set(l.device, k + 1);
    }
    const mtu = l.mtu ?? 1500;
    const devPid = devices.find((x) => x.name === l.device)!.pid;
    n.ip.push(
      `link add ${nodeIf}${l.nodeMac ? ` address ${l.nodeMac}` : ""} mtu ${mtu} type veth peer name ${devIf}${l.deviceMac ? ` address ${l.deviceMac}` : ""} mtu ${mtu} netns ${devPid}`,
      `addr add ${l.nodeAddress} dev ${nodeIf}`,
      `link set ${nodeIf} up`,
    );
    // the seed found TCP broken with checksum offload on the node side
    n.ethtool.push(["-K", nodeIf, "rx", "off", "tx", "off"]);
    d.ip.push(`link set ${devIf} up`);
    if (l.deviceBridge) {
      const set = bridges.get(l.device) ?? new Set<string>();
      bridges.set(l.device, set);
      if (!set.has(l.deviceBridge)) {
        set.add(l.deviceBridge);
        // a bridge the device already has (its startup made it) is joined, never made or removed
        const existing = devices.find((x) => x.name === l.device)!.bridges?.includes(l.deviceBridge);
        if (!existing) d.ip.push(`link add ${l.deviceBridge} type bridge`);
        d.ip.push(`link set ${l.deviceBridge} up`);
        if (l.deviceAddress) d.ip.push(`addr add ${l.deviceAddress} dev ${l.deviceBridge}`);
      }
      d.ip.push(`link set ${devIf} master ${l.deviceBridge}`);
    } else if (l.deviceAddress) {
      d.ip.push(`addr add ${l.deviceAddress} dev ${l.deviceAddressIf ?? devIf}`);
    }
    if (l.nodeTc) n.tc.push(tbf(nodeIf, l.nodeTc));
    if (l.deviceTc) d.tc.push(tbf(devIf, l.deviceTc));
    if (l.defaultRoute && l.deviceAddress) {
      for (const r of options.hostRoutes ?? []) n.ip.push(`route replace ${r} via ${node.providerGateway} dev ${node.providerIf}`);
      n.ip.push(`route replace default via ${hostOf(l.deviceAddress)} dev ${nodeIf}`);
    }
  }

  // 2. overlay: underlay routes to peers, tunnels, pod-CIDR routes in their own table
  const overlay = new Map(attached.map((n) => [n.name, ops(2, label(n.name), { pid: n.pid })]));
  const emu = new Map(links.map((l) => [l.node, hostOf(l.nodeAddress)]));
  const ifOf = (name: string) => linkOf.get(name)!.nodeIf ?? DEFAULT_NODE_IF;
  const gatewayOf = (l: NodeLink) => l.gateway ?? (l.deviceAddress ? hostOf(l.deviceAddress) : undefined);
  /** Routes from an attached container to others' emulated addresses via its gateway (off its subnet). */
  const routeTo = (self: string, others: readonly ProviderContainerFacts[]) => {
    const l = linkOf.get(self)!;
    const gw = gatewayOf(l);
    for (const p of others) {
      const pe = emu.get(p.name)!;
      if (gw && !contains(networkOf(l.nodeAddress), pe)) overlay.get(self)!.ip.push(`route replace ${pe}/32 via ${gw} dev ${ifOf(self)}`);
    }
  };
  /**
   * apiThroughNetwork for one client and server. In the client, traffic to the server's provider
   * address (`match`: all of it, or a TCP port) goes to its emulated address instead, from the
   * client's emulated address. In the server, such TCP gets both provider addresses back (DNAT to
   * its own, SNAT to the client's), so that services bound to the provider address (etcd's peer
   * port between control planes) and checks of the peer's certificate against its address still
   * work. conntrack reverses both on replies. Open connections between the two are cut on both
   * sides, so that they reconnect through the rules: after a conntrack flush alone, a connection
   * whose next packet came from the server was picked up mid-stream without NAT and stayed on the
   * provider network (the worker's kubelet to Kind's load balancer, seen in the HA test).
   */
  const redirectApi = (client: ProviderContainerFacts, server: ProviderContainerFacts, match = "") => {
    const c = overlay.get(client.name)!;
    const s = overlay.get(server.name)!;
    const ce = emu.get(client.name)!;
    const se = emu.get(server.name)!;
    const tag = `-m comment --comment ${comment}`;
    c.iptables.nat.push(
      `-A OUTPUT -d ${server.internalIp}/32${match} ${tag} -j DNAT --to-destination ${se}`,
      `-A POSTROUTING -d ${se}/32 -o ${ifOf(client.name)} ${tag} -j SNAT --to-source ${ce}`,
    );
    const tcp = match || " -p tcp";
    s.iptables.nat.push(
      `-A PREROUTING -i ${ifOf(server.name)} -s ${ce}/32 -d ${se}/32${tcp} ${tag} -j DNAT --to-destination ${server.internalIp}`,
      `-A INPUT -s ${ce}/32 -d ${server.internalIp}/32${tcp} ${tag} -j SNAT --to-source ${client.internalIp}`,
    );
    c.flushConntrack = true;
    s.flushConntrack = true;
    if (!c.killTcp.includes(server.internalIp)) c.killTcp.push(server.internalIp);
    if (!s.killTcp.includes(client.internalIp)) s.killTcp.push(client.internalIp);
  };
  const apiPort = lb ? ` -p tcp --dport ${lb.apiPort}` : "";
  nodes.forEach((node, i) => {
    const o = overlay.get(node.name)!;
    const l = linkOf.get(node.name)!;
    const nodeIf = l.nodeIf ?? DEFAULT_NODE_IF;
    const mtu = l.mtu ?? 1500;
    const gw = gatewayOf(l);
    const peers = nodes.filter((p) => p.name !== node.name);
    routeTo(node.name, lb ? [...peers, lb] : peers);
    if (encapsulation === "vxlan") {
      const tmtu = mtu - VXLAN_OVERHEAD;
      o.ip.push(
        `link add ${VXLAN_IF} type vxlan id ${VXLAN_ID} local ${emu.get(node.name)} dstport ${VXLAN_PORT} nolearning dev ${nodeIf}`,
        `link set ${VXLAN_IF} address ${vxlanMac(i)} mtu ${tmtu} up`,
        `addr add ${nthAddress(tunnelCidr, i + 1)}/32 dev ${VXLAN_IF}`,
      );
      for (const p of peers) {
        const j = nodes.indexOf(p);
        const vtep = nthAddress(tunnelCidr, j + 1);
        o.ip.push(`neigh replace ${vtep} lladdr ${vxlanMac(j)} dev ${VXLAN_IF} nud permanent`);
        o.bridge.push(`fdb append ${vxlanMac(j)} dev ${VXLAN_IF} dst ${emu.get(p.name)}`);
        for (const pod of p.podCidrs) {
          o.ip.push(`route replace ${pod} via ${vtep} dev ${VXLAN_IF} onlink mtu ${tmtu} table ${POD_TABLE}`);
          o.ip.push(`rule add to ${pod} lookup ${POD_TABLE} pref ${POD_RULE_PREF}`);
        }
      }
      o.iptables.mangle.push(
        `-A FORWARD -o ${VXLAN_IF} -p tcp --tcp-flags SYN,RST SYN -m comment --comment ${comment} -j TCPMSS --clamp-mss-to-pmtu`,
      );
    } else if (encapsulation === "none") {
      // pods' packets travel unencapsulated; the devices route pod CIDRs (options.podRoutes)
      for (const p of peers) {
        for (const pod of p.podCidrs) {
          if (gw) o.ip.push(`route replace ${pod} via ${gw} dev ${nodeIf} table ${POD_TABLE}`);
          o.ip.push(`rule add to ${pod} lookup ${POD_TABLE} pref ${POD_RULE_PREF}`);
        }
      }
    } else {
      const tmtu = mtu - GRE_OVERHEAD;
      for (const p of peers) {
        const j = nodes.indexOf(p);
        const dev = greIf(j);
        // each unordered pair {a<b} gets a /31 from the tunnel range: a takes the even address
        const [a, b] = i < j ? [i, j] : [j, i];
        const pair = (b * (b - 1)) / 2 + a;
        const mine = nthAddress(tunnelCidr, 2 * pair + (i < j ? 0 : 1));
        o.ip.push(
          `link add ${dev} type gre local ${emu.get(node.name)} remote ${emu.get(p.name)} ttl 64`,
          `link set ${dev} mtu ${tmtu} up`,
          `addr add ${mine}/31 dev ${dev}`,
        );
        for (const pod of p.podCidrs) {
          o.ip.push(`route replace ${pod} dev ${dev} mtu ${tmtu} table ${POD_TABLE}`);
          o.ip.push(`rule add to ${pod} lookup ${POD_TABLE} pref ${POD_RULE_PREF}`);
        }
      }
      o.iptables.mangle.push(
        `-A FORWARD -o kgre+ -p tcp --tcp-flags SYN,RST SYN -m comment --comment ${comment} -j TCPMSS --clamp-mss-to-pmtu`,
      );
    }
    if (options.apiThroughNetwork) {
      // with the emulated identity, nodes already address each other there: nothing to rewrite
      if (!input.emulatedIdentity) for (const p of peers) redirectApi(node, p);
      // the API through the load balancer (the address Kind's kubeconfigs name): its API port only
      if (lb) redirectApi(node, lb, apiPort);
    }
  });
  if (lb) {
    routeTo(LOAD_BALANCER, nodes);
    if (options.apiThroughNetwork) for (const cp of nodes.filter((n) => n.role === "control-plane")) redirectApi(lb, cp, apiPort);
  }

  // pod CIDRs routed natively by the devices (encapsulation "none")
  const podRouteOps = new Map<string, NsOps>();
  for (const r of options.podRoutes ?? []) {
    const d = devices.find((x) => x.name === r.device);
    const n = nodes.find((x) => x.name === r.node);
    if (!d || !n) continue;
    let o = podRouteOps.get(d.name);
    if (!o) {
      o = ops(2, `device ${d.name} (pod routes)`, { pid: d.pid });
      podRouteOps.set(d.name, o);
    }
    for (const pod of n.podCidrs) o.ip.push(`route replace ${pod} via ${r.via}`);
  }

  // 3. internet access through a gateway device: a host<->device uplink, NAT on both
  const hostLinks: string[] = [];
  const hostOps = ops(0, "host", { host: true });
  const extra: NsOps[] = [];
  if (options.internetVia) {
    const g = devices.find((d) => d.name === options.internetVia)!;
    const up = uplinkCidr(lab, options);
    const hostIp = nthAddress(up, 1);
    const devIp = nthAddress(up, 2);
    const hostIf = `${hostLinkPrefix(lab)}-0`;
    const k = nextIf.get(g.name)!;
    nextIf.set(g.name, k + 1);
    const gIf = `eth${k}`;
    hostLinks.push(hostIf);
    hostOps.ip.push(
      `link add ${hostIf} type veth peer name ${gIf} netns ${g.pid}`,
      `addr add ${hostIp}/30 dev ${hostIf}`,
      `link set ${hostIf} up`,
    );
    hostOps.iptables.nat.push(`-A POSTROUTING -s ${networkOf(up)} ! -o ${hostIf} -m comment --comment ${comment} -j MASQUERADE`);
    hostOps.iptables.filter.push(
      `-I FORWARD -i ${hostIf} -m comment --comment ${comment} -j ACCEPT`,
      `-I FORWARD -o ${hostIf} -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment ${comment} -j ACCEPT`,
    );
    const gOps = ops(2, `device ${g.name} (uplink)`, { pid: g.pid });
    gOps.ip.push(`addr add ${devIp}/30 dev ${gIf}`, `link set ${gIf} up`, `route replace default via ${hostIp} dev ${gIf}`);
    gOps.iptables.nat.push(`-A POSTROUTING -o ${gIf} -m comment --comment ${comment} -j MASQUERADE`);
    extra.push(gOps);
  }

  (options.hostConnections ?? []).forEach((hc, i) => {
    const d = devices.find((x) => x.name === hc.device)!;
    const hostIf = `${hostLinkPrefix(lab)}-${i + 1}`;
    const k = nextIf.get(d.name)!;
    nextIf.set(d.name, k + 1);
    hostLinks.push(hostIf);
    hostOps.ip.push(
      `link add ${hostIf} type veth peer name eth${k} netns ${d.pid}`,
      `addr add ${hc.hostAddress} dev ${hostIf}`,
      `link set ${hostIf} up`,
    );
    // `add`, not `replace`: a route the host already has is never taken over (the batch fails instead)
    for (const r of hc.routes ?? []) hostOps.ip.push(`route add ${r} via ${hostOf(hc.deviceAddress)} dev ${hostIf}`);
    const dOps = ops(2, `device ${d.name} (host link)`, { pid: d.pid });
    dOps.ip.push(`addr add ${hc.deviceAddress} dev eth${k}`, `link set eth${k} up`);
    extra.push(dOps);
  });

  const steps = [hostOps, ...nodeOps.values(), labOps, ...devOps.values(), ...overlay.values(), ...podRouteOps.values(), ...extra].filter(
    nonEmpty,
  );
  const size = steps.reduce((acc, o) => acc + opCount(o), 0);
  return { lab, encapsulation, steps, hostLinks, size };
}

/** `ss` destroying TCP sockets connected to any of these addresses (both ends send a reset). */
export function killTcpArgv(remotes: readonly string[]): string[] {
  return ["ss", "-K", "-t", ...remotes.flatMap((a, i) => (i ? ["or", "dst", a] : ["dst", a]))];
}

/** Commands planned in one namespace. */
function opCount(o: NsOps): number {
  const t = o.iptables;
  return (
    o.ip.length +
    o.bridge.length +
    o.tc.length +
    o.ethtool.length +
    t.nat.length +
    t.mangle.length +
    t.filter.length +
    (o.killTcp.length ? 1 : 0)
  );
}

function nonEmpty(o: NsOps): boolean {
  return opCount(o) > 0 || o.flushConntrack;
}

/** Readable listing of a cluster plan (for --dry-run and the GRE plan test). */
export function formatClusterPlan(p: ClusterPlan): string {
  const out: string[] = [`cluster plan for lab ${p.lab} (${p.encapsulation}), ${p.size} operations`];
  for (const phase of [0, 1, 2]) {
    out.push(["links from nodes and the host:", "device sides:", "routes, tunnels, rules:"][phase] as string);
    for (const o of p.steps.filter((x) => x.phase === phase)) {
      out.push(`  in ${o.label}:`);
      for (const l of o.ip) out.push(`    ip ${l}`);
      for (const l of o.bridge) out.push(`    bridge ${l}`);
      for (const l of o.tc) out.push(`    tc ${l}`);
      for (const a of o.ethtool) out.push(`    ethtool ${a.join(" ")}`);
      for (const t of ["nat", "mangle", "filter"] as const) for (const r of o.iptables[t]) out.push(`    iptables -t ${t} ${r}`);
      if (o.flushConntrack) out.push("    conntrack -F");
      if (o.killTcp.length) out.push(`    ${killTcpArgv(o.killTcp).join(" ")}`);
    }
  }
  return out.join("\n");
}
