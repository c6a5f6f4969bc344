/** What the parts of the cluster planner share: the plan's shape, its constants, one planning context. */
import type { Netns } from "../../model/netns.js";
import type {
  ClusterOptions,
  DeviceFacts,
  LoadBalancerFacts,
  NodeFacts,
  NodeLink,
  NodeNic,
  ProviderContainerFacts,
} from "../../model/cluster.js";
import { LOAD_BALANCER } from "../../model/cluster.js";
import type {
  DeviceUndo,
  FdbOp,
  IpOp,
  IptablesRule,
  NetemOp,
  NicPortOp,
  OffloadOffOp,
  P4EntryAddOp,
  RpFilterLooseOp,
  TbfOp,
  UndoOp,
} from "../../model/ops.js";
import { ruleComment } from "../../core/names.js";

export const VXLAN_IF = "kinda-vx";
export const VXLAN_ID = 4242;
export const VXLAN_PORT = 4789;
/** Policy-routing table and rule priority for pod-CIDR routes (win over the provider's own routes). */
export const POD_TABLE = 4242;
export const POD_RULE_PREF = 4242;
export const VXLAN_OVERHEAD = 50;
export const GRE_OVERHEAD = 24;
export const DEFAULT_NODE_IF = "eth1";
export const DEFAULT_MTU = 1500;

/** Everything to do inside one namespace, in order: ip, bridge, tc, ethtool, sysctl, iptables, conntrack. */
export interface NsOps {
  /** Ops of one phase run in parallel across namespaces; phases run in order. */
  phase: number;
  label: string;
  ns: Netns;
  ip: IpOp[];
  bridge: FdbOp[];
  tc: (TbfOp | NetemOp)[];
  ethtool: OffloadOffOp[];
  sysctl: (RpFilterLooseOp | NicPortOp)[];
  iptables: IptablesRule[];
  flushConntrack: boolean;
  /**
   * After the rules and the conntrack flush: TCP sockets whose remote end is one of these addresses
   * are destroyed (`ss -K`), so that their programs reconnect through the new NAT rules.
   */
  killTcp: string[];
}

export interface ClusterPlan {
  lab: string;
  encapsulation: ClusterOptions["encapsulation"] & string;
  /** Phase 0: veths from nodes (and the host) into devices; 1: device sides; 2: routes, tunnels, rules. */
  steps: NsOps[];
  /** Host-namespace links created (deleted at teardown). */
  hostLinks: string[];
  /**
   * What the plan leaves inside devices that outlives the nodes, as the inverse operations that
   * remove it (recorded in the state; replayed when the cluster goes and the lab stays).
   */
  deviceUndo: DeviceUndo[];
  /** Per link (by node): its node interface and its other end (device interface or lab-side end). */
  linkIfs: { node: string; nodeIf: string; deviceIf?: string; labIf?: string }[];
  /** Number of kernel objects/commands planned (plan size, for the bench). */
  size: number;
  /** Smart NICs to start once the links exist (their ports are NIC_OUTER and NIC_INNER in the node). */
  nics: { node: string; nic: NodeNic }[];
  /**
   * P4 switches' table entries for the pod CIDRs (encapsulation "none"), written through each
   * switch's CLI once its data plane runs; their inverses are in deviceUndo.
   */
  p4Entries: { device: string; entries: P4EntryAddOp[] }[];
}

export interface ClusterPlanInput {
  lab: string;
  /** The lab's namespace and collision domains (for links that join a domain). */
  labNetns?: string;
  domains?: { name: string; bridge: string }[];
  /**
   * The domains' bridges are in the host namespace (a Kathara lab's `kt-...` bridges): a node's
   * veth peer goes there (PID 1's namespace), named with the lab's host-link prefix so `down`
   * finds it.
   */
  domainsInHost?: boolean;
  links: NodeLink[];
  nodes: NodeFacts[];
  /** The provider's API load balancer, when the cluster has one (linked with node LOAD_BALANCER). */
  loadBalancer?: LoadBalancerFacts;
  devices: DeviceFacts[];
  options: ClusterOptions;
  /** The cluster's pod range as configured (checked even before pod CIDRs are known). */
  podCidr?: string;
  /**
   * The nodes' Kubernetes identity is their emulated address (see `emulatedIdentity`): their API,
   * etcd and kubelet traffic goes there by itself, so no address of the provider's is rewritten.
   */
  emulatedIdentity?: NodeIdentity;
  /**
   * Each node's tunnel index (its VXLAN MAC and tunnel address, its GRE devices), as the
   * cluster's state records it (see cluster/indexes.ts); a node not in it: its place in `nodes`.
   */
  nodeIndex?: Readonly<Record<string, number>>;
}

/**
 * Each node's Kubernetes identity on the emulated network: its InternalIP (kubelet --node-ip),
 * for the control plane also the API server's advertise address and etcd's URLs; `apiEndpoint`
 * is the address:port every node and pod reaches the API at (kubeadm's controlPlaneEndpoint).
 */
export interface NodeIdentity {
  addresses: Record<string, string>;
  apiEndpoint: string;
  /** With an API load balancer (several control planes): each control plane's address:port, which it forwards to. */
  backends?: Record<string, string>;
}

export function nsOps(phase: number, label: string, ns: Netns): NsOps {
  return { phase, label, ns, ip: [], bridge: [], tc: [], ethtool: [], sysctl: [], iptables: [], flushConntrack: false, killTcp: [] };
}

/**
 * Inverses of what the plan leaves in devices, recorded beside the operations that make it.
 * The device ends of nodes' veths come last: they would go with the nodes' namespaces, but the
 * kernel removes those asynchronously (here 108 s after `kind delete cluster`), and a lab that
 * stays up should be as it was at once.
 */
export class UndoRecorder {
  private readonly main = new Map<string, UndoOp[]>();
  private readonly vethEnds = new Map<string, UndoOp[]>();

  add(device: string, op: UndoOp | undefined): void {
    if (op) this.main.set(device, [...(this.main.get(device) ?? []), op]);
  }

  addVethEnd(device: string, ifname: string): void {
    this.vethEnds.set(device, [...(this.vethEnds.get(device) ?? []), { op: "link-delete", name: ifname }]);
  }

  /** Per device, in the order of `devices`; devices with nothing to undo are left out. */
  list(devices: readonly { name: string }[]): DeviceUndo[] {
    return devices
      .map((d) => ({ device: d.name, undo: [...(this.main.get(d.name) ?? []), ...(this.vethEnds.get(d.name) ?? [])] }))
      .filter((u) => u.undo.length);
  }
}

/** One planning run: the input, the namespaces' operations so far, and what to undo. */
export class PlanContext {
  readonly comment: string;
  /** The linked load balancer: a link like a node's, routes and API redirection, no pod tunnel. */
  readonly lb: LoadBalancerFacts | undefined;
  /** Nodes, then the linked load balancer. */
  readonly attached: ProviderContainerFacts[];
  readonly linkOf: Map<string, NodeLink>;
  readonly undo = new UndoRecorder();
  readonly linkIfs: ClusterPlan["linkIfs"] = [];
  readonly nics: ClusterPlan["nics"] = [];
  private readonly nextIf: Map<string, number>;

  constructor(readonly input: ClusterPlanInput) {
    const { links, nodes, devices } = input;
    this.comment = ruleComment(input.lab);
    this.lb = input.loadBalancer && links.some((l) => l.node === LOAD_BALANCER) ? input.loadBalancer : undefined;
    this.attached = [...nodes, ...(this.lb ? [this.lb] : [])];
    this.linkOf = new Map(links.map((l) => [l.node, l]));
    this.nextIf = new Map(
      devices.map((d) => [d.name, Math.max(-1, ...d.interfaces.map((i) => (/^eth(\d+)$/.exec(i) ? Number(i.slice(3)) : -1))) + 1]),
    );
  }

  get options(): ClusterOptions {
    return this.input.options;
  }

  device(name: string): DeviceFacts {
    return this.input.devices.find((d) => d.name === name)!;
  }

  /** The next free `ethN` of a device. */
  newDeviceIf(device: string): string {
    const k = this.nextIf.get(device)!;
    this.nextIf.set(device, k + 1);
    return `eth${k}`;
  }

  /** The interface of a node's (or the load balancer's) link. */
  ifOf(name: string): string {
    return this.linkOf.get(name)!.nodeIf ?? DEFAULT_NODE_IF;
  }

  /** A node's tunnel index: recorded, else its place in the nodes. */
  indexOf(name: string): number {
    return this.input.nodeIndex?.[name] ?? this.input.nodes.findIndex((n) => n.name === name);
  }

  /** A rule carrying the lab's comment. */
  rule(table: IptablesRule["table"], chain: string, match: string[], jump: string[], insert = false): IptablesRule {
    return { table, chain, ...(insert ? { insert } : {}), match, comment: this.comment, jump };
  }
}

export function labelOf(name: string): string {
  return name === LOAD_BALANCER ? "load balancer" : `node ${name}`;
}
