/**
 * Table entries for a P4 switch that forwards IPv4 by longest-prefix match (the example program
 * examples/p4/ipv4_lpm.p4: table MyIngress.ipv4_lpm, key the destination address, action
 * MyIngress.ipv4_forward(next hop's MAC, egress port)), written from what static routing already
 * computed, as simple_switch_CLI lines. Pure.
 *
 * Entries, in this order:
 *   - each neighbour on a link or segment of the switch: `ADDR/32 => its MAC, the port toward it`
 *     (in port order: the switch's own subnets are reached host by host, its own addresses are
 *     left to its kernel, which answers ARP and pings for them);
 *   - each route of the static plan for the switch: `SUBNET => the next hop's MAC, its port`.
 * MACs are the fixed ones kinda gives link ends (compile.ts linkMac), so the entries are known
 * before anything is deployed. Where paths tie (ECMP) the table takes the first next hop: one
 * LPM table has one action per prefix (ECMP would need an action selector in the program).
 *
 * With encapsulation "none" pods are routed natively, and each node's pod CIDRs need entries too;
 * those ranges are known only once the cluster assigns them, so here each node gets its next hop
 * (`lpmPodRoutes`) and the cluster planner writes one entry per CIDR at attach time.
 */
import { hostOf } from "../core/addr.js";
import { KindaError } from "../core/errors.js";
import type { NodeLink, P4PodRoute, PodRoute } from "../model/cluster.js";
import type { RoutingLpm } from "../model/routing.js";
import type { LpmTable, StaticRoute } from "../model/spec.js";

export const LPM_TABLE = "MyIngress.ipv4_lpm";
export const LPM_ACTION = "MyIngress.ipv4_forward";

/** One end of a link or segment between lab devices: the device, its interface (index) and MAC, its address. */
export interface LinkEnd {
  device: string;
  domain: string;
  index: number;
  mac: string;
  address?: string | undefined;
}

/** A device or node the switch reaches directly: its address, its MAC, the switch's port toward it. */
export interface LpmNeighbour {
  name: string;
  address: string;
  mac: string;
  port: number;
}

/**
 * Who the switch `sw` reaches on each of its ports. BMv2 port N is its N-th data interface: its
 * lab interfaces (port = interface index), then its links to nodes (port = labPorts + k).
 */
export function lpmNeighbours(sw: string, ends: readonly LinkEnd[], nodeLinks: readonly NodeLink[], labPorts: number): LpmNeighbour[] {
  const out: LpmNeighbour[] = [];
  for (const mine of ends.filter((e) => e.device === sw)) {
    for (const e of ends)
      if (e.domain === mine.domain && e.device !== sw && e.address)
        out.push({ name: e.device, address: hostOf(e.address), mac: e.mac, port: mine.index });
    // nodes on a segment of the switch
    for (const nl of nodeLinks)
      if (nl.domain === mine.domain && nl.nodeMac)
        out.push({ name: nl.node, address: hostOf(nl.nodeAddress), mac: nl.nodeMac, port: mine.index });
  }
  nodeLinks
    .filter((nl) => nl.device === sw)
    .forEach((nl, k) => {
      if (!nl.nodeMac) throw new KindaError(`P4 switch ${sw}: the link to ${nl.node} has no fixed MAC for its table entries`);
      out.push({ name: nl.node, address: hostOf(nl.nodeAddress), mac: nl.nodeMac, port: labPorts + k });
    });
  return out.sort((a, b) => a.port - b.port);
}

export interface LpmEntries {
  lines: string[];
  /** Prefixes with several equal-cost next hops, of which the table takes the first. */
  warnings: string[];
}

function tableOf(lpm: true | LpmTable): { table: string; action: string } {
  return { table: (lpm !== true && lpm.table) || LPM_TABLE, action: (lpm !== true && lpm.action) || LPM_ACTION };
}

/**
 * The neighbour an LPM entry for `what` goes to: the first of its next hops (one LPM table has one
 * action per prefix), with a warning when there are several.
 */
function firstHop(
  sw: string,
  what: string,
  via: readonly string[],
  byAddress: Map<string, LpmNeighbour>,
  warnings: string[],
): LpmNeighbour {
  const n = byAddress.get(via[0]!);
  if (!n) throw new KindaError(`P4 switch ${sw}: next hop ${via[0]} of ${what} is not a neighbour on any of its ports`);
  if (via.length > 1)
    warnings.push(
      `P4 switch ${sw}: ${what} has ${via.length} equal-cost next hops (${via.join(", ")}); its LPM table takes the first, ${n.address} (${n.name})`,
    );
  return n;
}

/** The simple_switch_CLI lines that make switch `sw` forward as the static plan routes. */
export function lpmEntries(
  sw: string,
  lpm: true | LpmTable,
  neighbours: readonly LpmNeighbour[],
  routes: readonly StaticRoute[],
): LpmEntries {
  const { table, action } = tableOf(lpm);
  const line = (prefix: string, n: LpmNeighbour) => `table_add ${table} ${action} ${prefix} => ${n.mac} ${n.port}`;
  const byAddress = new Map(neighbours.map((n) => [n.address, n]));
  const lines = neighbours.map((n) => line(`${n.address}/32`, n));
  const warnings: string[] = [];
  for (const r of routes) lines.push(line(r.dst, firstHop(sw, r.dst, r.via, byAddress, warnings)));
  return { lines, warnings };
}

/**
 * Where switch `sw` sends each node's pods (encapsulation "none"): the static plan's pod routes
 * of the switch, as table, action, next hop's MAC and port. The entries themselves (one per pod
 * CIDR) are written when the cluster is attached.
 */
export function lpmPodRoutes(
  sw: string,
  lpm: true | LpmTable,
  neighbours: readonly LpmNeighbour[],
  podRoutes: readonly PodRoute[],
): { routes: P4PodRoute[]; warnings: string[] } {
  const { table, action } = tableOf(lpm);
  const byAddress = new Map(neighbours.map((n) => [n.address, n]));
  const warnings: string[] = [];
  const routes = podRoutes
    .filter((r) => r.device === sw)
    .map((r) => {
      const n = firstHop(sw, `the route to ${r.node}'s pods`, typeof r.via === "string" ? [r.via] : r.via, byAddress, warnings);
      return { device: sw, node: r.node, table, action, via: n.address, mac: n.mac, port: n.port };
    });
  return { routes, warnings };
}

/**
 * What the routing record keeps of a switch with `lpm:` (model/routing.ts RoutingLpm): table,
 * action, neighbours, and the route entries `lpmEntries` writes (prefix => next hop's MAC, port),
 * so that a re-route can rewrite the ones whose next hop changes.
 */
export function lpmRecord(lpm: true | LpmTable, neighbours: readonly LpmNeighbour[], routes: readonly StaticRoute[]): RoutingLpm {
  const byAddress = new Map(neighbours.map((n) => [n.address, n]));
  const entries: Record<string, string[]> = {};
  for (const r of routes) {
    const n = byAddress.get(r.via[0]!);
    if (n) entries[r.dst] = [n.mac, String(n.port)];
  }
  return { ...tableOf(lpm), neighbours: neighbours.map((n) => ({ ...n })), entries };
}
