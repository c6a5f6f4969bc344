/**
 * From a TopologySpec to what the engine and the cluster builder take: a Lab for the network
 * devices (one collision domain per link, addresses and static routes as start-up steps) and the
 * Kubernetes part (node specs, node links, pod routes for native routing). Validation first, all
 * problems at once, each with the path of the offending field (turned into file:line:column by
 * the YAML loader, or names for the API).
 */
import { KindaError, TopologyError, type Issue } from "../core/errors.js";
import { hostOf, isCidr, isIpv4Cidr, networkOf } from "../core/addr.js";
import { AddressOwners, Subnets, clusterRanges, outsideFirstSubnet, rangeClashes } from "../core/addrcheck.js";
import { DEFAULT_IMAGE, OVS_DEFAULT_IMAGE, P4_DEFAULT_IMAGE } from "../core/defaults.js";
import type { ClusterOptions, NodeLink, NodeSpec, P4PodRoute, PodRoute } from "../model/cluster.js";
import { KIND_CLUSTER_NAME, KIND_CLUSTER_NAME_RULE, LOAD_BALANCER } from "../model/cluster.js";
import { existsSync } from "node:fs";
import { newDevice, type Device, type Lab, type LabShaping } from "../model/lab.js";
import type { IpOp } from "../model/ops.js";
import {
  isLoadBalancer,
  isNode,
  isProgrammable,
  isProvided,
  linkTcSides,
  type DeviceSpec,
  type LinkSpec,
  type StaticRoutePlan,
  type StaticRouter,
  type TopologySpec,
} from "../model/spec.js";
import { segmentNodeLinks, validateSegments } from "./segments.js";
import {
  GRPC_PORT,
  OVS_BRIDGE,
  THRIFT_PORT,
  compileNic,
  ovsRole,
  ovsServices,
  p4CliText,
  p4Role,
  p4Services,
  p4Volumes,
  programFileProblem,
  validateNic,
  validateProgrammable,
} from "./programmable.js";
import { shapingProblems } from "../core/tc.js";
import { lpmEntries, lpmNeighbours, lpmPodRoutes, type LinkEnd } from "./p4lpm.js";

import type { AddressBook, SpecIssue, SpecPath } from "./paths.js";
export type { AddressBook, SpecIssue, SpecPath };

export interface CompiledTopology {
  lab: Lab;
  nodes: NodeSpec[];
  nodeLinks: NodeLink[];
  clusterOptions: ClusterOptions;
  /** Topology name of the load-balancer device, when there is one (its node link names it LOAD_BALANCER). */
  loadBalancer?: string;
  /** Each P4 switch's ports (BMv2 port N = ports[N]) and the CLI lines kinda applies (generated LPM entries, then `cli`). */
  p4?: Map<string, P4Compiled>;
}

export interface P4Compiled {
  ports: string[];
  cli: string[];
  /** encapsulation "none": where it sends each node's pods (entries written at attach time, per pod CIDR). */
  podRoutes?: P4PodRoute[];
}

const NAME = /^[a-z0-9_]{1,30}$/;
const LINK_NAME = /^[a-z0-9_-]{1,40}$/;

/** How messages name the link of a provider's container (a node or the load balancer). */
function providedLink(d: DeviceSpec): string {
  return isLoadBalancer(d.kind) ? "the load balancer's link" : "a Kubernetes node's link";
}

function addressBook(add: (path: SpecPath, message: string) => void): AddressBook {
  const owners = new AddressOwners();
  const subnets = new Subnets<SpecPath>();
  return {
    address(path, addr) {
      if (!isCidr(addr)) return add(path, `${JSON.stringify(addr)} is not an address with a prefix length`);
      for (const m of rangeClashes(addr, clusterRanges())) add(path, m);
      const here = `${path[0]}[${path[1]}].${path.slice(2).join(".")}`.replace(/\.(\d+)/g, "[$1]");
      const prev = owners.claim(addr, here);
      if (prev) add(path, `address ${hostOf(addr)} is already used at ${prev}`);
    },
    subnet(owner, path, addrs) {
      if (!addrs.every(isCidr)) return;
      const odd = outsideFirstSubnet(addrs);
      if (odd) return add(path, `${addrs.length === 2 ? addrs.join(" and ") : `${odd} and ${addrs[0]}`} are not in one subnet`);
      const clash = subnets.add(addrs[0]!, owner);
      if (clash) add(path, `subnet ${networkOf(addrs[0]!)} overlaps the subnet of ${clash.join(".")}`);
    },
  };
}

type AddIssue = (path: SpecPath, message: string) => void;
type ByName = Map<string, { d: DeviceSpec; i: number }>;

/** Names, programmable devices, what nodes and the load balancer may not have, at most one load balancer. */
function deviceIssues(spec: TopologySpec, add: AddIssue): ByName {
  const byName: ByName = new Map();
  let firstLb: number | undefined;
  spec.devices.forEach((d, i) => {
    if (!NAME.test(d.name)) add(["devices", i, "name"], `device name ${JSON.stringify(d.name)} must be 1-30 of a-z, 0-9 and _`);
    if (byName.has(d.name)) add(["devices", i, "name"], `duplicate device name ${d.name} (first at devices[${byName.get(d.name)!.i}])`);
    else byName.set(d.name, { d, i });
    validateProgrammable(d, i, add);
    if (d.kind === "p4-switch" && d.lpm) lpmIssues(spec, i, add);
    if (
      d.startupTimeout !== undefined &&
      !(typeof d.startupTimeout === "number" && d.startupTimeout > 0 && Number.isFinite(d.startupTimeout))
    )
      add(["devices", i, "startupTimeout"], `startupTimeout ${JSON.stringify(d.startupTimeout)} is not a positive number of seconds`);
    if (isNode(d.kind) && (d.image !== undefined || d.startup !== undefined))
      add(["devices", i], "Kubernetes nodes take no image or startup (the cluster provider makes them)");
    if (isLoadBalancer(d.kind)) {
      if (d.image !== undefined || d.startup !== undefined)
        add(["devices", i], "the load balancer takes no image or startup (the cluster provider makes it)");
      if (firstLb !== undefined)
        add(["devices", i], `a second load balancer ${d.name} (the first is devices[${firstLb}]); the cluster has at most one`);
      else firstLb = i;
    }
  });
  return byName;
}

/**
 * LPM entries come from the static plan (link and segment subnets; with encapsulation none also
 * the nodes' pod ranges, written when the cluster is attached).
 */
function lpmIssues(spec: TopologySpec, i: number, add: AddIssue): void {
  if (spec.routing !== "static")
    add(["devices", i, "lpm"], "lpm entries are written from the static route plan; set routing: static (or give the entries in cli)");
}

/** A link's own name: its form, not reserved, not taken. */
function linkNameIssues(name: string, i: number, linkNames: Map<string, number>, add: AddIssue): void {
  if (!LINK_NAME.test(name))
    add(
      ["links", i, "name"],
      `link name ${JSON.stringify(name)} must be 1-40 of a-z, 0-9, _ and - (a dot would clash with interface altnames)`,
    );
  else if (/^l\d+$/.test(name)) add(["links", i, "name"], `link name ${name} is reserved (unnamed links are l<index>)`);
  const first = linkNames.get(name);
  if (first !== undefined) add(["links", i, "name"], `duplicate link name ${name} (first at links[${first}])`);
  else linkNames.set(name, i);
}

/** Each link: its name, known endpoints, which kinds may be linked, tc and addresses. */
function linkIssues(spec: TopologySpec, byName: ByName, add: AddIssue) {
  const degree = new Map<string, number>();
  const book = addressBook(add);
  const linkNames = new Map<string, number>();
  spec.links.forEach((l, i) => {
    const [a, b] = l.endpoints;
    if (l.name !== undefined) linkNameIssues(l.name, i, linkNames, add);
    for (const [k, e] of [
      [0, a],
      [1, b],
    ] as const) {
      if (!byName.has(e)) add(["links", i, "endpoints", k], `unknown device ${JSON.stringify(e)}`);
      degree.set(e, (degree.get(e) ?? 0) + 1);
    }
    if (a === b) add(["links", i, "endpoints"], `a link from ${a} to itself`);
    const da = byName.get(a)?.d;
    const db = byName.get(b)?.d;
    if (da && db && isNode(da.kind) && isNode(db.kind))
      add(["links", i], `a link between two Kubernetes nodes (${a}, ${b}); a node links to a network device`);
    if (da && db && isProvided(da.kind) && isProvided(db.kind) && (isLoadBalancer(da.kind) || isLoadBalancer(db.kind))) {
      const [lb, other] = isLoadBalancer(da.kind) ? [a, b] : [b, a];
      add(["links", i], `a link between the load balancer ${lb} and Kubernetes node ${other}; the load balancer links to a network device`);
    }
    // the provider's container at one end (a node or the load balancer), if any
    const prov = da && isProvided(da.kind) ? da : db && isProvided(db.kind) ? db : undefined;
    const split = l.tc !== undefined && ("a" in l.tc || "b" in l.tc);
    if (split && Object.keys(l.tc!).some((k) => k !== "a" && k !== "b"))
      add(["links", i, "tc"], "give shaping values for both directions, or a and b for each direction, not both");
    linkTcSides(l.tc).forEach((tc, k) => {
      if (!tc || (!split && k === 1)) return;
      const at: SpecPath = split ? ["links", i, "tc", k === 0 ? "a" : "b"] : ["links", i, "tc"];
      for (const p of shapingProblems(tc)) add([...at, p.field], `${p.field} ${p.message}`);
    });
    if (l.addresses) {
      l.addresses.forEach((addr, k) => book.address(["links", i, "addresses", k], addr));
      book.subnet(["links", i], ["links", i, "addresses"], l.addresses);
      if (prov)
        l.addresses.forEach((addr, k) => {
          // a node's link carries IPv4 routes to its peers and the IPv4 tunnels; the load balancer's, IPv4 routes to the nodes
          if (isCidr(addr) && !isIpv4Cidr(addr)) add(["links", i, "addresses", k], `${addr} is not IPv4; ${providedLink(prov)} is IPv4`);
        });
    } else if (prov) {
      add(["links", i], `${providedLink(prov)} needs addresses`);
    } else if (spec.routing === "static") {
      add(["links", i], "static routing needs addresses on every link");
    }
  });
  return { degree, book, linkNames };
}

/** A `nic` sits on a Kubernetes node's link (not between devices, not on the load balancer's), with valid fields. */
function nicIssues(spec: TopologySpec, byName: ByName, add: AddIssue): void {
  spec.links.forEach((l, i) => {
    if (l.nic === undefined) return;
    const kinds = l.endpoints.map((e) => byName.get(e)?.d.kind);
    if (!kinds.some((k) => k && isNode(k))) {
      const lb = kinds.some((k) => k && isLoadBalancer(k));
      add(
        ["links", i, "nic"],
        `a NIC sits on a Kubernetes node's link; ${l.endpoints.join("--")} ${lb ? "is the load balancer's link" : "joins no Kubernetes node"}`,
      );
    }
    validateNic(l.nic, ["links", i, "nic"], add);
  });
}

/** Nodes and the load balancer are leaves; other devices are connected. */
function degreeIssues(spec: TopologySpec, degree: Map<string, number>, add: AddIssue): void {
  spec.devices.forEach((d, i) => {
    const deg = degree.get(d.name) ?? 0;
    if (isNode(d.kind) && deg !== 1) add(["devices", i], `Kubernetes node ${d.name} must have exactly one link (a leaf); it has ${deg}`);
    if (isLoadBalancer(d.kind) && deg !== 1)
      add(["devices", i], `the load balancer ${d.name} must have exactly one link (a leaf); it has ${deg}`);
    if (!isProvided(d.kind) && deg === 0 && spec.devices.length > 1) add(["devices", i], `device ${d.name} is not connected to anything`);
  });
}

/** The cluster as a whole: control planes, its name, the root, routing and encapsulation, host routes, the gateway. */
function clusterIssues(spec: TopologySpec, byName: ByName, router: StaticRouter | undefined, add: AddIssue): void {
  const controlPlanes = spec.devices.filter((d) => d.kind === "control-plane").length;
  spec.devices.forEach((d, i) => {
    if (isLoadBalancer(d.kind) && controlPlanes < 2)
      add(
        ["devices", i],
        `the load balancer ${d.name} needs two or more control-plane devices (there ${controlPlanes === 1 ? "is 1" : `are ${controlPlanes}`}); Kind makes a load balancer only with two or more control planes`,
      );
  });
  const hasNodes = spec.devices.some((d) => isNode(d.kind));
  if (hasNodes) {
    // the cluster is named after the topology unless cluster.name says otherwise
    const named = spec.cluster?.name !== undefined;
    const name = spec.cluster?.name ?? spec.name;
    if (!KIND_CLUSTER_NAME.test(name))
      add(
        named ? ["cluster", "name"] : ["name"],
        `${JSON.stringify(name)} cannot name the Kind cluster (${KIND_CLUSTER_NAME_RULE})${named ? "" : "; set cluster.name"}`,
      );
  }
  if (hasNodes && !spec.devices.some((d) => d.kind === "control-plane"))
    add(["devices"], "there are Kubernetes nodes but no control-plane node");
  if (spec.root !== undefined) {
    const r = byName.get(spec.root);
    if (!r) add(["root"], `unknown root device ${JSON.stringify(spec.root)}`);
    else if (isNode(r.d.kind)) add(["root"], `the root ${spec.root} is a Kubernetes node; the root must be a network device`);
    else if (isLoadBalancer(r.d.kind)) add(["root"], `the root ${spec.root} is the load balancer; the root must be a network device`);
  }
  const parts = spec.routing === "static" ? routerFor(spec, router).parts(spec) : [];
  if (parts.length > 1)
    add(
      ["links"],
      `static routing needs one connected network, but no link joins these ${parts.length} parts: ${parts.map(partText).join(", ")}`,
    );
  if (spec.encapsulation === "none" && spec.routing !== "static")
    add(["encapsulation"], 'encapsulation "none" needs routing: static (the network must route pod ranges)');
  (spec.cluster?.hostRoutes ?? []).forEach((r, k) => {
    // routed via the Kind network's IPv4 gateway
    if (!isIpv4Cidr(r))
      add(["cluster", "hostRoutes", k], `${JSON.stringify(r)} is not an IPv4 range with a prefix length (e.g. 203.0.113.0/24)`);
  });
  const via = spec.cluster?.internetVia;
  if (via !== undefined) {
    const v = byName.get(via);
    if (!v) add(["cluster", "internetVia"], `unknown device ${JSON.stringify(via)}`);
    else if (isProvided(v.d.kind))
      add(
        ["cluster", "internetVia"],
        `${via} is ${isLoadBalancer(v.d.kind) ? "the load balancer" : "a Kubernetes node"}; internet access goes through a network device`,
      );
  }
}

/** Semantic checks (the schema checks shapes). */
export function validateSpec(spec: TopologySpec, router?: StaticRouter): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const add: AddIssue = (path, message) => issues.push({ path, message });
  const byName = deviceIssues(spec, add);
  const { degree, book, linkNames } = linkIssues(spec, byName, add);
  nicIssues(spec, byName, add);
  validateSegments(spec, { byName, degree, book, domainNames: linkNames, add });
  degreeIssues(spec, degree, add);
  clusterIssues(spec, byName, router, add);
  return issues;
}

/** "{a, b, c}", at most 8 names. */
function partText(p: string[]): string {
  return `{${p.slice(0, 8).join(", ")}${p.length > 8 ? `, and ${p.length - 8} more` : ""}}`;
}

/** The router static routing needs (plan/routes.ts staticRouter; topology/ cannot import plan/). */
function routerFor(spec: TopologySpec, router: StaticRouter | undefined): StaticRouter {
  if (!router)
    throw new KindaError(`topology ${spec.name} has routing: static; pass compileSpec/validateSpec the staticRouter (plan/routes.ts)`);
  return router;
}

/** Deterministic MAC for a device-side interface of link i, endpoint k. */
export function linkMac(link: number, side: number): string {
  const h = (n: number) => n.toString(16).padStart(2, "0");
  return `02:6b:${h(Math.floor(link / 256) % 256)}:${h(link % 256)}:00:${h(side + 1)}`;
}

function defaultImage(d: DeviceSpec): string {
  return d.kind === "p4-switch" ? P4_DEFAULT_IMAGE : d.kind === "ovs-switch" ? OVS_DEFAULT_IMAGE : DEFAULT_IMAGE;
}

/** Program and P4Info files of P4 switches: present and (the program) BMv2 JSON. Reads the files. */
function programFiles(spec: TopologySpec): SpecIssue[] {
  const out: SpecIssue[] = [];
  spec.devices.forEach((d, i) => {
    if (d.kind !== "p4-switch") return;
    const problem = d.program === undefined ? undefined : programFileProblem(d.program);
    if (problem) out.push({ path: ["devices", i, "program"], message: `P4 switch ${d.name}: ${problem}` });
    if (d.p4info !== undefined && !existsSync(d.p4info))
      out.push({ path: ["devices", i, "p4info"], message: `P4 switch ${d.name}: ${d.p4info} does not exist` });
  });
  spec.links.forEach((l, i) => {
    if (l.nic?.kind !== "p4") return;
    const what = `the NIC of ${l.endpoints.join("--")}`;
    const problem = l.nic.program === undefined ? undefined : programFileProblem(l.nic.program);
    if (problem) out.push({ path: ["links", i, "nic", "program"], message: `${what}: ${problem}` });
    if (l.nic.p4info !== undefined && !existsSync(l.nic.p4info))
      out.push({ path: ["links", i, "nic", "p4info"], message: `${what}: ${l.nic.p4info} does not exist` });
  });
  return out;
}

/** A P4 switch's container: program mounted, Thrift (and gRPC) published, no kernel forwarding. */
function prepareP4(d: DeviceSpec, dev: Device): void {
  dev.role = p4Role(d);
  dev.volumes.push(...p4Volumes(d));
  // 0: the engine picks a free host port
  dev.ports.push({ host: d.thriftPort ?? 0, guest: THRIFT_PORT, protocol: "tcp" });
  if (d.grpcPort !== undefined) dev.ports.push({ host: d.grpcPort, guest: GRPC_PORT, protocol: "tcp" });
  dev.bridged = true;
  // the program forwards; the kernel only answers for the switch's own addresses
  dev.sysctls["net.ipv4.ip_forward"] = "0";
  dev.sysctls["net.ipv6.conf.all.forwarding"] = "0";
}

/** The interface of a programmable device's k-th link to a node: after its lab links (and NAT interface). */
function nodePort(dev: Device, k: number): string {
  return `eth${dev.interfaces.length + (dev.bridged ? 1 : 0) + k}`;
}

/** What a data plane needs beyond its fields: the static plan (LPM entries), the link ends and node links. */
interface DataPlaneContext {
  routes: StaticRoutePlan | undefined;
  ends: readonly LinkEnd[];
  nodeLinks: readonly NodeLink[];
  lab: Lab;
  p4: Map<string, P4Compiled>;
  /** encapsulation none: the static plan's pod routes (the P4 switches' share becomes table entries). */
  podRoutes?: readonly PodRoute[];
}

/**
 * A P4 switch's CLI lines: the LPM entries from the static plan (lpm), then its own cli; with
 * encapsulation none also where it sends each node's pods (entries written at attach time).
 */
function p4Cli(d: DeviceSpec, dev: Device, cx: DataPlaneContext): Omit<P4Compiled, "ports"> {
  if (!d.lpm) {
    if (cx.podRoutes?.some((r) => r.device === d.name))
      cx.lab.warnings.push({
        message: `P4 switch ${d.name} carries pod traffic (encapsulation: none) but has no lpm: kinda writes no entries for the pod CIDRs there; its program or cli must forward them (or set lpm: true)`,
      });
    return { cli: d.cli ?? [] };
  }
  const neighbours = lpmNeighbours(d.name, cx.ends, cx.nodeLinks, dev.interfaces.length);
  const { lines, warnings } = lpmEntries(d.name, d.lpm, neighbours, cx.routes?.routes.get(d.name) ?? []);
  cx.lab.warnings.push(...warnings.map((message) => ({ message })));
  const cli = [...lines, ...(d.cli ?? [])];
  if (!cx.podRoutes) return { cli };
  const pods = lpmPodRoutes(d.name, d.lpm, neighbours, cx.podRoutes);
  cx.lab.warnings.push(...pods.warnings.map((message) => ({ message })));
  return { cli, podRoutes: pods.routes };
}

function addServices(d: DeviceSpec, dev: Device, nodeIfs: readonly string[], cx: DataPlaneContext): void {
  const ports = [...dev.interfaces.map((i) => `eth${i.index}`), ...nodeIfs];
  if (d.kind === "ovs-switch") {
    dev.services = ovsServices(d, ports);
    return;
  }
  const { cli, podRoutes } = p4Cli(d, dev, cx);
  const text = p4CliText(cli);
  if (text) dev.stageFiles.push({ name: "p4-cli.txt", text });
  dev.services = p4Services(d, ports, nodeIfs.length > 0, cli);
  cx.p4.set(d.name, { ports, cli, ...(podRoutes ? { podRoutes } : {}) });
}

/**
 * What the cluster needs from the topology: encapsulation, API routing, the gateway, host and pod
 * routes (kernel routes in routers, table entries in P4 switches; none for OVS switches' NORMAL).
 */
function clusterOptionsOf(spec: TopologySpec, podRoutes: PodRoute[] | undefined, p4: Map<string, P4Compiled>): ClusterOptions {
  const kindOf = new Map(spec.devices.map((d) => [d.name, d]));
  const clusterOptions: ClusterOptions = { encapsulation: spec.encapsulation ?? "vxlan" };
  if (spec.cluster?.apiThroughNetwork) clusterOptions.apiThroughNetwork = true;
  if (spec.cluster?.internetVia) clusterOptions.internetVia = spec.cluster.internetVia;
  if (spec.cluster?.hostRoutes) clusterOptions.hostRoutes = spec.cluster.hostRoutes;
  if (spec.encapsulation === "none" && podRoutes)
    clusterOptions.podRoutes = podRoutes.filter((r) => kindOf.get(r.device)?.kind !== "p4-switch");
  const p4Pods = [...p4.values()].flatMap((sw) => sw.podRoutes ?? []);
  if (p4Pods.length) clusterOptions.p4PodRoutes = p4Pods;
  return clusterOptions;
}

/**
 * A programmable device's ports are known once all its lab links are: names the interfaces the
 * cluster will make for its node links (see programmable.ts for the order); returns them per device.
 */
function nameNodePorts(
  spec: TopologySpec,
  nodeLinks: NodeLink[],
  devs: Map<string, Device>,
  linkIndex: Map<NodeLink, { i: number; nodeSide: 0 | 1 }>,
): Map<string, string[]> {
  const kindOf = new Map(spec.devices.map((d) => [d.name, d]));
  const nodePorts = new Map<string, string[]>();
  for (const nl of nodeLinks) {
    const devKind = kindOf.get(nl.device!)!.kind;
    if (!isProgrammable(devKind)) continue;
    const ifs = nodePorts.get(nl.device!) ?? nodePorts.set(nl.device!, []).get(nl.device!)!;
    nl.deviceIf = nodePort(devs.get(nl.device!)!, ifs.length);
    ifs.push(nl.deviceIf);
    if (devKind === "ovs-switch") nl.deviceAddressIf = OVS_BRIDGE;
    // fixed MACs, as on links between devices: a P4 program's table entries name next hops by MAC
    const at = linkIndex.get(nl);
    if (at) {
      nl.nodeMac = linkMac(at.i, at.nodeSide);
      nl.deviceMac = linkMac(at.i, at.nodeSide === 0 ? 1 : 0);
    }
  }
  return nodePorts;
}

/** The lab devices of a topology, with their images and kind-specific set-up (not nodes or the load balancer). */
function labDevices(spec: TopologySpec, lab: Lab): Map<string, Device> {
  // nodes and the load balancer are the cluster provider's containers, not lab devices
  const devs = new Map(spec.devices.filter((d) => !isProvided(d.kind)).map((d) => [d.name, newDevice(d.name)]));
  for (const d of spec.devices) {
    const dev = devs.get(d.name);
    if (!dev) continue;
    dev.image = d.image ?? defaultImage(d);
    if (d.kind === "switch") {
      lab.warnings.push({
        message: `${d.name}: kind switch (IncSwitchMeta without a program) runs as a plain router; give it a program (kind: p4-switch) to run BMv2`,
      });
    }
    if (d.kind === "p4-switch") prepareP4(d, dev);
    if (d.kind === "ovs-switch") {
      dev.role = ovsRole();
      // the bridge's internal port holds the device's addresses; its ports answer no ARP of their own
      dev.sysctls["net.ipv4.conf.all.arp_ignore"] = "1";
      // the userspace datapath's internal port is a TAP device
      dev.hostDevices.push("/dev/net/tun");
    }
    lab.devices.push(dev);
  }
  return devs;
}

/** Deploy-time shaping of a link between devices, on its collision domain: both directions, or a and b each. */
function linkShaping(l: LinkSpec, i: number, domain: string): LabShaping[] {
  const [a, b] = l.endpoints;
  const [ta, tb] = linkTcSides(l.tc);
  if (ta && ta === tb) return [{ endpoint: domain, shaping: ta, field: `links[${i}].tc` }];
  return [
    ...(ta ? [{ endpoint: domain, from: a, shaping: ta, field: `links[${i}].tc.a` }] : []),
    ...(tb ? [{ endpoint: domain, from: b, shaping: tb, field: `links[${i}].tc.b` }] : []),
  ];
}

/** A link with a node (or the load balancer) at one end (`na`: at endpoints[0]) as the cluster builder takes it. */
function nodeLinkOf(l: LinkSpec, i: number, na: boolean, kindOf: Map<string, DeviceSpec>): NodeLink {
  const [a, b] = l.endpoints;
  const [node, dev] = na ? [a, b] : [b, a];
  const [nAddr, dAddr] = na ? l.addresses! : [l.addresses![1], l.addresses![0]];
  // the load balancer only needs the nodes (the plan routes them via the device); nodes route everything via it
  const nl: NodeLink = isLoadBalancer(kindOf.get(node)!.kind)
    ? { node: LOAD_BALANCER, device: dev, nodeAddress: nAddr, deviceAddress: dAddr }
    : {
        node,
        device: dev,
        nodeAddress: nAddr,
        deviceAddress: dAddr,
        defaultRoute: true,
        ...(l.nic ? { nic: compileNic(l.nic, `links[${i}].nic`) } : {}),
      };
  const mtu = l.mtu ?? kindOf.get(node)!.mtu;
  if (mtu !== undefined) nl.mtu = mtu;
  // tc `a` is from endpoints[0]: the node's egress when the node is endpoints[0]
  const [ta, tb] = linkTcSides(l.tc);
  const [fromNode, fromDev] = na ? [ta, tb] : [tb, ta];
  if (fromNode) nl.nodeTc = fromNode;
  if (fromDev) nl.deviceTc = fromDev;
  return nl;
}

/**
 * Validates and compiles a topology. With routing: static, `router` (plan/routes.ts staticRouter;
 * app/topology.ts passes it) computes the routes that compile places in the devices. P4 program
 * files are checked unless `programFiles: false`.
 */
export function compileSpec(
  spec: TopologySpec,
  where: (path: SpecPath) => Partial<Issue> = (p) => ({ field: p.join(".") }),
  router?: StaticRouter,
  opts: { programFiles?: boolean } = {},
): CompiledTopology {
  const problems = validateSpec(spec, router);
  if (problems.length) throw new TopologyError(problems.map((p) => ({ ...where(p.path), message: p.message })));

  // false: what kinda generates, without reading the programs (kinda p4-entries before p4c ran)
  const fileIssues = opts.programFiles === false ? [] : programFiles(spec);
  if (fileIssues.length) throw new TopologyError(fileIssues.map((p) => ({ ...where(p.path), message: p.message })));

  const kindOf = new Map(spec.devices.map((d) => [d.name, d]));
  const lab: Lab = { metadata: { LAB_NAME: spec.name }, devices: [], warnings: [] };
  const devs = labDevices(spec, lab);
  const nodes: NodeSpec[] = spec.devices
    .filter((d) => isNode(d.kind))
    .map((d) => ({ name: d.name, role: d.kind === "control-plane" ? "control-plane" : "worker" }));
  const nodeLinks: NodeLink[] = [];
  const linkIndex = new Map<NodeLink, { i: number; nodeSide: 0 | 1 }>();
  const addrOps = new Map<string, IpOp[]>();
  const ends: LinkEnd[] = [];
  /** A new interface of device `name` on `domain`, with its address and MTU. */
  const attach = (name: string, domain: string, mac: string, addr: string | undefined, mtu: number | undefined) => {
    const dev = devs.get(name)!;
    const index = dev.interfaces.length;
    dev.interfaces.push({ index, domain, mac });
    ends.push({ device: name, domain, index, mac, address: addr });
    const ops = addrOps.get(name) ?? [];
    const addrIf = kindOf.get(name)!.kind === "ovs-switch" ? OVS_BRIDGE : `eth${index}`;
    if (addr) ops.push({ op: "addr-add", address: addr, dev: addrIf });
    if (mtu) ops.push({ op: "link-set", name: `eth${index}`, mtu });
    addrOps.set(name, ops);
  };
  spec.links.forEach((l: LinkSpec, i) => {
    const [a, b] = l.endpoints;
    const na = isProvided(kindOf.get(a)!.kind);
    const nb = isProvided(kindOf.get(b)!.kind);
    if (na || nb) {
      const nl = nodeLinkOf(l, i, na, kindOf);
      nodeLinks.push(nl);
      linkIndex.set(nl, { i, nodeSide: na ? 0 : 1 });
      return;
    }
    const domain = l.name ?? `l${i}`;
    if (l.tc) (lab.shaping ??= []).push(...linkShaping(l, i, domain));
    attach(a, domain, linkMac(i, 0), l.addresses?.[0], l.mtu);
    attach(b, domain, linkMac(i, 1), l.addresses?.[1], l.mtu);
  });
  // shared segments: the device and the hosts get an interface on the segment's domain
  (spec.segments ?? []).forEach((sg, j) => {
    const at = spec.links.length + j;
    attach(sg.device, sg.name, linkMac(at, 0), sg.address, sg.mtu);
    sg.members.forEach((m, k) => {
      if (devs.has(m.name)) attach(m.name, sg.name, linkMac(at, k + 1), m.address, sg.mtu);
    });
  });
  const nodePorts = nameNodePorts(spec, nodeLinks, devs, linkIndex);
  // nodes on segments join the segment's domain (no device-side interface of their own)
  // fixed MACs for nodes on a programmable device's segment, as for its node links
  const segMac = (j: number, k: number) =>
    isProgrammable(kindOf.get(spec.segments![j]!.device)!.kind) ? linkMac(spec.links.length + j, k + 1) : undefined;
  nodeLinks.push(...segmentNodeLinks(spec, segMac));
  const routes = spec.routing === "static" ? routerFor(spec, router).plan(spec) : undefined;
  const p4 = new Map<string, P4Compiled>();
  const podRoutes = spec.encapsulation === "none" ? routes?.podRoutes : undefined;
  finishDevices(kindOf, devs, addrOps, nodePorts, { routes, ends, nodeLinks, lab, p4, ...(podRoutes ? { podRoutes } : {}) });
  const clusterOptions = clusterOptionsOf(spec, routes?.podRoutes, p4);
  const lb = spec.devices.find((d) => isLoadBalancer(d.kind));
  return { lab, nodes, nodeLinks, clusterOptions, ...(lb ? { loadBalancer: lb.name } : {}), ...(p4.size ? { p4 } : {}) };
}

/** Each device's data plane, routes (not in a P4 switch: its program forwards) and start-up steps. */
function finishDevices(
  kindOf: Map<string, DeviceSpec>,
  devs: Map<string, Device>,
  addrOps: Map<string, IpOp[]>,
  nodePorts: Map<string, string[]>,
  cx: DataPlaneContext,
): void {
  for (const dev of devs.values()) {
    const net = [...(addrOps.get(dev.name) ?? [])];
    const d = kindOf.get(dev.name)!;
    if (isProgrammable(d.kind)) addServices(d, dev, nodePorts.get(dev.name) ?? [], cx);
    if (d.kind !== "p4-switch") {
      for (const r of cx.routes?.routes.get(dev.name) ?? [])
        net.push({ op: "route-add", route: r.via.length > 1 ? { dst: r.dst, nexthops: [...r.via] } : { dst: r.dst, via: r.via[0]! } });
      Object.assign(dev.sysctls, cx.routes?.sysctls.get(dev.name) ?? {});
    }
    if (net.length) dev.net = net;
    dev.exec = [...(d.startup ?? [])];
    if (d.startupTimeout !== undefined) dev.startupTimeout = d.startupTimeout;
  }
}
