/**
 * The plan: from a Lab plus options, every container, bridge, veth and start-up step to create,
 * grouped by network namespace. Pure (no I/O), printable with --dry-run, unit-tested without root.
 */
import { execSteps } from "./exec-steps.js";
import { domainBridgeOps, deviceVethOps, ipCommandText, linkDown, linkUp, serviceArgv } from "./ops.js";
import type { IpOp } from "../model/ops.js";
import type { RoutingRecord } from "../model/routing.js";
import { posix } from "node:path";
import { KindaError, TopologyError, type Issue } from "../core/errors.js";
import type { Device, DeviceRole, Lab, LabShaping, LabWarning, PortSpec, ServiceStep, Ulimit } from "../model/lab.js";
import { describeShaping, shapingProblems } from "../core/tc.js";
import { nextSlot, resolveEndpoint, shapeOps, type LabLinks } from "./live.js";
import type { BindMount } from "../model/container.js";
import {
  BRIDGED_TEMP_IF,
  LABEL_DEVICE,
  LABEL_LAB,
  LABEL_MANAGED,
  MANAGED_VALUE,
  containerName,
  deviceIfName,
  domainBridge,
  hostVeth,
  hostVethAltname,
  isValidLabName,
  labNetns,
} from "../core/names.js";
import { DEFAULT_IMAGE, HOSTLAB_MOUNT, STAGE_MOUNT } from "../core/defaults.js";

export const DEFAULT_SHELL = "/bin/bash";
/** The start-up step name of a device's own addresses and routes (DevicePlan.netConfig). */
export const NET_CONFIG_LABEL = "addresses-and-routes";
/** Kathara's capability set for devices: enough for routing daemons, bridges and tc, not privileged. */
export const DEFAULT_CAPS = ["NET_ADMIN", "NET_RAW", "NET_BROADCAST", "NET_BIND_SERVICE", "SYS_ADMIN"];

export interface PlanOptions {
  /** Lab name (unique on the machine); names every object of the lab. */
  name: string;
  /** Image substitutions, FROM -> TO, applied to the image each device asks for. */
  imageMap?: Record<string, string>;
  /** Host folder mounted at /shared when the lab has no shared/ folder of its own. */
  sharedDir: string;
  /** Host folder under which each device's files are staged (<stageRoot>/<device>). */
  stageRoot: string;
  /** Default image for devices that name none. */
  defaultImage?: string;
  /** Description of where the lab came from (for status). */
  source?: string;
}

export interface InterfacePlan {
  name: string;
  index: number;
  domain: string;
  bridge: string;
  hostIf: string;
  hostAltname: string;
  mac?: string;
}

/**
 * A start-up or shutdown step: a script file or an `exec` command, staged as a file under the
 * device's stage folder (`steps/` or `shutdown/`) and run with the device's shell, in name order.
 */
export interface StartupStep {
  label: string;
  /** Kathara labs: staged under hostlab/ as `label` (run from /hostlab as Kathara does), not steps/. */
  hostlab?: boolean;
  /** File name in the stage folder, ordered (e.g. "001-r1.startup"). */
  file: string;
  from: { path: string } | { text: string };
}

/**
 * A device: its container's settings and kinda's own. Its own type, not the runtime's
 * ContainerSpec: engine/lab.ts containerSpec() says which of these the runtime gets.
 */
export interface DevicePlan {
  name: string;
  /** Container name. */
  container: string;
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
  network: "none" | "bridge";
  mounts: BindMount[];
  ulimits: Ulimit[];
  entrypoint?: string[];
  cmd?: string[];
  /** Host device files passed in at the same path. */
  devices?: string[];
  /** What the lab asked for; `image` is after substitution. */
  requestedImage: string;
  shell: string;
  /** Its number in its lab-side veth names (`v-<slot>-<i>`): its position here; fitDeviceToLab gives a device joining a running lab a new one. */
  slot: number;
  interfaces: InterfacePlan[];
  folder?: string;
  /** Host folder with this device's staged files, mounted read-only at STAGE_MOUNT. */
  stageDir: string;
  startup: StartupStep[];
  /**
   * kinda's own addresses, MTUs and routes for the device (Device.net), applied from the host in
   * the device's namespace right after its links; a failing one fails the device's start-up
   * under `label` (NET_CONFIG_LABEL), as a start-up step would have.
   */
  netConfig?: { label: string; ops: IpOp[] };
  /** How long the start-up steps may run together before they are stopped (undefined: the default). */
  startupTimeoutMs?: number;
  shutdown: StartupStep[];
  dependsOn: string[];
  /** Data-plane services (programmable devices), run after the interfaces exist, before start-up. */
  services: ServiceStep[];
  role?: DeviceRole;
  /** Files of kinda's own for the stage folder (next to steps/). */
  stageFiles: { name: string; text: string }[];
  /** Source place of the device's definition, for messages. */
  where?: string;
  /** Set up as Kathara does (a Kathara lab): files under /hostlab, Kathara's start-up wrapper. */
  kathara: boolean;
}

export interface DomainPlan {
  name: string;
  bridge: string;
}

export interface Plan {
  lab: string;
  source?: string;
  netns: string;
  domains: DomainPlan[];
  devices: DevicePlan[];
  /** Start order: each wave starts after the previous one (lab.dep). */
  waves: string[][];
  warnings: LabWarning[];
  /** Devices are set up as Kathara sets them up (the lab is a Kathara lab directory). */
  kathara: boolean;
  /** lab.ext: host interfaces joined to collision domains (`name`: the interface kinda moves). */
  external: ExternalPlan[];
  /** Links shaped once the devices are up (checked against the lab here). */
  shaping: LabShaping[];
  /** Static routing's record (topologies with routing: static), copied into the state. */
  routing?: RoutingRecord;
}

export interface ExternalPlan {
  domain: string;
  bridge: string;
  iface: string;
  vlan?: number;
  /** The interface moved into the lab namespace: `iface`, or the VLAN sub-interface kinda makes. */
  name: string;
  where?: string;
}

/**
 * Kathara 3.8's container sysctls (DockerMachine.create): rp_filter off on all/default/lo, IPv4
 * forwarding, no ICMP rate limit; with IPv6 on, IPv6 forwarding, no RA and no ICMPv6 rate limit on
 * `all` only; with it off, IPv6 disabled and its forwarding off. The lab's own sysctls win.
 * (Kathara also sets eth0's rp_filter on engines before 26; here eth0 is created after start and
 * takes `default`'s 0.)
 */
function katharaSysctls(dev: Device): Record<string, string> {
  const s: Record<string, string> = {
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    "net.ipv4.conf.lo.rp_filter": "0",
    "net.ipv4.ip_forward": "1",
    "net.ipv4.icmp_ratelimit": "0",
  };
  if (dev.ipv6 === true) {
    s["net.ipv6.conf.all.forwarding"] = "1";
    s["net.ipv6.conf.all.accept_ra"] = "0";
    s["net.ipv6.icmp.ratelimit"] = "0";
    s["net.ipv6.conf.default.disable_ipv6"] = "0";
    s["net.ipv6.conf.all.disable_ipv6"] = "0";
  } else {
    s["net.ipv6.conf.default.disable_ipv6"] = "1";
    s["net.ipv6.conf.all.disable_ipv6"] = "1";
    s["net.ipv6.conf.default.forwarding"] = "0";
    s["net.ipv6.conf.all.forwarding"] = "0";
  }
  return { ...s, ...dev.sysctls };
}

function deviceSysctls(dev: Device): Record<string, string> {
  const s: Record<string, string> = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    "net.ipv4.icmp_ratelimit": "0",
  };
  if (dev.ipv6 === false) {
    s["net.ipv6.conf.all.disable_ipv6"] = "1";
    s["net.ipv6.conf.default.disable_ipv6"] = "1";
  } else {
    s["net.ipv6.conf.all.disable_ipv6"] = "0";
    s["net.ipv6.conf.default.disable_ipv6"] = "0";
    s["net.ipv6.conf.all.forwarding"] = "1";
    s["net.ipv6.conf.default.forwarding"] = "1";
    s["net.ipv6.conf.all.accept_ra"] = "0";
    s["net.ipv6.conf.default.accept_ra"] = "0";
  }
  return { ...s, ...dev.sysctls };
}

/**
 * Start waves from dependencies (Kahn's algorithm with in-degree counts: linear in devices plus
 * dependencies); each wave in lab order.
 */
export function startWaves(devices: readonly { name: string; dependsOn: readonly string[] }[]): string[][] {
  const indegree = new Map<string, number>();
  const dependants = new Map<string, string[]>();
  for (const d of devices) {
    const deps = new Set(d.dependsOn);
    indegree.set(d.name, deps.size);
    for (const n of deps) {
      const list = dependants.get(n);
      if (list) list.push(d.name);
      else dependants.set(n, [d.name]);
    }
  }
  const order = new Map(devices.map((d, i) => [d.name, i]));
  const waves: string[][] = [];
  let wave = devices.filter((d) => indegree.get(d.name) === 0).map((d) => d.name);
  let placed = 0;
  while (wave.length) {
    waves.push(wave);
    placed += wave.length;
    const next: string[] = [];
    for (const n of wave)
      for (const m of dependants.get(n) ?? []) {
        const left = (indegree.get(m) ?? 0) - 1;
        indegree.set(m, left);
        if (left === 0) next.push(m);
      }
    wave = next.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
  }
  if (placed < devices.length) {
    const stuck = devices.filter((d) => (indegree.get(d.name) ?? 0) > 0).map((d) => d.name);
    throw new KindaError(`dependency loop among ${stuck.join(", ")}`);
  }
  return waves;
}

/**
 * A device's start-up and shutdown steps, in run order. Kathara labs: the scripts are staged
 * under hostlab/ by their own names (Kathara runs them from /hostlab), `exec` commands in steps/.
 */
function deviceSteps(
  lab: Lab,
  dev: Device,
  kathara: boolean,
): { startup: StartupStep[]; shutdown: StartupStep[]; netConfig?: DevicePlan["netConfig"] } {
  const step = (list: StartupStep[], label: string, from: StartupStep["from"], script: boolean) =>
    list.push({ label, file: label, from, ...(kathara && script ? { hostlab: true } : {}) });
  const startup: StartupStep[] = [];
  if (lab.sharedStartup) step(startup, "shared.startup", { path: lab.sharedStartup }, true);
  if (dev.startup) step(startup, `${dev.name}.startup`, { path: dev.startup }, true);
  // Kathara logs each exec command as its own `++ CMD` line, so its labs keep one step per command
  const net = dev.net ?? [];
  const execs = kathara ? dev.exec.map((c, i) => ({ label: `exec-${i}`, text: c + "\n" })) : execSteps(dev.exec);
  for (const e of execs) step(startup, e.label, { text: e.text }, false);
  const shutdown: StartupStep[] = [];
  if (dev.shutdown) step(shutdown, `${dev.name}.shutdown`, { path: dev.shutdown }, true);
  if (lab.sharedShutdown) step(shutdown, "shared.shutdown", { path: lab.sharedShutdown }, true);
  // steps/ and shutdown/ files are numbered in run order; /hostlab keeps the scripts' own names
  numberSteps(startup.filter((s) => !s.hostlab));
  numberSteps(shutdown.filter((s) => !s.hostlab));
  return { startup, shutdown, ...(net.length ? { netConfig: { label: NET_CONFIG_LABEL, ops: [...net] } } : {}) };
}

/** Step file names that sort in run order in the runner's glob: 000-x, 001-y, ...; wider past 999. */
export function numberSteps(steps: StartupStep[]): void {
  const width = Math.max(3, String(steps.length - 1).length);
  steps.forEach((s, i) => (s.file = `${String(i).padStart(width, "0")}-${s.label}`));
}

/** One device's container, interfaces and steps. */
function devicePlan(
  lab: Lab,
  dev: Device,
  di: number,
  opts: PlanOptions,
  bridgeOf: Map<string, string>,
  warnings: LabWarning[],
): DevicePlan {
  const requestedImage = dev.image ?? opts.defaultImage ?? DEFAULT_IMAGE;
  const image = (opts.imageMap ?? {})[requestedImage] ?? requestedImage;
  const shell = dev.shell ?? DEFAULT_SHELL;
  const bridged = dev.bridged || dev.ports.length > 0;
  if (dev.ports.length > 0 && !dev.bridged) {
    warnings.push({
      ...(dev.optionPlaces["port"] ? { place: dev.optionPlaces["port"] } : {}),
      message: `${dev.name}: published ports need the NAT network, so the device also gets the bridged interface (eth${dev.interfaces.length})`,
    });
  }
  const stageDir = posix.join(opts.stageRoot, dev.name);
  const mounts: BindMount[] = [
    { source: lab.sharedFolder ?? opts.sharedDir, target: "/shared", readOnly: false },
    { source: stageDir, target: STAGE_MOUNT, readOnly: true },
  ];
  for (const v of dev.volumes) {
    const source = lab.dir && !v.host.startsWith("/") ? posix.join(lab.dir, v.host) : v.host;
    mounts.push({ source, target: v.guest, readOnly: v.readOnly });
  }
  const kathara = lab.flavor === "kathara";
  const { startup, shutdown, netConfig } = deviceSteps(lab, dev, kathara);
  if (kathara) mounts.push({ source: posix.join(stageDir, "hostlab"), target: HOSTLAB_MOUNT, readOnly: false });

  const plan: DevicePlan = {
    name: dev.name,
    container: containerName(opts.name, dev.name),
    image,
    requestedImage,
    hostname: dev.name,
    labels: { [LABEL_MANAGED]: MANAGED_VALUE, [LABEL_LAB]: opts.name, [LABEL_DEVICE]: dev.name },
    env: Object.entries(dev.env).map(([k, v]) => `${k}=${v}`),
    sysctls: kathara ? katharaSysctls(dev) : deviceSysctls(dev),
    capAdd: dev.privileged ? [] : [...DEFAULT_CAPS],
    privileged: dev.privileged,
    ports: dev.ports,
    network: bridged ? "bridge" : "none",
    mounts,
    ulimits: dev.ulimits,
    shell,
    stageDir,
    slot: di,
    interfaces: dev.interfaces.map((ifc) => ({
      name: deviceIfName(ifc.index),
      index: ifc.index,
      domain: ifc.domain,
      bridge: bridgeOf.get(ifc.domain) as string,
      hostIf: hostVeth(di, ifc.index),
      hostAltname: hostVethAltname(dev.name, ifc.index),
      ...(ifc.mac ? { mac: ifc.mac } : {}),
    })),
    startup,
    shutdown,
    dependsOn: [...dev.dependsOn],
    services: dev.services ?? [],
    stageFiles: dev.stageFiles ?? [],
    kathara,
  };
  if (netConfig) plan.netConfig = netConfig;
  if (dev.startupTimeout !== undefined) plan.startupTimeoutMs = dev.startupTimeout * 1000;
  if (dev.hostDevices?.length) plan.devices = [...dev.hostDevices];
  if (dev.role) plan.role = dev.role;
  if (dev.memoryBytes !== undefined) plan.memoryBytes = dev.memoryBytes;
  if (dev.cpus !== undefined) plan.nanoCpus = Math.round(dev.cpus * 1e9);
  if (dev.entrypoint) plan.entrypoint = dev.entrypoint;
  if (dev.args) plan.cmd = dev.args;
  if (dev.folder) plan.folder = dev.folder;
  if (dev.place?.file) plan.where = `${dev.place.file}:${dev.place.line ?? ""}`;
  return plan;
}

/** MAC addresses must be unique on a segment, or frames go astray. */
function macIssues(devices: readonly DevicePlan[]): Issue[] {
  const issues: Issue[] = [];
  const macs = new Map<string, string>();
  for (const d of devices) {
    for (const i of d.interfaces) {
      if (!i.mac) continue;
      const key = `${i.domain}/${i.mac}`;
      const prev = macs.get(key);
      if (prev)
        issues.push({ device: d.name, field: i.name, message: `MAC ${i.mac} is already used by ${prev} on collision domain ${i.domain}` });
      else macs.set(key, `${d.name} ${i.name}`);
    }
  }
  return issues;
}

export function planLab(lab: Lab, opts: PlanOptions): Plan {
  if (!isValidLabName(opts.name)) {
    throw new TopologyError([
      {
        field: "name",
        message: `lab name ${JSON.stringify(opts.name)} must be 1-40 of a-z, 0-9, _, . and -, starting with a letter or digit`,
      },
    ]);
  }
  const warnings: LabWarning[] = [...lab.warnings];
  const kathara = lab.flavor === "kathara";
  const domainNames = [
    ...new Set([...lab.devices.flatMap((d) => d.interfaces.map((i) => i.domain)), ...(lab.externalLinks ?? []).map((x) => x.domain)]),
  ].sort();
  const domains: DomainPlan[] = domainNames.map((name, i) => ({ name, bridge: domainBridge(i) }));
  const bridgeOf = new Map(domains.map((d) => [d.name, d.bridge]));

  const devices = lab.devices.map((dev, di) => devicePlan(lab, dev, di, opts, bridgeOf, warnings));
  const issues = macIssues(devices);
  const plan: Plan = {
    lab: opts.name,
    netns: labNetns(opts.name),
    domains,
    devices,
    waves: startWaves(devices),
    warnings,
    kathara,
    external: (lab.externalLinks ?? []).map((x) => ({
      domain: x.domain,
      bridge: bridgeOf.get(x.domain) as string,
      iface: x.iface,
      ...(x.vlan !== undefined ? { vlan: x.vlan } : {}),
      name: x.vlan !== undefined ? `${x.iface}.${x.vlan}` : x.iface,
      ...(x.place?.file ? { where: `${x.place.file}:${x.place.line ?? ""}` } : {}),
    })),
    shaping: lab.shaping ?? [],
  };
  issues.push(...shapingIssues(plan));
  if (issues.length) throw new TopologyError(issues);
  if (opts.source) plan.source = opts.source;
  if (lab.routing) plan.routing = lab.routing;
  return plan;
}

/**
 * lab.ext, host side (Kathara's DockerLink._attach_external_interfaces, with the bridge in the lab's
 * namespace instead of the host's): the VLAN sub-interface made on the host interface when asked,
 * then the interface moved into the lab namespace. Its inverse is externalUndoBatch.
 */
export function externalHostBatch(plan: Plan): IpOp[] {
  return plan.external.flatMap((x): IpOp[] => [
    ...(x.vlan !== undefined
      ? [{ op: "link-add" as const, name: x.name, kind: { type: "vlan" as const, link: x.iface, id: x.vlan } }]
      : []),
    { op: "link-set", name: x.name, netns: plan.netns },
  ]);
}

/** lab.ext, lab-namespace side: each joined interface enslaved to its domain's bridge, up. */
export function externalLabBatch(plan: Plan): IpOp[] {
  return plan.external.map((x) => linkUp(x.name, { master: x.bridge }));
}

/**
 * Inverse of the lab.ext operations, run in the lab namespace before it is deleted: a VLAN
 * sub-interface kinda made is deleted (Kathara deletes its VLAN interfaces too), a host interface
 * goes back to the host namespace (PID 1's) instead of dying with the namespace.
 */
export function externalUndoBatch(links: readonly { name: string; vlan?: number }[]): IpOp[] {
  return links.flatMap((x): IpOp[] =>
    x.vlan !== undefined
      ? [{ op: "link-delete", name: x.name }]
      : [
          { op: "link-set", name: x.name, nomaster: true },
          { op: "link-set", name: x.name, netns: 1 },
        ],
  );
}

/** The state a plan will have once deployed, as far as endpoints go (for checking them up front). */
export function planStateView(plan: Plan): LabLinks {
  return {
    name: plan.lab,
    netns: plan.netns,
    domains: plan.domains,
    devices: plan.devices.map((d) => ({
      name: d.name,
      container: d.container,
      interfaces: d.interfaces.map((i) => ({ name: i.name, domain: i.domain, hostIf: i.hostIf })),
    })),
  };
}

/** Deploy-time shaping: each value and endpoint checked, problems placed where they were written. */
function shapingIssues(plan: Plan): Issue[] {
  if (!plan.shaping.length) return [];
  const view = planStateView(plan);
  return plan.shaping.flatMap((s): Issue[] => {
    const at = { ...(s.place ?? {}), ...(s.field ? { field: s.field } : {}) };
    const bad = shapingProblems(s.shaping).map((p) => ({ ...at, message: `${p.field} ${p.message}` }));
    try {
      shapeOps(resolveEndpoint(view, s.endpoint), s.shaping, s.from);
    } catch (e) {
      if (!(e instanceof KindaError)) throw e;
      bad.push({ ...at, message: `${e.message}${e.hint ? ` (${e.hint})` : ""}` });
    }
    return bad;
  });
}

/** The lab namespace's operations: one bridge per collision domain. */
export function labNamespaceBatch(plan: Plan): IpOp[] {
  return plan.domains.flatMap((d) => domainBridgeOps(d.bridge, d.name));
}

/**
 * The operations, run in the lab namespace, that create a device's veths: the lab end enslaved
 * to its domain's bridge, the device end moved into the container (by PID) as ethN, with its MAC.
 */
export function deviceLinkBatch(dev: DevicePlan, pid: number): IpOp[] {
  return dev.interfaces.flatMap((i) => deviceVethOps(i.hostIf, i.hostAltname, i.bridge, i.name, pid, i.mac));
}

/** Run inside a bridged device before its lab links exist: park the NAT interface. */
export function devicePreLinkBatch(dev: DevicePlan, natIf: string): IpOp[] {
  if (dev.network !== "bridge") return [];
  return [linkDown(natIf), { op: "link-set", name: natIf, rename: BRIDGED_TEMP_IF }];
}

/** Run inside the device after its lab links exist: bring them up (NAT one last). */
export function devicePostLinkBatch(dev: DevicePlan, natGateway?: string): IpOp[] {
  const ops = dev.interfaces.map((i) => linkUp(i.name));
  if (dev.network === "bridge") {
    const nat = deviceIfName(dev.interfaces.length);
    ops.push({ op: "link-set", name: BRIDGED_TEMP_IF, rename: nat }, linkUp(nat));
    if (natGateway) ops.push({ op: "route-replace", route: { dst: "default", via: natGateway, dev: nat } });
  }
  return ops;
}

/** Human-readable plan (for --dry-run). */
export function formatPlan(plan: Plan): string {
  const out: string[] = [];
  out.push(`lab ${plan.lab}`);
  out.push(`network namespace ${plan.netns}:`);
  for (const o of labNamespaceBatch(plan)) out.push(`  ${ipCommandText(o, plan.netns)}`);
  out.push(`start order: ${plan.waves.map((w) => `[${w.join(" ")}]`).join(" then ")}`);
  for (const d of plan.devices) {
    out.push(
      `device ${d.name}: container ${d.container}, image ${d.image}${d.image !== d.requestedImage ? ` (for ${d.requestedImage})` : ""}${d.privileged ? ", privileged" : `, caps ${d.capAdd.join(",")}`}, network ${d.network}`,
    );
    for (const o of deviceLinkBatch(d, 0)) out.push(`  ${ipCommandText(o, plan.netns).replace(/netns 0$/, "netns <pid>")}`);
    for (const o of devicePostLinkBatch(d)) out.push(`  (in ${d.name}) ${ipCommandText(o)}`);
    for (const o of d.netConfig?.ops ?? []) out.push(`  (in ${d.name}) ${ipCommandText(o)}   (${d.netConfig!.label})`);
    if (d.kathara)
      out.push(
        `  as Kathara: ${HOSTLAB_MOUNT} (its folder and scripts), hosts file, /var/log/startup.log, IPv6 ${d.sysctls["net.ipv6.conf.all.disable_ipv6"] === "1" ? "off" : "on"}`,
      );
    for (const m of d.mounts) out.push(`  bind ${m.source} at ${m.target} (${m.readOnly ? "read-only" : "read-write"})`);
    if (d.folder) out.push(`  copy ${d.folder}/ over /`);
    for (const s of d.services)
      out.push(
        `  ${s.after === "cluster" ? "once its node links exist, " : ""}${s.what}: ${serviceArgv(s)
          .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a)))
          .join(" ")}`,
      );
    for (const s of d.startup) out.push(`  run ${"path" in s.from ? s.label : JSON.stringify(s.from.text.trim())} with ${d.shell}`);
    if (d.startupTimeoutMs !== undefined && d.startup.length) out.push(`  start-up stopped after ${d.startupTimeoutMs / 1000} s`);
  }
  for (const o of externalHostBatch(plan)) out.push(`  ${ipCommandText(o)}   (lab.ext, host namespace)`);
  for (const o of externalLabBatch(plan)) out.push(`  ${ipCommandText(o, plan.netns)}   (lab.ext)`);
  for (const s of plan.shaping) out.push(`shape ${s.endpoint}${s.from ? ` from ${s.from}` : ""}: ${describeShaping(s.shaping)}`);
  for (const w of plan.warnings) out.push(`warning: ${w.message}`);
  return out.join("\n");
}

/**
 * A device planned from the lab's source (as `up` plans it), fitted into the lab that is up: its
 * interfaces join the running lab's bridges by collision-domain name, domains the lab lacks get
 * new bridges (`cd-N`, N unused), and its lab-side veth ends are named by `slot` (default: the
 * lab's next, see nextSlot; the source's numbering may have moved since `up`). Pure.
 */
export function fitDeviceToLab(
  st: LabLinks,
  dev: DevicePlan,
  slot = nextSlot(st),
): { dev: DevicePlan; newDomains: { name: string; bridge: string }[] } {
  const bridgeOf = new Map(st.domains.map((d) => [d.name, d.bridge]));
  const used = new Set(st.domains.map((d) => d.bridge));
  const newDomains: { name: string; bridge: string }[] = [];
  let n = 0;
  for (const i of dev.interfaces) {
    if (bridgeOf.has(i.domain)) continue;
    while (used.has(`cd-${n}`)) n++;
    used.add(`cd-${n}`);
    bridgeOf.set(i.domain, `cd-${n}`);
    newDomains.push({ name: i.domain, bridge: `cd-${n}` });
  }
  const interfaces = dev.interfaces.map((i) => ({ ...i, bridge: bridgeOf.get(i.domain)!, hostIf: hostVeth(slot, i.index) }));
  return { dev: { ...dev, slot, interfaces }, newDomains };
}
