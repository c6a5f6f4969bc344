/**
 * `kinda doctor`: what this machine has of what kinda needs. The Docker engine, every host
 * program (with its Debian package), kernel features found by really creating them in a
 * throwaway namespace (and what kinda does without each), the kind CLI, the limits that break
 * big Kind clusters, free disk.
 */
import { existsSync, readFileSync, statfsSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname } from "node:path";
import { findProgram, HOST_PROGRAMS, kindProgram, type HostNeed, type HostProgram } from "../core/host.js";
import type { KernelOp } from "../model/ops.js";
import { run } from "../net/exec.js";
import { inNamedNetns, netnsArgv, renderInvocations } from "../plan/ops.js";
import { dockerClient } from "./root-light.js";

export type CheckStatus = "ok" | "warn" | "fail" | "skipped";

export interface DoctorCheck {
  group: "docker" | "program" | "kernel" | "kind" | "limit" | "disk";
  name: string;
  status: CheckStatus;
  detail: string;
  /** What kinda does without it (kernel features, optional programs). */
  without?: string;
  debianPackage?: string;
}

export interface DoctorReport {
  /** No check failed (warnings limit what kinda can do, failures stop it). */
  ok: boolean;
  checks: DoctorCheck[];
}

type DockerClient = Awaited<ReturnType<typeof dockerClient>>;

async function dockerCheck(): Promise<{ check: DoctorCheck; rootDir?: string; docker: DockerClient }> {
  const docker = await dockerClient();
  const where = process.env["DOCKER_HOST"] ?? "/var/run/docker.sock";
  try {
    const v = await docker.version();
    const info = (await docker.info()) as { DockerRootDir?: string };
    const check: DoctorCheck = {
      group: "docker",
      name: "engine",
      status: "ok",
      detail: `Docker ${v.Version} (API ${v.ApiVersion}) at ${where}`,
    };
    return { check, docker, ...(info.DockerRootDir ? { rootDir: info.DockerRootDir } : {}) };
  } catch (e) {
    const detail = `not reachable at ${where}: ${(e as Error).message}; install and start it (apt-get install docker.io), or set DOCKER_HOST`;
    return { check: { group: "docker", name: "engine", status: "fail", detail, without: "kinda cannot create any device" }, docker };
  }
}

function programCheck(p: HostProgram): DoctorCheck {
  const at = findProgram(p.name);
  const what: Record<HostNeed, string> = {
    lab: "every lab",
    cluster: "Kubernetes nodes",
    kind: "the Kind provider",
    live: "kinda link",
    capture: "kinda capture",
  };
  const needs = p.needFor.map((n) => what[n]).join(", ");
  return {
    group: "program",
    name: p.name,
    status: at ? "ok" : "fail",
    detail: at ? `${at}` : `missing: ${p.install ?? `apt-get install ${p.debianPackage}`}`,
    without: `${p.purpose}; needed for ${needs}`,
    debianPackage: p.debianPackage,
  };
}

async function kindCheck(): Promise<DoctorCheck[]> {
  const bin = process.env["KINDA_KIND"] ?? "kind";
  const at = findProgram(bin);
  const r = at ? await run([at, "version"]).catch(() => undefined) : undefined;
  const kind: DoctorCheck = {
    group: "kind",
    name: "kind",
    status: r?.exitCode === 0 ? "ok" : "warn",
    detail: r?.exitCode === 0 ? `${r.stdout.trim()} (${at})` : `${bin} ${at ? "does not run" : "not found"}: ${kindProgram(bin).install}`,
    without: "labs work; topologies with Kubernetes nodes (Kind provider) are refused before anything is created",
  };
  const kubectl = findProgram("kubectl");
  return [
    kind,
    {
      group: "kind",
      name: "kubectl",
      status: kubectl ? "ok" : "warn",
      detail: kubectl ?? "not found (Debian package kubernetes-client, or the one scripts/k8s builds to match the node image)",
      without: "kinda does not run it; you use it on the cluster (kinda merges the kubeconfig)",
      debianPackage: "kubernetes-client",
    },
  ];
}

const NS = `kinda-doctor-${process.pid}`;

/**
 * Each feature is created for real in a throwaway namespace, as the typed operation kinda (or a
 * lab's own script) would apply, rendered by plan/ops.ts; `after` names the feature it builds on.
 */
const FEATURES: { name: string; op: KernelOp; after?: string; without: string; required?: boolean }[] = [
  {
    name: "veth",
    op: { op: "link-add", name: "kd-v0", kind: { type: "veth", peer: "kd-v1" } },
    required: true,
    without: "nothing can be linked: no lab deploys",
  },
  {
    name: "bridge",
    op: { op: "link-add", name: "kd-br0", kind: { type: "bridge" } },
    required: true,
    without: "no collision domains: no lab deploys",
  },
  {
    name: "vxlan",
    op: { op: "link-add", name: "kd-vx0", kind: { type: "vxlan", id: 4242, local: "192.0.2.1", dstport: 4789, dev: "kd-v0" } },
    after: "veth",
    without: "encapsulation vxlan (the default) fails when nodes attach; use encapsulation none with routing static, or gre",
  },
  {
    name: "gre",
    op: { op: "link-add", name: "kd-gre0", kind: { type: "gre", local: "192.0.2.1", remote: "192.0.2.2", ttl: 64 } },
    without: "encapsulation gre fails when nodes attach; use vxlan (the default) or none",
  },
  {
    name: "tbf",
    op: { op: "tbf", dev: "kd-v0", rate: "1mbit", burst: "32kbit", latency: "50ms" },
    after: "veth",
    without: "a node link with tc (rate shaping) fails to attach and the cluster is rolled back; links without tc work",
  },
  {
    name: "htb",
    op: { op: "qdisc-replace", dev: "kd-v1", args: ["handle", "1:", "htb"] },
    after: "veth",
    without: "kinda does not use it; a lab's start-up script that shapes with htb fails here",
  },
  {
    name: "netem",
    op: { op: "netem", dev: "kd-br0", args: ["delay", "1ms"] },
    after: "bridge",
    without: "kinda link's and tc's netem options (delay, jitter, loss, duplicate, reorder, corrupt) are refused; rate alone (tbf) works",
  },
];

/** One feature's operation applied in the doctor's namespace: its tool's exit code and what it said. */
async function probe(op: KernelOp): Promise<{ exitCode: number | null; stderr: string }> {
  let last: { exitCode: number | null; stderr: string } = { exitCode: 0, stderr: "" };
  for (const inv of renderInvocations([op])) {
    last = await run(inNamedNetns(NS, inv.argv), inv.input);
    if (last.exitCode !== 0) return last;
  }
  return last;
}

async function kernelChecks(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const skip = (detail: string) =>
    FEATURES.map((f): DoctorCheck => ({ group: "kernel", name: f.name, status: "skipped", detail, without: f.without }));
  if (process.getuid?.() !== 0) return [...skip("not checked: creating a namespace needs root"), openvswitchCheck()];
  if (!findProgram("ip") || !findProgram("tc")) return [...skip("not checked: needs ip and tc (iproute2)"), openvswitchCheck()];
  const made = await run(netnsArgv("add", NS));
  if (made.exitCode !== 0) return [...skip(`not checked: ip netns add failed: ${made.stderr.trim()}`), openvswitchCheck()];
  try {
    const present = new Set<string>();
    for (const f of FEATURES) {
      if (f.after && !present.has(f.after)) {
        checks.push({ group: "kernel", name: f.name, status: "skipped", detail: `not checked: needs ${f.after}`, without: f.without });
        continue;
      }
      const r = await probe(f.op);
      if (r.exitCode === 0) present.add(f.name);
      const detail = r.exitCode === 0 ? "present (created one in a throwaway namespace)" : `absent: ${r.stderr.trim().split("\n")[0]}`;
      checks.push({
        group: "kernel",
        name: f.name,
        status: r.exitCode === 0 ? "ok" : f.required ? "fail" : "warn",
        detail,
        without: f.without,
      });
    }
  } finally {
    await run(netnsArgv("delete", NS));
  }
  return [...checks, openvswitchCheck()];
}

function openvswitchCheck(): DoctorCheck {
  const loaded = existsSync("/sys/module/openvswitch");
  return {
    group: "kernel",
    name: "openvswitch",
    status: loaded ? "ok" : "warn",
    detail: loaded
      ? "module loaded (/sys/module/openvswitch)"
      : "module not loaded (/sys/module/openvswitch absent; modprobe openvswitch where the kernel has it)",
    without:
      "kinda does not need it (its ovs-switch devices use the userspace datapath); an image that uses the kernel datapath cannot create it",
  };
}

function readNumber(file: string): number | undefined {
  try {
    return Number(readFileSync(file, "utf8").trim());
  } catch {
    return undefined;
  }
}

/** The soft open-files limit of dockerd (Kind's nodes inherit it), else of this process. */
function openFiles(): { value: number | undefined; of: string } {
  const pid = readNumber("/var/run/docker.pid");
  for (const [file, of] of [
    [`/proc/${pid}/limits`, "dockerd"],
    ["/proc/self/limits", "kinda"],
  ] as const) {
    if (pid === undefined && of === "dockerd") continue;
    try {
      const line = readFileSync(file, "utf8")
        .split("\n")
        .find((l) => l.startsWith("Max open files"));
      const soft = line?.split(/\s{2,}/)[1];
      if (soft) return { value: soft === "unlimited" ? Infinity : Number(soft), of };
    } catch {
      /* not readable: try the next */
    }
  }
  return { value: undefined, of: "kinda" };
}

function limitChecks(): DoctorCheck[] {
  const limit = (name: string, value: number | undefined, min: number, how: string): DoctorCheck => ({
    group: "limit",
    name,
    status: value === undefined || value < min ? "warn" : "ok",
    detail: `${value ?? "unknown"}${value === undefined || value < min ? ` (below ${min}: ${how})` : ""}`,
    without: "Kind clusters of several nodes fail to start pods (too many open files) or kubelet watches",
  });
  const nofile = openFiles();
  return [
    ...KIND_SYSCTLS.map((k) =>
      limit(
        k.name,
        readNumber(sysctlPath(k.name)),
        k.min,
        `sysctl -w ${k.name}=${k.min} (or kinda doctor --fix), as Kind's known issues advise`,
      ),
    ),
    limit(`open files (${nofile.of})`, nofile.value, 65536, `raise the open-files limit of ${nofile.of} (ulimit -n, LimitNOFILE)`),
  ];
}

/**
 * Kernel limits Kind's nodes need raised for clusters of several nodes (Kind's known issues:
 * each node's kubelet and containerd take inotify instances; 128, a common default, runs out
 * at a few nodes with "too many open files"). Kind advises 512 instances; a node takes about 14
 * (KIND_NODE_COST), so 512 ran out here at 41 nodes: kinda asks for 8192.
 */
export const KIND_SYSCTLS = [
  { name: "fs.inotify.max_user_instances", min: 8192 },
  { name: "fs.inotify.max_user_watches", min: 524288 },
] as const;

function sysctlPath(name: string): string {
  return `/proc/sys/${name.replaceAll(".", "/")}`;
}

/** The sysctls below what Kind needs, with the value each is raised to (never lowered). */
export function sysctlFixes(read: (name: string) => number | undefined): { name: string; from: number | undefined; to: number }[] {
  return KIND_SYSCTLS.flatMap((k) => {
    const from = read(k.name);
    return from !== undefined && from >= k.min ? [] : [{ name: k.name, from, to: k.min }];
  });
}

/**
 * `kinda doctor --fix`: raises those sysctls, saying each before it is written (root; the
 * setting lasts until reboot: put it in /etc/sysctl.d to keep it).
 */
export function fixSysctls(say: (line: string) => void, write = (path: string, v: string) => writeFileSync(path, v)): void {
  for (const f of sysctlFixes((n) => readNumber(sysctlPath(n)))) {
    say(`setting ${f.name} from ${f.from ?? "unknown"} to ${f.to} (Kind's nodes need it for clusters of several nodes)`);
    write(sysctlPath(f.name), `${f.to}\n`);
  }
}

/**
 * What one Kind node takes here, measured by the scale test (test/k8s/kind-scale.test.ts) with
 * 21 nodes: memory in use per node container (the control plane's the most), inotify instances
 * open on the host per node (kubelet, containerd and their shims; counted from /proc/PID/fd),
 * threads per node (about 2800 with 21 nodes and their routers), and the CPU an idle node keeps
 * using (kubelet, containerd, kube-proxy, kindnet: `docker stats` with the cluster Ready and
 * nothing else of the test running; 5.7% a node at N=25, see docs/scale.md).
 */
export const KIND_NODE_COST = { workerMiB: 210, controlPlaneMiB: 670, inotifyInstances: 14, threads: 135, idleCpuPercent: 5.7 } as const;

/**
 * Share of the cores idle nodes may keep busy: beyond it the nodes' heartbeats and the API
 * server starve each other and nodes turn NotReady (a judgement from the runs in docs/scale.md,
 * not a law); joins need the rest, which is why kinda joins the nodes past Kind's first wave a
 * few at a time.
 */
export const KIND_CPU_SHARE = 0.6;

export interface HostRoom {
  memAvailableMiB: number | undefined;
  inotifyInstances: number | undefined;
  cores: number | undefined;
  /** The kernel's limits on threads and PIDs (kernel.threads-max, kernel.pid_max); the smaller counts. */
  threadsMax: number | undefined;
  /** Threads running now (other work takes its share). */
  threadsInUse?: number;
}

/**
 * How many Kind nodes (one control plane and workers) this machine holds, by each resource, and
 * which one limits it: memory, inotify instances, threads, CPU.
 */
export function kindRoom(h: HostRoom): DoctorCheck[] {
  const c = KIND_NODE_COST;
  const check = (name: string, room: number | undefined, detail: string, without: string): DoctorCheck => ({
    group: "kind",
    name,
    status: room === undefined || room < 4 ? "warn" : "ok",
    detail: room === undefined ? "unknown" : `about ${room} Kind nodes (${detail})`,
    without,
  });
  const { memAvailableMiB: mem, inotifyInstances: inotify, cores, threadsMax } = h;
  const rooms: { by: string; room: number | undefined }[] = [
    { by: "memory", room: mem === undefined ? undefined : Math.max(0, 1 + Math.floor((mem - c.controlPlaneMiB) / c.workerMiB)) },
    { by: "inotify instances", room: inotify === undefined ? undefined : Math.floor(inotify / c.inotifyInstances) },
    {
      by: "threads",
      room: threadsMax === undefined ? undefined : Math.max(0, Math.floor((threadsMax - (h.threadsInUse ?? 0)) / c.threads)),
    },
    { by: "CPU", room: cores === undefined ? undefined : Math.floor((cores * 100 * KIND_CPU_SHARE) / c.idleCpuPercent) },
  ];
  const known = rooms.filter((r): r is { by: string; room: number } => r.room !== undefined);
  const least = known.length ? known.reduce((a, b) => (b.room < a.room ? b : a)) : undefined;
  return [
    check(
      "room: memory",
      rooms[0]!.room,
      `${((mem ?? 0) / 1024).toFixed(1)} GiB available; a worker takes about ${c.workerMiB} MiB, the control plane ${c.controlPlaneMiB}`,
      "larger clusters swap or are killed for memory",
    ),
    check(
      "room: inotify",
      rooms[1]!.room,
      `fs.inotify.max_user_instances ${inotify ?? "unknown"}; a node takes about ${c.inotifyInstances}`,
      "larger clusters fail to start pods (too many open files): raise fs.inotify.max_user_instances",
    ),
    check(
      "room: threads",
      rooms[2]!.room,
      `${threadsMax ?? "unknown"} threads allowed, ${h.threadsInUse ?? "unknown"} in use; a node runs about ${c.threads}`,
      "larger clusters fail to start processes (fork: resource temporarily unavailable): raise kernel.threads-max / kernel.pid_max",
    ),
    check(
      "room: cpu",
      rooms[3]!.room,
      `${cores ?? "unknown"} cores; an idle node keeps about ${c.idleCpuPercent}% of one busy, and idle nodes should leave ${Math.round(100 * (1 - KIND_CPU_SHARE))}% for joins and the API server`,
      "nodes turn NotReady under their own heartbeats; joins time out",
    ),
    check(
      "room: this machine",
      least?.room,
      least
        ? `limited by ${least.by}${known.length < rooms.length ? `; ${rooms.length - known.length} resources unknown` : ""}`
        : "nothing known",
      "see the room: lines above",
    ),
  ];
}

/** Threads on the host now (all of them, running or not: the total in /proc/loadavg's fourth field). */
function threadsInUse(): number | undefined {
  try {
    const f = readFileSync("/proc/loadavg", "utf8").split(" ")[3];
    const n = Number(f?.split("/")[1]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function threadsMax(): number | undefined {
  const v = [readNumber("/proc/sys/kernel/threads-max"), readNumber("/proc/sys/kernel/pid_max")].filter(
    (x): x is number => x !== undefined && Number.isFinite(x),
  );
  return v.length ? Math.min(...v) : undefined;
}

function memAvailableMiB(): number | undefined {
  try {
    const kb = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

function freeGiB(path: string): { at: string; gib: number } | undefined {
  let p = path;
  while (!existsSync(p) && p !== dirname(p)) p = dirname(p);
  try {
    const s = statfsSync(p);
    return { at: p, gib: (s.bavail * s.bsize) / 2 ** 30 };
  } catch {
    return undefined;
  }
}

function diskChecks(dockerRoot: string): DoctorCheck[] {
  const state = process.env["KINDA_STATE_DIR"] ?? "/var/lib/kinda";
  return [
    [dockerRoot, 10, "images and Kind nodes (a Kind node image is about 1 GB; building one offline needs about 9 GB)"],
    [state, 1, "lab state and staged device folders"],
  ].map(([path, min, what]): DoctorCheck => {
    const f = freeGiB(path as string);
    return {
      group: "disk",
      name: path as string,
      status: f && f.gib >= (min as number) ? "ok" : "warn",
      detail: f ? `${f.gib.toFixed(1)} GiB free on ${f.at}${f.gib < (min as number) ? ` (below ${min} GiB)` : ""}` : "unknown",
      without: `${what}`,
    };
  });
}

/**
 * The engine's default bridge: containers on Docker's `bridge` network (kinda's devices' management
 * side) cannot be made when its host bridge (docker0) is gone — the engine says only `could not find
 * bridge docker0` at each create. dockerd makes the bridge again when it starts. `bridgeName` is
 * the `bridge` network's bridge (undefined: no such network, e.g. a dockerd run with --bridge=none).
 */
export function defaultBridgeCheck(bridgeName: string | undefined, exists: (ifname: string) => boolean): DoctorCheck {
  if (bridgeName === undefined)
    return {
      group: "docker",
      name: "docker0",
      status: "skipped",
      detail: "the engine has no default bridge network (dockerd --bridge=none)",
    };
  if (exists(bridgeName))
    return { group: "docker", name: bridgeName, status: "ok", detail: `the engine's default bridge ${bridgeName} exists` };
  return {
    group: "docker",
    name: bridgeName,
    status: "fail",
    detail:
      `the engine's default bridge ${bridgeName} is missing from the host (deleted while dockerd ran): every container create fails with ` +
      `"could not find bridge ${bridgeName}"; restart the Docker engine (systemctl restart docker, or stop dockerd and start it again; ` +
      `scripts/test-env/setup.sh does it): dockerd makes docker0 again when it starts (a bridge given with --bridge must be made again first)`,
    without: "kinda cannot create any device",
  };
}

async function bridgeCheck(docker: DockerClient): Promise<DoctorCheck | undefined> {
  try {
    const nets = (await docker.listNetworks({ filters: { name: ["bridge"] } })) as {
      Name: string;
      Driver: string;
      Options?: Record<string, string>;
    }[];
    const net = nets.find((n) => n.Name === "bridge" && n.Driver === "bridge");
    const name = net ? (net.Options?.["com.docker.network.bridge.name"] ?? "docker0") : undefined;
    return defaultBridgeCheck(name, (ifname) => existsSync(`/sys/class/net/${ifname}`));
  } catch {
    return undefined; // the engine check says why it cannot be reached
  }
}

export async function doctor(): Promise<DoctorReport> {
  const d = await dockerCheck();
  const bridge = d.check.status === "ok" ? await bridgeCheck(d.docker) : undefined;
  const checks = [
    d.check,
    ...(bridge ? [bridge] : []),
    ...HOST_PROGRAMS.map(programCheck),
    ...(await kernelChecks()),
    ...(await kindCheck()),
    ...kindRoom({
      memAvailableMiB: memAvailableMiB(),
      inotifyInstances: readNumber(sysctlPath("fs.inotify.max_user_instances")),
      cores: availableParallelism(),
      threadsMax: threadsMax(),
      ...(threadsInUse() !== undefined ? { threadsInUse: threadsInUse()! } : {}),
    }),
    ...limitChecks(),
    ...diskChecks(d.rootDir ?? "/var/lib/docker"),
  ];
  return { ok: !checks.some((c) => c.status === "fail"), checks };
}

/** Text for a terminal: one line per check, what is missing and how to get it at the end. */
export function formatDoctor(r: DoctorReport): string {
  const mark: Record<CheckStatus, string> = { ok: "ok", warn: "WARN", fail: "FAIL", skipped: "skip" };
  const w = Math.max(...r.checks.map((c) => c.name.length));
  const lines = r.checks.map((c) => {
    const label = c.group === "limit" || c.group === "disk" || c.name.startsWith("room:") ? "if too low" : "without it";
    const why = c.status !== "ok" && c.without ? `\n${"".padEnd(w + 17)}${label}: ${c.without}` : "";
    return `${c.group.padEnd(8)} ${mark[c.status].padEnd(5)} ${c.name.padEnd(w)}  ${c.detail}${why}`;
  });
  const apt = [...new Set(r.checks.filter((c) => c.group === "program" && c.status === "fail").map((c) => c.debianPackage))];
  if (apt.length) lines.push("", `missing host programs: apt-get install ${apt.join(" ")}`);
  lines.push("", r.ok ? "kinda can run here (warnings limit what it can do)" : "kinda cannot run everything here: see FAIL above");
  return lines.join("\n");
}
