/**
 * Links of nodes (and the load balancer) into the network: a veth from the node's namespace into
 * a device (optionally onto a bridge in it) or onto a collision domain's bridge in the lab
 * namespace. Both kinds share the node side; only the far end differs.
 */
import { TopologyError } from "../../core/errors.js";
import { NIC_INNER, NIC_OUTER, hostLinkPrefix, nodeLinkMac } from "../../core/names.js";
import { hostOf } from "../../core/addr.js";
import type { NodeLink, TrafficControl } from "../../model/cluster.js";
import type { IpOp, NetemOp, TbfOp } from "../../model/ops.js";
import { qdiscArgs, usesNetem } from "../../core/tc.js";
import { addrAdd, inverseOf, linkUp, routeReplace, veth } from "../ops.js";
import { DEFAULT_MTU, DEFAULT_NODE_IF, labelOf, nsOps, type NsOps, type PlanContext } from "./context.js";

/** A link end's egress shaping: tbf for a rate alone, netem when any netem option is given. */
export function tbf(dev: string, tc: TrafficControl): TbfOp | NetemOp {
  if (usesNetem(tc)) return { op: "netem", dev, args: qdiscArgs(tc).slice(1) };
  return { op: "tbf", dev, rate: tc.rate!, burst: tc.burst ?? "32kbit", latency: tc.latency ?? "50ms" };
}

/** The far end of a node's veth: its name, namespace and MAC, and the node's default gateway there. */
interface FarEnd {
  peer: string;
  netns: string | number;
  mac?: string;
  gateway?: string;
}

/**
 * The veths of a node's link. Without a NIC: the node's interface wired to the far end. With one:
 * the outer end (NIC_OUTER) wired to the far end, and an inner pair, the node's interface (address,
 * routes) and NIC_INNER; the NIC's data plane joins NIC_OUTER and NIC_INNER, so every packet of
 * the node crosses it. The NIC's ports are no interfaces of the node's kernel (nic-port) and carry
 * full checksums (offload off), since the NIC's program reads and writes whole packets.
 */
function nodeVeths(n: NsOps, l: NodeLink, nodeIf: string, far: FarEnd, lab: string): void {
  const mtu = l.mtu ?? DEFAULT_MTU;
  // fixed when none is given: a node attached again keeps the MAC its neighbours hold for it
  const mac = { mac: l.nodeMac ?? nodeLinkMac(lab, l.node, l.domain !== undefined ? `domain ${l.domain}` : `device ${l.device}`, nodeIf) };
  const peerMac = far.mac ? { peerMac: far.mac } : {};
  if (!l.nic) {
    n.ip.push(veth(nodeIf, far.peer, far.netns, { mtu, ...mac, ...peerMac }));
    return;
  }
  n.ip.push(
    veth(NIC_OUTER, far.peer, far.netns, { mtu, ...peerMac }),
    veth(nodeIf, NIC_INNER, undefined, { mtu, ...mac }),
    linkUp(NIC_OUTER),
    linkUp(NIC_INNER),
  );
  for (const port of [NIC_OUTER, NIC_INNER]) {
    n.sysctl.push({ op: "nic-port", dev: port });
    n.ethtool.push({ op: "offload-off", dev: port });
  }
}

/** The node's side of a link: the veth, its address, shaping, and (asked for) the default route. */
function nodeSide(ctx: PlanContext, n: NsOps, l: NodeLink, far: FarEnd): void {
  const node = ctx.attached.find((x) => x.name === l.node)!;
  const nodeIf = l.nodeIf ?? DEFAULT_NODE_IF;
  nodeVeths(n, l, nodeIf, far, ctx.input.lab);
  n.ip.push(addrAdd(l.nodeAddress, nodeIf), linkUp(nodeIf));
  if (l.nic) ctx.nics.push({ node: l.node, nic: l.nic });
  // the seed found TCP broken with checksum offload on the node side
  n.ethtool.push({ op: "offload-off", dev: nodeIf });
  // routers' answers from addresses the node routes via the provider (traceroute) pass
  n.sysctl.push({ op: "rp-filter-loose", dev: nodeIf });
  if (l.nodeTc) n.tc.push(tbf(nodeIf, l.nodeTc));
  // the gateway is a P4 switch's port: no kernel there answers ARP
  if (l.gatewayMac && far.gateway) n.ip.push({ op: "neigh-replace", address: far.gateway, lladdr: l.gatewayMac, dev: nodeIf });
  if (l.defaultRoute && far.gateway) {
    for (const r of ctx.options.hostRoutes ?? []) n.ip.push(routeReplace({ dst: r, via: node.providerGateway, dev: node.providerIf }));
    n.ip.push(routeReplace({ dst: "default", via: far.gateway, dev: nodeIf }));
  }
}

/** A link onto a collision domain: the far end joins the domain's bridge in the lab namespace. */
function domainLink(ctx: PlanContext, n: NsOps, labOps: NsOps, l: NodeLink, index: number): void {
  const { input } = ctx;
  const bridge = input.domains?.find((d) => d.name === l.domain)?.bridge;
  if (!bridge || (!input.labNetns && !input.domainsInHost))
    throw new TopologyError([{ field: `links[${index}]`, message: `collision domain ${l.domain} is not known in this lab` }]);
  const peer = input.domainsInHost ? `${hostLinkPrefix(input.lab)}-d${index}` : `kn-${index}`;
  const netns = input.domainsInHost ? 1 : input.labNetns!;
  ctx.linkIfs.push({ node: l.node, nodeIf: l.nodeIf ?? DEFAULT_NODE_IF, labIf: peer });
  nodeSide(ctx, n, l, { peer, netns, ...(l.gateway ? { gateway: l.gateway } : {}) });
  labOps.ip.push(linkUp(peer, { master: bridge }));
}

/** A bridge inside a device that node links join: made unless the device already has it. */
function deviceBridge(ctx: PlanContext, d: NsOps, l: NodeLink & { device: string; deviceBridge: string }, made: Set<string>): void {
  const key = `${l.device}/${l.deviceBridge}`;
  if (made.has(key)) return;
  made.add(key);
  // a bridge the device already has (its startup made it) is joined, never made or removed
  const existing = ctx.device(l.device).bridges?.includes(l.deviceBridge);
  if (!existing) {
    const add: IpOp = { op: "link-add", name: l.deviceBridge, kind: { type: "bridge" } };
    d.ip.push(add);
    ctx.undo.add(l.device, { op: "link-delete", name: l.deviceBridge });
  }
  d.ip.push(linkUp(l.deviceBridge));
  if (l.deviceAddress) {
    d.ip.push(addrAdd(l.deviceAddress, l.deviceBridge));
    // on a bridge kinda made the address goes with it; on the device's own it must be removed
    if (existing) ctx.undo.add(l.device, { op: "addr-del", address: l.deviceAddress, dev: l.deviceBridge });
  }
}

/** A link into a device: the far end is a new interface of the device (on a bridge, or addressed). */
function deviceLink(ctx: PlanContext, n: NsOps, d: NsOps, l: NodeLink & { device: string }, bridges: Set<string>): void {
  const devIf = l.deviceIf ?? ctx.newDeviceIf(l.device);
  ctx.linkIfs.push({ node: l.node, nodeIf: l.nodeIf ?? DEFAULT_NODE_IF, deviceIf: devIf });
  nodeSide(ctx, n, l, {
    peer: devIf,
    netns: ctx.device(l.device).pid,
    ...(l.deviceMac ? { mac: l.deviceMac } : {}),
    ...(l.deviceAddress ? { gateway: hostOf(l.deviceAddress) } : {}),
  });
  ctx.undo.addVethEnd(l.device, devIf);
  d.ip.push(linkUp(devIf));
  if (l.deviceBridge) {
    deviceBridge(ctx, d, { ...l, deviceBridge: l.deviceBridge }, bridges);
    d.ip.push({ op: "link-set", name: devIf, master: l.deviceBridge });
  } else if (l.deviceAddress && !l.noDeviceAddress) {
    const dev = l.deviceAddressIf ?? devIf;
    d.ip.push(addrAdd(l.deviceAddress, dev));
    // on the link's own interface the address goes with it; on another of the device's it must be removed
    if (dev !== devIf) ctx.undo.add(l.device, inverseOf(addrAdd(l.deviceAddress, dev)));
  }
  if (l.deviceTc) d.tc.push(tbf(devIf, l.deviceTc));
}

export interface LinkSteps {
  nodeOps: Map<string, NsOps>;
  labOps: NsOps;
  devOps: Map<string, NsOps>;
}

/** Phase 0 (node sides) and 1 (far ends): domain links first, then device links, in link order. */
export function planLinks(ctx: PlanContext): LinkSteps {
  const { input } = ctx;
  const nodeOps = new Map(ctx.attached.map((n) => [n.name, nsOps(0, labelOf(n.name), { pid: n.pid })]));
  const devOps = new Map(input.devices.map((d) => [d.name, nsOps(1, `device ${d.name}`, { pid: d.pid })]));
  const labOps = input.domainsInHost
    ? nsOps(1, "host namespace (collision domains)", { host: true })
    : nsOps(1, `lab namespace ${input.labNetns ?? ""}`, { name: input.labNetns ?? "" });
  input.links.forEach((l, i) => {
    if (l.domain !== undefined) domainLink(ctx, nodeOps.get(l.node)!, labOps, l, i);
  });
  const bridges = new Set<string>();
  for (const l of input.links) {
    if (l.device !== undefined) deviceLink(ctx, nodeOps.get(l.node)!, devOps.get(l.device)!, { ...l, device: l.device }, bridges);
  }
  return { nodeOps, labOps, devOps };
}
