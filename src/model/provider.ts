/** How Kubernetes nodes come to exist, behind one interface (Kind today; others later). */
import type { HostProgram } from "../core/host.js";
import { KindaError } from "../core/errors.js";
import type { LoadBalancerFacts, NodeFacts, NodeSpec } from "./cluster.js";

/**
 * `create` found a cluster of that name (made by someone else between `exists()` and `create`):
 * nothing of it is kinda's, so the failed build must not delete it.
 */
export class ClusterExistsError extends KindaError {
  override name = "ClusterExistsError";
}

export interface CreateOptions {
  /** The cluster's pod range (Kind's networking.podSubnet). */
  podCidr: string;
  signal?: AbortSignal;
  /** Progress lines from a long step (Kind's own output). */
  onOutput?: (line: string) => void;
  /**
   * Give the nodes these Kubernetes addresses (InternalIP, API advertise address, etcd URLs) and
   * this API endpoint instead of the provider's own: they exist once kinda has attached the
   * nodes, which it does while the provider creates them (see `started`). With several control
   * planes `apiEndpoint` is the API load balancer's emulated address and `backends` the control
   * planes' (address:port) it is to forward to.
   */
  identity?: { addresses: Record<string, string>; apiEndpoint: string; backends?: Record<string, string> };
  /**
   * A provider that makes nodes in waves (`firstWave`) calls this with the later nodes' facts
   * once their containers run and before they join, so that kinda links them first (they join
   * on their emulated addresses, like the first wave).
   */
  attachLater?: (nodes: NodeFacts[]) => Promise<void>;
  /**
   * The provider calls this when what `stateOptions` reports changed while `create` runs (Kind:
   * the `kind create` process it started, its config's folder), so that the state names it
   * before `create` ends: a `down` after a crash of `up` stops that process and removes that folder.
   */
  record?: () => void;
}

export interface ClusterProvider {
  /** Recorded in the lab state so `down` can find the provider again ("kind", "fixture", ...). */
  readonly kind: string;
  /** Cluster name. */
  readonly name: string;
  /** The TCP port the API servers listen on (Kind: 6443). */
  readonly apiPort?: number;
  /** Checks that the provider can work (tools present) before anything is created. */
  preflight?(): Promise<void>;
  /** Host programs the provider runs (Kind: kind, docker), checked with kinda's own before anything is created. */
  hostPrograms?(): readonly HostProgram[];
  /** Is there already a cluster of this name (one kinda must neither adopt nor delete)? */
  exists?(): Promise<boolean>;
  /** Throws ClusterExistsError when a cluster of this name appeared meanwhile (it is left alone). */
  create(nodes: readonly NodeSpec[], opts: CreateOptions): Promise<void>;
  /** Node facts: container, PID, Kubernetes name, InternalIP, pod CIDRs, provider network. */
  discover(nodes: readonly NodeSpec[]): Promise<NodeFacts[]>;
  /**
   * While `create` runs: the nodes' facts (no pod CIDRs yet) once every node's container runs,
   * else undefined; so that kinda can attach them before Kubernetes starts on them.
   */
  started?(nodes: readonly NodeSpec[]): Promise<NodeFacts[] | undefined>;
  /**
   * The nodes `create` makes first (and `started` can report while it runs); the others it makes
   * afterwards, handing them to `attachLater` before they join. Without it: all of them.
   */
  firstWave?(nodes: readonly NodeSpec[]): NodeSpec[];
  /** After `create` with `identity`: moves what the provider set up itself onto the API endpoint. */
  adoptIdentity?(identity: NonNullable<CreateOptions["identity"]>): Promise<void>;
  /**
   * Whether the cluster made for these nodes has an API load balancer in front of its control
   * planes (Kind: with more than one control plane). Checked before anything is created.
   */
  hasLoadBalancer?(nodes: readonly NodeSpec[]): boolean;
  /** That load balancer once the cluster exists (container, PID, provider address); undefined without one. */
  discoverLoadBalancer?(): Promise<LoadBalancerFacts | undefined>;
  /**
   * Options to record in the lab state once `create` ran (successfully or not), so that the
   * provider rebuilt by `down` in another process knows what creating made (Kind: its network).
   */
  stateOptions?(): Record<string, string>;
  /** A kubeconfig (its text) that reaches this cluster's API from the host, for `kinda ui` and the topology labels. */
  kubeconfig?(): Promise<string>;
  /** Removes the cluster; no error when it is already gone. */
  delete(): Promise<void>;
  /**
   * A worker added to the running cluster (`kinda node LAB NAME add`): its container, running
   * (not yet in Kubernetes); its facts as `started` gives them. The provider's delete removes it too.
   */
  createNode?(node: NodeSpec): Promise<NodeFacts>;
  /** That node's Kubernetes joins the cluster, its kubelet on `nodeIp` (the emulated address). */
  joinNode?(node: NodeFacts, opts: { nodeIp: string; signal?: AbortSignal }): Promise<void>;
  /** Drains (unless `drain` is false: a crash), deletes the Node object, removes the container. */
  removeNode?(node: { name: string; k8sName: string; container: string }, opts: { drain: boolean }): Promise<void>;
}

/** Rebuilds a provider from what the state recorded (for `down` from another process). */
export type ProviderFactory = (name: string, options: Record<string, string>) => ClusterProvider;

/** Finds the provider that made a recorded cluster (providers/registry.ts implements it). */
export interface ProviderLookup {
  providerFor(kind: string, name: string, options?: Record<string, string>): ClusterProvider | undefined;
}
