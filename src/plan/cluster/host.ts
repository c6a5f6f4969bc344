/**
 * What the cluster adds to devices and the host beyond the links: pod routes in devices (plain
 * pod routing), internet access through a gateway device, and host<->device connections. Every
 * change left in a device is recorded with its inverse.
 */
import { createHash } from "node:crypto";
import { hostOf, networkOf, nthAddress } from "../../core/addr.js";
import { hostLinkPrefix } from "../../core/names.js";
import type { ClusterOptions } from "../../model/cluster.js";
import { addrAdd, linkUp, p4EntryAdd, p4Inverse, routeReplace, veth } from "../ops.js";
import { nsOps, type ClusterPlan, type NsOps, type PlanContext } from "./context.js";

/**
 * The uplink /30 for internet access: given, or (for a plan made without a state store, such as a
 * dry-run) derived from the lab name. The cluster builder always gives it: allocated by
 * StateStore.claimUplink, so two labs never share one.
 */
export function uplinkCidr(lab: string, options: ClusterOptions): string {
  if (options.uplinkCidr) return options.uplinkCidr;
  const n = parseInt(createHash("sha256").update(lab).digest("hex").slice(0, 4), 16) % 16384;
  return `${nthAddress("100.127.0.0/16", n * 4)}/30`;
}

/** Pod CIDRs routed natively by the devices (encapsulation "none"). */
export function planPodRoutes(ctx: PlanContext): NsOps[] {
  const out = new Map<string, NsOps>();
  for (const r of ctx.options.podRoutes ?? []) {
    const d = ctx.input.devices.find((x) => x.name === r.device);
    const n = ctx.input.nodes.find((x) => x.name === r.node);
    if (!d || !n) continue;
    let o = out.get(d.name);
    if (!o) {
      o = nsOps(2, `device ${d.name} (pod routes)`, { pid: d.pid });
      out.set(d.name, o);
    }
    const vias = typeof r.via === "string" ? [r.via] : r.via;
    for (const pod of n.podCidrs) {
      const op = routeReplace(vias.length > 1 ? { dst: pod, nexthops: vias } : { dst: pod, via: vias[0]! });
      o.ip.push(op);
      // deleted by its prefix: a re-route may have changed its next hops since (engine/reroute.ts)
      ctx.undo.add(d.name, { op: "route-del", route: { dst: pod } });
    }
  }
  return [...out.values()];
}

/**
 * P4 switches' table entries for the pod CIDRs (encapsulation "none"): per node a next hop's MAC
 * and port (options.p4PodRoutes), one entry per CIDR of the node; each recorded with its inverse.
 */
export function planP4PodEntries(ctx: PlanContext): ClusterPlan["p4Entries"] {
  const out = new Map<string, ClusterPlan["p4Entries"][number]>();
  for (const r of ctx.options.p4PodRoutes ?? []) {
    const n = ctx.input.nodes.find((x) => x.name === r.node);
    if (!n || !ctx.input.devices.some((d) => d.name === r.device)) continue;
    let o = out.get(r.device);
    if (!o) out.set(r.device, (o = { device: r.device, entries: [] }));
    for (const pod of n.podCidrs) {
      const op = p4EntryAdd(r.table, r.action, pod, [r.mac, String(r.port)]);
      o.entries.push(op);
      ctx.undo.add(r.device, p4Inverse(op));
    }
  }
  return [...out.values()].filter((o) => o.entries.length);
}

export interface HostSteps {
  host: NsOps;
  devices: NsOps[];
  hostLinks: string[];
}

/** Internet access through a gateway device: a host<->device uplink, NAT on both. */
function uplink(ctx: PlanContext, out: HostSteps, via: string): void {
  const g = ctx.device(via);
  const up = uplinkCidr(ctx.input.lab, ctx.options);
  const hostIp = nthAddress(up, 1);
  const hostIf = `${hostLinkPrefix(ctx.input.lab)}-0`;
  const gIf = ctx.newDeviceIf(g.name);
  out.hostLinks.push(hostIf);
  out.host.ip.push(veth(hostIf, gIf, g.pid), addrAdd(`${hostIp}/30`, hostIf), linkUp(hostIf));
  out.host.iptables.push(
    ctx.rule("nat", "POSTROUTING", ["-s", networkOf(up), "!", "-o", hostIf], ["MASQUERADE"]),
    ctx.rule("filter", "FORWARD", ["-i", hostIf], ["ACCEPT"], true),
    ctx.rule("filter", "FORWARD", ["-o", hostIf, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"], ["ACCEPT"], true),
  );
  const gOps = nsOps(2, `device ${g.name} (uplink)`, { pid: g.pid });
  gOps.ip.push(addrAdd(`${nthAddress(up, 2)}/30`, gIf), linkUp(gIf), routeReplace({ dst: "default", via: hostIp, dev: gIf }));
  // the uplink's default route goes with the uplink; the device's own comes back
  if (g.defaultRoute) ctx.undo.add(g.name, routeReplace(g.defaultRoute));
  const masquerade = ctx.rule("nat", "POSTROUTING", ["-o", gIf], ["MASQUERADE"]);
  gOps.iptables.push(masquerade);
  ctx.undo.add(g.name, { op: "rule-delete", rule: masquerade });
  out.devices.push(gOps);
}

/** Host<->device links (options.hostConnections), with routes on the host toward the device. */
function hostConnections(ctx: PlanContext, out: HostSteps): void {
  (ctx.options.hostConnections ?? []).forEach((hc, i) => {
    const d = ctx.device(hc.device);
    const hostIf = `${hostLinkPrefix(ctx.input.lab)}-${i + 1}`;
    const devIf = ctx.newDeviceIf(d.name);
    out.hostLinks.push(hostIf);
    out.host.ip.push(veth(hostIf, devIf, d.pid), addrAdd(hc.hostAddress, hostIf), linkUp(hostIf));
    // `add`, not `replace`: a route the host already has is never taken over (the batch fails instead)
    for (const r of hc.routes ?? []) out.host.ip.push({ op: "route-add", route: { dst: r, via: hostOf(hc.deviceAddress), dev: hostIf } });
    const dOps = nsOps(2, `device ${d.name} (host link)`, { pid: d.pid });
    dOps.ip.push(addrAdd(hc.deviceAddress, devIf), linkUp(devIf));
    out.devices.push(dOps);
  });
}

/** Host-side steps; host links are removed by name at teardown, their device ends with them. */
export function planHostSide(ctx: PlanContext): HostSteps {
  const out: HostSteps = { host: nsOps(0, "host", { host: true }), devices: [], hostLinks: [] };
  if (ctx.options.internetVia) uplink(ctx, out, ctx.options.internetVia);
  hostConnections(ctx, out);
  return out;
}
