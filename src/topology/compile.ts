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
import { DEFAULT_IMAGE, FRR_DEFAULT_IMAGE, OVS_DEFAULT_IMAGE, P4_DEFAULT_IMAGE } from "../core/defaults.js";
import { bgpAsns, frrFiles, frrStartSteps, runsFrr, stagedFrrName, subnetsOf, type RouterPort } from "./frr.js";
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
import { asRoute, type RoutingLpm, type RoutingRecord } from "../model/routing.js";
import { segmentNodeLinks, validateSegments } from "./segments.js";
import {
  GRPC_PORT,
  OVS_BRIDGE,
  THRIFT_PORT,
  compileNic,
  ovsRole,
  ovsServices,
  p4CliLines,
  p4CliText,
  readProgramFile,
  type P4Line,
  p4Role,
  p4Services,
  p4Volumes,
  validateNic,
  validateProgrammable,
} from "./programmable.js";
import { shapingProblems } from "../core/tc.js";
import { checkCliLine, egressUnset, type CliUse, type P4Program } from "../core/p4json.js";
import { lpmEntries, lpmNeighbours, lpmPodRoutes, lpmRecord, type LinkEnd } from "./p4lpm.js";

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
    } else if (isProtocol(spec.routing)) {
      add(["links", i], `routing: ${spec.routing} needs addresses on every link`);
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
  if (spec.encapsulation === "none" && spec.routing !== "static" && !isProtocol(spec.routing))
    add(["encapsulation"], 'encapsulation "none" needs routing: static, ospf or bgp (the network must route pod ranges)');
  if (isProtocol(spec.routing))
    spec.devices.forEach((d, i) => {
      if (isProgrammable(d.kind))
        add(
          ["devices", i, "kind"],
          `${d.name} is a ${d.kind}: with routing: ${spec.routing} every router runs FRR, and a programmable device does not (use routing: static or none)`,
        );
    });
  if (spec.bfd !== undefined && !isProtocol(spec.routing)) add(["bfd"], "bfd is for routing: ospf or bgp (the routers' FRR runs it)");
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

/** Routing a protocol does (FRR on every router, configured by kinda). */
function isProtocol(r: TopologySpec["routing"]): r is "ospf" | "bgp" {
  return r === "ospf" || r === "bgp";
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

function defaultImage(d: DeviceSpec, spec: TopologySpec): string {
  if (isProtocol(spec.routing) && runsFrr(d.kind)) return FRR_DEFAULT_IMAGE;
  return d.kind === "p4-switch" ? P4_DEFAULT_IMAGE : d.kind === "ovs-switch" ? OVS_DEFAULT_IMAGE : DEFAULT_IMAGE;
}

/** Program and P4Info files of P4 switches: present and (the program) BMv2 JSON, read. Reads the files. */
function programFiles(spec: TopologySpec): { issues: SpecIssue[]; programs: Map<string, P4Program> } {
  const out: SpecIssue[] = [];
  const programs = new Map<string, P4Program>();
  const read = (key: string, path: string | undefined, at: SpecPath, what: string) => {
    if (path === undefined) return;
    const r = readProgramFile(path);
    if ("problem" in r) out.push({ path: at, message: `${what}: ${r.problem}` });
    else if (r.program) programs.set(key, r.program);
  };
  spec.devices.forEach((d, i) => {
    if (d.kind !== "p4-switch") return;
    read(d.name, d.program, ["devices", i, "program"], `P4 switch ${d.name}`);
    if (d.p4info !== undefined && !existsSync(d.p4info))
      out.push({ path: ["devices", i, "p4info"], message: `P4 switch ${d.name}: ${d.p4info} does not exist` });
  });
  spec.links.forEach((l, i) => {
    if (l.nic?.kind !== "p4") return;
    const what = `the NIC of ${l.endpoints.join("--")}`;
    read(`links[${i}]`, l.nic.program, ["links", i, "nic", "program"], what);
    if (l.nic.p4info !== undefined && !existsSync(l.nic.p4info))
      out.push({ path: ["links", i, "nic", "p4info"], message: `${what}: ${l.nic.p4info} does not exist` });
  });
  return { issues: out, programs };
}

/** A P4 NIC's cli checked against its program (ports: 0 toward the device, 1 toward the node). */
function checkNics(spec: TopologySpec, cx: DataPlaneContext): void {
  spec.links.forEach((l, i) => {
    const prog = cx.programs.get(`links[${i}]`);
    if (l.nic?.kind !== "p4" || !prog) return;
    checkAgainstProgram(
      `the NIC of ${l.endpoints.join("--")}`,
      ["links", i, "nic"],
      prog,
      p4CliLines(l.nic.cli ?? []),
      ["the outer port, toward the device"],
      cx,
    );
  });
}

/** A P4 switch's container: program mounted, Thrift (and gRPC) published, no kernel forwarding. */
function prepareP4(d: DeviceSpec, dev: Device): void {
  dev.role = p4Role(d);
  dev.volumes.push(...p4Volumes(d));
  // 0: the engine picks a free host port
  dev.ports.push({ host: d.thriftPort ?? 0, guest: THRIFT_PORT, protocol: "tcp" });
  if (d.grpcPort !== undefined) dev.ports.push({ host: d.grpcPort, guest: GRPC_PORT, protocol: "tcp" });
  dev.bridged = true;
  // the program forwards; the kernel stays off the ports (no addresses, no ARP: p4Services; no
  // IPv6: interfaces moved in later take the namespace's default)
  dev.sysctls["net.ipv4.ip_forward"] = "0";
  dev.sysctls["net.ipv6.conf.all.forwarding"] = "0";
  dev.sysctls["net.ipv6.conf.all.disable_ipv6"] = "1";
  dev.sysctls["net.ipv6.conf.default.disable_ipv6"] = "1";
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
  /** P4 switches with `lpm:`: what static routing's re-route needs to rewrite their route entries (the state's routing record). */
  lpm: Map<string, RoutingLpm>;
  /** encapsulation none: the static plan's pod routes (the P4 switches' share becomes table entries). */
  podRoutes?: readonly PodRoute[];
  /** Routing protocols: the steps that start each router's FRR. */
  frr?: Map<string, string[]>;
  /** The compiled programs read (by switch name; a NIC's by `links[i]`): CLI lines are checked against them. */
  programs: Map<string, P4Program>;
  /** Each device's index in the topology (for the place of a problem). */
  index: Map<string, number>;
  /** Problems found while compiling the data planes (lines a program would refuse). */
  issues: SpecIssue[];
  /** ethtool lines (checksum offload off) per device next to a P4 switch (p4KernelOff). */
  offload: Map<string, string[]>;
}

/**
 * A P4 switch's CLI lines: the LPM entries from the static plan (lpm), then its own cli; with
 * encapsulation none also where it sends each node's pods (entries written at attach time).
 */
function p4Cli(d: DeviceSpec, dev: Device, cx: DataPlaneContext): { lines: P4Line[]; podRoutes?: P4PodRoute[]; lpm?: RoutingLpm } {
  const own = p4CliLines(d.cli ?? []);
  if (!d.lpm) {
    if (cx.podRoutes?.some((r) => r.device === d.name))
      cx.lab.warnings.push({
        message: `P4 switch ${d.name} carries pod traffic (encapsulation: none) but has no lpm: kinda writes no entries for the pod CIDRs there; its program or cli must forward them (or set lpm: true)`,
      });
    return { lines: own };
  }
  const neighbours = lpmNeighbours(d.name, cx.ends, cx.nodeLinks, dev.interfaces.length);
  const swRoutes = cx.routes?.routes.get(d.name) ?? [];
  const { lines, warnings } = lpmEntries(d.name, d.lpm, neighbours, swRoutes);
  cx.lab.warnings.push(...warnings.map((message) => ({ message })));
  const all = [...lines.map((text) => ({ text, field: "lpm" })), ...own];
  const lpm = lpmRecord(d.lpm, neighbours, swRoutes);
  if (!cx.podRoutes) return { lines: all, lpm };
  const pods = lpmPodRoutes(d.name, d.lpm, neighbours, cx.podRoutes);
  cx.lab.warnings.push(...pods.warnings.map((message) => ({ message })));
  return { lines: all, podRoutes: pods.routes, lpm };
}

/**
 * The switch's CLI lines checked against its compiled program (when kinda could read it): each
 * refused at its place (`cli[N]`, or `lpm` for the entries kinda writes); a path on which the
 * ingress leaves the egress port unset is a warning (BMv2 sends the frame out of port 0).
 */
function checkAgainstProgram(
  owner: string,
  at: SpecPath,
  prog: P4Program,
  lines: readonly P4Line[],
  ports: readonly string[],
  cx: DataPlaneContext,
  extra: readonly P4Line[] = [],
): void {
  const uses: CliUse[] = [];
  const refused = new Set<string>();
  for (const l of [...lines, ...extra]) {
    const r = checkCliLine(prog, l.text);
    if (r.use) uses.push(r.use);
    if (!r.problem) continue;
    // one issue per generated field (lpm writes many lines of one shape)
    if (!l.field.includes("[") && refused.has(l.field)) continue;
    refused.add(l.field);
    const k = /^(.*\.)?cli\[(\d+)\]$/.exec(l.field);
    const path: SpecPath = k ? [...at, "cli", Number(k[2])] : [...at, l.field];
    cx.issues.push({ path, message: `${owner}: ${k ? "" : `${l.text}: `}${r.problem}` });
  }
  for (const why of egressUnset(prog, uses))
    cx.lab.warnings.push({
      message: `${owner}: the program can leave egress_spec unset (${why}); BMv2 then sends the frame out of port 0, which is ${ports[0] ?? "its first data interface"} (its first link)`,
    });
}

function addServices(d: DeviceSpec, dev: Device, nodeIfs: readonly string[], cx: DataPlaneContext): void {
  const ports = [...dev.interfaces.map((i) => `eth${i.index}`), ...nodeIfs];
  if (d.kind === "ovs-switch") {
    dev.services = ovsServices(d, ports);
    return;
  }
  const { lines, podRoutes, lpm } = p4Cli(d, dev, cx);
  const prog = cx.programs.get(d.name);
  if (prog) {
    // the pod entries are written at attach time: one of their shape is checked now
    const pods = (podRoutes ?? [])
      .slice(0, 1)
      .map((r) => ({ text: `table_add ${r.table} ${r.action} 10.244.0.0/24 => ${r.mac} ${r.port}`, field: "lpm" }));
    checkAgainstProgram(`P4 switch ${d.name}`, ["devices", cx.index.get(d.name)!], prog, lines, ports, cx, pods);
  }
  const text = p4CliText(lines);
  if (text) dev.stageFiles.push({ name: "p4-cli.txt", text });
  dev.services = p4Services(d, ports, nodeIfs.length > 0, lines);
  cx.p4.set(d.name, { ports, cli: lines.map((l) => l.text), ...(podRoutes ? { podRoutes } : {}) });
  if (lpm) cx.lpm.set(d.name, lpm);
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
      // a P4 switch's kernel stays off its ports: its address is the node's gateway only
      if (devKind === "p4-switch") Object.assign(nl, { noDeviceAddress: true, gatewayMac: nl.deviceMac });
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
    dev.image = d.image ?? defaultImage(d, spec);
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
  const files = opts.programFiles === false ? { issues: [], programs: new Map<string, P4Program>() } : programFiles(spec);
  if (files.issues.length) throw new TopologyError(files.issues.map((p) => ({ ...where(p.path), message: p.message })));

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
  /** Each device's addressed interfaces, in order, and whether a router is at the other end (routing protocols). */
  const ports = new Map<string, RouterPort[]>();
  /** A new interface of device `name` on `domain`, with its address and MTU. */
  const attach = (name: string, domain: string, mac: string, addr: string | undefined, mtu: number | undefined) => {
    const dev = devs.get(name)!;
    const index = dev.interfaces.length;
    dev.interfaces.push({ index, domain, mac });
    ends.push({ device: name, domain, index, mac, address: addr });
    const ops = addrOps.get(name) ?? [];
    const addrIf = kindOf.get(name)!.kind === "ovs-switch" ? OVS_BRIDGE : `eth${index}`;
    // a P4 switch's kernel stays off its ports (p4KernelOff): the address is its neighbours' gateway only
    if (addr && kindOf.get(name)!.kind !== "p4-switch") ops.push({ op: "addr-add", address: addr, dev: addrIf });
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
    for (const [k, me, peer] of [
      [0, a, b],
      [1, b, a],
    ] as const) {
      const addr = l.addresses?.[k];
      if (!addr) continue;
      const mine = ports.get(me) ?? ports.set(me, []).get(me)!;
      mine.push({ ifname: `eth${devs.get(me)!.interfaces.length - 1}`, address: addr, peerIsRouter: runsFrr(kindOf.get(peer)!.kind) });
    }
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
  nodeLinks.push(...segmentLinks(spec, kindOf));
  const routing = routingOf(spec, router, kindOf, devs, ports);
  const p4 = new Map<string, P4Compiled>();
  const offload = p4KernelOff(kindOf, ends, addrOps);
  const cx = contextOf(spec, routing, { ends, nodeLinks, lab, p4, programs: files.programs, offload });
  finishDevices(kindOf, devs, addrOps, nodePorts, cx);
  checkNics(spec, cx);
  if (cx.issues.length) throw new TopologyError(cx.issues.map((p) => ({ ...where(p.path), message: p.message })));
  if (routing.routes) lab.routing = routingRecord(spec, routing.routes, cx.lpm);
  const clusterOptions = clusterOptionsOf(spec, routing.podRoutes, p4);
  const lb = spec.devices.find((d) => isLoadBalancer(d.kind));
  return { lab, nodes, nodeLinks, clusterOptions, ...(lb ? { loadBalancer: lb.name } : {}), ...(p4.size ? { p4 } : {}) };
}

/**
 * A routing protocol's devices: each router gets FRR's files (staged) and the steps that start it
 * (after its addresses, before its own start-up); its static routes are dropped from the plan so
 * that only the hosts keep theirs. BGP unnumbered runs over IPv6 link-local addresses: IPv6 on.
 */
function protocolDevices(
  spec: TopologySpec,
  protocol: "ospf" | "bgp",
  devs: Map<string, Device>,
  ports: Map<string, RouterPort[]>,
  routes: StaticRoutePlan,
): Map<string, string[]> {
  const steps = new Map<string, string[]>();
  const asns = protocol === "bgp" ? bgpAsns(spec) : undefined;
  for (const d of spec.devices.filter((x) => runsFrr(x.kind))) {
    const dev = devs.get(d.name)!;
    const { files } = frrFiles(spec, protocol, d.name, ports.get(d.name) ?? [], subnetsOf(spec, d.name), asns);
    dev.stageFiles.push(...files.map((f) => ({ name: stagedFrrName(f.name), text: f.text })));
    steps.set(d.name, frrStartSteps(files));
    Object.assign(dev.sysctls, {
      "net.ipv4.ip_forward": "1",
      "net.ipv4.conf.all.ignore_routes_with_linkdown": "1",
      ...(protocol === "bgp"
        ? { "net.ipv6.conf.all.disable_ipv6": "0", "net.ipv6.conf.default.disable_ipv6": "0", "net.ipv6.conf.all.forwarding": "1" }
        : {}),
    });
    routes.routes.delete(d.name);
    routes.sysctls.delete(d.name);
  }
  return steps;
}

/** Routing protocols, encapsulation none: each node's pods are routed by its own router, toward the node (FRR announces them). */
function ownRouterPodRoutes(spec: TopologySpec, kindOf: Map<string, DeviceSpec>): PodRoute[] {
  const out: PodRoute[] = [];
  for (const l of spec.links) {
    const k = l.endpoints.findIndex((e) => isNode(kindOf.get(e)!.kind));
    if (k < 0 || !l.addresses) continue;
    const device = l.endpoints[1 - k]!;
    if (runsFrr(kindOf.get(device)!.kind)) out.push({ device, node: l.endpoints[k]!, via: hostOf(l.addresses[k]!) });
  }
  return out;
}

/** The routes of static routing (with a routing protocol: the hosts' only), pod routes, and FRR's start-up per router. */
function routingOf(
  spec: TopologySpec,
  router: StaticRouter | undefined,
  kindOf: Map<string, DeviceSpec>,
  devs: Map<string, Device>,
  ports: Map<string, RouterPort[]>,
): { routes?: StaticRoutePlan; podRoutes?: PodRoute[]; frr?: Map<string, string[]> } {
  const protocol = isProtocol(spec.routing) ? spec.routing : undefined;
  // with a routing protocol the hosts still get static routes (toward their router), the routers FRR
  const routes = spec.routing === "static" || protocol ? routerFor(spec, router).plan(spec) : undefined;
  if (!routes) return {};
  const podRoutes = spec.encapsulation !== "none" ? undefined : protocol ? ownRouterPodRoutes(spec, kindOf) : routes.podRoutes;
  const frr = protocol ? protocolDevices(spec, protocol, devs, ports, routes) : undefined;
  return { routes, ...(podRoutes ? { podRoutes } : {}), ...(frr ? { frr } : {}) };
}

/** The data planes' context: the routing's routes (pod routes and FRR steps when there are), a device's index for the place of a problem. */
function contextOf(
  spec: TopologySpec,
  routing: ReturnType<typeof routingOf>,
  base: Pick<DataPlaneContext, "ends" | "nodeLinks" | "lab" | "p4" | "programs" | "offload">,
): DataPlaneContext {
  const { routes, podRoutes, frr } = routing;
  const index = new Map(spec.devices.map((d, i) => [d.name, i]));
  return { ...base, routes, index, issues: [], lpm: new Map(), ...(podRoutes ? { podRoutes } : {}), ...(frr ? { frr } : {}) };
}

/** What the state keeps of static routing: the graph and each kernel-routed device's routes. */
function routingRecord(spec: TopologySpec, routes: StaticRoutePlan, switches: ReadonlyMap<string, RoutingLpm>): RoutingRecord {
  const lpm = Object.fromEntries(switches);
  const kernel = spec.devices.filter((d) => !isProvided(d.kind) && d.kind !== "p4-switch");
  const mode = spec.routing === "ospf" || spec.routing === "bgp" ? spec.routing : "static";
  return {
    mode,
    reroute: mode === "static" && spec.reroute !== false,
    devices: spec.devices.map((d) => ({ name: d.name, kind: d.kind })),
    // static routing has refused links without addresses
    links: spec.links.map((l, i) => ({
      name: l.name ?? `l${i}`,
      endpoints: [...l.endpoints],
      addresses: [...l.addresses!],
      ...(l.cost !== undefined ? { cost: l.cost } : {}),
    })),
    ...(spec.segments?.length ? { segments: structuredClone(spec.segments) } : {}),
    routes: Object.fromEntries(
      (mode === "static" ? kernel : []).map((d) => [d.name, (routes.routes.get(d.name) ?? []).map((r) => asRoute(r.dst, r.via))]),
    ),
    ...(Object.keys(lpm).length ? { lpm } : {}),
  };
}

/**
 * Nodes on segments: they join the segment's domain (no device-side interface of their own); on a
 * programmable device's segment they get fixed MACs, as on its node links, and on a P4 switch's
 * the gateway's MAC (nothing answers ARP there).
 */
function segmentLinks(spec: TopologySpec, kindOf: Map<string, DeviceSpec>): NodeLink[] {
  const segMac = (j: number, k: number) =>
    isProgrammable(kindOf.get(spec.segments![j]!.device)!.kind) ? linkMac(spec.links.length + j, k + 1) : undefined;
  return segmentNodeLinks(spec, segMac).map((nl) => {
    const sg = spec.segments!.findIndex((s) => s.name === nl.domain);
    return kindOf.get(spec.segments![sg]!.device)!.kind === "p4-switch" ? { ...nl, gatewayMac: linkMac(spec.links.length + sg, 0) } : nl;
  });
}

/**
 * What the kernels around a P4 switch need, since the switch's own kernel stays off its ports
 * (BMv2 captures in both directions: what that kernel sent would enter the pipeline as ingress):
 * the switch's addresses are only gateways, so each device on a switch's link or segment gets a
 * permanent neighbour entry for them (nothing answers ARP there), and turns checksum offload off
 * on that interface (rx and tx): BMv2 passes a frame as it got it, and a checksum left to offload
 * on a veth is not finished, so the receiver drops TCP and UDP (p4lang's own Mininet hosts turn
 * offload off likewise). A forwarded packet is finished by the kernel on an interface without tx
 * offload, so the interfaces toward the switch are the ones that matter. Nodes: plan/cluster/links.ts.
 */
function p4KernelOff(kindOf: Map<string, DeviceSpec>, ends: readonly LinkEnd[], addrOps: Map<string, IpOp[]>): Map<string, string[]> {
  const sw = ends.filter((e) => kindOf.get(e.device)!.kind === "p4-switch");
  const neigh = new Map<string, IpOp[]>();
  const offload = new Map<string, string[]>();
  for (const e of ends) {
    const kind = kindOf.get(e.device)!.kind;
    if (kind === "p4-switch" || kind === "external") continue;
    const mine = sw.filter((s) => s.domain === e.domain);
    if (!mine.length) continue;
    const dev = kind === "ovs-switch" ? OVS_BRIDGE : `eth${e.index}`;
    for (const s of mine)
      if (s.address)
        (neigh.get(e.device) ?? neigh.set(e.device, []).get(e.device)!).push({
          op: "neigh-replace",
          address: hostOf(s.address),
          lladdr: s.mac,
          dev,
        });
    (offload.get(e.device) ?? offload.set(e.device, []).get(e.device)!).push(`ethtool -K eth${e.index} rx off tx off`);
  }
  for (const [d, ops] of neigh) addrOps.set(d, [...(addrOps.get(d) ?? []), ...ops]);
  return offload;
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
    // checksum offload off toward a P4 switch (p4KernelOff), then a routing protocol's FRR, before the device's own start-up
    dev.exec = [...(cx.offload.get(dev.name) ?? []), ...(cx.frr?.get(dev.name) ?? []), ...(d.startup ?? [])];
    if (d.startupTimeout !== undefined) dev.startupTimeout = d.startupTimeout;
  }
}
