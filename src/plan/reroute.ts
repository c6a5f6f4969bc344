/**
 * Static routing that follows the cut. From a lab's routing record (model/routing.ts) and which of
 * its link ends carry no traffic now (the state's cuts), the routes every device should have, and
 * the difference from what it has, as typed route operations (model/ops.ts IpOp) each with its
 * inverse, grouped per device (one batch per namespace when applied). Pure: no I/O.
 *
 * The shortest paths are the ones `up` computes (plan/routes.ts planStatic), over the edges that
 * still carry traffic; a cut link's subnet stays a destination, reached through either of its
 * ends. Where the cut splits the network, the parts that lost each other are named, and routes to
 * what a device can no longer reach are removed (the sender then gets "network unreachable"
 * rather than a packet lost in a loop).
 */
import type { IpOp, Route } from "../model/ops.js";
import { asRoute, type RoutingLink, type RoutingRecord } from "../model/routing.js";
import { isProvided, type DeviceSpec, type TopologySpec } from "../model/spec.js";
import type { LabLinks } from "./live.js";
import { carryingParts, planStatic, type Carries } from "./routes.js";
import type { P4EntryAddOp, P4EntryDeleteOp } from "../model/ops.js";
import type { StaticRoutePlan } from "../model/spec.js";

/** A link end that carries no traffic: `device`'s end of link (or segment) `link`. */
export interface DownEnd {
  device: string;
  link: string;
}

/** The cuts of a lab as the state records them: interface keys (plan/live.ts ifKey). */
export interface CutKeys {
  cuts: readonly { key: string }[];
}

/**
 * Which link ends are cut, from the state's cut keys: a lab-side veth end (`netns:NS/IF`) is the
 * end of the device (or node on a segment) whose interface it is; a filtered end of a node's link
 * straight into a device (`container:C/IF`) is that link's node end.
 */
export function downEnds(rec: RoutingRecord, st: LabLinks, live: CutKeys | undefined): DownEnd[] {
  const out: DownEnd[] = [];
  const byEnds = (a: string, b: string) =>
    rec.links.find((l) => (l.endpoints[0] === a && l.endpoints[1] === b) || (l.endpoints[0] === b && l.endpoints[1] === a));
  for (const { key } of live?.cuts ?? []) {
    const m = /^(netns|container):(.*)\/([^/]+)$/.exec(key);
    if (!m) continue;
    const [, kind, where, dev] = m as unknown as [string, string, string, string];
    if (kind === "netns") {
      for (const d of st.devices) for (const i of d.interfaces) if (i.hostIf === dev) out.push({ device: d.name, link: i.domain });
      for (const l of st.cluster?.links ?? []) if (l.labIf === dev && l.domain) out.push({ device: l.node, link: l.domain });
      continue;
    }
    for (const l of st.cluster?.links ?? []) {
      const node = st.cluster?.nodes.find((n) => n.name === l.node);
      const dev0 = st.devices.find((d) => d.name === l.device);
      const here = (node?.container === where && l.nodeIf === dev) || (dev0?.container === where && l.deviceIf === dev);
      const link = here && l.device ? byEnds(l.node, l.device) : undefined;
      if (link) out.push({ device: l.node, link: link.name });
    }
  }
  const seen = new Set<string>();
  return out.filter((e) => !seen.has(`${e.device}\0${e.link}`) && seen.add(`${e.device}\0${e.link}`));
}

/** Which edges carry traffic, given the cut ends: a link with any end cut carries none; a segment member's edge, none if it or the segment's device is cut. */
export function carriesGiven(rec: RoutingRecord, down: readonly DownEnd[]): Carries {
  const cut = new Set(down.map((e) => `${e.device}\0${e.link}`));
  const segments = new Set((rec.segments ?? []).map((s) => s.name));
  return (link, a, b) => {
    if (segments.has(link)) return !cut.has(`${a}\0${link}`) && !cut.has(`${b}\0${link}`);
    return !down.some((e) => e.link === link);
  };
}

/** The record as a topology the static planner takes (names, kinds, links, segments). */
export function recordSpec(rec: RoutingRecord): TopologySpec {
  return {
    name: "routing",
    routing: "static",
    devices: rec.devices.map((d): DeviceSpec => ({ name: d.name, kind: d.kind })),
    links: rec.links.map((l) => ({ name: l.name, endpoints: l.endpoints, addresses: l.addresses, ...(l.cost ? { cost: l.cost } : {}) })),
    ...(rec.segments ? { segments: rec.segments } : {}),
  };
}

/** The devices whose kernel takes the routes: lab devices that are not programmable data planes. */
function routedByKernel(d: { kind: DeviceSpec["kind"] }): boolean {
  return !isProvided(d.kind) && d.kind !== "p4-switch";
}

/** The routes each kernel-routed device should have over the edges that carry traffic (pod routes included). */
export function desiredRoutes(rec: RoutingRecord, carries?: Carries): Map<string, Route[]> {
  return routesOf(rec, planStatic(recordSpec(rec), carries));
}

function routesOf(rec: RoutingRecord, plan: StaticRoutePlan): Map<string, Route[]> {
  const out = new Map<string, Route[]>();
  for (const d of rec.devices.filter(routedByKernel))
    out.set(
      d.name,
      (plan.routes.get(d.name) ?? []).map((r) => asRoute(r.dst, r.via)),
    );
  for (const r of plan.podRoutes) {
    const mine = out.get(r.device);
    if (!mine) continue;
    const via = typeof r.via === "string" ? [r.via] : r.via;
    for (const pod of rec.pods?.[r.node] ?? []) mine.push(asRoute(pod, via));
  }
  return out;
}

/** The parts of the network that lost each other (more than one), each sorted; [] when it is whole. */
export function partitions(rec: RoutingRecord, carries: Carries): string[][] {
  const parts = carryingParts(recordSpec(rec), carries);
  return parts.length > 1 ? parts.sort((a, b) => b.length - a.length || a[0]!.localeCompare(b[0]!)) : [];
}

/** One device's part of a re-route: operations, and what undoes them, in the order to apply. */
export interface RouteChange {
  device: string;
  ops: IpOp[];
  undo: IpOp[];
}

const keyOf = (r: Route) => `${r.table ?? ""}|${r.dst}`;
const same = (a: Route, b: Route) => JSON.stringify(a) === JSON.stringify(b);
/** Deleting by prefix (and table): the route goes whatever its next hops are now. */
const delOf = (r: Route): IpOp => ({ op: "route-del", route: { dst: r.dst, ...(r.table ? { table: r.table } : {}) } });

/**
 * The difference between the routes devices have and the ones they should have: per device, a
 * `route replace` for each new or changed prefix (first, so no prefix is without a route while a
 * batch runs), then a `route del` for each that goes. Inverses: the old route back, or the new
 * one deleted. Devices with nothing to change are left out.
 */
export function diffRoutes(have: Readonly<Record<string, readonly Route[]>>, want: ReadonlyMap<string, readonly Route[]>): RouteChange[] {
  const out: RouteChange[] = [];
  const devices = [...new Set([...Object.keys(have), ...want.keys()])].sort();
  for (const device of devices) {
    const old = new Map((have[device] ?? []).map((r) => [keyOf(r), r]));
    const next = new Map((want.get(device) ?? []).map((r) => [keyOf(r), r]));
    const ops: IpOp[] = [];
    const undo: IpOp[] = [];
    for (const [k, r] of next) {
      const was = old.get(k);
      if (was && same(was, r)) continue;
      ops.push({ op: "route-replace", route: r });
      undo.push(was ? { op: "route-replace", route: was } : delOf(r));
    }
    for (const [k, r] of old)
      if (!next.has(k)) {
        ops.push(delOf(r));
        undo.push({ op: "route-replace", route: r });
      }
    if (ops.length) out.push({ device, ops, undo });
  }
  return out;
}

/**
 * The route entries each P4 switch with `lpm:` should have (prefix => next hop's MAC and port),
 * as compile writes them (topology/p4lpm.ts: the first next hop that is a neighbour), the pods'
 * ranges included once the cluster is attached.
 */
function lpmOf(rec: RoutingRecord, plan: StaticRoutePlan): Map<string, Record<string, string[]>> {
  const out = new Map<string, Record<string, string[]>>();
  for (const [sw, l] of Object.entries(rec.lpm ?? {})) {
    const byAddress = new Map(l.neighbours.map((n) => [n.address, n]));
    const entry = (via: readonly string[]) => {
      const n = via.map((v) => byAddress.get(v)).find((x) => x);
      return n ? [n.mac, String(n.port)] : undefined;
    };
    const entries: Record<string, string[]> = {};
    for (const r of plan.routes.get(sw) ?? []) {
      const e = entry(r.via);
      if (e) entries[r.dst] = e;
    }
    for (const r of plan.podRoutes.filter((x) => x.device === sw)) {
      const e = entry(typeof r.via === "string" ? [r.via] : r.via);
      if (e) for (const pod of rec.pods?.[r.node] ?? []) entries[pod] = e;
    }
    out.set(sw, entries);
  }
  return out;
}

/** One P4 switch's part of a re-route: its table's entries rewritten, and what undoes that, in the order to apply. */
export interface LpmChange {
  device: string;
  ops: (P4EntryAddOp | P4EntryDeleteOp)[];
  undo: (P4EntryAddOp | P4EntryDeleteOp)[];
}

/**
 * The difference between the entries switches have and the ones they should have: per switch, a
 * changed prefix is deleted and added again with its new next hop (the typed ops have no modify),
 * a new one added, a gone one deleted. Inverses: the new entry deleted, the old one added back.
 */
export function diffLpm(rec: RoutingRecord, want: ReadonlyMap<string, Readonly<Record<string, readonly string[]>>>): LpmChange[] {
  const out: LpmChange[] = [];
  for (const [device, next] of want) {
    const l = rec.lpm![device]!;
    const have = l.entries;
    const add = (key: string, params: readonly string[]): P4EntryAddOp => ({
      op: "p4-entry-add",
      table: l.table,
      action: l.action,
      key,
      params: [...params],
    });
    const del = (key: string): P4EntryDeleteOp => ({ op: "p4-entry-delete", table: l.table, key });
    const ops: LpmChange["ops"] = [];
    const undo: LpmChange["undo"] = [];
    for (const [key, params] of Object.entries(next)) {
      const was = have[key];
      if (was && was.join(" ") === params.join(" ")) continue;
      if (was) ops.push(del(key));
      ops.push(add(key, params));
      undo.push(del(key), ...(was ? [add(key, was)] : []));
    }
    for (const [key, was] of Object.entries(have))
      if (!(key in next)) {
        ops.push(del(key));
        undo.push(add(key, was));
      }
    if (ops.length) out.push({ device, ops, undo });
  }
  return out;
}

/** A whole re-route: what to apply, the routes (and P4 entries) afterwards, the parts that lost each other. */
export interface ReroutePlan {
  changes: RouteChange[];
  routes: Record<string, Route[]>;
  /** The P4 switches' entries to rewrite, and each switch's route entries afterwards. */
  p4: LpmChange[];
  lpm: Record<string, Record<string, string[]>>;
  parts: string[][];
}

/** The re-route of a lab whose link ends `down` carry no traffic. */
export function planReroute(rec: RoutingRecord, down: readonly DownEnd[]): ReroutePlan {
  const carries = carriesGiven(rec, down);
  const plan = planStatic(recordSpec(rec), carries);
  const want = routesOf(rec, plan);
  const lpm = lpmOf(rec, plan);
  return {
    changes: diffRoutes(rec.routes, want),
    routes: Object.fromEntries(want),
    p4: diffLpm(rec, lpm),
    lpm: Object.fromEntries(lpm),
    parts: partitions(rec, carries),
  };
}

/** "{a, b} and {c, d}": the parts that lost each other, at most 8 names each. */
export function partsText(parts: readonly string[][]): string {
  const one = (p: readonly string[]) => `{${p.slice(0, 8).join(", ")}${p.length > 8 ? `, and ${p.length - 8} more` : ""}}`;
  return parts.map(one).join(" and ");
}

/** The record after `link` is removed (kinda link ... remove). */
export function withoutLink(rec: RoutingRecord, link: string): RoutingRecord {
  return {
    ...rec,
    links: rec.links.filter((l) => l.name !== link),
    ...(rec.segments ? { segments: rec.segments.filter((s) => s.name !== link) } : {}),
  };
}

/** The record after a link is added; a device it does not know yet joins as a router. */
export function withLink(rec: RoutingRecord, link: RoutingLink): RoutingRecord {
  const known = new Set(rec.devices.map((d) => d.name));
  const devices = [...rec.devices, ...link.endpoints.filter((e) => !known.has(e)).map((name) => ({ name, kind: "router" as const }))];
  return { ...rec, devices, links: [...rec.links, link] };
}

/**
 * The record after `device` is added back from its source's record (`kinda device LAB NAME add`):
 * the device with its kind and routes as compiled, and the source's links and segment places
 * between it and devices the lab has now.
 */
export function withDeviceFrom(rec: RoutingRecord, source: RoutingRecord, device: string): RoutingRecord {
  const d = source.devices.find((x) => x.name === device);
  if (!d) return rec;
  const have = new Set([...rec.devices.map((x) => x.name), device]);
  const links = source.links.filter(
    (l) => l.endpoints.includes(device) && l.endpoints.every((e) => have.has(e)) && !rec.links.some((k) => k.name === l.name),
  );
  const routes = { ...rec.routes, ...(source.routes[device] ? { [device]: source.routes[device] } : {}) };
  const segments = rec.segments?.map((s) => {
    const from = source.segments?.find((x) => x.name === s.name)?.members.find((m) => m.name === device);
    return from && !s.members.some((m) => m.name === device) ? { ...s, members: [...s.members, from] } : s;
  });
  return {
    ...rec,
    devices: [...rec.devices.filter((x) => x.name !== device), d],
    links: [...rec.links, ...links],
    routes,
    ...(segments ? { segments } : {}),
  };
}

/** The record after `device` is removed, its links going with it (its routes too). */
export function withoutDevice(rec: RoutingRecord, device: string): RoutingRecord {
  const routes = { ...rec.routes };
  delete routes[device];
  return {
    ...rec,
    devices: rec.devices.filter((d) => d.name !== device),
    links: rec.links.filter((l) => !l.endpoints.includes(device)),
    ...(rec.segments
      ? {
          segments: rec.segments
            .filter((s) => s.device !== device)
            .map((s) => ({ ...s, members: s.members.filter((m) => m.name !== device) })),
        }
      : {}),
    routes,
  };
}

/**
 * The record once nodes' pod ranges are known (cluster attach, `kinda node add`): with
 * encapsulation none the devices route them, and from then on those routes follow a cut like the
 * others (desiredRoutes adds them per node). Nodes without ranges are left out.
 */
export function withPods(rec: RoutingRecord, pods: Readonly<Record<string, readonly string[]>>): RoutingRecord {
  const add = Object.fromEntries(
    Object.entries(pods)
      .filter(([, c]) => c.length)
      .map(([n, c]) => [n, [...c]]),
  );
  return { ...rec, pods: { ...rec.pods, ...add } };
}

/**
 * The record after node `node` left the cluster (`kinda node remove`): its pod ranges go, and so
 * do the devices' routes to them (the cluster's undo has deleted those in the devices already).
 */
export function withoutPods(rec: RoutingRecord, node: string): RoutingRecord {
  const gone = new Set(rec.pods?.[node] ?? []);
  if (!gone.size) return rec;
  const pods = { ...rec.pods };
  delete pods[node];
  const routes = Object.fromEntries(Object.entries(rec.routes).map(([d, rs]) => [d, rs.filter((r) => !gone.has(r.dst))]));
  const keep = (entries: Record<string, string[]>) => Object.fromEntries(Object.entries(entries).filter(([k]) => !gone.has(k)));
  const lpm = rec.lpm ? Object.fromEntries(Object.entries(rec.lpm).map(([sw, l]) => [sw, { ...l, entries: keep(l.entries) }])) : undefined;
  return { ...rec, pods, routes, ...(lpm ? { lpm } : {}) };
}

/**
 * The record with a node the compiled topology did not have (added from the command line with
 * its link): the node joins as a worker, its link into `link.endpoints[0]` as a link of the graph.
 */
export function withNode(rec: RoutingRecord, node: string, link: RoutingLink): RoutingRecord {
  if (rec.devices.some((d) => d.name === node)) return rec;
  return { ...rec, devices: [...rec.devices, { name: node, kind: "worker" }], links: [...rec.links, link] };
}
