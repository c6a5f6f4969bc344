/**
 * Static routing on any connected graph. RouteGraph: Dijkstra over per-link costs (hop count when
 * every cost is 1), and every equal-cost first hop toward a target (ECMP). staticRouter: from a
 * topology to the routes each device gets (Linux multipath routes where paths tie), the sysctls
 * that make a multipath route skip a cut link, and the pod routes of native routing. Pure.
 *
 * Hand-written rather than a graph library's: ECMP needs the set of *all* equal-cost first hops,
 * which the shortest-path helpers of the maintained graph libraries (graphology-shortest-path,
 * ngraph.path) do not give (they return one path); with the distances that is a few lines.
 */

import { addressRange, coveringPrefixes, hostOf, memoAddressRange, networkOf } from "../core/addr.js";
import type { PodRoute } from "../model/cluster.js";
import { isNode, isProvided, type StaticRoutePlan, type StaticRouter, type TopologySpec } from "../model/spec.js";

export interface Edge {
  /** The caller's id (a link index); first hops come back sorted by it. */
  id: number;
  a: string;
  b: string;
  /** Positive; 1 everywhere means hop count. */
  cost: number;
}

export interface FirstHop {
  edge: Edge;
  /** The neighbour at the far end of `edge`. */
  via: string;
}

interface Adjacent {
  edge: Edge;
  peer: string;
}

export class RouteGraph {
  private readonly adj = new Map<string, Adjacent[]>();
  private readonly dist = new Map<string, Map<string, number>>();
  /** Every edge costs 1 (hop count). */
  private readonly unit: boolean;

  constructor(
    readonly vertices: readonly string[],
    readonly edges: readonly Edge[],
  ) {
    this.unit = edges.every((e) => e.cost === 1);
    for (const v of vertices) this.adj.set(v, []);
    for (const e of edges) {
      if (!(e.cost > 0)) throw new Error(`edge ${e.id}: cost ${e.cost} is not positive`);
      this.neighbours(e.a).push({ edge: e, peer: e.b });
      this.neighbours(e.b).push({ edge: e, peer: e.a });
    }
  }

  private neighbours(v: string): Adjacent[] {
    let l = this.adj.get(v);
    if (!l) this.adj.set(v, (l = []));
    return l;
  }

  /** Connected components (of vertices with at least one edge, plus lone given vertices), each sorted. */
  components(): string[][] {
    const seen = new Set<string>();
    const out: string[][] = [];
    for (const v of this.adj.keys()) {
      if (seen.has(v)) continue;
      const comp: string[] = [];
      const stack = [v];
      seen.add(v);
      while (stack.length) {
        const u = stack.pop()!;
        comp.push(u);
        for (const { peer } of this.neighbours(u))
          if (!seen.has(peer)) {
            seen.add(peer);
            stack.push(peer);
          }
      }
      out.push(comp.sort());
    }
    return out;
  }

  /** Cost of the cheapest path from `from` to every vertex it reaches (Dijkstra; cached). */
  distances(from: string): Map<string, number> {
    const cached = this.dist.get(from);
    if (cached) return cached;
    const d = new Map<string, number>([[from, 0]]);
    if (this.unit) {
      // every cost 1: breadth first, in order of distance
      const queue = [from];
      for (let k = 0; k < queue.length; k++) {
        const u = queue[k]!;
        const du = d.get(u)! + 1;
        for (const { peer } of this.neighbours(u))
          if (!d.has(peer)) {
            d.set(peer, du);
            queue.push(peer);
          }
      }
      this.dist.set(from, d);
      return d;
    }
    const done = new Set<string>();
    // graphs here have tens to hundreds of vertices: a linear scan for the minimum is enough
    const open = new Set<string>([from]);
    while (open.size) {
      let u = "";
      let best = Infinity;
      for (const v of open)
        if (d.get(v)! < best) {
          best = d.get(v)!;
          u = v;
        }
      open.delete(u);
      done.add(u);
      for (const { edge, peer } of this.neighbours(u)) {
        if (done.has(peer)) continue;
        const alt = best + edge.cost;
        if (alt < (d.get(peer) ?? Infinity)) {
          d.set(peer, alt);
          open.add(peer);
        }
      }
    }
    this.dist.set(from, d);
    return d;
  }

  /** Cost from `v` to the nearest of `targets` (the graph is undirected: distances from each target). */
  private costTo(v: string, targets: readonly string[]): number {
    let best = Infinity;
    for (const t of targets) best = Math.min(best, this.distances(t).get(v) ?? Infinity);
    return best;
  }

  /**
   * Every neighbour of `from` that lies on a cheapest path to the nearest of `targets`, with the
   * edge to it, sorted by edge id. Empty when `from` is a target or cannot reach one.
   */
  firstHops(from: string, targets: readonly string[]): FirstHop[] {
    if (targets.includes(from)) return [];
    const here = this.costTo(from, targets);
    if (here === Infinity) return [];
    const mine = this.neighbours(from);
    // one neighbour (a host's uplink): every path starts there
    if (mine.length === 1) return [{ edge: mine[0]!.edge, via: mine[0]!.peer }];
    return mine
      .filter(({ edge, peer }) => edge.cost + this.costTo(peer, targets) === here)
      .map(({ edge, peer }) => ({ edge, via: peer }))
      .sort((x, y) => x.edge.id - y.edge.id);
  }
}

/** Rendered with the other kernel operations (plan/ops.ts); kept here for the routes' users. */
export { nextHopArgs } from "./ops.js";

/**
 * Set in devices with multipath routes: without it the kernel keeps sending a share of the flows
 * to a next hop whose interface has no carrier (a cut link); with it, the other paths take them.
 */
export const MULTIPATH_SYSCTLS: Readonly<Record<string, string>> = {
  "net.ipv4.conf.all.ignore_routes_with_linkdown": "1",
  "net.ipv6.conf.all.ignore_routes_with_linkdown": "1",
};

/**
 * Which edges carry traffic: a link (by its collision domain, `l<index>` when unnamed) between
 * `a` and `b`, or a segment's device `a` and member `b`. Absent: all of them.
 */
export type Carries = (link: string, a: string, b: string) => boolean;

/** The graph of a topology: links, and each segment member one hop from the segment's device; each edge's end addresses. */
function topologyGraph(
  spec: TopologySpec,
  vertices: string[],
  carries: Carries = () => true,
): { g: RouteGraph; addrAt: (e: Edge, end: string) => string } {
  const edges = spec.links.map((l, id) => ({
    edge: { id, a: l.endpoints[0], b: l.endpoints[1], cost: l.cost ?? 1 },
    addresses: l.addresses ?? ["", ""],
    on: carries(l.name ?? `l${id}`, l.endpoints[0], l.endpoints[1]),
  }));
  for (const s of spec.segments ?? [])
    for (const m of s.members)
      edges.push({
        edge: { id: edges.length, a: s.device, b: m.name, cost: 1 },
        addresses: [s.address, m.address],
        on: carries(s.name, s.device, m.name),
      });
  // an edge that carries nothing is left out of the graph; its subnet stays a destination (its ends
  // keep their addresses, reached through the rest of the network)
  const g = new RouteGraph(
    vertices,
    edges.filter((e) => e.on).map((e) => e.edge),
  );
  // parsed once, when first asked (the plan asks per device and destination); never for the graph
  // alone: validation asks for its parts before it has refused malformed addresses
  const hosts = new Map<number, string[]>();
  const hostsOf = (id: number) =>
    hosts.get(id) ??
    hosts
      .set(
        id,
        edges[id]!.addresses.map((a) => (a ? hostOf(a) : "")),
      )
      .get(id)!;
  /** The address of `end` on the link (or segment) of edge `e`. */
  const addrAt = (e: Edge, end: string) => hostsOf(e.id)[e.a === end ? 0 : 1]!;
  return { g, addrAt };
}

/** Every subnet (link or segment) with the devices on it, in the order of the topology. */
function subnetsOf(spec: TopologySpec): { net: string; on: string[] }[] {
  return [
    ...spec.links.filter((l) => l.addresses).map((l) => ({ net: networkOf(l.addresses![0]), on: [...l.endpoints] })),
    ...(spec.segments ?? []).map((s) => ({ net: networkOf(s.address), on: [s.device, ...s.members.map((m) => m.name)] })),
  ];
}

/** Where a device sends traffic for each subnet it is not on, and for each Kubernetes node. */
function nextHops(
  spec: TopologySpec,
  all: { net: string; on: string[] }[],
  g: RouteGraph,
  addrAt: (e: Edge, end: string) => string,
  device: string,
) {
  const hops = (targets: string[]) => [...new Set(g.firstHops(device, targets).map((h) => addrAt(h.edge, h.via)))];
  const subnets = new Map<string, string[]>();
  const nodes = new Map<string, string[]>();
  for (const { net, on } of all) {
    const via = on.includes(device) ? [] : hops(on);
    if (via.length) subnets.set(net, via);
  }
  for (const n of spec.devices.filter((x) => isNode(x.kind))) {
    const via = hops([n.name]);
    if (via.length) nodes.set(n.name, via);
  }
  return { subnets, nodes };
}

/**
 * A host's routes, summarised: where every subnet of a family takes the same next hops (one uplink,
 * or ECMP over equivalent ones), the prefixes covering them (core/addr.ts coveringPrefixes: one in
 * a lab numbered from one pool) instead of a route per subnet (238 in a 200-device leaf-spine).
 * Connected subnets stay more specific. Not a default route: the device given the cluster's
 * internet uplink gets its default route there (plan/cluster/host.ts, replacing one), and a
 * host's own start-up may add one. An address in the cover that no subnet holds goes to the
 * uplink, whose routes are per subnet: dropped there, as it was at the host before.
 */
export function summarise(
  subnets: ReadonlyMap<string, readonly string[]>,
  rangeOf: typeof addressRange = addressRange,
): Map<string, readonly string[]> {
  const byFamily = new Map<string, [string, readonly string[]][]>();
  for (const [dst, via] of subnets) {
    const f = rangeOf(dst).family;
    const l = byFamily.get(f);
    if (l) l.push([dst, via]);
    else byFamily.set(f, [[dst, via]]);
  }
  const out = new Map<string, readonly string[]>();
  const sameHops = (a: readonly string[], b: readonly string[]) => a === b || (a.length === b.length && a.every((x, i) => x === b[i]));
  for (const routes of byFamily.values()) {
    const via = routes[0]![1];
    const same = routes.every(([, v]) => sameHops(v, via));
    if (same)
      for (const p of coveringPrefixes(
        routes.map(([dst]) => dst),
        rangeOf,
      ))
        out.set(p, via);
    else for (const [dst, v] of routes) out.set(dst, v);
  }
  return out;
}

/** The parts of the network that no carrying edge joins (every device of the topology; names sorted). */
export function carryingParts(spec: TopologySpec, carries: Carries): string[][] {
  return topologyGraph(
    spec,
    spec.devices.map((d) => d.name),
    carries,
  ).g.components();
}

/** Static routes over the edges that carry traffic (all of them: what `up` installs). */
export function planStatic(spec: TopologySpec, carries?: Carries): StaticRoutePlan {
  const { g, addrAt } = topologyGraph(
    spec,
    spec.devices.map((d) => d.name),
    carries,
  );
  const out: StaticRoutePlan = { routes: new Map(), sysctls: new Map(), podRoutes: [] };
  const reroutes = spec.routing === "static" && spec.reroute !== false;
  const all = subnetsOf(spec);
  const rangeOf = memoAddressRange();
  // the provider's containers get theirs from the cluster plan (nodes: default route; load balancer: routes to the nodes)
  for (const d of spec.devices.filter((x) => !isProvided(x.kind))) {
    const { subnets, nodes } = nextHops(spec, all, g, addrAt, d.name);
    const routes = d.kind === "host" ? summarise(subnets, rangeOf) : subnets;
    out.routes.set(
      d.name,
      [...routes].map(([dst, via]) => ({ dst, via })),
    );
    // a lab kinda re-routes may give any device multipath routes later, and the sysctls are set only when its container is made
    if (reroutes || [...subnets.values(), ...nodes.values()].some((v) => v.length > 1)) out.sysctls.set(d.name, { ...MULTIPATH_SYSCTLS });
    for (const [node, via] of nodes) out.podRoutes.push({ device: d.name, node, via: via.length > 1 ? via : via[0]! } satisfies PodRoute);
  }
  return out;
}

/** Static routing over the cheapest paths; several next hops where paths tie (ECMP). On a tree: one path, one next hop. */
export const staticRouter: StaticRouter = {
  parts(spec) {
    const linked = new Set([
      ...spec.links.flatMap((l) => l.endpoints),
      ...(spec.segments ?? []).flatMap((s) => [s.device, ...s.members.map((m) => m.name)]),
    ]);
    return topologyGraph(spec, [...linked]).g.components();
  },
  plan: (spec) => planStatic(spec),
};
