/**
 * Phase 2 in the nodes: underlay routes to the peers' emulated addresses, the pod tunnels
 * (VXLAN, GRE) or plain pod routes, and the API redirection through the network.
 */
import { contains, hostOf, networkOf, nthAddress } from "../../core/addr.js";
import { DEFAULT_TUNNEL_CIDR } from "../../core/defaults.js";
import { greIf, vxlanMac } from "../../core/names.js";
import { LOAD_BALANCER, type NodeFacts, type NodeLink, type ProviderContainerFacts } from "../../model/cluster.js";
import { addrAdd, linkUp, routeReplace } from "../ops.js";
import {
  DEFAULT_MTU,
  GRE_OVERHEAD,
  POD_RULE_PREF,
  POD_TABLE,
  VXLAN_ID,
  VXLAN_IF,
  VXLAN_OVERHEAD,
  VXLAN_PORT,
  labelOf,
  nsOps,
  type NsOps,
  type PlanContext,
} from "./context.js";

/** The node's next hop into the network: the link's gateway, else the device's address. */
function gatewayOf(l: NodeLink): string | undefined {
  return l.gateway ?? (l.deviceAddress ? hostOf(l.deviceAddress) : undefined);
}

class Overlay {
  readonly steps: Map<string, NsOps>;
  /** Emulated (network) address of every attached container. */
  private readonly emu: Map<string, string>;
  private readonly tunnelCidr: string;

  constructor(private readonly ctx: PlanContext) {
    this.steps = new Map(ctx.attached.map((n) => [n.name, nsOps(2, labelOf(n.name), { pid: n.pid })]));
    this.emu = new Map(ctx.input.links.map((l) => [l.node, hostOf(l.nodeAddress)]));
    this.tunnelCidr = ctx.options.tunnelCidr ?? DEFAULT_TUNNEL_CIDR;
  }

  /** Routes from an attached container to others' emulated addresses via its gateway (off its subnet). */
  routeTo(self: string, others: readonly ProviderContainerFacts[]): void {
    const l = this.ctx.linkOf.get(self)!;
    const gw = gatewayOf(l);
    for (const p of others) {
      const pe = this.emu.get(p.name)!;
      if (gw && !contains(networkOf(l.nodeAddress), pe))
        this.steps.get(self)!.ip.push(routeReplace({ dst: `${pe}/32`, via: gw, dev: this.ctx.ifOf(self) }));
    }
  }

  /** A pod CIDR routed in the pod table, and the rule that looks it up. */
  private podRoute(o: NsOps, pod: string, route: { via?: string; dev: string; onlink?: boolean; mtu?: number }): void {
    o.ip.push(routeReplace({ dst: pod, ...route, table: POD_TABLE }));
    o.ip.push({ op: "rule-add", to: pod, table: POD_TABLE, pref: POD_RULE_PREF });
  }

  /** MSS clamping on what leaves through the tunnels (their MTU is smaller). */
  private clampMss(o: NsOps, outIf: string): void {
    o.iptables.push(
      this.ctx.rule("mangle", "FORWARD", ["-o", outIf, "-p", "tcp", "--tcp-flags", "SYN,RST", "SYN"], ["TCPMSS", "--clamp-mss-to-pmtu"]),
    );
  }

  vxlan(node: NodeFacts, peers: readonly NodeFacts[]): void {
    const i = this.ctx.indexOf(node.name);
    const o = this.steps.get(node.name)!;
    const l = this.ctx.linkOf.get(node.name)!;
    const tmtu = (l.mtu ?? DEFAULT_MTU) - VXLAN_OVERHEAD;
    o.ip.push(
      {
        op: "link-add",
        name: VXLAN_IF,
        kind: { type: "vxlan", id: VXLAN_ID, local: this.emu.get(node.name)!, dstport: VXLAN_PORT, dev: this.ctx.ifOf(node.name) },
      },
      linkUp(VXLAN_IF, { mac: vxlanMac(i), mtu: tmtu }),
      addrAdd(`${nthAddress(this.tunnelCidr, i + 1)}/32`, VXLAN_IF),
    );
    for (const p of peers) {
      const j = this.ctx.indexOf(p.name);
      const vtep = nthAddress(this.tunnelCidr, j + 1);
      o.ip.push({ op: "neigh-replace", address: vtep, lladdr: vxlanMac(j), dev: VXLAN_IF });
      o.bridge.push({ op: "fdb-append", mac: vxlanMac(j), dev: VXLAN_IF, dst: this.emu.get(p.name)! });
      // the peer's tunnel address itself, back through the tunnel: what the node sends to a remote
      // pod leaves from its own tunnel address (the pod route's device), so a pod's reply (and the
      // node's reverse-path check of the request) needs this route, else it follows the default
      // route into the emulated network, which knows no tunnel addresses. Without it a node's own
      // processes never reach remote pods: kubelet, the API server's proxy to pods, NodePorts whose
      // endpoint is elsewhere (kube-proxy masquerades to this address) — Kubernetes' conformance
      // tests found it (issue 23).
      o.ip.push(routeReplace({ dst: `${vtep}/32`, dev: VXLAN_IF, mtu: tmtu }));
      for (const pod of p.podCidrs) this.podRoute(o, pod, { via: vtep, dev: VXLAN_IF, onlink: true, mtu: tmtu });
    }
    this.clampMss(o, VXLAN_IF);
  }

  /** Pods' packets travel unencapsulated; the devices route pod CIDRs (options.podRoutes). */
  plain(node: NodeFacts, peers: readonly NodeFacts[]): void {
    const o = this.steps.get(node.name)!;
    const gw = gatewayOf(this.ctx.linkOf.get(node.name)!);
    const dev = this.ctx.ifOf(node.name);
    for (const p of peers) {
      for (const pod of p.podCidrs) {
        if (gw) o.ip.push(routeReplace({ dst: pod, via: gw, dev, table: POD_TABLE }));
        o.ip.push({ op: "rule-add", to: pod, table: POD_TABLE, pref: POD_RULE_PREF });
      }
    }
  }

  gre(node: NodeFacts, peers: readonly NodeFacts[]): void {
    const i = this.ctx.indexOf(node.name);
    const o = this.steps.get(node.name)!;
    const tmtu = (this.ctx.linkOf.get(node.name)!.mtu ?? DEFAULT_MTU) - GRE_OVERHEAD;
    for (const p of peers) {
      const j = this.ctx.indexOf(p.name);
      const dev = greIf(j);
      // each unordered pair {a<b} gets a /31 from the tunnel range: a takes the even address
      const [a, b] = i < j ? [i, j] : [j, i];
      const pair = (b * (b - 1)) / 2 + a;
      const mine = nthAddress(this.tunnelCidr, 2 * pair + (i < j ? 0 : 1));
      o.ip.push(
        { op: "link-add", name: dev, kind: { type: "gre", local: this.emu.get(node.name)!, remote: this.emu.get(p.name)!, ttl: 64 } },
        linkUp(dev, { mtu: tmtu }),
        addrAdd(`${mine}/31`, dev),
      );
      for (const pod of p.podCidrs) this.podRoute(o, pod, { dev, mtu: tmtu });
    }
    this.clampMss(o, "kgre+");
  }

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
  redirectApi(client: ProviderContainerFacts, server: ProviderContainerFacts, match: string[] = []): void {
    const { ctx } = this;
    const c = this.steps.get(client.name)!;
    const s = this.steps.get(server.name)!;
    const ce = this.emu.get(client.name)!;
    const se = this.emu.get(server.name)!;
    c.iptables.push(
      ctx.rule("nat", "OUTPUT", ["-d", `${server.internalIp}/32`, ...match], ["DNAT", "--to-destination", se]),
      ctx.rule("nat", "POSTROUTING", ["-d", `${se}/32`, "-o", ctx.ifOf(client.name)], ["SNAT", "--to-source", ce]),
    );
    const tcp = match.length ? match : ["-p", "tcp"];
    s.iptables.push(
      ctx.rule(
        "nat",
        "PREROUTING",
        ["-i", ctx.ifOf(server.name), "-s", `${ce}/32`, "-d", `${se}/32`, ...tcp],
        ["DNAT", "--to-destination", server.internalIp],
      ),
      ctx.rule("nat", "INPUT", ["-s", `${ce}/32`, "-d", `${server.internalIp}/32`, ...tcp], ["SNAT", "--to-source", client.internalIp]),
    );
    c.flushConntrack = true;
    s.flushConntrack = true;
    if (!c.killTcp.includes(server.internalIp)) c.killTcp.push(server.internalIp);
    if (!s.killTcp.includes(client.internalIp)) s.killTcp.push(client.internalIp);
  }
}

/** Phase 2 in every attached container. */
export function planOverlay(ctx: PlanContext): Map<string, NsOps> {
  const ov = new Overlay(ctx);
  const { nodes } = ctx.input;
  const { lb, options } = ctx;
  const encapsulation = options.encapsulation ?? "vxlan";
  const apiPort = lb ? ["-p", "tcp", "--dport", String(lb.apiPort)] : [];
  for (const node of nodes) {
    const peers = nodes.filter((p) => p.name !== node.name);
    ov.routeTo(node.name, lb ? [...peers, lb] : peers);
    if (encapsulation === "vxlan") ov.vxlan(node, peers);
    else if (encapsulation === "none") ov.plain(node, peers);
    else ov.gre(node, peers);
    if (options.apiThroughNetwork) {
      // with the emulated identity, nodes (and the load balancer) already address each other there: nothing to rewrite
      if (!ctx.input.emulatedIdentity) for (const p of peers) ov.redirectApi(node, p);
      // the API through the load balancer (the address Kind's kubeconfigs name): its API port only
      if (lb && !ctx.input.emulatedIdentity) ov.redirectApi(node, lb, apiPort);
    }
  }
  if (lb) {
    ov.routeTo(LOAD_BALANCER, nodes);
    if (options.apiThroughNetwork && !ctx.input.emulatedIdentity)
      for (const cp of nodes.filter((n) => n.role === "control-plane")) ov.redirectApi(lb, cp, apiPort);
  }
  return ov.steps;
}
