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
}

/** One route of the static plan as the kernel takes it: one next hop, or several (multipath). */
export function asRoute(dst: string, via: readonly string[]): Route {
  return via.length > 1 ? { dst, nexthops: [...via] } : { dst, via: via[0]! };
}
