/**
 * Kernel operations as plain data. Planners (plan/) make them, each next to its inverse; adapters
 * render them to ip/bridge/tc/ethtool/iptables input only when they run them (plan/ops.ts). The
 * state record keeps inverses in this form, so `down` in another process replays them as data.
 */

/** A route as `ip route` takes it (fields in the order they are written). */
export interface Route {
  dst: string;
  via?: string;
  /** Equal-cost next hops (a multipath route), in place of `via`. */
  nexthops?: string[];
  dev?: string;
  proto?: string;
  metric?: number;
  onlink?: boolean;
  mtu?: number;
  table?: number;
}

export type LinkKind =
  | {
      type: "veth";
      peer: string;
      peerMac?: string;
      peerMtu?: number;
      /** Namespace name or PID of the peer end; absent: the same namespace (a pair inside a node). */
      peerNetns?: string | number;
    }
  /** A collision domain's bridge has multicast snooping off (`mcastSnooping: false`): frames flood as on a hub. */
  | { type: "bridge"; mcastSnooping?: false }
  /** An 802.1Q sub-interface of `link`. */
  | { type: "vlan"; link: string; id: number }
  /** `learning`: the device learns remote MACs (absent: nolearning, the FDB is kinda's alone). */
  | { type: "vxlan"; id: number; local: string; dstport: number; dev: string; learning?: true }
  | { type: "gre"; local: string; remote: string; ttl: number };

/** One line of an `ip -batch`. */
export type IpOp =
  | { op: "link-add"; name: string; mac?: string; mtu?: number; master?: string; up?: true; kind: LinkKind }
  | {
      op: "link-set";
      name: string;
      mac?: string;
      mtu?: number;
      master?: string;
      /** Out of its bridge. */
      nomaster?: true;
      /** Renamed (`ip link set NAME name NEW`). */
      rename?: string;
      /** Moved to another namespace: its name or a PID (1: the host's). */
      netns?: string | number;
      /** true: up; false: down; absent: as it is. */
      up?: boolean;
    }
  | { op: "link-delete"; name: string }
  /** Another name for an interface (`ip link property add dev DEV altname NAME`); goes with it. */
  | { op: "altname-add"; dev: string; altname: string }
  | { op: "addr-add" | "addr-del"; address: string; dev: string }
  | { op: "route-add" | "route-replace" | "route-del"; route: Route }
  | { op: "rule-add" | "rule-del"; to: string; table: number; pref: number }
  | { op: "neigh-replace"; address: string; lladdr: string; dev: string }
  | { op: "neigh-del"; address: string; dev: string };

/** One line of a `bridge -batch` (fdb-del: the entry fdb-append made goes). */
export interface FdbOp {
  op: "fdb-append" | "fdb-del";
  mac: string;
  dev: string;
  dst: string;
}

/** One line of a `tc -batch`: a token bucket as the interface's root qdisc. */
export interface TbfOp {
  op: "tbf";
  dev: string;
  rate: string;
  burst: string;
  latency: string;
}

/** A netem root qdisc (`args` after `netem`: delay, loss, ... and netem's own rate). */
export interface NetemOp {
  op: "netem";
  dev: string;
  args: string[];
}

/** Checksum offload off on an interface (`ethtool -K DEV rx off tx off`). */
/**
 * Loose reverse-path filtering on an interface (rp_filter 2; the effective value is the larger of
 * it and `all`'s, and Kind's nodes have strict 1): a node then takes packets on its link from lab
 * addresses it routes elsewhere (a transit router's ICMP, as traceroute shows). It goes with the
 * interface, so it has no inverse of its own.
 */
export interface RpFilterLooseOp {
  op: "rp-filter-loose";
  dev: string;
}

/**
 * An interface that is a port of a smart NIC's data plane, not an end the node's kernel uses
 * (NIC_OUTER, NIC_INNER): the NIC's program sees its packets (a packet socket, tc) and the
 * node's kernel must not act on them too. Strict reverse-path filtering and no forwarding of what
 * arrives there (IPv4), no ARP answers for the node's addresses, no IPv6. Goes with the interface.
 */
export interface NicPortOp {
  op: "nic-port";
  dev: string;
}

export interface OffloadOffOp {
  op: "offload-off";
  dev: string;
}

export type IptablesTable = "nat" | "mangle" | "filter";

/** An iptables rule carrying kinda's comment: `-A|-I CHAIN MATCH -m comment --comment C -j JUMP`. */
export interface IptablesRule {
  table: IptablesTable;
  chain: string;
  /** Inserted at the top of the chain (-I) instead of appended (-A). */
  insert?: boolean;
  match: string[];
  comment: string;
  jump: string[];
}

/**
 * A P4 switch's table entry, written through its CLI (simple_switch_CLI, in the device):
 * `table_add TABLE ACTION KEY => PARAMS`.
 */
export interface P4EntryAddOp {
  op: "p4-entry-add";
  table: string;
  action: string;
  key: string;
  params: string[];
}

/** Its inverse: the entry with that key goes (found by its key; the handle is the switch's). */
export interface P4EntryDeleteOp {
  op: "p4-entry-delete";
  table: string;
  key: string;
}

/** What undoes a cluster's change inside a device: an ip operation, deleting a rule or a P4 table entry it added. */
export type UndoOp = IpOp | RuleDeleteOp | P4EntryDeleteOp;

/** The inverses to replay inside one device when the cluster goes and the lab stays. */
export interface DeviceUndo {
  device: string;
  undo: UndoOp[];
}

/** The form states written before typed operations recorded (ip lines, and "rules with the lab's comment"). */
export interface LegacyDeviceUndo {
  device: string;
  ip: string[];
  rules: boolean;
}

/** A root qdisc from a shaping request (`args`: after `root`, core/tc.ts qdiscArgs). Inverse: the previous one, or QdiscDeleteOp. */
export interface QdiscReplaceOp {
  op: "qdisc-replace";
  dev: string;
  args: string[];
}

/** The interface's root qdisc removed (back to the default). */
export interface QdiscDeleteOp {
  op: "qdisc-delete";
  dev: string;
}

/**
 * A cut without carrier: nftables netdev chains (table CUT_TABLE) that drop everything in and out
 * of `dev` (`cut: true`), or their removal (`cut: false`, its inverse; idempotent).
 */
export interface CutFilterOp {
  op: "cut-filter";
  dev: string;
  cut: boolean;
}

/** The nftables table (netdev family) that holds kinda's cut filters in a namespace. */
export const CUT_TABLE = "kinda_cut";

/** An iptables rule added (all of one apply's in one `iptables-restore --noflush`). Inverse: RuleDeleteOp. */
export interface RuleAddOp {
  op: "rule-append";
  rule: IptablesRule;
}

/** A rule deleted by its words (best effort: one someone removed already is no error). */
export interface RuleDeleteOp {
  op: "rule-delete";
  rule: IptablesRule;
}

/** The namespace's connection tracking table flushed (`conntrack -F`): connections NATed the old way go. */
export interface ConntrackFlushOp {
  op: "conntrack-flush";
}

/** TCP sockets connected to any of these addresses destroyed (`ss -K`; best effort: a kernel without SOCK_DESTROY keeps them). */
export interface TcpKillOp {
  op: "tcp-kill";
  remotes: string[];
}

/** An operation the engine applies in one namespace through `Kernel.apply` (rendered by plan/ops.ts). */
export type KernelOp =
  | IpOp
  | FdbOp
  | TbfOp
  | NetemOp
  | QdiscReplaceOp
  | QdiscDeleteOp
  | CutFilterOp
  | OffloadOffOp
  | RpFilterLooseOp
  | NicPortOp
  | RuleAddOp
  | RuleDeleteOp
  | ConntrackFlushOp
  | TcpKillOp;

/**
 * What kinda reads from a namespace's kernel, as JSON (rendered by plan/ops.ts readArgv, run
 * through `Kernel.run` or a pod's exec): its links (one by name: exit code non-zero when it is
 * not there; with details, the kind of each; with statistics, counters), its IPv4 default
 * routes, its qdiscs' statistics, its bridges' forwarding entries, the host's named namespaces.
 */
export type ReadOp =
  | { read: "links"; dev?: string; details?: true; stats?: true }
  | { read: "default-routes-v4" }
  | { read: "qdisc-stats" }
  | { read: "fdb" }
  | { read: "netns-list" };
