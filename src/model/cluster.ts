/**
 * Kubernetes nodes inside the emulated network: what the user asks for (node roles, links from
 * nodes to devices, encapsulation, options) and what a cluster provider discovers at run time.
 */

import type { Route } from "./ops.js";

import type { Shaping } from "../core/tc.js";
import type { ServiceStep, VolumeSpec } from "./lab.js";

/**
 * Egress shaping (the seed's TrafficControlInfo): a rate alone is tc tbf (`burst` default 32kbit,
 * `latency` default 50ms); any netem option (delay, jitter, loss, duplicate, reorder, corrupt)
 * makes it netem, with the rate as netem's own.
 */
export type TrafficControl = Shaping;

export type NodeRole = "control-plane" | "worker";

export interface NodeSpec {
  /** Topology name (e.g. "w1"). */
  name: string;
  role: NodeRole;
}

/** A veth between a Kubernetes node and a network device (the seed's connect_with_container). */
export interface NodeLink {
  node: string;
  /** The device the node links to, with a new interface in it (see also `domain`). */
  device?: string;
  /**
   * Or: a collision domain (L2 segment) of the lab the node joins, next to the devices already on
   * it (e.g. in place of a Kathara lab's server). Give `gateway` for its routes then.
   */
  domain?: string;
  /** The node's next hop on a `domain` (an address a device on that segment already has). */
  gateway?: string;
  /** Node-side address with prefix, e.g. "10.0.4.2/24". */
  nodeAddress: string;
  /** Device-side address with prefix; on the bridge when `deviceBridge` is set. */
  deviceAddress?: string;
  /** Make the device side a port of this bridge inside the device (created on first use). */
  deviceBridge?: string;
  /**
   * Put `deviceAddress` on this interface of the device instead of the link's own (e.g. the
   * internal port of an Open vSwitch bridge the link's interface is a port of).
   */
  deviceAddressIf?: string;
  /** Node-side interface name (default "eth1"; the node's eth0 is the cluster provider's). */
  nodeIf?: string;
  /** Device-side interface name (default: the device's next free ethN). */
  deviceIf?: string;
  nodeMac?: string;
  deviceMac?: string;
  /**
   * The device's kernel stays off its end (a P4 switch's port: BMv2 captures what that kernel
   * sends too): `deviceAddress` is only the node's gateway, not put on the device, and the node
   * knows the gateway's MAC (`gatewayMac`) from a permanent neighbour entry (nothing answers ARP).
   */
  noDeviceAddress?: boolean;
  /** A permanent neighbour entry on the node for its gateway (no ARP answers there). */
  gatewayMac?: string;
  /** Link MTU (default 1500). */
  mtu?: number;
  /** Egress shaping on the node side and/or the device side. */
  nodeTc?: TrafficControl;
  deviceTc?: TrafficControl;
  /** Route the node's default traffic via the device (registry ranges stay via the host). */
  defaultRoute?: boolean;
  /** A smart NIC between the node and the device (see NodeNic). */
  nic?: NodeNic;
}

/**
 * A smart NIC as the cluster builder runs it (compiled from a link's `nic`, topology/programmable.ts
 * `compileNic`): a container sharing the node's network namespace whose data plane joins the
 * outer interface (NIC_OUTER, the veth into the device) and the inner one (NIC_INNER, the peer of
 * the node's own interface, which keeps the address and routes). Its inverse is removing it.
 */
export interface NodeNic {
  kind: "ovs" | "p4";
  /** Image as written (the image map applies). */
  image: string;
  /** What runs in it once it started (argv arrays), fields named as in the topology (nic.flows[1]). */
  services: ServiceStep[];
  /** The user's files mounted into it (a P4 program, its P4Info). */
  volumes: VolumeSpec[];
  /** Host device files passed in (/dev/net/tun for Open vSwitch's userspace datapath). */
  hostDevices: string[];
  /** Files kinda writes for it, mounted read-only at the stage folder (p4-cli.txt). */
  stageFiles: { name: string; text: string }[];
  /** Its data plane's log, for `kinda logs`. */
  logFile: string;
  /** Its Open vSwitch bridge (ovs). */
  bridge?: string;
}

/** vxlan/gre: pod traffic tunnelled between nodes; none: pod CIDRs routed natively (needs routes in the devices). */
export type Encapsulation = "vxlan" | "gre" | "none";

/** For encapsulation "none": on `device`, route `node`'s pod CIDRs via `via` (several: equal-cost multipath). */
export interface PodRoute {
  device: string;
  node: string;
  via: string | string[];
}

/**
 * For encapsulation "none": a P4 switch (`lpm`) forwards `node`'s pod CIDRs by table entries, one
 * per CIDR, `table_add TABLE ACTION CIDR => MAC PORT` (the next hop's MAC, the switch's port
 * toward it). Written at attach time, when the cluster has assigned the CIDRs.
 */
export interface P4PodRoute {
  device: string;
  node: string;
  table: string;
  action: string;
  /** The next hop (its address, for messages), its MAC and the switch's port toward it. */
  via: string;
  mac: string;
  port: number;
}

export interface ClusterOptions {
  encapsulation?: Encapsulation;
  /** Addresses for tunnel endpoints (VXLAN VTEPs, GRE point-to-point). Default 100.64.0.0/16. */
  tunnelCidr?: string;
  /** Redirect node-to-node traffic for Kind addresses through the emulated network (default off). */
  apiThroughNetwork?: boolean;
  /** Device that gives the cluster internet access (the seed's enable_internet_access_via). */
  internetVia?: string;
  /** Address ranges nodes keep reaching via the host even with a default route into the lab (registries). */
  hostRoutes?: string[];
  /** Uplink range for internet access: a /30 between the host and the gateway device. */
  uplinkCidr?: string;
  /** Device routes to each node's pod CIDRs, for encapsulation "none" (computed by static routing). */
  podRoutes?: PodRoute[];
  /** P4 switches' table entries for each node's pod CIDRs, for encapsulation "none" (from the same plan). */
  p4PodRoutes?: P4PodRoute[];
  /** Plain host links into devices (the seed's establish_simple_host_connection). */
  hostConnections?: HostConnection[];
}

/** A veth between the host and a device, addresses on both ends, host routes via the device. */
export interface HostConnection {
  device: string;
  hostAddress: string;
  deviceAddress: string;
  /** Ranges the host reaches through this device. */
  routes?: string[];
}

/** A container of the provider's, on the provider's network (a node, or the API load balancer). */
export interface ProviderContainerFacts {
  /** Topology name. */
  name: string;
  container: string;
  containerId: string;
  pid: number;
  /** The container's address on the provider's network (Kind's Docker network). */
  internalIp: string;
  /** The provider network's range and gateway (Kind's Docker network). */
  providerCidr: string;
  providerGateway: string;
  /** Interface on the provider network inside the container. */
  providerIf: string;
}

/** What a cluster provider tells about a node once it exists. */
export interface NodeFacts extends ProviderContainerFacts {
  role: NodeRole;
  /** Kubernetes node name (e.g. "kinda-worker2"). */
  k8sName: string;
  podCidrs: string[];
}

/**
 * Topology name of the cluster's API load balancer in links (`connect({ node: LOAD_BALANCER, ... })`
 * or `connectLoadBalancer(...)`); no Kubernetes node may take it.
 */
export const LOAD_BALANCER = "load-balancer";

/**
 * The API load balancer a provider puts in front of several control planes (Kind's
 * `<cluster>-external-load-balancer`, haproxy): not a Kubernetes node, so no pod CIDRs and no
 * pod tunnel; it only forwards TCP on `apiPort` to the control planes' API servers.
 */
export interface LoadBalancerFacts extends ProviderContainerFacts {
  name: typeof LOAD_BALANCER;
  role: "load-balancer";
  /** The TCP port it serves the Kubernetes API on, also the API servers' port (Kind: 6443). */
  apiPort: number;
}

/** A device of the emulated network, as found at run time. */
export interface DeviceFacts {
  name: string;
  container: string;
  pid: number;
  /** Interface names present in the device (to pick the next free ethN). */
  interfaces: string[];
  /** Linux bridges among them: a link's `deviceBridge` joins one that exists instead of making it. */
  bridges?: string[];
  /**
   * The device's own IPv4 default route of metric 0: an `internetVia` gateway's uplink replaces
   * it, and removing the cluster puts it back.
   */
  defaultRoute?: Route;
}

/** Kind's rule for cluster names (they become container names and a kubeconfig context). */
export const KIND_CLUSTER_NAME = /^[a-z0-9][a-z0-9.-]{0,49}$/;
export const KIND_CLUSTER_NAME_RULE = "1-50 of a-z, 0-9, . and -, starting with a letter or digit";
