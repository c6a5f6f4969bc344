/**
 * The Kubernetes runtime's plan (pure): from a lab plan, one namespace, one pod per device with
 * its ConfigMap of staged files, and the links each pod makes in its own network namespace.
 *
 * Links (the clabernetes way: nothing installed cluster-wide, no access to the host nodes): every
 * collision domain is one VXLAN VNI. Inside each member's pod, its interface ethN is a veth whose
 * peer kvN sits on a bridge kbN with a VXLAN device kxN; kxN's all-zeros FDB entries list every
 * other member's pod IP (head-end replication), so a domain of any size stays one L2 LAN, and
 * unicast goes where the bridge learnt the MAC. The pod's own interface (Kubernetes' eth0) is
 * renamed kinda0, so ethN keeps Kathara's numbering from eth0; VXLAN to the peers is routed over
 * kinda0 by a policy rule per peer into table UNDERLAY_TABLE, which leaves the device's own
 * routing (its default route, its routing daemons) alone. A cut is kvN set down: ethN loses its
 * carrier and keeps its addresses and routes, as on the Docker runtime.
 */
import { KindaError, TopologyError, type Issue } from "../core/errors.js";
import { LABEL_DEVICE, LABEL_LAB, LABEL_MANAGED, MANAGED_VALUE } from "../core/names.js";
import { HOSTLAB_MOUNT, STAGE_MOUNT } from "../core/defaults.js";
import type { Manifest } from "../model/kube.js";
import type { FdbOp, IpOp } from "../model/ops.js";
import { linkDown, linkUp, renderIp, takeBackOp, veth } from "./ops.js";
import type { DevicePlan, Plan } from "./lab.js";
import type { IfRef, LinkTarget } from "./live.js";

/** Kubernetes' own interface in a device pod, once renamed out of ethN's way. */
export const UNDERLAY_IF = "kinda0";
/** Routing table (and rule priority) of the VXLAN underlay inside a device pod. */
export const UNDERLAY_TABLE = 4789;
export const UNDERLAY_RULE_PREF = 100;
export const VXLAN_PORT = 4789;
/** Label kinda puts on the namespaces it creates (with the lab labels). */
export const LABEL_RUNTIME = "kinda.runtime";
export const NODE_LABEL = "kubernetes.io/hostname";
/** Largest ConfigMap the API server takes is 1 MiB, metadata included. */
export const CONFIGMAP_MAX = 1_000_000;

export interface KubeLabOptions {
  /** Namespace of the lab (default kinda-LAB); kinda creates it and `down` deletes it. */
  namespace?: string;
  /** Device -> host node (its kubernetes.io/hostname): pinned there instead of spread. */
  placement?: Record<string, string>;
  /** Only host nodes with these labels (every device). */
  nodeSelector?: Record<string, string>;
}

export interface KubeInterfacePlan {
  /** ethN inside the device. */
  name: string;
  domain: string;
  vni: number;
  /** kinda's veth end on the bridge (kvN), the bridge (kbN), the VXLAN device (kxN). */
  peer: string;
  bridge: string;
  vxlan: string;
  mac?: string;
}

export interface KubeDevicePlan {
  device: string;
  pod: string;
  configMap: string;
  /** Pinned host node, if any. */
  node?: string;
  interfaces: KubeInterfacePlan[];
  sysctls: Record<string, string>;
  manifest: Manifest;
}

export interface KubeLabPlan {
  lab: string;
  namespace: string;
  namespaceLabels: Record<string, string>;
  domains: { name: string; vni: number }[];
  devices: KubeDevicePlan[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A name Kubernetes takes as a DNS label: lower case, [^a-z0-9-] to '-', at most 63. */
export function dnsLabel(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
}

export function kubeNamespaceOf(lab: string): string {
  return dnsLabel(`kinda-${lab}`);
}

/** Interface names inside the pod for the device's ethN. */
export function podIfNames(ethName: string): { peer: string; bridge: string; vxlan: string } {
  const n = ethName.replace(/^eth/, "");
  return { peer: `kv${n}`, bridge: `kb${n}`, vxlan: `kx${n}` };
}

/** What the Docker runtime does that has no Kubernetes equivalent here: refused with the device and field. */
function deviceIssues(d: DevicePlan): Issue[] {
  const issues: Issue[] = [];
  const at = { device: d.name };
  const extra = d.mounts.filter((m) => m.target !== "/shared" && m.target !== STAGE_MOUNT && m.target !== HOSTLAB_MOUNT);
  for (const m of extra)
    issues.push({ ...at, field: "volume", message: `host folder ${m.source} at ${m.target}: the Kubernetes runtime mounts no host paths` });
  if (d.ports.length)
    issues.push({ ...at, field: "port", message: "published ports: the Kubernetes runtime publishes none (use a Service yourself)" });
  if (d.network === "bridge")
    issues.push({
      ...at,
      field: "bridged",
      message: "the bridged (NAT) interface: on the Kubernetes runtime a device has no way out but its lab links",
    });
  if (d.devices?.length)
    issues.push({ ...at, field: "devices", message: `host device files (${d.devices.join(", ")}): not on the Kubernetes runtime` });
  if (d.ulimits.length) issues.push({ ...at, field: "ulimit", message: "ulimits: Kubernetes sets none per pod" });
  if (d.services.length)
    issues.push({
      ...at,
      message: `a ${d.role?.kind ?? "programmable"} device (its data-plane services) is not supported on the Kubernetes runtime yet`,
    });
  const doms = d.interfaces.map((i) => i.domain);
  const twice = doms.find((x, i) => doms.indexOf(x) !== i);
  if (twice)
    issues.push({ ...at, message: `two interfaces on collision domain ${twice}: the Kubernetes runtime gives a device one per domain` });
  for (const [k, v] of Object.entries(d.sysctls))
    if (!/^[a-z0-9_.-]+$/i.test(k) || !/^[\w .:/-]*$/.test(v))
      issues.push({ ...at, field: "sysctl", message: `${k}=${v}: not a sysctl kinda can set` });
  return issues;
}

export function planKubeLab(plan: Plan, opts: KubeLabOptions = {}): KubeLabPlan {
  const issues: Issue[] = [];
  const namespace = opts.namespace ?? kubeNamespaceOf(plan.lab);
  if (!DNS_LABEL.test(namespace) || namespace.length > 63)
    issues.push({
      field: "namespace",
      message: `${JSON.stringify(namespace)} is not a Kubernetes namespace name (a DNS label: a-z, 0-9, -)`,
    });
  if (plan.external.length)
    issues.push({ file: "lab.ext", message: "lab.ext (host interfaces) cannot join a lab on the Kubernetes runtime" });
  for (const dev of Object.keys(opts.placement ?? {}))
    if (!plan.devices.some((d) => d.name === dev)) issues.push({ field: "placement", message: `no device ${dev} in lab ${plan.lab}` });
  const domains = plan.domains.map((d, i) => ({ name: d.name, vni: i + 1 }));
  const vniOf = new Map(domains.map((d) => [d.name, d.vni]));
  const pods = new Map<string, string>();
  const labLabels = { [LABEL_MANAGED]: MANAGED_VALUE, [LABEL_LAB]: plan.lab };
  const devices = plan.devices.map((d): KubeDevicePlan => {
    issues.push(...deviceIssues(d));
    const pod = dnsLabel(d.name) || "device";
    const other = pods.get(pod);
    if (other) issues.push({ device: d.name, message: `its pod name ${pod} is also ${other}'s` });
    pods.set(pod, d.name);
    const interfaces = d.interfaces.map((i) => ({
      name: i.name,
      domain: i.domain,
      vni: vniOf.get(i.domain)!,
      ...podIfNames(i.name),
      ...(i.mac ? { mac: i.mac } : {}),
    }));
    const node = opts.placement?.[d.name];
    const configMap = `${pod}-files`;
    return {
      device: d.name,
      pod,
      configMap,
      ...(node ? { node } : {}),
      interfaces,
      sysctls: d.sysctls,
      manifest: podManifest(d, pod, configMap, labLabels, node, opts.nodeSelector),
    };
  });
  if (issues.length) throw new TopologyError(issues);
  return {
    lab: plan.lab,
    namespace,
    namespaceLabels: { ...labLabels, [LABEL_RUNTIME]: "kubernetes" },
    domains,
    devices,
  };
}

/** The device's container in its pod: image, environment, capabilities (or privileged), limits, staged files. */
function deviceContainer(d: DevicePlan): Manifest {
  const env = d.env.map((e) => {
    const i = e.indexOf("=");
    return { name: e.slice(0, i), value: e.slice(i + 1) };
  });
  const mounts: Manifest[] = [
    { name: "stage", mountPath: STAGE_MOUNT, readOnly: true },
    { name: "shared", mountPath: "/shared" },
  ];
  if (d.kathara) mounts.push({ name: "stage", mountPath: HOSTLAB_MOUNT, subPath: "hostlab" });
  const resources: Record<string, string> = {};
  if (d.memoryBytes !== undefined) resources["memory"] = String(d.memoryBytes);
  if (d.nanoCpus !== undefined) resources["cpu"] = `${Math.max(1, Math.round(d.nanoCpus / 1e6))}m`;
  const container: Manifest = {
    name: "device",
    image: d.image,
    imagePullPolicy: "IfNotPresent",
    // as on Docker: a terminal and an open stdin keep an image's default shell running
    tty: true,
    stdin: true,
    env,
    securityContext: d.privileged ? { privileged: true } : { privileged: false, capabilities: { add: [...d.capAdd] } },
    volumeMounts: mounts,
    ...(Object.keys(resources).length ? { resources: { limits: resources } } : {}),
    ...(d.entrypoint ? { command: d.entrypoint } : {}),
    ...(d.cmd ? { args: d.cmd } : {}),
  };
  return container;
}

/** The device's pod: its image, capabilities, environment; staged files from its ConfigMap by an init step. */
function podManifest(
  d: DevicePlan,
  pod: string,
  configMap: string,
  labLabels: Record<string, string>,
  node: string | undefined,
  nodeSelector: Record<string, string> | undefined,
): Manifest {
  const container = deviceContainer(d);
  const selector = { ...(nodeSelector ?? {}), ...(node ? { [NODE_LABEL]: node } : {}) };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: pod,
      labels: { ...labLabels, [LABEL_DEVICE]: dnsLabel(d.name) || "device" },
      annotations: { "kinda.device": d.name },
    },
    spec: {
      hostname: dnsLabel(d.hostname) || pod,
      // a device that stops stays stopped, as on Docker: a new pod would have none of its links
      restartPolicy: "Never",
      enableServiceLinks: false,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 5,
      ...(Object.keys(selector).length ? { nodeSelector: selector } : {}),
      // the default spread: as even as the schedulable nodes allow (pinned devices count, but are not moved)
      ...(node
        ? {}
        : {
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                topologyKey: NODE_LABEL,
                whenUnsatisfiable: "DoNotSchedule",
                labelSelector: { matchLabels: labLabels },
                nodeTaintsPolicy: "Honor",
                nodeAffinityPolicy: "Honor",
              },
            ],
          }),
      initContainers: [
        {
          name: "stage",
          image: d.image,
          imagePullPolicy: "IfNotPresent",
          command: ["tar", "-x", "-p", "-f", "/kinda-in/stage.tar", "-C", "/kinda-out"],
          volumeMounts: [
            { name: "files", mountPath: "/kinda-in", readOnly: true },
            { name: "stage", mountPath: "/kinda-out" },
          ],
        },
      ],
      containers: [container],
      volumes: [
        { name: "files", configMap: { name: configMap } },
        { name: "stage", emptyDir: {} },
        { name: "shared", emptyDir: {} },
      ],
    },
  };
}

export function configMapManifest(name: string, labels: Record<string, string>, tar: Buffer): Manifest {
  if (tar.length > CONFIGMAP_MAX)
    throw new KindaError(
      `ConfigMap ${name}: the device's staged files are ${tar.length} bytes; a ConfigMap holds at most ${CONFIGMAP_MAX}`,
      {
        hint: "the Kubernetes runtime stages a device's folder through a ConfigMap: keep it under 1 MB",
      },
    );
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, labels }, binaryData: { "stage.tar": tar.toString("base64") } };
}

/** Each domain's members' pod IPs, from the pods that run (device -> IP). */
export function domainPeers(k: KubeLabPlan, ipOf: ReadonlyMap<string, string>): Map<string, { device: string; ip: string }[]> {
  const out = new Map<string, { device: string; ip: string }[]>();
  for (const d of k.devices)
    for (const i of d.interfaces) {
      const ip = ipOf.get(d.device);
      if (!ip) throw new KindaError(`device ${d.device}: its pod has no IP`);
      const list = out.get(i.domain) ?? [];
      list.push({ device: d.device, ip });
      out.set(i.domain, list);
    }
  return out;
}

/**
 * The operations run in a device pod (ip -batch): Kubernetes' eth0 renamed kinda0 (renaming needs
 * it down, which drops its routes: the underlay's come back in table UNDERLAY_TABLE, one rule per
 * peer), then each interface's veth, bridge and VXLAN device (with the underlay's MTU less VXLAN's
 * 50). The VXLAN devices learn (unicast to the member that has the MAC, not to all).
 */
export function podLinkOps(
  dev: KubeDevicePlan,
  pod: { ip: string; gateway: string; mtu: number },
  peers: ReadonlyMap<string, readonly { device: string; ip: string }[]>,
): IpOp[] {
  const u = UNDERLAY_IF;
  const ops: IpOp[] = [linkDown("eth0"), { op: "link-set", name: "eth0", rename: u }, linkUp(u)];
  ops.push({ op: "route-replace", route: { dst: pod.gateway, dev: u, table: UNDERLAY_TABLE } });
  ops.push({ op: "route-replace", route: { dst: "default", via: pod.gateway, dev: u, onlink: true, table: UNDERLAY_TABLE } });
  ops.push(...peerRuleOps(dev, peers));
  for (const i of dev.interfaces) ops.push(...podInterfaceOps(i, pod.ip, pod.mtu - 50));
  return ops;
}

/** One interface in a device pod: the bridge kbN, the VXLAN device kxN on the underlay, the veth ethN/kvN; all up. */
export function podInterfaceOps(i: KubeInterfacePlan, podIp: string, mtu: number): IpOp[] {
  return [
    { op: "link-add", name: i.bridge, kind: { type: "bridge", mcastSnooping: false } },
    {
      op: "link-add",
      name: i.vxlan,
      kind: { type: "vxlan", id: i.vni, local: podIp, dstport: VXLAN_PORT, dev: UNDERLAY_IF, learning: true },
    },
    { op: "link-set", name: i.vxlan, master: i.bridge, mtu },
    veth(i.name, i.peer, undefined, { ...(i.mac ? { mac: i.mac } : {}), mtu }),
    { op: "link-set", name: i.peer, master: i.bridge },
    linkUp(i.bridge),
    linkUp(i.vxlan),
    linkUp(i.peer),
    linkUp(i.name),
  ];
}

/** A device's interface on a collision domain as the pod has it (names from ethN, the domain's VNI). */
export function kubeInterface(name: string, domain: string, vni: number, mac?: string): KubeInterfacePlan {
  return { name, domain, vni, ...podIfNames(name), ...(mac ? { mac } : {}) };
}

/**
 * The domains' VNIs of a lab that is up: as recorded (`up`, `link add`), else (states written
 * before VNIs were recorded) the place of the domain at `up`, plus one, as planKubeLab gave them.
 */
export function recordedVni(domains: readonly { name: string; vni?: number }[], domain: string): number {
  const i = domains.findIndex((d) => d.name === domain);
  if (i < 0) throw new KindaError(`collision domain ${domain} is not in the lab`);
  return domains[i]!.vni ?? i + 1;
}

/** A VNI no domain of the lab has. */
export function freeVni(domains: readonly { name: string; vni?: number }[]): number {
  return Math.max(0, ...domains.map((d, i) => d.vni ?? i + 1)) + 1;
}

/**
 * What a peer pod changes when a member of its domains moves from `oldIp` to `newIp` (a pod made
 * again) or goes (`newIp` undefined) or comes (`oldIp` undefined): the replication entries and the
 * MACs it learnt behind the old IP (`learnt`: `bridge -j fdb show` of the peer), its underlay rule.
 * Returns the `bridge -batch` and `ip -batch` lines (deletions first, run with -force).
 */
export function peerMoveLines(
  vxlans: readonly string[],
  learnt: readonly { mac: string; ifname?: string; dst?: string }[],
  move: { oldIp?: string; newIp?: string; keepRule?: boolean },
): { bridge: string[]; ip: string[] } {
  const bridge: string[] = [];
  const ip: string[] = [];
  const rule = (ipAddr: string): IpOp => ({ op: "rule-add", to: `${ipAddr}/32`, table: UNDERLAY_TABLE, pref: UNDERLAY_RULE_PREF });
  if (move.oldIp) {
    for (const e of learnt)
      if (e.dst === move.oldIp && e.ifname && vxlans.includes(e.ifname)) bridge.push(`fdb del ${e.mac} dev ${e.ifname} dst ${move.oldIp}`);
    for (const v of vxlans) {
      const line = `fdb del 00:00:00:00:00:00 dev ${v} dst ${move.oldIp}`;
      if (!bridge.includes(line)) bridge.push(line);
    }
    if (!move.keepRule) ip.push(renderIp(takeBackOp(rule(move.oldIp))!));
  }
  if (move.newIp) {
    for (const v of vxlans) bridge.push(`fdb append 00:00:00:00:00:00 dev ${v} dst ${move.newIp}`);
    if (!move.keepRule) ip.push(renderIp(rule(move.newIp)));
  }
  return { bridge, ip };
}

/** The underlay's policy rules: one per pod IP of another member of the device's domains. */
export function peerRuleOps(dev: KubeDevicePlan, peers: ReadonlyMap<string, readonly { device: string; ip: string }[]>): IpOp[] {
  const remote = new Set<string>();
  for (const i of dev.interfaces) for (const p of peers.get(i.domain) ?? []) if (p.device !== dev.device) remote.add(p.ip);
  return [...remote].sort().map((ip) => ({ op: "rule-add", to: `${ip}/32`, table: UNDERLAY_TABLE, pref: UNDERLAY_RULE_PREF }));
}

/** Head-end replication (bridge -batch): one all-zeros FDB entry per other member of the domain. */
export function podFdbOps(dev: KubeDevicePlan, peers: ReadonlyMap<string, readonly { device: string; ip: string }[]>): FdbOp[] {
  return dev.interfaces.flatMap((i) =>
    (peers.get(i.domain) ?? [])
      .filter((p) => p.device !== dev.device)
      .map((p): FdbOp => ({ op: "fdb-append", mac: "00:00:00:00:00:00", dev: i.vxlan, dst: p.ip })),
  );
}

/**
 * Sets sysctls in the pod's network namespace (fixed text; keys and values are its arguments,
 * checked by planKubeLab). A container's /proc/sys is read-only, and Kubernetes allows only its
 * "safe" sysctls in a pod's spec unless every kubelet is configured for more: so a fresh procfs
 * (CAP_SYS_ADMIN, which devices have) is mounted for the writes and unmounted after.
 */
export const SYSCTL_SCRIPT = [
  `p=/run/kinda-proc; mkdir -p $p && mount -t proc proc $p || exit 1`,
  `rc=0; while [ $# -ge 2 ]; do k=$(printf %s "$1" | tr . /); printf '%s\\n' "$2" > "$p/sys/$k" || { echo "kinda: cannot set $1" >&2; rc=1; }; shift 2; done`,
  `umount $p; exit $rc`,
].join("\n");

export function sysctlArgv(sysctls: Record<string, string>): string[] {
  // forwarding and disable_ipv6 on `all` first: writing `all` resets every interface's value
  const keys = Object.keys(sysctls).sort((a, b) => Number(b.includes(".all.")) - Number(a.includes(".all.")));
  return ["/bin/sh", "-c", SYSCTL_SCRIPT, "kinda-sysctl", ...keys.flatMap((k) => [k, sysctls[k]!])];
}

/** The pod's default gateway and its interface's MTU, from `ip -j route show default` and `ip -j link show eth0`. */
export function parseUnderlay(routeJson: string, linkJson: string): { gateway: string; mtu: number } {
  const routes = JSON.parse(routeJson) as { dst?: string; gateway?: string; dev?: string }[];
  const gw = routes.find((r) => r.dst === "default" && r.gateway)?.gateway;
  const links = JSON.parse(linkJson) as { ifname?: string; mtu?: number }[];
  const mtu = links[0]?.mtu;
  if (!gw) throw new KindaError(`the pod has no default route to its cluster network (ip route: ${routeJson.trim()})`);
  if (!mtu) throw new KindaError(`the pod's eth0 has no MTU (ip link: ${linkJson.trim()})`);
  return { gateway: gw, mtu };
}

/** Human-readable Kubernetes part of a plan (for --dry-run). */
export function formatKubePlan(k: KubeLabPlan): string {
  const out = [`runtime kubernetes: namespace ${k.namespace} (created by kinda, deleted by kinda down)`];
  for (const d of k.domains) out.push(`  collision domain ${d.name}: VXLAN VNI ${d.vni}, head-end replication to every member's pod IP`);
  for (const d of k.devices) {
    out.push(
      `  pod ${d.pod} (device ${d.device})${d.node ? ` on node ${d.node}` : ", spread over the schedulable nodes"}; files from ConfigMap ${d.configMap}`,
    );
    for (const i of d.interfaces)
      out.push(`    ${i.name} (veth) <-> ${i.peer} on bridge ${i.bridge} with ${i.vxlan} (VNI ${i.vni}, domain ${i.domain})`);
  }
  return out.join("\n");
}

/** A lab on the Kubernetes runtime as link endpoints see it: devices, their pods and interfaces. */
export interface KubeLabLinks {
  name: string;
  domains: { name: string }[];
  devices: { name: string; container: string; pod?: { name: string }; interfaces: { name: string; domain: string }[] }[];
}

/**
 * What an ENDPOINT names in a lab on the Kubernetes runtime (`r1:eth0`, `r1--r2`, a collision
 * domain), with the same directions, cuts and capture points as on Docker, in the pods: traffic
 * into a device leaves kinda's end kvN, a cut sets kvN down (ethN loses its carrier).
 */
export function resolveKubeEndpoint(st: KubeLabLinks, endpoint: string): LinkTarget {
  const members = st.devices.flatMap((d) =>
    d.interfaces.map((i) => ({
      device: d.name,
      pod: d.pod?.name ?? d.container,
      ifname: i.name,
      domain: i.domain,
      kv: podIfNames(i.name),
    })),
  );
  const names = st.devices.map((d) => d.name);
  const bad = (what: string, hint: string) => new KindaError(`ENDPOINT ${JSON.stringify(endpoint)}: ${what}`, { hint });
  const at = (m: (typeof members)[number], dev: string): IfRef => ({ ns: { container: m.pod }, dev });
  const ifm = /^([^:\s]+):([^:\s]+)$/.exec(endpoint);
  if (ifm) {
    const mine = members.filter((m) => m.device === ifm[1]);
    if (!mine.length) throw bad(`lab ${st.name} has no device ${ifm[1]}`, `devices: ${names.join(", ")}`);
    const m = mine.find((x) => x.ifname === ifm[2]);
    if (!m) throw bad(`${ifm[1]} has no linked interface ${ifm[2]}`, `${ifm[1]} has ${mine.map((x) => x.ifname).join(", ")}`);
    return {
      endpoint,
      description: `${m.device}:${m.ifname} (collision domain ${m.domain})`,
      directions: [
        { from: m.device, to: `domain ${m.domain}`, at: at(m, m.ifname) },
        { from: `domain ${m.domain}`, to: m.device, at: at(m, m.kv.peer) },
      ],
      cut: [{ at: at(m, m.kv.peer), how: "carrier" }],
      capture: at(m, m.kv.peer),
      domain: m.domain,
    };
  }
  const pm = /^(\S+?)--(\S+)$/.exec(endpoint);
  if (pm) {
    const [a, b] = [pm[1]!, pm[2]!];
    for (const d of [a, b]) if (!names.includes(d)) throw bad(`lab ${st.name} has no device ${d}`, `devices: ${names.join(", ")}`);
    const doms = (d: string) => new Set(members.filter((m) => m.device === d).map((m) => m.domain));
    const shared = [...doms(a)].filter((x) => doms(b).has(x)).sort();
    if (shared.length !== 1)
      throw bad(
        shared.length ? `${a} and ${b} share ${shared.length} collision domains (${shared.join(", ")})` : `${a} and ${b} share no link`,
        "name an interface (r1:eth0) or a collision domain",
      );
    const ea = members.find((m) => m.device === a && m.domain === shared[0])!;
    const eb = members.find((m) => m.device === b && m.domain === shared[0])!;
    return {
      endpoint,
      description: `the link ${a}--${b} (collision domain ${shared[0]})`,
      directions: [
        { from: a, to: b, at: at(eb, eb.kv.peer) },
        { from: b, to: a, at: at(ea, ea.kv.peer) },
      ],
      cut: [ea, eb].map((m) => ({ at: at(m, m.kv.peer), how: "carrier" as const })),
      capture: at(ea, ea.kv.peer),
      domain: shared[0]!,
    };
  }
  if (st.domains.some((d) => d.name === endpoint)) {
    const on = members.filter((m) => m.domain === endpoint);
    return {
      endpoint,
      description: `collision domain ${endpoint}`,
      directions: on.map((m) => ({ from: `domain ${endpoint}`, to: m.device, at: at(m, m.kv.peer) })),
      cut: on.map((m) => ({ at: at(m, m.kv.peer), how: "carrier" as const })),
      // no one place sees a whole domain spread over pods: its first member's bridge (all it sends and gets)
      capture: at(on[0]!, on[0]!.kv.bridge),
      domain: endpoint,
    };
  }
  throw bad(
    "is neither DEVICE:IFACE, A--B, nor a collision domain of the lab",
    `collision domains: ${st.domains.map((d) => d.name).join(", ") || "none"}; devices: ${names.join(", ")}`,
  );
}
