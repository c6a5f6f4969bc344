/**
 * The topology model: plain data, no I/O. Every source (Kathara lab directory, YAML, the
 * TypeScript API) is turned into a `Lab`; the planner and the engine only ever see this.
 */
import type { IpOp } from "./ops.js";
import type { RoutingRecord } from "./routing.js";
import type { Place } from "../core/errors.js";
import type { Shaping } from "../core/tc.js";

export interface PortSpec {
  host: number;
  guest: number;
  protocol: "tcp" | "udp" | "sctp";
}

export interface Ulimit {
  name: string;
  soft: number;
  hard: number;
}

export interface VolumeSpec {
  host: string;
  guest: string;
  readOnly: boolean;
}

export interface DeviceInterface {
  /** N in ethN inside the device. */
  index: number;
  /** Collision domain (L2 segment) name. */
  domain: string;
  mac?: string;
  place?: Place;
}

/**
 * A command kinda runs in a device once its interfaces exist, before its start-up steps: the
 * data plane of a programmable device (Open vSwitch daemons, bridge, flows; BMv2 and its table
 * entries). An argv, never a shell string built from input. A failing service fails the deploy
 * (the lab is rolled back) with the device and `field` named.
 */
export interface ServiceStep {
  /** What it does, for messages (e.g. "add flow"). */
  what: string;
  /** The command (absent when `op` is what the step does). */
  argv?: string[];
  /**
   * A change of the device's own kernel (e.g. its bridge up) as a typed operation, in place of
   * `argv`: rendered by plan/ops.ts where the step runs (engine/services.ts), so topology/
   * builds no ip argv.
   */
  op?: IpOp;
  /** The topology field it comes from (e.g. "flows[2]"), for errors. */
  field?: string;
  /** Retry while it fails, up to this many seconds (a readiness wait). */
  retrySeconds?: number;
  /** Output matching this (a regular expression) is a failure even with exit code 0. */
  failOn?: string;
  /**
   * The lines a simple_switch_CLI step feeds the CLI, each with the topology field it comes from
   * (e.g. "cli[3]"): its answer is read per line (core/p4cli.ts) and a failure names that line.
   */
  cli?: { text: string; field: string }[];
  /**
   * Lines to check against the compiled program this step prints (BMv2 JSON, e.g. `cat` of what
   * p4c wrote in the device): the first one the program refuses fails the step, naming its field.
   */
  checkCli?: { text: string; field: string }[];
  /** A log file in the device whose last lines explain a failure (the switch's own output). */
  log?: string;
  /** "cluster": run once the cluster's links into the device exist (ports on node links). */
  after?: "network" | "cluster";
}

/** What a programmable device is, for status, logs and pictures. */
export interface DeviceRole {
  kind: "p4-switch" | "ovs-switch";
  /** File inside the device with its data plane's log (`kinda logs LAB DEVICE`). */
  logFile: string;
  /** Published ports by name (e.g. grpc -> 9559), shown by `kinda status` with their host address. */
  portNames?: Record<string, number>;
}

export interface Device {
  name: string;
  /** Image reference as written; undefined means the default image. */
  image?: string;
  interfaces: DeviceInterface[];
  /** Host folder copied over the device's root before start-up. */
  folder?: string;
  /** Host path of the device's start-up script (run after all its interfaces exist). */
  startup?: string;
  shutdown?: string;
  /** Shell commands run after the start-up scripts, in order. */
  exec: string[];
  /**
   * kinda's own addresses, MTUs and routes for the device (a compiled topology's), as typed
   * operations: applied from the host in the device's namespace right after its links (after its
   * services when it has some), before its exec commands.
   */
  net?: IpOp[];
  /** Seconds the start-up (scripts and exec commands) may take; undefined: kinda's default. */
  startupTimeout?: number;
  sysctls: Record<string, string>;
  env: Record<string, string>;
  ports: PortSpec[];
  /** An extra interface, after all lab interfaces, on the container runtime's NAT network. */
  bridged: boolean;
  /** undefined: kinda's default (IPv6 on). */
  ipv6?: boolean;
  memoryBytes?: number;
  cpus?: number;
  privileged: boolean;
  shell?: string;
  ulimits: Ulimit[];
  volumes: VolumeSpec[];
  entrypoint?: string[];
  args?: string[];
  /** Devices that must be up before this one starts (Kathara's lab.dep). */
  dependsOn: string[];
  /** Data-plane services (programmable devices), run after the interfaces exist. */
  services: ServiceStep[];
  role?: DeviceRole;
  /** Host device files passed into the container (e.g. /dev/net/tun). */
  hostDevices: string[];
  /** Files kinda writes into the device's stage folder (mounted at /var/lib/kinda), e.g. p4-cli.txt. */
  stageFiles: { name: string; text: string }[];
  /** Where the device was first defined. */
  place?: Place;
  /** Where each option was last set, for error messages (option name to place). */
  optionPlaces: Record<string, Place>;
}

export interface ExternalLink {
  domain: string;
  /** The host interface. */
  iface: string;
  /** VLAN id: kinda makes `<iface>.<vlan>` on the host interface and joins that. */
  vlan?: number;
  place?: Place;
}

export interface LabWarning {
  message: string;
  place?: Place;
}

export interface Lab {
  /** Directory the lab was read from (absent for API-built labs). */
  dir?: string;
  /** LAB_* metadata lines (LAB_DESCRIPTION, ...). */
  metadata: Record<string, string>;
  devices: Device[];
  /** shared.startup / shared.shutdown: run in every device before/after its own script. */
  sharedStartup?: string;
  sharedShutdown?: string;
  /** The lab's shared/ folder, mounted at /shared in every device. */
  sharedFolder?: string;
  /**
   * "kathara": the lab came from a Kathara lab directory, so its devices are set up as Kathara
   * 3.8 sets them up (IPv6 off unless asked, /hostlab, start-up log, hosts file, ...).
   */
  flavor?: "kathara";
  /** lab.ext: host interfaces (or VLAN sub-interfaces kinda makes on them) joined to a collision domain. */
  externalLinks?: ExternalLink[];
  warnings: LabWarning[];
  /**
   * Links shaped at deploy time (YAML `tc` between devices; a Kathara lab's kinda-only side file
   * `lab.kinda`): an endpoint as `kinda link` takes it, the direction (`from`), where it was written.
   */
  shaping?: LabShaping[];
  /** Static routing's graph and routes, kept in the state so that a cut is routed around (plan/reroute.ts). */
  routing?: RoutingRecord;
}

export interface LabShaping {
  endpoint: string;
  from?: string;
  shaping: Shaping;
  /** Where it was written: a file position, or a field path (YAML/API). */
  place?: Place;
  field?: string;
}

export function newDevice(name: string, place?: Place): Device {
  return {
    name,
    interfaces: [],
    exec: [],
    sysctls: {},
    env: {},
    ports: [],
    bridged: false,
    privileged: false,
    ulimits: [],
    volumes: [],
    dependsOn: [],
    services: [],
    stageFiles: [],
    hostDevices: [],
    optionPlaces: {},
    ...(place ? { place } : {}),
  };
}
