/**
 * Changes to a lab on the Kubernetes runtime while it is up, all through the pods' exec API (kinda
 * has no access to the host nodes): one device's pod made again (`restart LAB DEVICE`), devices
 * and links added and removed.
 *
 * A pod made again is a new pod, with a new IP (and maybe on another host node): every peer that
 * shares a collision domain with it replaces, in its own pod, the replication entry toward the old
 * IP, drops the MACs its VXLAN device learnt behind it, and moves its underlay rule to the new IP
 * (plan/kube.ts peerMoveOps). The device keeps its interfaces' MACs, so the neighbours' ARP
 * entries stay right.
 */
import { dirname } from "node:path";
import { KindaError, PreflightError, type Issue } from "../core/errors.js";
import { silentReporter, type Reporter } from "../core/reporter.js";
import { LABEL_LAB, LABEL_MANAGED, MANAGED_VALUE } from "../core/names.js";
import type { KubeApi, KubePod } from "../model/kube.js";
import type { IpOp, KernelOp } from "../model/ops.js";
import { readArgv, renderInvocations } from "../plan/ops.js";
import type { DevicePlan, Plan } from "../plan/lab.js";
import {
  configMapManifest,
  freeVni,
  kubeInterface,
  peerMoveOps,
  planKubeLab,
  podIfNames,
  podInterfaceOps,
  recordedVni,
  resolveKubeEndpoint,
  UNDERLAY_IF,
  UNDERLAY_RULE_PREF,
  UNDERLAY_TABLE,
  type KubeDevicePlan,
  type KubeLabPlan,
} from "../plan/kube.js";
import { ifKey, newLinkEnds } from "../plan/live.js";
import type { DeviceState, LabState, StateStore } from "../state/store.js";
import { deviceStateOf, runShutdownSteps, shutdownTimeoutMs } from "./lab.js";
import { linkDevice, mustExec, podRuntime, runOps, stageTar, waitRunning } from "./kube-lab.js";
import { collectDeviceFiles, needsRunner } from "./stage.js";
import { runStartupSteps, startupTimeoutMs } from "./startup.js";

export interface KubeChangeOptions {
  api: KubeApi;
  store: StateStore;
  reporter?: Reporter;
}

export function readKubeLab(lab: string, store: StateStore): LabState {
  const st = store.read(lab);
  if (!st) throw new KindaError(`LAB ${JSON.stringify(lab)}: no lab of that name is up`, { hint: "kinda status lists the labs that are" });
  if (st.phase !== "up") throw new KindaError(`lab ${lab} is ${st.phase}, not up`);
  if (st.runtime?.kind !== "kubernetes") throw new KindaError(`lab ${lab} is not on the Kubernetes runtime`);
  return st;
}

const podOf = (d: DeviceState) => d.pod?.name ?? d.container;

/** Every domain's members' pod IPs, as the state has them now. */
function statePeers(st: LabState): Map<string, { device: string; ip: string }[]> {
  const out = new Map<string, { device: string; ip: string }[]>();
  for (const d of st.devices)
    for (const i of d.interfaces) {
      if (!d.pod?.ip) continue;
      const list = out.get(i.domain) ?? [];
      list.push({ device: d.name, ip: d.pod.ip });
      out.set(i.domain, list);
    }
  return out;
}

/** The domains two devices share. */
const shared = (a: DeviceState, b: DeviceState, skip?: string) =>
  a.interfaces.filter((i) => i.domain !== skip && b.interfaces.some((j) => j.domain === i.domain)).map((i) => i.domain);

/** MACs of a pod's interfaces (ifname -> address); empty when it cannot be read. */
async function podMacs(api: KubeApi, ns: string, pod: string): Promise<Map<string, string>> {
  const r = await api.exec(ns, pod, readArgv({ read: "links" })).catch(() => undefined);
  if (!r || r.exitCode !== 0) return new Map();
  try {
    const links = JSON.parse(r.output) as { ifname: string; address?: string }[];
    return new Map(links.flatMap((l) => (l.address && l.ifname !== "lo" ? [[l.ifname, l.address] as const] : [])));
  } catch {
    return new Map();
  }
}

/**
 * In every pod that shares a domain with `device` (its domains as the state has them): the VXLAN
 * replication toward the device follows it from `oldIp` to `newIp` (either may be absent: a device
 * that comes or goes). Tolerant of entries already gone.
 */
async function movePeers(
  api: KubeApi,
  st: LabState,
  device: DeviceState,
  move: { oldIp?: string; newIp?: string },
  onlyDomain?: string,
): Promise<void> {
  const ns = st.runtime!.namespace;
  await Promise.all(
    st.devices
      .filter((p) => p.name !== device.name && p.pod?.ip)
      .map(async (p) => {
        const doms = shared(p, device).filter((d) => !onlyDomain || d === onlyDomain);
        if (!doms.length) return;
        const vxlans = p.interfaces.filter((i) => doms.includes(i.domain)).map((i) => podIfNames(i.name).vxlan);
        const fdb = move.oldIp
          ? await mustExec(api, ns, podOf(p), "reading its VXLAN forwarding entries", readArgv({ read: "fdb" }))
          : "[]";
        const learnt = JSON.parse(fdb || "[]") as { mac: string; ifname?: string; dst?: string }[];
        // with onlyDomain (a link removed), the rule stays while the two share another domain
        const keepRule = onlyDomain !== undefined && shared(p, device, onlyDomain).length > 0;
        await tolerant(api, ns, podOf(p), peerMoveOps(vxlans, learnt, { ...move, keepRule }));
      }),
  );
}

/** Runs the operations' batches (plan/ops.ts renders them) with -force; deletions of what is already gone are fine, anything else is an error. */
async function tolerant(api: KubeApi, ns: string, pod: string, ops: readonly KernelOp[]): Promise<void> {
  for (const inv of renderInvocations(ops, { force: true })) {
    const r = await api.exec(ns, pod, inv.argv, inv.input === undefined ? {} : { input: inv.input });
    if (r.exitCode === 0) continue;
    const bad = r.output
      .split("\n")
      .filter((l) => l.trim() && !/No such file or directory|Cannot find device|RTNETLINK answers: No such|Command failed -:\d+/.test(l));
    if (bad.length) throw new KindaError(`pod ${ns}/${pod}: ${inv.tool} -batch failed: ${bad.join("; ")}`);
  }
}

/** A pod interface's three links (plan/kube.ts podIfNames), deleted. */
const podIfDeletes = (n: { name: string; vxlan: string; bridge: string }): IpOp[] =>
  [n.name, n.vxlan, n.bridge].map((name) => ({ op: "link-delete", name }));
/** The underlay rule toward a peer pod's IP, deleted. */
const ruleDel = (ip: string): IpOp => ({ op: "rule-del", to: `${ip}/32`, table: UNDERLAY_TABLE, pref: UNDERLAY_RULE_PREF });

/** The device's pod as `up` plans it (namespace, placement, node selector as recorded; VNIs of the lab). */
function planDevicePod(st: LabState, plan: Plan, dev: DevicePlan): { k: KubeLabPlan; kd: KubeDevicePlan } {
  const rt = st.runtime!;
  const sub: Plan = { ...plan, devices: [dev], domains: plan.domains.filter((d) => dev.interfaces.some((i) => i.domain === d.name)) };
  const k = planKubeLab(sub, {
    namespace: rt.namespace,
    ...(rt.placement?.[dev.name] ? { placement: { [dev.name]: rt.placement[dev.name]! } } : {}),
    ...(rt.nodeSelector ? { nodeSelector: rt.nodeSelector } : {}),
  });
  const kd = k.devices[0]!;
  kd.interfaces = kd.interfaces.map((i) => ({ ...i, vni: recordedVni(st.domains, i.domain) }));
  return { k: { ...k, domains: k.domains.map((d) => ({ ...d, vni: recordedVni(st.domains, d.name) })) }, kd };
}

/** Shutdown steps of a running device, then its pod and ConfigMap deleted (waited for). */
async function dropPod(api: KubeApi, st: LabState, d: DeviceState): Promise<void> {
  const ns = st.runtime!.namespace;
  const pod = (await api.pods(ns, { [LABEL_LAB]: st.name })).find((p) => p.name === podOf(d));
  if (pod?.phase === "Running" && d.shutdown?.length) await runShutdownSteps(podRuntime(api, ns), pod.name, d, shutdownTimeoutMs());
  await api.remove(ns, "Pod", podOf(d));
  await api.remove(ns, "ConfigMap", `${podOf(d)}-files`);
}

/**
 * The device's ConfigMap and pod made, waited for, linked to the lab's current members (their IPs
 * from the state), its start-up run. The pod's record; throws (the pod left for the caller to remove).
 */
async function makePod(
  api: KubeApi,
  st: LabState,
  dev: DevicePlan,
  kd: KubeDevicePlan,
  k: KubeLabPlan,
  store: StateStore,
): Promise<{ pod: KubePod; startup: DeviceState["startup"] }> {
  const ns = st.runtime!.namespace;
  const issues: Issue[] = [];
  const files = collectDeviceFiles(dev, issues);
  if (issues.length) throw new PreflightError(issues);
  const tar = await stageTar(needsRunner(files, dev.kathara) || files.length ? files : []);
  const labels = { [LABEL_MANAGED]: MANAGED_VALUE, [LABEL_LAB]: st.name };
  await api.create(ns, configMapManifest(kd.configMap, labels, tar));
  await api.create(ns, kd.manifest);
  const pod = (await waitRunning(api, { ...k, lab: st.name }, undefined, () => undefined)).get(dev.name)!;
  const peers = statePeers(st);
  for (const [dom, list] of peers)
    peers.set(
      dom,
      list.filter((p) => p.device !== dev.name),
    );
  for (const i of kd.interfaces) peers.set(i.domain, [...(peers.get(i.domain) ?? []), { device: dev.name, ip: pod.ip }]);
  const net = await linkDevice(api, k, kd, dev, pod, peers);
  const logPath = store.logPath(st.name, dev.name);
  store.makeDir(dirname(logPath));
  const startup = await runStartupSteps(podRuntime(api, ns), pod.name, dev, {
    logPath,
    defaultTimeoutMs: startupTimeoutMs(),
    ...(net ? { before: net } : {}),
  });
  return { pod, startup };
}

/** Drops what the state recorded of cuts and shaping on a device's interfaces (its new pod has none). */
function forgetLive(st: LabState, d: DeviceState, only?: (ifname: string) => boolean): void {
  if (!st.live) return;
  const keys = new Set(
    d.interfaces
      .filter((i) => !only || only(i.name))
      .flatMap((i) => [
        ifKey({ ns: { container: podOf(d) }, dev: i.name }),
        ifKey({ ns: { container: podOf(d) }, dev: podIfNames(i.name).peer }),
      ]),
  );
  st.live.cuts = st.live.cuts.filter((c) => !keys.has(c.key));
  st.live.shaping = st.live.shaping.filter((c) => !keys.has(c.key));
}

/**
 * `kinda restart LAB DEVICE` on the Kubernetes runtime: shutdown steps, the pod and its ConfigMap
 * deleted, made again from the source (files staged anew, the same MACs), linked into the same
 * domains, its start-up run; every peer's VXLAN entries and rules moved to the new pod's IP.
 */
export async function kubeRestartDevice(st: LabState, plan: Plan, planned: DevicePlan, opts: KubeChangeOptions): Promise<LabState> {
  const { api, store } = opts;
  const rep = opts.reporter ?? silentReporter;
  const ds = st.devices.find((d) => d.name === planned.name)!;
  const missing = planned.interfaces.filter((i) => !st.domains.some((d) => d.name === i.domain)).map((i) => i.domain);
  if (missing.length)
    throw new KindaError(
      `${st.source} now links ${ds.name} to collision domain ${missing.join(", ")}, which lab ${st.name} does not have`,
      {
        hint: `restart the whole lab (kinda restart ${st.name})`,
      },
    );
  const ns = st.runtime!.namespace;
  const { k, kd } = planDevicePod(st, plan, planned);
  const step = rep.step(`restarting ${ds.name} of lab ${st.name} (pod ${ns}/${kd.pod})`);
  const macs = await podMacs(api, ns, podOf(ds));
  kd.interfaces = kd.interfaces.map((i) => (i.mac || !macs.get(i.name) ? i : { ...i, mac: macs.get(i.name)! }));
  // the manifest does not carry MACs (they are set by the link operations): nothing to redo there
  const oldIp = ds.pod?.ip;
  await dropPod(api, st, ds);
  const { pod, startup } = await makePod(api, st, planned, kd, k, store);
  ds.pod = { name: pod.name, node: pod.node, ip: pod.ip };
  ds.containerId = pod.name;
  if (startup) ds.startup = startup;
  await movePeers(api, st, ds, { ...(oldIp ? { oldIp } : {}), newIp: pod.ip });
  forgetLive(st, ds);
  store.update(st);
  const where = `on ${pod.node}, pod IP ${oldIp ?? "?"} -> ${pod.ip}`;
  if (startup?.status === "failed") step.fail(`${ds.name} restarted (${where}); its start-up failed at ${startup.failedStep}`);
  else step.done(`${ds.name} restarted (${where})`);
  return st;
}

/** `kinda device LAB NAME add` on the Kubernetes runtime, for a device the lab's source defines. */
export async function kubeAddDevice(st: LabState, plan: Plan, planned: DevicePlan, opts: KubeChangeOptions): Promise<string> {
  const { api, store } = opts;
  if (st.devices.some((d) => d.name === planned.name)) throw new KindaError(`NAME ${planned.name}: lab ${st.name} already has it`);
  // domains the lab lacks (the device is their first member): new VNIs
  for (const i of planned.interfaces)
    if (!st.domains.some((d) => d.name === i.domain))
      st.domains.push({ name: i.domain, bridge: plan.domains.find((d) => d.name === i.domain)?.bridge ?? "", vni: freeVni(st.domains) });
  const { k, kd } = planDevicePod(st, plan, planned);
  const ds: DeviceState = { ...deviceStateOf(planned), container: kd.pod };
  ds.interfaces = ds.interfaces.map((i) => ({ ...i, hostIf: podIfNames(i.name).peer }));
  let made: Awaited<ReturnType<typeof makePod>>;
  try {
    made = await makePod(api, st, planned, kd, k, store);
  } catch (e) {
    await dropPod(api, st, ds).catch(() => undefined);
    throw e;
  }
  ds.pod = { name: made.pod.name, node: made.pod.node, ip: made.pod.ip };
  ds.containerId = made.pod.name;
  if (made.startup) ds.startup = made.startup;
  st.devices.push(ds);
  await movePeers(api, st, ds, { newIp: made.pod.ip });
  const live = (st.live ??= { cuts: [], shaping: [] });
  (live.addedDevices ??= []).push(ds.name);
  store.update(st);
  const failed = made.startup?.status === "failed" ? `; its start-up failed at ${made.startup.failedStep}` : "";
  return `added device ${ds.name}: pod ${kd.pod} on ${made.pod.node} (${made.pod.ip}), ${ds.interfaces.length} interfaces${failed}`;
}

/** `kinda device LAB NAME remove` on the Kubernetes runtime: its pod, its ConfigMap, the peers' entries toward it. */
export async function kubeRemoveDevice(lab: string, name: string, opts: KubeChangeOptions): Promise<string> {
  const { api, store } = opts;
  const st = readKubeLab(lab, store);
  const d = st.devices.find((x) => x.name === name);
  if (!d)
    throw new KindaError(`NAME ${name}: lab ${lab} has no device of that name`, {
      hint: `devices: ${st.devices.map((x) => x.name).join(", ")}`,
    });
  await dropPod(api, st, d);
  if (d.pod?.ip) await movePeers(api, st, d, { oldIp: d.pod.ip });
  forgetLive(st, d);
  st.devices = st.devices.filter((x) => x !== d);
  if (st.live?.addedDevices) st.live.addedDevices = st.live.addedDevices.filter((x) => x !== name);
  store.update(st);
  return `removed device ${name}: pod ${podOf(d)} and its ${d.interfaces.length} interfaces`;
}

/** The highest ethN a pod has (its own and kinda's), from `ip -j link show`. */
async function nextEth(api: KubeApi, ns: string, d: DeviceState): Promise<number> {
  const out = await mustExec(api, ns, podOf(d), "listing its interfaces", readArgv({ read: "links" }));
  const names = (JSON.parse(out) as { ifname: string }[]).map((l) => l.ifname);
  const taken = [...names, ...d.interfaces.map((i) => i.name)].flatMap((n) => (/^eth(\d+)$/.exec(n) ? [Number(n.slice(3))] : []));
  return Math.max(-1, ...taken) + 1;
}

/**
 * `kinda link LAB A--B add` on the Kubernetes runtime: a new collision domain (a new VNI) with one
 * interface in each pod (ethK, K the next free number there), the VXLAN pointing at the other pod,
 * addresses if given. Static routes are not recomputed on this runtime (said in the summary).
 */
export async function kubeAddLink(
  lab: string,
  endpoint: string,
  o: KubeChangeOptions & { addresses?: Record<string, string>; domain?: string },
): Promise<{ summary: string; domain: string }> {
  const { api, store } = o;
  const st = readKubeLab(lab, store);
  const { a, b, domain } = newLinkEnds(
    lab,
    endpoint,
    { devices: st.devices.map((d) => d.name), domains: st.domains.map((d) => d.name) },
    o,
  );
  const vni = freeVni(st.domains);
  const ns = st.runtime!.namespace;
  const [da, db] = [a, b].map((x) => st.devices.find((d) => d.name === x)!) as [DeviceState, DeviceState];
  const peersAlready = shared(da, db).length > 0;
  const ends = await Promise.all(
    [da, db].map(async (d) => {
      const ip = d.pod?.ip;
      if (!ip) throw new KindaError(`device ${d.name}: the state has no pod IP for it`);
      const mtuOut = await mustExec(api, ns, podOf(d), "reading its underlay", readArgv({ read: "links", dev: UNDERLAY_IF }));
      const mtu = (JSON.parse(mtuOut) as { mtu?: number }[])[0]?.mtu;
      if (!mtu) throw new KindaError(`device ${d.name}: its pod has no ${UNDERLAY_IF} MTU`);
      return { d, ip, mtu, i: kubeInterface(`eth${await nextEth(api, ns, d)}`, domain, vni) };
    }),
  );
  const done: typeof ends = [];
  try {
    for (const e of ends) {
      const other = ends.find((x) => x !== e)!;
      const ops: IpOp[] = [];
      if (!peersAlready) ops.push({ op: "rule-add", to: `${other.ip}/32`, table: UNDERLAY_TABLE, pref: UNDERLAY_RULE_PREF });
      ops.push(...podInterfaceOps(e.i, e.ip, e.mtu - 50));
      const cidr = o.addresses?.[e.d.name];
      if (cidr) ops.push({ op: "addr-add", address: cidr, dev: e.i.name });
      done.push(e);
      await runOps(api, ns, podOf(e.d), `adding ${e.i.name}`, [
        ...ops,
        { op: "fdb-append", mac: "00:00:00:00:00:00", dev: e.i.vxlan, dst: other.ip },
      ]);
    }
  } catch (err) {
    for (const e of done) {
      const other = ends.find((x) => x !== e)!;
      const ops = podIfDeletes(e.i);
      if (!peersAlready) ops.push(ruleDel(other.ip));
      await tolerant(api, ns, podOf(e.d), ops).catch(() => undefined);
    }
    throw err;
  }
  st.domains.push({ name: domain, bridge: `vni-${vni}`, vni });
  for (const e of ends) e.d.interfaces.push({ name: e.i.name, domain, hostIf: e.i.peer });
  const live = (st.live ??= { cuts: [], shaping: [] });
  (live.added ??= []).push({ domain, endpoints: [a, b] });
  store.update(st);
  const routed = st.routing ? " (static routes are not recomputed on the Kubernetes runtime)" : "";
  return {
    domain,
    summary: `added ${ends.map((e) => `${e.d.name}:${e.i.name}`).join(" -- ")} (collision domain ${domain}, VXLAN VNI ${vni} between ${ends.map((e) => e.ip).join(" and ")})${routed}`,
  };
}

/** `kinda link LAB ENDPOINT remove` on the Kubernetes runtime: the domain's interfaces in every member pod, and the peers' entries. */
export async function kubeRemoveLink(lab: string, endpoint: string, o: KubeChangeOptions): Promise<{ summary: string }> {
  const { api, store } = o;
  const st = readKubeLab(lab, store);
  const domain = resolveKubeEndpoint(st, endpoint).domain;
  const ns = st.runtime!.namespace;
  const members = st.devices.filter((d) => d.interfaces.some((i) => i.domain === domain));
  await Promise.all(
    members.map(async (d) => {
      const i = d.interfaces.find((x) => x.domain === domain)!;
      const n = podIfNames(i.name);
      const ops = podIfDeletes({ name: i.name, vxlan: n.vxlan, bridge: n.bridge });
      // the underlay rule toward a member this device shares no other domain with goes too
      for (const p of members) if (p !== d && p.pod?.ip && !shared(d, p, domain).length) ops.push(ruleDel(p.pod.ip));
      await tolerant(api, ns, podOf(d), ops);
    }),
  );
  for (const d of members) forgetLive(st, d, (ifname) => d.interfaces.some((i) => i.name === ifname && i.domain === domain));
  st.domains = st.domains.filter((d) => d.name !== domain);
  for (const d of st.devices) d.interfaces = d.interfaces.filter((i) => i.domain !== domain);
  if (st.live?.added) st.live.added = st.live.added.filter((x) => x.domain !== domain);
  store.update(st);
  return { summary: `removed collision domain ${domain} and its ${members.length} interfaces (in ${members.map(podOf).join(", ")})` };
}
