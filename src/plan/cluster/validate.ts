/** Checks requested node links and cluster options against each other and the known ranges; all problems at once. */
import type { Issue } from "../../core/errors.js";
import { contains, hostOf, isCidr, isIp, isIpv4Cidr, macProblem, networkOf, overlaps, prefixLength } from "../../core/addr.js";
import { AddressOwners, clusterRanges, inOneSubnet, rangeClashes, type Range } from "../../core/addrcheck.js";
import { DEFAULT_POD_CIDR, DEFAULT_TUNNEL_CIDR } from "../../core/defaults.js";
import { LOAD_BALANCER, type ClusterOptions, type NodeLink, type TrafficControl } from "../../model/cluster.js";
import { shapingProblems } from "../../core/tc.js";
import type { ClusterPlanInput } from "./context.js";

const IFNAME = /^[a-zA-Z0-9_.-]{1,15}$/;

export type ValidateLinksInput = Omit<ClusterPlanInput, "nodes" | "devices" | "loadBalancer"> & {
  nodeNames: string[];
  /** The cluster has an API load balancer that links may attach (node LOAD_BALANCER). */
  loadBalancer?: boolean;
  deviceNames: string[];
  domainNames?: string[];
  providerCidr?: string;
  podCidrs?: string[];
};

type Bad = (message: string) => void;

/** The pod and tunnel ranges' own problems; returns the well-formed ranges links must stay out of. */
function rangeIssues(input: ValidateLinksInput, issues: Issue[]): Range[] {
  const opts = input.options;
  const encapsulation = opts.encapsulation ?? "vxlan";
  const tunnel = opts.tunnelCidr ?? DEFAULT_TUNNEL_CIDR;
  const podCidr = input.podCidr ?? DEFAULT_POD_CIDR;
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
  const ranges: Range[] = clusterRanges(podCidr, tunnel);
  for (const p of input.podCidrs ?? []) ranges.push([p, "a node's pod range"]);
  if (input.providerCidr) ranges.push([input.providerCidr, "the Kind network"]);
  return ranges.filter(([r]) => isCidr(r));
}

/** Which node, device or domain a link names, and that it names one of each. */
function endpointIssues(input: ValidateLinksInput, l: NodeLink, bad: Bad): void {
  if (l.node === LOAD_BALANCER) {
    if (!input.loadBalancer)
      bad("the cluster has no API load balancer to link (Kind puts one in front of the control planes only when there are two or more)");
    if (l.nic) bad("nic: a smart NIC sits on a Kubernetes node's link, not on the load balancer's");
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
}

/** The node's address is there, and its gateway (if given) is reachable from it. */
function gatewayIssues(l: NodeLink, bad: Bad): void {
  if (typeof l.nodeAddress !== "string") bad("nodeAddress is missing (an address with a prefix length, e.g. 10.0.4.2/24)");
  if (l.gateway !== undefined) {
    if (!isIp(l.gateway)) bad(`gateway ${JSON.stringify(l.gateway)} is not an address (e.g. 10.0.4.1)`);
    else if (isCidr(l.nodeAddress) && !contains(networkOf(l.nodeAddress), l.gateway))
      bad(`gateway ${l.gateway} is not in the subnet of nodeAddress ${l.nodeAddress}; the node could not reach it`);
  }
}

/** The link's addresses: well-formed IPv4, outside the cluster's ranges, unused, in one subnet. */
function addressIssues(l: NodeLink, i: number, ranges: readonly Range[], owners: AddressOwners, bad: Bad): void {
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
    for (const m of rangeClashes(v, ranges)) bad(`${k} ${m}`);
    // several nodes on one device bridge share the bridge's address
    const owner = k === "deviceAddress" && l.deviceBridge ? `${l.device}/${l.deviceBridge}` : `links[${i}].${k}`;
    const prev = owners.claim(v, owner);
    if (prev) bad(`${k} ${hostOf(v)} is already used by ${prev}`);
  }
  if (l.deviceAddress && isIpv4Cidr(l.nodeAddress) && isIpv4Cidr(l.deviceAddress) && !inOneSubnet(l.nodeAddress, l.deviceAddress)) {
    bad(`nodeAddress ${l.nodeAddress} and deviceAddress ${l.deviceAddress} are not in one subnet`);
  }
}

function tcIssues(k: string, tc: TrafficControl | undefined, bad: Bad): void {
  if (!tc) return;
  for (const p of shapingProblems(tc)) bad(`${k}.${p.field} ${p.message}`);
}

/** Interface names, MACs, MTU and shaping of a link. */
function interfaceIssues(l: NodeLink, bad: Bad): void {
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
  tcIssues("nodeTc", l.nodeTc, bad);
  tcIssues("deviceTc", l.deviceTc, bad);
}

function uplinkIssues(opts: ClusterOptions, ranges: readonly Range[], issues: Issue[]): void {
  const up = opts.uplinkCidr;
  if (up === undefined) return;
  const field = "uplinkCidr";
  if (!isCidr(up)) issues.push({ field, message: `uplinkCidr ${JSON.stringify(up)} is not a CIDR (e.g. 100.127.0.0/30)` });
  else if (!isIpv4Cidr(up) || prefixLength(up) !== 30)
    issues.push({ field, message: `uplinkCidr ${up} is not an IPv4 /30 (the host takes its 1st address, the gateway device its 2nd)` });
  else for (const [r, what] of ranges) if (overlaps(up, r)) issues.push({ field, message: `uplinkCidr ${up} overlaps ${what} ${r}` });
}

function hostConnectionIssues(input: ValidateLinksInput, issues: Issue[]): void {
  (input.options.hostConnections ?? []).forEach((hc, i) => {
    const field = `hostConnections[${i}]`;
    if (!input.deviceNames.includes(hc.device)) issues.push({ field, message: `unknown device ${JSON.stringify(hc.device)}` });
    for (const [k, v] of [
      ["hostAddress", hc.hostAddress],
      ["deviceAddress", hc.deviceAddress],
    ] as const) {
      if (!isCidr(v))
        issues.push({ field, message: `${k} ${JSON.stringify(v)} is not an address with a prefix length (e.g. 192.168.100.1/30)` });
    }
    if (isCidr(hc.hostAddress) && isCidr(hc.deviceAddress) && !inOneSubnet(hc.hostAddress, hc.deviceAddress))
      issues.push({ field, message: `hostAddress ${hc.hostAddress} and deviceAddress ${hc.deviceAddress} are not in one subnet` });
    (hc.routes ?? []).forEach((r, k) => {
      if (!isCidr(r)) issues.push({ field, message: `routes[${k}] ${JSON.stringify(r)} is not a CIDR` });
      else if (isCidr(hc.deviceAddress) && isIpv4Cidr(r) !== isIpv4Cidr(hc.deviceAddress))
        issues.push({ field, message: `routes[${k}] ${r} is not of the family of deviceAddress ${hc.deviceAddress}, its next hop` });
    });
  });
}

/** The cluster options beyond links: host routes, the uplink, pod routes, host connections, the gateway. */
function optionIssues(input: ValidateLinksInput, ranges: readonly Range[], issues: Issue[]): void {
  const opts = input.options;
  (opts.hostRoutes ?? []).forEach((r, k) => {
    const field = `hostRoutes[${k}]`;
    // routed via the Kind network's (IPv4) gateway
    if (!isCidr(r)) issues.push({ field, message: `hostRoutes entry ${JSON.stringify(r)} is not a CIDR (e.g. 203.0.113.0/24)` });
    else if (!isIpv4Cidr(r))
      issues.push({ field, message: `hostRoutes entry ${r} is not IPv4 (it is routed via the Kind network's IPv4 gateway)` });
  });
  uplinkIssues(opts, ranges, issues);
  (opts.podRoutes ?? []).forEach((r, i) => {
    const field = `podRoutes[${i}]`;
    if (!input.deviceNames.includes(r.device)) issues.push({ field, message: `unknown device ${JSON.stringify(r.device)}` });
    if (!input.nodeNames.includes(r.node)) issues.push({ field, message: `unknown Kubernetes node ${JSON.stringify(r.node)}` });
    const vias = typeof r.via === "string" ? [r.via] : r.via;
    if (!vias.length) issues.push({ field, message: "via names no address (e.g. 10.0.4.1, or several for equal-cost paths)" });
    for (const v of vias) if (!isIp(v)) issues.push({ field, message: `via ${JSON.stringify(v)} is not an address (e.g. 10.0.4.1)` });
  });
  (opts.p4PodRoutes ?? []).forEach((r, i) => {
    const field = `p4PodRoutes[${i}]`;
    if (!input.deviceNames.includes(r.device)) issues.push({ field, message: `unknown device ${JSON.stringify(r.device)}` });
    if (!input.nodeNames.includes(r.node)) issues.push({ field, message: `unknown Kubernetes node ${JSON.stringify(r.node)}` });
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(r.mac))
      issues.push({ field, message: `mac ${JSON.stringify(r.mac)} is not a MAC address` });
    for (const k of ["table", "action"] as const)
      if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(r[k])) issues.push({ field, message: `${k} ${JSON.stringify(r[k])} is not a P4 ${k} name` });
    if (!Number.isInteger(r.port) || r.port < 0)
      issues.push({ field, message: `port ${JSON.stringify(r.port)} is not a switch port number` });
  });
  hostConnectionIssues(input, issues);
  if (opts.internetVia !== undefined && !input.deviceNames.includes(opts.internetVia)) {
    issues.push({ field: "internetVia", message: `unknown device ${JSON.stringify(opts.internetVia)}` });
  }
}

/** Checks requested links against each other and the known ranges; all problems at once. */
export function validateLinks(input: ValidateLinksInput): Issue[] {
  const issues: Issue[] = [];
  // the ranges' own problems first: only well-formed ones are compared with the links below
  const ranges = rangeIssues(input, issues);
  const owners = new AddressOwners();
  const linked = new Set<string>();
  input.links.forEach((l, i) => {
    const bad: Bad = (message) => issues.push({ field: `links[${i}] (${l.node} -> ${l.device ?? `domain ${l.domain}`})`, message });
    endpointIssues(input, l, bad);
    gatewayIssues(l, bad);
    if (linked.has(l.node))
      bad(`${l.node === LOAD_BALANCER ? "the load balancer" : `node ${l.node}`} is linked twice; it has one link into the network`);
    linked.add(l.node);
    addressIssues(l, i, ranges, owners, bad);
    interfaceIssues(l, bad);
  });
  optionIssues(input, ranges, issues);
  return issues;
}
