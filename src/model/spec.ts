/**
 * kinda's own topology description: devices by kind (routers, switches, hosts, the "internet",
 * Kubernetes nodes, the cluster's API load balancer) and links with address pairs. Plain data;
 * the YAML form and the TypeScript API (topology/tree.ts) both produce it, so one topology gives
 * one plan whichever way it is written.
 */
import type { PodRoute, TrafficControl } from "./cluster.js";

export type { DeviceKind } from "./kind.js";
import type { DeviceKind } from "./kind.js";

export interface DeviceSpec {
  name: string;
  kind: DeviceKind;
  /** Container image (network devices). Default: kathara/base. */
  image?: string;
  /** Shell commands run after addresses and routes are in place. */
  startup?: string[];
  /** Seconds those commands may run before they are stopped (default 300, KINDA_STARTUP_TIMEOUT). */
  startupTimeout?: number;
  /** Kubernetes nodes and the load balancer: MTU of their link. */
  mtu?: number;
  /**
   * P4 switches (p4-switch): the compiled program (BMv2 JSON), read from this host path; or a `.p4`
   * file, compiled in the device by its image's p4c before the switch starts (its folder is mounted).
   */
  program?: string;
  /** P4 switches: the P4Info file (for P4Runtime clients), mounted next to the program. */
  p4info?: string;
  /** P4 switches: host port for P4Runtime (gRPC); given: simple_switch_grpc, absent: simple_switch. */
  grpcPort?: number;
  /** P4 switches: host port for the Thrift API (simple_switch_CLI); absent: one the engine picks. */
  thriftPort?: number;
  /** p4-switch: BMv2's log level (default info: no per-packet lines). */
  logLevel?: "trace" | "debug" | "info" | "warn" | "error" | "off";
  /** P4 switches: simple_switch_CLI commands (table entries), applied once the switch answers. */
  cli?: string[];
  /**
   * P4 switches running an IPv4 LPM program (examples/p4/ipv4_lpm.p4): kinda writes its table's
   * entries from the static route plan (`table_add TABLE ACTION PREFIX => NEXT_HOP_MAC PORT`),
   * applied before `cli`. true: the example's names (MyIngress.ipv4_lpm, MyIngress.ipv4_forward).
   */
  lpm?: boolean | LpmTable;
  /** Open vSwitch (ovs-switch): OpenFlow controller, e.g. tcp:192.0.2.10:6653; absent: NORMAL forwarding. */
  controller?: string;
  /** Open vSwitch: flows added with ovs-ofctl add-flow, in order. */
  flows?: string[];
}

/**
 * A smart NIC on a Kubernetes node's link: a data plane between the node and its device, run in
 * a container that shares the node's network namespace. Open vSwitch (`kind: ovs`: a bridge over
 * the NIC's two ports, NORMAL or a controller, `flows`) or BMv2 (`kind: p4`: `program`, `p4info`,
 * `cli` table entries, `grpc` for simple_switch_grpc). The fields mean what they mean for
 * ovs-switch and p4-switch devices.
 */
export interface NicSpec {
  kind: "ovs" | "p4";
  /** Default: kathara/sdn (ovs), kathara/p4 (p4). */
  image?: string;
  controller?: string;
  flows?: string[];
  program?: string;
  p4info?: string;
  cli?: string[];
  /** P4: run simple_switch_grpc with P4Runtime on port 9559 of the node's namespace. */
  grpc?: boolean;
}

/** The LPM table and its forwarding action (parameters: next hop's MAC, egress port) in a P4 program. */
export interface LpmTable {
  table?: string;
  action?: string;
}

export type LinkTc = TrafficControl | { a?: TrafficControl; b?: TrafficControl };

/** Per direction: [from endpoints[0], from endpoints[1]]. */
export function linkTcSides(tc: LinkTc | undefined): [TrafficControl | undefined, TrafficControl | undefined] {
  if (!tc) return [undefined, undefined];
  if ("a" in tc || "b" in tc) {
    const t = tc as { a?: TrafficControl; b?: TrafficControl };
    return [t.a, t.b];
  }
  return [tc as TrafficControl, tc as TrafficControl];
}

export interface LinkSpec {
  /** Names the link's collision domain (default "l<index>"); generators name links "<a>-<b>". */
  name?: string;
  endpoints: [string, string];
  /** Addresses with prefix for each endpoint, same subnet. */
  addresses?: [string, string];
  /**
   * Shaping of the link (the seed's TrafficControlInfo, plus netem): one TrafficControl for both
   * directions, or `a` (from endpoints[0] to endpoints[1]) and `b` (the other way) each alone.
   */
  tc?: LinkTc;
  mtu?: number;
  /** Static routing: the link's cost (a positive integer; default 1, so paths are counted in hops). */
  cost?: number;
  /** A Kubernetes node's link: the smart NIC between the node and the device. */
  nic?: NicSpec;
}

/** A member of a shared segment: a Kubernetes node or a host, with its address there. */
export interface SegmentMember {
  name: string;
  address: string;
  /** Egress shaping of a Kubernetes node's link, on its side. */
  tc?: TrafficControl;
}

/**
 * A shared segment: `device`'s interface (with `address`, the members' gateway) and several
 * Kubernetes nodes or hosts on one L2 segment (the API's deviceBridge, the seed's bridge mode).
 */
export interface SegmentSpec {
  /** Names its collision domain. */
  name: string;
  device: string;
  address: string;
  mtu?: number;
  members: SegmentMember[];
}

export interface ClusterSpec {
  name?: string;
  apiThroughNetwork?: boolean;
  /** Device that gives the cluster internet access. */
  internetVia?: string;
  /** Ranges nodes keep reaching through the host (registries). */
  hostRoutes?: string[];
  /** Kind node image. */
  image?: string;
}

export interface TopologySpec {
  name: string;
  /**
   * static: kinda computes and installs routes (shortest paths, ECMP on ties; re-routed around a
   * cut); ospf, bgp: every router runs FRR with configs kinda writes (docs/routing.md); none: the
   * user's (their own FRR, P4, SDN).
   */
  routing?: "static" | "none" | "ospf" | "bgp";
  /** ospf or bgp: a BFD session on every link between routers (sub-second failure detection). */
  bfd?: boolean;
  /**
   * Static routing: re-route when a link is cut or restored, or links and devices are removed or
   * added while the lab is up (default true; false keeps the routes `up` installed).
   */
  reroute?: boolean;
  /** Pod traffic between nodes: vxlan (default), gre, or none (native routing, needs routing: static). */
  encapsulation?: "vxlan" | "gre" | "none";
  /** For trees: the root device (any non-Kubernetes device). */
  root?: string;
  cluster?: ClusterSpec;
  devices: DeviceSpec[];
  links: LinkSpec[];
  segments?: SegmentSpec[];
  /** Where the lab runs: the Docker engine of this machine (default) or a host Kubernetes cluster. */
  runtime?: RuntimeSpec;
}

/** `runtime:` of a topology (the CLI's --runtime, --kubeconfig, --context, --namespace override it). */
export interface RuntimeSpec {
  kind: "docker" | "kubernetes";
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  /** Device -> host node (kubernetes.io/hostname) to pin it to; the others are spread. */
  placement?: Record<string, string>;
  /** Only host nodes with these labels. */
  nodeSelector?: Record<string, string>;
}

export function isNode(kind: DeviceKind): boolean {
  return kind === "worker" || kind === "control-plane";
}

/**
 * The cluster provider's API load balancer (Kind's, in front of two or more control planes). Its
 * device name is the topology's only; the compiled link names it LOAD_BALANCER (model/cluster.ts).
 */
export function isLoadBalancer(kind: DeviceKind): boolean {
  return kind === "load-balancer";
}

/** Devices whose data plane is a program (BMv2, Open vSwitch) rather than the kernel's routing. */
export function isProgrammable(kind: DeviceKind): kind is "p4-switch" | "ovs-switch" {
  return kind === "p4-switch" || kind === "ovs-switch";
}

/** Containers the cluster provider makes (nodes, the load balancer): no lab device, one link each. */
export function isProvided(kind: DeviceKind): boolean {
  return isNode(kind) || isLoadBalancer(kind);
}

/** One route of the static plan: a subnet and its next hops (several where paths tie). */
export interface StaticRoute {
  dst: string;
  via: readonly string[];
}

/** What static routing adds to a topology: computed by plan/routes.ts, placed by topology/compile.ts. */
export interface StaticRoutePlan {
  /** Each network device's routes: destinations (subnets) and next-hop addresses, in order (compile makes them route operations). */
  routes: Map<string, StaticRoute[]>;
  /** Sysctls for devices with multipath routes. */
  sysctls: Map<string, Record<string, string>>;
  /** Each device's next hops toward each Kubernetes node's pod ranges (used with encapsulation none). */
  podRoutes: PodRoute[];
}

/** Static routing's computation, handed to the compiler (topology/ does not import plan/). */
export interface StaticRouter {
  /** The parts of the network no link or segment joins (names sorted); safe on a spec not yet valid. */
  parts(spec: TopologySpec): string[][];
  /** Routes over the cheapest paths, for a valid spec. */
  plan(spec: TopologySpec): StaticRoutePlan;
}
