/**
 * The container runtime behind one interface, so the engine does not know it talks to Docker
 * (a Podman or Kubernetes-backed runtime can be added without touching topology or plan code).
 */
import type { PortSpec, Ulimit } from "./lab.js";

export interface BindMount {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface ContainerSpec {
  name: string;
  image: string;
  hostname: string;
  labels: Record<string, string>;
  env: string[];
  sysctls: Record<string, string>;
  capAdd: string[];
  privileged: boolean;
  memoryBytes?: number;
  nanoCpus?: number;
  ports: PortSpec[];
  /** `container:ID`: share that container's network namespace (a node's smart NIC); no hostname then. */
  network: "none" | "bridge" | `container:${string}`;
  /** Host paths bound into the container (structured: a path may hold ":" or ","). */
  mounts: BindMount[];
  ulimits: Ulimit[];
  entrypoint?: string[];
  cmd?: string[];
  /** Host device files passed in at the same path (e.g. /dev/net/tun for Open vSwitch's userspace datapath). */
  devices?: string[];
}

export interface ContainerInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
  running: boolean;
  pid: number;
  image: string;
  /** The runtime's NAT network, when the container has one. */
  nat?: { ifName?: string; ip: string; gateway: string };
  /** IPv4 address on each runtime network the container is attached to (from inspect). */
  networks?: Record<string, string>;
  /** Published ports: container port to host address (from inspect and list). */
  published?: { guest: number; protocol: string; hostIp: string; hostPort: number }[];
}

/** A container network of the runtime (Kind's "kind" network, for one). */
export interface NetworkInfo {
  name: string;
  /** Its IPv4 ranges and their gateways. */
  ipv4: { subnet: string; gateway?: string }[];
  /** How many containers are attached. */
  containers: number;
}

export interface ExecResult {
  exitCode: number;
  output: string;
  /** Set when the command was stopped (it and its children killed) instead of ending by itself. */
  stopped?: "timeout" | "aborted";
}

export interface ExecOptions {
  /** Attach the caller's terminal (raw mode, resize) instead of collecting output. */
  interactive?: boolean;
  /** Pass the caller's stdin (non-TTY). */
  stdin?: boolean;
  /** Give the command this as its stdin, then end it (instead of `stdin`). */
  input?: string;
  env?: string[];
  /** Kill the command (and every process it started that is still its child) after this long. */
  timeoutMs?: number;
  /** Aborting kills the command the same way. */
  signal?: AbortSignal;
  /** Stream output to these instead of collecting it (then `output` is empty). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

export interface Runtime {
  /** Throws a KindaError that says how to start the engine when it does not answer. */
  ping(): Promise<void>;
  /** Images among `refs` that are not present locally. */
  missingImages(refs: readonly string[]): Promise<string[]>;
  create(spec: ContainerSpec): Promise<string>;
  /** Extracts a tar archive into the (created or running) container at `path`. */
  putArchive(id: string, tar: Buffer, path: string): Promise<void>;
  /** Starts the container and returns its state (with the PID of its init process). */
  start(id: string): Promise<ContainerInfo>;
  inspect(idOrName: string): Promise<ContainerInfo | undefined>;
  exec(id: string, argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Containers whose labels include every given label. */
  list(labels: Record<string, string>): Promise<ContainerInfo[]>;
  /** A runtime network by name; undefined when there is none. */
  network(name: string): Promise<NetworkInfo | undefined>;
  /** Removes a runtime network; no error if it is gone. */
  removeNetwork(name: string): Promise<void>;
  /** Removes the container, running or not; no error if it is gone. */
  remove(id: string): Promise<void>;
}
