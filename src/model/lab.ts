/**
 * The topology model: plain data, no I/O. Every source (Kathara lab directory, YAML, the
 * TypeScript API) is turned into a `Lab`; the planner and the engine only ever see this.
 */
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
  /** Where the device was first defined. */
  place?: Place;
  /** Where each option was last set, for error messages (option name to place). */
  optionPlaces: Record<string, Place>;
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
  warnings: LabWarning[];
  /**
   * Links shaped at deploy time (YAML `tc` between devices; a Kathara lab's kinda-only side file
   * `lab.kinda`): an endpoint as `kinda link` takes it, the direction (`from`), where it was written.
   */
  shaping?: LabShaping[];
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
    optionPlaces: {},
    ...(place ? { place } : {}),
  };
}
