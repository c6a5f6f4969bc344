/**
 * The seed's API in TypeScript, as plain data: a network (the seed's Lab), device definitions with
 * metas, links with address pairs and the tree builder. It produces a TopologySpec, so the YAML
 * form of the same topology gives the same plan. Deploying it is app/tree.ts's KindaCluster.
 */
import { KindaError } from "../core/errors.js";
import type { TrafficControl } from "../model/cluster.js";
import type { DeviceSpec, LinkSpec, LpmTable, NicSpec, TopologySpec } from "../model/spec.js";

/** What deploys a builder's topology (app/tree.ts KindaCluster). */
export interface ClusterSession {
  deployNetwork(spec: TopologySpec): Promise<void>;
  build(spec: TopologySpec): Promise<void>;
}

export type DeviceMeta = Omit<DeviceSpec, "name">;

/** Kubernetes nodes (the seed's K8sNodeMeta.Worker() / .Control()). */
export const K8sNodeMeta = {
  Worker: (o: { mtu?: number } = {}): DeviceMeta => ({ kind: "worker", ...o }),
  Control: (o: { mtu?: number } = {}): DeviceMeta => ({ kind: "control-plane", ...o }),
};

/**
 * The cluster's API load balancer (Kind's, which exists with two or more control planes): a leaf
 * linked to one network device like a node; kinda links Kind's container there (the
 * connectLoadBalancer of ClusterBuilder). No image or start-up: the cluster provider makes it.
 */
export function LoadBalancerMeta(o: { mtu?: number } = {}): DeviceMeta {
  return { kind: "load-balancer", ...o };
}

/** A network device (router) with an image and start-up commands. */
export function NetDeviceMeta(o: { image?: string; startup?: string[] } = {}): DeviceMeta {
  return { kind: "router", ...o };
}

/** An "external" device (the seed's ubuntu-based host standing for the internet). */
export function ExternalDeviceMeta(o: { image?: string; startup?: string[] } = {}): DeviceMeta {
  return { kind: "external", ...o };
}

export function HostMeta(o: { image?: string; startup?: string[] } = {}): DeviceMeta {
  return { kind: "host", ...o };
}

/**
 * An in-network (P4) switch. With a `program` (BMv2 JSON from p4c; `p4info` for P4Runtime
 * clients) it is a P4 switch (kind p4-switch): BMv2 runs the program with every data interface as
 * a port, `grpcPort`/`thriftPort` are published on the host, `cli` commands (table entries) are
 * applied once it answers (`lpm`: kinda writes the IPv4 LPM entries of examples/p4/ipv4_lpm.p4 from
 * the static routes first); default image kathara/p4. Without a program (the seed's
 * `IncSwitchMeta()`) it runs as a plain router (kind switch).
 */
export function IncSwitchMeta(
  o: {
    image?: string;
    program?: string;
    p4info?: string;
    grpcPort?: number;
    thriftPort?: number;
    cli?: string[];
    lpm?: boolean | LpmTable;
    startup?: string[];
  } = {},
): DeviceMeta {
  return { kind: o.program === undefined ? "switch" : "p4-switch", ...o };
}

/**
 * An Open vSwitch device (the seed's kathara/sdn): a bridge with the userspace datapath over its
 * data interfaces, forwarding NORMAL unless a `controller` (tcp:IP:PORT) is given, with `flows`
 * added by ovs-ofctl. Default image kathara/sdn.
 */
export function OvsSwitchMeta(o: { image?: string; controller?: string; flows?: string[]; startup?: string[] } = {}): DeviceMeta {
  return { kind: "ovs-switch", ...o };
}

/** The seed's TreeNodeDefinition. */
export function Def(name: string, meta: DeviceMeta): DeviceSpec {
  return { name, ...meta };
}

/**
 * The seed's NetworkLink: endpoints and their addresses (and, for node links, traffic control and
 * a smart NIC: `nic: { kind: "ovs", flows }` or `nic: { kind: "p4", program, cli }`).
 */
export function Link(
  endpoints: [string, string],
  addresses?: [string, string],
  o: { tc?: TrafficControl; mtu?: number; nic?: NicSpec } = {},
): LinkSpec {
  return { endpoints, ...(addresses ? { addresses } : {}), ...o };
}

/** The seed's Lab: a named network. */
export class Network {
  spec: TopologySpec | undefined;
  constructor(readonly name: string) {}
}

export interface TreeOptions {
  rootName: string;
  deviceDefinitions: DeviceSpec[];
  links: LinkSpec[];
  /** Default "static": kinda computes routes over the tree. */
  routing?: "static" | "none";
  encapsulation?: "vxlan" | "gre" | "none";
  cluster?: TopologySpec["cluster"];
}

/** The seed's TreeTopologyBuilder. */
export class TreeTopologyBuilder {
  constructor(
    readonly network: Network,
    readonly options: TreeOptions,
  ) {
    network.spec = this.spec();
  }

  spec(): TopologySpec {
    const s: TopologySpec = {
      name: this.network.name,
      routing: this.options.routing ?? "static",
      encapsulation: this.options.encapsulation ?? "vxlan",
      root: this.options.rootName,
      devices: this.options.deviceDefinitions,
      links: this.options.links,
    };
    if (this.options.cluster) s.cluster = this.options.cluster;
    return s;
  }

  /**
   * The seed's setup_network: deploys the network devices through the session (nodes come with
   * the cluster). Without one there is nothing that could deploy it: that is an error, not a no-op.
   */
  async setupNetwork(cluster?: ClusterSession): Promise<void> {
    if (!cluster)
      throw new KindaError(`setupNetwork() of network ${this.network.name} needs the cluster session that deploys it`, {
        hint: "await using cluster = new KindaCluster(NAME, network); await builder.setupNetwork(cluster); or deploy it with up(builder)",
      });
    await cluster.deployNetwork(this.spec());
  }

  /** The seed's attach_and_build_cluster. */
  async attachAndBuildCluster(cluster: ClusterSession): Promise<void> {
    await cluster.build(this.spec());
  }
}
