/**
 * The seed's API in TypeScript: a network (the seed's Lab), device definitions with metas, links
 * with address pairs, the tree builder, and a cluster scope that tears everything down when it
 * ends (`await using`), on error, and on Ctrl+C. It produces a TopologySpec, so the YAML form of
 * the same topology gives the same plan.
 */
import { KindaError } from "../core/errors.js";
import type { ClusterProvider } from "../model/provider.js";
import type { Reporter } from "../core/reporter.js";
import type { DeviceSpec, LinkSpec, LinkTc, TopologySpec } from "../model/spec.js";
import { TopologyHandle, upTopology, type UpTopologyOptions } from "./topology.js";

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
 * applied once it answers; default image kathara/p4. Without a program (the seed's
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

/** The seed's NetworkLink: endpoints and their addresses (and, for node links, traffic control). */
export function Link(endpoints: [string, string], addresses?: [string, string], o: { tc?: LinkTc; mtu?: number } = {}): LinkSpec {
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

  /** The seed's setup_network: deploys the network devices (nodes come with the cluster). */
  async setupNetwork(cluster?: KindaCluster): Promise<void> {
    await cluster?.deployNetwork(this.spec());
  }

  /** The seed's attach_and_build_cluster. */
  async attachAndBuildCluster(cluster: KindaCluster): Promise<void> {
    await cluster.build(this.spec());
  }
}

/**
 * The seed's KatharaBackedCluster as a scope: `await using cluster = new KindaCluster(name, network)`.
 * Whatever it built is removed when the scope ends, when building fails, or on Ctrl+C.
 */
export class KindaCluster {
  handle: TopologyHandle | undefined;
  /** Aborted on Ctrl+C: a deploy or build in progress stops and removes what it created. */
  private readonly abort = new AbortController();
  private busy: Promise<unknown> | undefined;
  private readonly onSignal = () => {
    this.abort.abort();
    void (async () => {
      await this.busy?.catch(() => undefined);
      await this.dispose();
    })().finally(() => process.exit(130));
  };

  constructor(
    readonly name: string,
    readonly network: Network,
    readonly options: { provider?: ClusterProvider; reporter?: Reporter; imageMap?: Record<string, string> } = {},
  ) {
    process.once("SIGINT", this.onSignal);
    process.once("SIGTERM", this.onSignal);
  }

  /** The spec with this cluster's name, so that validation judges the name Kind will get. */
  private named(spec: TopologySpec): TopologySpec {
    return { ...spec, cluster: { ...spec.cluster, name: this.name } };
  }

  private upOptions(): UpTopologyOptions {
    return {
      signal: this.abort.signal,
      ...(this.options.provider ? { provider: this.options.provider } : {}),
      ...(this.options.reporter ? { reporter: this.options.reporter } : {}),
      ...(this.options.imageMap ? { imageMap: this.options.imageMap } : {}),
    };
  }

  private async track<T>(p: Promise<T>): Promise<T> {
    this.busy = p;
    try {
      return await p;
    } finally {
      this.busy = undefined;
    }
  }

  private usable(): void {
    if (this.disposing) throw new KindaError(`cluster ${this.name} was disposed; make a new KindaCluster`);
  }

  async deployNetwork(spec: TopologySpec): Promise<void> {
    this.usable();
    if (this.handle) return;
    this.handle = await this.track(upTopology(this.named(spec), { ...this.upOptions(), networkOnly: true }));
  }

  async build(spec: TopologySpec): Promise<void> {
    this.usable();
    try {
      // upTopology removes what it created when it fails or is aborted
      if (!this.handle) this.handle = await this.track(upTopology(this.named(spec), this.upOptions()));
      else await this.track(this.handle.buildCluster(this.abort.signal));
    } catch (e) {
      await this.dispose();
      throw e;
    }
  }

  private disposing: Promise<void> | undefined;

  /** Removes what was built; a second call (Ctrl+C during scope exit) waits for the same teardown. */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      process.off("SIGINT", this.onSignal);
      process.off("SIGTERM", this.onSignal);
      const h = this.handle;
      this.handle = undefined;
      await h?.down();
    })();
    return this.disposing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
