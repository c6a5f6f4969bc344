/**
 * What a lab with static routing keeps, so that kinda can route around a cut while it is up: the
 * graph the routes were computed over (a TopologySpec reduced to names, kinds, links, addresses,
 * costs and segments) and the routes each device has now. Which links carry no traffic is read
 * from the state's cuts (LiveState.cuts), so there is one record of them.
 * Recorded in the lab's state at `up`; plan/reroute.ts computes the difference after a change.
 */
import type { DeviceKind } from "./kind.js";
import type { Route } from "./ops.js";

/** A shared segment as routing sees it (a SegmentSpec's names and addresses; not imported from spec.ts, which imports cluster.ts, which imports lab.ts, which imports this). */
export interface RoutingSegment {
  name: string;
  device: string;
  address: string;
  members: { name: string; address: string }[];
}

export interface RoutingLink {
  /** Its collision domain (the link's name, or l<index>); for a node's link straight into a device too. */
  name: string;
  endpoints: [string, string];
  addresses: [string, string];
  cost?: number;
}

export interface RoutingRecord {
  /** static: kinda re-routes; ospf, bgp: FRR does, and the record serves to name the parts a cut splits. */
  mode: "static" | "ospf" | "bgp";
  /** Re-route when links or devices change (static only; default true, the topology's `reroute: false` turns it off). */
  reroute: boolean;
  devices: { name: string; kind: DeviceKind }[];
  links: RoutingLink[];
  segments?: RoutingSegment[];
  /** The routes kinda installed in each lab device (not the cluster's containers), as they are now. */
  routes: Record<string, Route[]>;
  /** encapsulation none: each node's pod ranges, once the cluster is attached (their routes are in `routes`). */
  pods?: Record<string, string[]>;
  /** P4 switches with `lpm:`: their table entries for routes (and pods) as written now, by switch. */
  lpm?: Record<string, RoutingLpm>;
}

/** A P4 switch's neighbour: its address, its MAC and the switch's port toward it (topology/p4lpm.ts). */
export interface RoutingNeighbour {
  name: string;
  address: string;
  mac: string;
  port: number;
}

/**
 * What a P4 switch with `lpm:` forwards by, for re-routing: its table and action, who it reaches
 * on which port, and the entry for each routed prefix as written now (key: the prefix; params:
 * the next hop's MAC and the port). The neighbours' own /32 entries are not here: they never move.
 */
export interface RoutingLpm {
  table: string;
  action: string;
  neighbours: RoutingNeighbour[];
  entries: Record<string, string[]>;
}

/** One route of the static plan as the kernel takes it: one next hop, or several (multipath). */
export function asRoute(dst: string, via: readonly string[]): Route {
  return via.length > 1 ? { dst, nexthops: [...via] } : { dst, via: via[0]! };
}
