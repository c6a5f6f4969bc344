/**
 * Shared segments (`segments:`): a network device's interface and several Kubernetes nodes or
 * hosts on one L2 segment, the device their gateway. A segment is a collision domain of the lab:
 * the device and the hosts get an interface on it, nodes join it (NodeLink.domain) with the
 * device's address as their gateway. For routing (plan/routes.ts), each member is one hop from the device.
 */
import type { NodeLink } from "../model/cluster.js";
import { hostOf, isCidr, isIpv4Cidr } from "../core/addr.js";
import type { AddressBook, SpecPath } from "./paths.js";
import { isNode, isProvided, type DeviceSpec, type TopologySpec } from "../model/spec.js";

const SEGMENT_NAME = /^[a-z0-9_-]{1,40}$/;

interface Context {
  byName: Map<string, { d: DeviceSpec; i: number }>;
  degree: Map<string, number>;
  book: AddressBook;
  /** Collision-domain names links took (name to link index). */
  domainNames: Map<string, number>;
  add: (path: SpecPath, message: string) => void;
}

function validateMembers(spec: TopologySpec, j: number, ctx: Context): void {
  const s = spec.segments![j]!;
  const seen = new Set<string>();
  s.members.forEach((m, k) => {
    const path: SpecPath = ["segments", j, "members", k];
    const d = ctx.byName.get(m.name)?.d;
    ctx.degree.set(m.name, (ctx.degree.get(m.name) ?? 0) + 1);
    ctx.book.address([...path, "address"], m.address);
    if (!d) return ctx.add([...path, "name"], `unknown device ${JSON.stringify(m.name)}`);
    if (seen.has(m.name)) ctx.add([...path, "name"], `${m.name} is on segment ${s.name} twice`);
    seen.add(m.name);
    if (m.name === s.device) ctx.add([...path, "name"], `${m.name} is the segment's device; members are its nodes and hosts`);
    else if (!isNode(d.kind) && d.kind !== "host")
      ctx.add([...path, "name"], `${m.name} is a ${d.kind}; a segment's members are Kubernetes nodes and hosts`);
    if (isNode(d.kind) && isCidr(m.address) && !isIpv4Cidr(m.address))
      ctx.add([...path, "address"], `${m.address} is not IPv4; a Kubernetes node's link is IPv4`);
    if (m.tc && !isNode(d.kind)) ctx.add([...path, "tc"], "tc shapes a Kubernetes node's link; this member is a host");
  });
}

/** Segment checks, added to validateSpec's: names, devices, members, addresses. */
export function validateSegments(spec: TopologySpec, ctx: Context): void {
  const names = new Map<string, number>();
  (spec.segments ?? []).forEach((s, j) => {
    const at: SpecPath = ["segments", j];
    if (!SEGMENT_NAME.test(s.name)) ctx.add([...at, "name"], `segment name ${JSON.stringify(s.name)} must be 1-40 of a-z, 0-9, _ and -`);
    else if (/^l\d+$/.test(s.name)) ctx.add([...at, "name"], `segment name ${s.name} is reserved (unnamed links are l<index>)`);
    if (ctx.domainNames.has(s.name)) ctx.add([...at, "name"], `${s.name} already names links[${ctx.domainNames.get(s.name)}]`);
    if (names.has(s.name)) ctx.add([...at, "name"], `duplicate segment name ${s.name} (first at segments[${names.get(s.name)}])`);
    names.set(s.name, j);
    const dev = ctx.byName.get(s.device)?.d;
    if (!dev) ctx.add([...at, "device"], `unknown device ${JSON.stringify(s.device)}`);
    else if (isProvided(dev.kind)) ctx.add([...at, "device"], `${s.device} is a ${dev.kind}; a segment's device is a network device`);
    ctx.degree.set(s.device, (ctx.degree.get(s.device) ?? 0) + 1);
    ctx.book.address([...at, "address"], s.address);
    validateMembers(spec, j, ctx);
    ctx.book.subnet(at, at, [s.address, ...s.members.map((m) => m.address)]);
  });
  // a host on a segment is a leaf there: with another link it would be a router the paths ignore
  for (const s of spec.segments ?? [])
    for (const m of s.members) {
      const d = ctx.byName.get(m.name);
      if (d && d.d.kind === "host" && (ctx.degree.get(m.name) ?? 0) > 1)
        ctx.add(["devices", d.i], `host ${m.name} is on segment ${s.name} and has other links; a segment's host is a leaf`);
    }
}

/** Node links of segment members that are Kubernetes nodes: they join the segment's collision domain. */
export function segmentNodeLinks(
  spec: TopologySpec,
  macOf: (segment: number, member: number) => string | undefined = () => undefined,
): NodeLink[] {
  const kind = new Map(spec.devices.map((d) => [d.name, d.kind]));
  return (spec.segments ?? []).flatMap((s, j) =>
    s.members
      .map((m, k) => ({ m, mac: macOf(j, k) }))
      .filter(({ m }) => isNode(kind.get(m.name)!))
      .map(({ m, mac }): NodeLink => ({
        node: m.name,
        domain: s.name,
        nodeAddress: m.address,
        gateway: hostOf(s.address),
        defaultRoute: true,
        ...(s.mtu !== undefined ? { mtu: s.mtu } : {}),
        ...(m.tc ? { nodeTc: m.tc } : {}),
        ...(mac ? { nodeMac: mac } : {}),
      })),
  );
}
