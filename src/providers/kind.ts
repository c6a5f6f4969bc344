/**
 * The Kind provider: writes Kind's cluster config from the node list, runs `kind create cluster`
 * (which merges the kubeconfig, so kubectl works afterwards), finds node containers by Kind's
 * labels and reads node names, InternalIPs and pod CIDRs through the Kubernetes API. With several
 * control planes Kind adds an external load balancer (haproxy) in front of their API servers;
 * it is found by Kind's labels too.
 */
import { findProgram, kindProgram, programsFor, type HostProgram } from "../core/host.js";
import { mkdtempSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { spawn } from "node:child_process";
import { isMap, isSeq, parseAllDocuments, stringify } from "yaml";
import { KindaError } from "../core/errors.js";
import { run, runChecked } from "../net/exec.js";
import { killGroup, processArgs, processStart } from "../net/process.js";
import type { Runtime } from "../model/container.js";
import {
  KIND_CLUSTER_NAME,
  KIND_CLUSTER_NAME_RULE,
  LOAD_BALANCER,
  type LoadBalancerFacts,
  type NodeFacts,
  type NodeSpec,
} from "../model/cluster.js";
import { ClusterExistsError, type ClusterProvider, type CreateOptions } from "../model/provider.js";

/** Node label carrying the topology name, set through Kind's config. */
export const NAME_LABEL = "kinda.dev/name";
export const KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster";
export const KIND_ROLE_LABEL = "io.x-k8s.kind.role";
/** The Docker network Kind puts its node containers on. */
export const KIND_NETWORK = "kind";
/** Kind's role label value for its load balancer (sigs.k8s.io/kind/pkg/cluster/constants). */
export const KIND_LB_ROLE = "external-load-balancer";
/** The port Kind's load balancer and API servers listen on inside the Kind network (common.APIServerInternalPort). */
export const KIND_API_PORT = 6443;
/** Attempts at a read-change-replace of a Kubernetes object that others update meanwhile. */
const CONFLICT_RETRIES = 8;

export interface KindOptions {
  /** Node image (default: Kind's own default for its version). */
  image?: string;
  /** The `kind` binary (default: `kind` on PATH, or $KINDA_KIND). */
  kindBinary?: string;
  /**
   * Kind made its Docker network "kind" while creating this cluster (it was not there before):
   * deleting the cluster then removes it too once no container uses it. Recorded in the state.
   */
  ownsNetwork?: boolean;
  /** Extra kubeadm config patches (YAML strings), e.g. for cgroup drivers. */
  kubeadmConfigPatches?: string[];
  containerdConfigPatches?: string[];
  /**
   * How many workers `kind create cluster` makes itself (the first wave, with the control
   * planes); kinda makes the rest from the same node image and joins them with the configuration
   * Kind wrote, a few at a time (`joinParallel`), each join retried. Default $KINDA_KIND_WAVE or
   * DEFAULT_KIND_WAVE.
   */
  wave?: number;
  /**
   * The `kind create cluster` of an `up` that may have died while it ran ("PID:START", START its
   * /proc start time) and the folder of its config: recorded in the state while it runs, so that
   * `delete` (a `down` after a crash) stops it, with the `docker run`s it started, before Kind
   * deletes the cluster (else it went on and made the nodes after the `down`), and removes the folder.
   */
  createPid?: string;
  configDir?: string;
  /** Joins kinda runs at once after the first wave (default $KINDA_JOIN_PARALLEL or DEFAULT_JOIN_PARALLEL). */
  joinParallel?: number;
  /**
   * The lean node profile (leanPatches): idle nodes poll and report less often, so that more of
   * them fit on a few cores. Default $KINDA_KIND_LEAN ("1": on); off unless asked (docs/scale.md).
   */
  lean?: boolean;
}

/** Workers Kind creates and joins at once, by default: more joining together overloaded a 2-core host's API server (see docs/scale.md). */
export const DEFAULT_KIND_WAVE = 10;
export const DEFAULT_JOIN_PARALLEL = 3;
/** Attempts at one later node's kubeadm join (a failed one is reset first). */
export const JOIN_ATTEMPTS = 3;

/** A positive integer from an option or an environment variable, else the default; anything else is an error naming it. */
export function positiveInt(v: number | string | undefined, name: string, dflt: number): number {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new KindaError(`${name}=${v} is not a positive whole number`);
  return n;
}

/**
 * The nodes in waves: Kind makes the control planes and the first `wave` workers; the rest are
 * made and joined by kinda. Each keeps the container name Kind would give it in one cluster of
 * all of them (kindContainerNames), so the later ones look like Kind's own.
 */
export function splitWaves(nodes: readonly NodeSpec[], wave: number): { kind: NodeSpec[]; later: NodeSpec[] } {
  const ordered = kindOrder(nodes);
  const cps = ordered.filter((n) => n.role === "control-plane").length;
  return { kind: ordered.slice(0, cps + wave), later: ordered.slice(cps + wave) };
}

type Identity = NonNullable<CreateOptions["identity"]>;

/** Control planes first, as Kind expects (and names them). */
function kindOrder(nodes: readonly NodeSpec[]): NodeSpec[] {
  return [...nodes.filter((n) => n.role === "control-plane"), ...nodes.filter((n) => n.role === "worker")];
}

/** The container Kind makes for each node: `<cluster>-<role>` then `-<role>2`, ... in config order. */
export function kindContainerNames(cluster: string, nodes: readonly NodeSpec[]): Map<string, string> {
  const count = new Map<string, number>();
  return new Map(
    kindOrder(nodes).map((n) => {
      const k = (count.get(n.role) ?? 0) + 1;
      count.set(n.role, k);
      return [n.name, `${cluster}-${n.role}${k > 1 ? k : ""}`];
    }),
  );
}

/**
 * Kubeadm patches (Kind merges them into its v1beta3 config) giving one node its emulated
 * identity: the kubelet's node IP, and joining through the emulated API endpoint; every control
 * plane also advertises its API server there (the first in its init, the others in their join),
 * which puts etcd's URLs there too.
 */
function identityPatches(n: NodeSpec, first: boolean, id: Identity): string[] {
  const ip = id.addresses[n.name]!;
  const kubelet = { kubeletExtraArgs: { "node-ip": ip } };
  const join = {
    kind: "JoinConfiguration",
    ...(n.role === "control-plane" && !first ? { controlPlane: { localAPIEndpoint: { advertiseAddress: ip } } } : {}),
    nodeRegistration: kubelet,
    discovery: { bootstrapToken: { apiServerEndpoint: id.apiEndpoint } },
  };
  const init = { kind: "InitConfiguration", localAPIEndpoint: { advertiseAddress: ip }, nodeRegistration: kubelet };
  return (first ? [init, join] : [join]).map((p) => stringify(p));
}

/** Where Kind's load balancer image reads its configuration (sigs.k8s.io/kind/pkg/cluster/internal/loadbalancer). */
export const KIND_LB_CONFIG = "/usr/local/etc/haproxy/haproxy.cfg";

/**
 * Kind's haproxy configuration (its DefaultConfigTemplate, IPv4) with the backends at fixed
 * addresses instead of the node names Docker's DNS resolves to their Kind addresses: `servers`
 * maps each server's name (Kind's: the node container's) to its address:port.
 */
export function haproxyConfig(servers: Record<string, string>, port = KIND_API_PORT): string {
  return [
    "# generated by kind, backends set by kinda (the control planes' emulated addresses)",
    "global",
    "  log /dev/log local0",
    "  log /dev/log local1 notice",
    "  daemon",
    "  maxconn 100000",
    "",
    "defaults",
    "  log global",
    "  mode tcp",
    "  option dontlognull",
    "  timeout connect 5000",
    "  timeout client 50000",
    "  timeout server 50000",
    "",
    "frontend control-plane",
    `  bind *:${port}`,
    "  default_backend kube-apiservers",
    "",
    "backend kube-apiservers",
    "  option httpchk GET /healthz",
    ...Object.entries(servers).map(([name, at]) => `  server ${name} ${at} check check-ssl verify none`),
    "",
  ].join("\n");
}

/**
 * The cluster-wide patch for an emulated identity: kubeconfigs (kubelet, kube-proxy, join) name
 * the emulated endpoint; etcd listens on every address, so that it starts even before kinda
 * has put the emulated address on the node (it advertises only that one).
 */
function identityClusterPatch(id: Identity): string {
  return stringify({
    kind: "ClusterConfiguration",
    controlPlaneEndpoint: id.apiEndpoint,
    etcd: { local: { extraArgs: { "listen-client-urls": "https://0.0.0.0:2379", "listen-peer-urls": "https://0.0.0.0:2380" } } },
  });
}

/**
 * kubeadm's waits that its configuration sets, raised for a loaded host where many nodes join
 * (Kind writes kubeadm's v1beta3: the API server's start within 10 instead of 4 minutes, a
 * joining node's discovery within 15 instead of 5). kubeadm's short fixed retries (reading its
 * ConfigMaps at join, about 10 s) are not configurable: fewer joins at once is what helps there.
 */
export const TIMEOUT_PATCHES = [
  stringify({ kind: "ClusterConfiguration", apiServer: { timeoutForControlPlane: "10m0s" } }),
  stringify({ kind: "JoinConfiguration", discovery: { timeout: "15m0s" } }),
];

/**
 * The lean node profile (opt-in: KindOptions.lean, $KINDA_KIND_LEAN=1; measured in
 * docs/scale.md): what an idle node spends CPU on that a lab can do without. Every kubelet
 * collects its containers' statistics every minute instead of every 10 s (cAdvisor's
 * housekeeping-interval: the figures feed eviction, which Kind turns off, and `kubectl top`,
 * which needs a metrics server a lab does not run), computes its node status every 30 s instead
 * of 10 and renews its lease every 30 s instead of 10 (a lease of 120 s instead of 40: one write
 * per node every 10 s to the API server and etcd is much of what a control plane does for idle
 * nodes); the node controller waits 3 minutes instead of 50 s before it calls a silent node
 * NotReady (a lost node is noticed that much later). With one control plane, its controller
 * manager and scheduler do not renew a leader lease every 2 s (leader election is for several).
 */
export function leanPatches(controlPlanes: number): string[] {
  const housekeeping = { nodeRegistration: { kubeletExtraArgs: { "housekeeping-interval": "1m0s" } } };
  const single = controlPlanes === 1 ? { "leader-elect": "false" } : {};
  return [
    stringify({ kind: "KubeletConfiguration", nodeStatusUpdateFrequency: "30s", nodeLeaseDurationSeconds: 120 }),
    stringify({ kind: "InitConfiguration", ...housekeeping }),
    stringify({ kind: "JoinConfiguration", ...housekeeping }),
    stringify({
      kind: "ClusterConfiguration",
      controllerManager: { extraArgs: { "node-monitor-grace-period": "3m0s", ...single } },
      ...(controlPlanes === 1 ? { scheduler: { extraArgs: single } } : {}),
    }),
  ];
}

/** Kind's v1alpha4 cluster config for these nodes (control planes first, as Kind expects). */
export function kindConfig(
  nodes: readonly NodeSpec[],
  podCidr: string,
  opts: KindOptions = {},
  identity?: Identity,
): Record<string, unknown> {
  const ordered = kindOrder(nodes);
  const cfg: Record<string, unknown> = {
    kind: "Cluster",
    apiVersion: "kind.x-k8s.io/v1alpha4",
    networking: { podSubnet: podCidr },
    nodes: ordered.map((n, i) => ({
      role: n.role,
      labels: { [NAME_LABEL]: n.name },
      ...(opts.image ? { image: opts.image } : {}),
      ...(identity ? { kubeadmConfigPatches: identityPatches(n, i === 0, identity) } : {}),
    })),
  };
  const lean = opts.lean ? leanPatches(ordered.filter((n) => n.role === "control-plane").length) : [];
  const patches = [
    ...TIMEOUT_PATCHES,
    ...lean,
    ...(opts.kubeadmConfigPatches ?? []),
    ...(identity ? [identityClusterPatch(identity)] : []),
  ];
  if (patches.length) cfg["kubeadmConfigPatches"] = patches;
  if (opts.containerdConfigPatches?.length) cfg["containerdConfigPatches"] = opts.containerdConfigPatches;
  return cfg;
}

export function kindConfigYaml(nodes: readonly NodeSpec[], podCidr: string, opts: KindOptions = {}, identity?: Identity): string {
  return stringify(kindConfig(nodes, podCidr, opts, identity));
}

interface KubeNode {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: { type: string; address: string }[] };
}

/** Matches Kubernetes Node objects to topology nodes by the name label. */
export function nodesFromApi(
  items: readonly KubeNode[],
  specs: readonly NodeSpec[],
): Map<string, { k8sName: string; internalIp: string; podCidrs: string[] }> {
  const out = new Map<string, { k8sName: string; internalIp: string; podCidrs: string[] }>();
  for (const it of items) {
    const topo = it.metadata?.labels?.[NAME_LABEL];
    if (!topo || !specs.some((s) => s.name === topo)) continue;
    const ip = it.status?.addresses?.find((a) => a.type === "InternalIP" && !a.address.includes(":"))?.address ?? "";
    const pods = it.spec?.podCIDRs?.length ? it.spec.podCIDRs : it.spec?.podCIDR ? [it.spec.podCIDR] : [];
    out.set(topo, { k8sName: it.metadata?.name ?? "", internalIp: ip, podCidrs: pods.filter((p) => !p.includes(":")) });
  }
  return out;
}

/**
 * `docker run` arguments for a worker added to a running Kind cluster: the ones Kind's docker
 * provider gives its node containers (sigs.k8s.io/kind pkg/cluster/internal/providers/docker:
 * commonArgs and runArgsForNode), so the node is made as Kind makes its own and `kind delete
 * cluster` removes it with the rest (it carries the cluster's label).
 */
export function kindNodeRunArgs(cluster: string, container: string, image: string): string[] {
  return [
    "run",
    "--name",
    container,
    "--hostname",
    container,
    "--detach",
    "--tty",
    "--label",
    `${KIND_CLUSTER_LABEL}=${cluster}`,
    "--label",
    `${KIND_ROLE_LABEL}=worker`,
    "--net",
    KIND_NETWORK,
    "--restart=on-failure:1",
    "--init=false",
    "--cgroupns=private",
    "--privileged",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--tmpfs",
    "/tmp",
    "--tmpfs",
    "/run",
    "--volume",
    "/var",
    "--volume",
    "/lib/modules:/lib/modules:ro",
    "-e",
    "KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER",
    image,
  ];
}

/**
 * The kubeadm configuration for a worker joining later, from the one Kind wrote into a worker
 * (/kind/kubeadm.conf: every document, the JoinConfiguration with kinda's patches merged): the
 * join names the new node (provider-id, its kinda.dev/name label, its kubelet's node IP) and
 * carries a token just made on the control plane instead of Kind's well-known one.
 */
export function joinConfigFor(
  kindConf: string,
  o: { cluster: string; container: string; topoName: string; nodeIp: string; token: string },
): string {
  const docs = parseAllDocuments(kindConf);
  const join = docs.find((d) => d.get("kind") === "JoinConfiguration");
  if (!join) throw new KindaError("Kind's kubeadm configuration has no JoinConfiguration");
  const path = (...p: string[]) => ["nodeRegistration", "kubeletExtraArgs", ...p];
  const args = join.getIn(path());
  const set = (k: string, v: string) => {
    // kubeadm v1beta4 lists extra args as {name, value}; v1beta3 as a map
    if (isSeq(args)) {
      const item = args.items.find((x) => isMap(x) && x.get("name") === k);
      if (isMap(item)) item.set("value", v);
      else args.add(join.createNode({ name: k, value: v }));
    } else join.setIn(path(k), v);
  };
  const labels = (() => {
    const cur = isSeq(args)
      ? String(
          (args.items.find((x) => isMap(x) && x.get("name") === "node-labels") as { get(k: string): unknown } | undefined)?.get("value") ??
            "",
        )
      : String(join.getIn(path("node-labels")) ?? "");
    const kept = cur.split(",").filter((l) => l && !l.startsWith(`${NAME_LABEL}=`));
    return [...kept, `${NAME_LABEL}=${o.topoName}`].join(",");
  })();
  set("node-ip", o.nodeIp);
  set("provider-id", `kind://docker/${o.cluster}/${o.container}`);
  set("node-labels", labels);
  join.setIn(["nodeRegistration", "name"], o.container);
  join.setIn(["discovery", "bootstrapToken", "token"], o.token);
  join.deleteIn(["controlPlane"]);
  return docs.map((d) => d.toString().replace(/^---\n/, "")).join("---\n");
}

export class KindProvider implements ClusterProvider {
  readonly kind = "kind";
  readonly apiPort = KIND_API_PORT;
  /** Kind made the "kind" network for this cluster (see KindOptions.ownsNetwork). */
  private ownsNetwork: boolean;
  /** The nodes `create` was given (their container names follow from them). */
  private created: readonly NodeSpec[] = [];
  /** While `kind create cluster` runs: its process (group leader) and its config's folder. */
  private creating: { pid: string; configDir: string } | undefined;
  constructor(
    readonly name: string,
    readonly options: KindOptions = {},
    private readonly runtime: Runtime,
  ) {
    this.ownsNetwork = options.ownsNetwork ?? false;
    if (!KIND_CLUSTER_NAME.test(name)) {
      throw new KindaError(`${JSON.stringify(name)} is not a Kind cluster name`, { hint: `use ${KIND_CLUSTER_NAME_RULE}` });
    }
  }

  private get bin(): string {
    return this.options.kindBinary ?? process.env["KINDA_KIND"] ?? "kind";
  }

  hostPrograms(): HostProgram[] {
    return [...programsFor(["kind"]), kindProgram(this.bin)];
  }

  async preflight(): Promise<void> {
    await this.ensureKind();
  }

  async exists(): Promise<boolean> {
    await this.ensureKind();
    const out = await runChecked([this.bin, "get", "clusters"]);
    return out.split("\n").some((l) => l.trim() === this.name);
  }

  private async ensureKind(): Promise<void> {
    const r = await run([this.bin, "version"]).catch(() => undefined);
    if (!r || r.exitCode !== 0) {
      throw new KindaError(`the kind CLI was not found (${this.bin})`, {
        hint: "install Kind (e.g. `go install sigs.k8s.io/kind@v0.30.0`, then put ~/go/bin on PATH) or set KINDA_KIND to its path",
      });
    }
  }

  private get wave(): number {
    return positiveInt(this.options.wave ?? process.env["KINDA_KIND_WAVE"], "KINDA_KIND_WAVE", DEFAULT_KIND_WAVE);
  }

  private get joinParallel(): number {
    return positiveInt(this.options.joinParallel ?? process.env["KINDA_JOIN_PARALLEL"], "KINDA_JOIN_PARALLEL", DEFAULT_JOIN_PARALLEL);
  }

  /** The nodes `kind create cluster` makes (and `started` reports while it runs): the control planes and the first wave. */
  firstWave(nodes: readonly NodeSpec[]): NodeSpec[] {
    return splitWaves(nodes, this.wave).kind;
  }

  /**
   * Creates the cluster in waves: `kind create cluster` makes the control planes and the first
   * wave of workers; then kinda makes the later workers' containers from the same node image
   * (Kind's `docker run` arguments and labels), lets the caller link them (`attachLater`: they
   * join on their emulated addresses), and joins them a few at a time with the configuration
   * Kind wrote into its workers, each join retried after a `kubeadm reset`. (Made while Kind
   * runs, Kind would find them by its cluster label and join them all at once itself.)
   */
  async create(nodes: readonly NodeSpec[], opts: CreateOptions): Promise<void> {
    this.created = nodes;
    await this.ensureKind();
    await this.runtime.ping();
    const { kind: first, later } = splitWaves(nodes, this.wave);
    const dir = mkdtempSync(join(tmpdir(), "kinda-kind-"));
    const cfg = join(dir, "kind.yaml");
    const lean = this.options.lean ?? process.env["KINDA_KIND_LEAN"] === "1";
    writeFileSync(cfg, kindConfigYaml(first, opts.podCidr, { ...this.options, lean }, opts.identity));
    const argv = [this.bin, "create", "cluster", "--name", this.name, "--config", cfg, "--wait", "5m"];
    const hadNetwork = await this.networkExists();
    if (this.options.image) argv.push("--image", this.options.image);
    try {
      await this.runKind(argv, dir, opts);
      if (later.length) await this.addLater(later, kindContainerNames(this.name, nodes), opts);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      // also when creation failed halfway: the failed build's clean-up removes what Kind made
      if (!hadNetwork && (await this.networkExists())) this.ownsNetwork = true;
    }
  }

  /**
   * `kind create cluster` in its own process group (detached), so that it and the `docker run`s
   * it starts can be stopped together; recorded (opts.record) as soon as it runs.
   */
  private runKind(argv: string[], configDir: string, opts: CreateOptions): Promise<void> {
    return new Promise<void>((res, rej) => {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], detached: true });
      const start = child.pid !== undefined ? processStart(child.pid) : undefined;
      if (child.pid !== undefined && start !== undefined) {
        this.creating = { pid: `${child.pid}:${start}`, configDir };
        opts.record?.();
      }
      let tail = "";
      const onData = (c: Buffer) => {
        const text = c.toString();
        tail = (tail + text).slice(-4000);
        for (const line of text.split("\n")) if (line.trim()) opts.onOutput?.(line.trim());
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      const abort = () => {
        try {
          process.kill(-child.pid!, "SIGTERM");
        } catch {
          child.kill("SIGTERM");
        }
      };
      opts.signal?.addEventListener("abort", abort);
      child.on("error", (e) => {
        this.creating = undefined;
        rej(e);
      });
      child.on("close", (code) => {
        this.creating = undefined;
        opts.signal?.removeEventListener("abort", abort);
        if (code === 0) res();
        // Kind's own words when another `kind create` of this name got there first
        else if (/already exist for a cluster with the name/.test(tail))
          rej(new ClusterExistsError(`a Kind cluster named ${this.name} was created by someone else meanwhile; kinda leaves it alone`));
        else rej(new KindaError(`kind create cluster --name ${this.name} failed (exit ${code}):\n${tail.trim()}`));
      });
    });
  }

  /** The later workers: containers made (a few at a time), linked by the caller, then joined. */
  private async addLater(later: NodeSpec[], names: Map<string, string>, opts: CreateOptions): Promise<void> {
    const [cp] = await this.kindNodes("control-plane");
    const image = this.options.image ?? (cp && (await this.runtime.inspect(cp.id))?.image);
    if (!image) throw new KindaError(`cannot tell the node image of Kind cluster ${this.name}`);
    const t = performance.now();
    const facts: NodeFacts[] = [];
    await pool(later, this.joinParallel + 1, async (n) => {
      if (opts.signal?.aborted) throw new KindaError("interrupted");
      facts.push(await this.createNode(n, { container: names.get(n.name)!, image }));
    });
    opts.onOutput?.(`kinda: made ${later.length} more node containers (${((performance.now() - t) / 1000).toFixed(1)} s)`);
    const order = new Map(later.map((n, i) => [n.name, i]));
    facts.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
    await opts.attachLater?.(facts);
    await this.joinLater(facts, opts);
  }

  /** kubeadm join of the later workers, `joinParallel` at a time, with one token and Kind's worker configuration. */
  private async joinLater(later: NodeFacts[], opts: CreateOptions): Promise<void> {
    const material = await this.joinMaterial();
    let done = 0;
    await pool(later, this.joinParallel, async (n) => {
      if (opts.signal?.aborted) throw new KindaError("interrupted");
      const t = performance.now();
      await this.join(n, { nodeIp: opts.identity?.addresses[n.name] ?? n.internalIp, ...material }, opts.onOutput);
      done++;
      opts.onOutput?.(`kinda: ${n.container} joined (${((performance.now() - t) / 1000).toFixed(1)} s; ${done} of ${later.length})`);
    });
  }

  /**
   * The kind binary that made the cluster (as a path), so that `down` from another shell, where
   * KINDA_KIND or PATH may differ, deletes it with Kind (which also removes its kubeconfig entries).
   */
  stateOptions(): Record<string, string> {
    const bin = findProgram(this.bin);
    return {
      ...(this.ownsNetwork ? { ownsNetwork: "1" } : {}),
      ...(bin ? { kindBinary: bin } : {}),
      ...(this.creating ? { createPid: this.creating.pid, configDir: this.creating.configDir } : {}),
    };
  }

  private async networkExists(): Promise<boolean> {
    return (await this.runtime.network(KIND_NETWORK)) !== undefined;
  }

  /** Removes the "kind" network when Kind made it for this cluster and nothing uses it any more. */
  private async removeOwnNetwork(): Promise<void> {
    if (!this.ownsNetwork) return;
    const net = await this.runtime.network(KIND_NETWORK);
    // another cluster (or anything else) still attached: the network is shared, leave it
    if (!net || net.containers) return;
    await this.runtime.removeNetwork(KIND_NETWORK);
  }

  async discover(nodes: readonly NodeSpec[]): Promise<NodeFacts[]> {
    const { KubeConfig, CoreV1Api } = await import("@kubernetes/client-node");
    const api = (await this.kubeConfig(KubeConfig)).makeApiClient(CoreV1Api);
    const list = await api.listNode();
    const byTopo = nodesFromApi(list.items as KubeNode[], nodes);
    const ipam = await this.kindNetwork();
    // Kind labels each node container with its cluster; the container is named after the node
    const containers = await this.runtime.list({ [KIND_CLUSTER_LABEL]: this.name });
    const facts: NodeFacts[] = [];
    // in the order Kind makes them, as `started` reports them: an early attach planned the
    // nodes' tunnel addresses and MACs by that order, and the full plan must give the same ones
    for (const n of kindOrder(nodes)) {
      const k = byTopo.get(n.name);
      if (!k) throw new KindaError(`Kind cluster ${this.name} has no node labelled ${NAME_LABEL}=${n.name}`);
      if (!k.internalIp) throw new KindaError(`Kubernetes node ${k.k8sName} has no IPv4 InternalIP yet`);
      const mine = containers.find((c) => c.name === k.k8sName);
      if (!mine) throw new KindaError(`no container labelled ${KIND_CLUSTER_LABEL}=${this.name} is named ${k.k8sName}`);
      const c = await this.onKindNetwork(mine.id);
      if (!c) throw new KindaError(`the container of Kubernetes node ${k.k8sName} is not running on Docker network "kind"`);
      facts.push({ name: n.name, role: n.role, k8sName: k.k8sName, ...c, ...providerNet(ipam), podCidrs: k.podCidrs });
    }
    return facts;
  }

  /** Every node's container running (found by the name Kind gives it), before Kubernetes is on it. */
  async started(nodes: readonly NodeSpec[]): Promise<NodeFacts[] | undefined> {
    const names = kindContainerNames(this.name, nodes);
    const containers = await this.runtime.list({ [KIND_CLUSTER_LABEL]: this.name });
    const ipam = await this.kindNetwork().catch(() => undefined);
    if (!ipam) return undefined;
    const facts: NodeFacts[] = [];
    for (const n of kindOrder(nodes)) {
      const mine = containers.find((c) => c.name === names.get(n.name));
      const c = mine && (await this.onKindNetwork(mine.id));
      if (!c) return undefined;
      facts.push({ name: n.name, role: n.role, k8sName: c.container, ...c, ...providerNet(ipam), podCidrs: [] });
    }
    return facts;
  }

  /**
   * With an emulated identity: the load balancer (several control planes) forwards to the
   * control planes' emulated addresses, and Kind's CNI (kindnet) uses the emulated API endpoint.
   */
  async adoptIdentity(identity: Identity): Promise<void> {
    if (identity.backends) await this.pointLoadBalancer(identity.backends);
    await this.pointKindnet(identity);
  }

  /**
   * Kind configures its load balancer's backends by node name (Docker's DNS: their Kind
   * addresses); they become the emulated addresses: Kind's configuration with fixed servers,
   * written as Kind writes it (`cp /dev/stdin`: the image has no shell) and reloaded (SIGHUP).
   */
  private async pointLoadBalancer(backends: Record<string, string>): Promise<void> {
    const lb = await this.discoverLoadBalancer();
    if (!lb) throw new KindaError(`Kind cluster ${this.name} has several control planes but no load balancer container`);
    const names = kindContainerNames(this.name, this.created);
    const servers = Object.fromEntries(Object.entries(backends).map(([node, at]) => [names.get(node) ?? node, at]));
    for (const [argv, input] of [
      [["cp", "/dev/stdin", KIND_LB_CONFIG], haproxyConfig(servers)],
      [["kill", "-s", "HUP", "1"], undefined],
    ] as const) {
      const r = await this.runtime.exec(lb.containerId, [...argv], input === undefined ? {} : { input });
      if (r.exitCode !== 0) throw new KindaError(`${lb.container}: ${argv.join(" ")} failed (${r.exitCode}): ${r.output.trim()}`);
    }
  }

  /**
   * Kind's CNI (kindnet) is told the API endpoint by the control plane's name on Kind's network;
   * with an emulated identity it gets the emulated endpoint instead (its pods restart).
   */
  private async pointKindnet(identity: Identity): Promise<void> {
    const { KubeConfig, AppsV1Api } = await import("@kubernetes/client-node");
    const apps = (await this.kubeConfig(KubeConfig)).makeApiClient(AppsV1Api);
    const at = { name: "kindnet", namespace: "kube-system" };
    // Read, change, replace: the DaemonSet controller updates the object meanwhile (its status,
    // at start-up), so a replace can meet a newer resourceVersion (409 Conflict); read it again
    // and retry, as client-go's RetryOnConflict does.
    for (let attempt = 1; ; attempt++) {
      // a node image whose CNI is not Kind's kindnet (or a stand-in without the variable): nothing to move
      const ds = await apps.readNamespacedDaemonSet(at).catch((e: unknown) => {
        if ((e as { code?: number }).code === 404) return undefined;
        throw e;
      });
      if (!ds) return;
      const env = ds.spec?.template.spec?.containers[0]?.env ?? [];
      const ep = env.find((e) => e.name === "CONTROL_PLANE_ENDPOINT");
      if (!ep || ep.value === identity.apiEndpoint) return;
      ep.value = identity.apiEndpoint;
      try {
        await apps.replaceNamespacedDaemonSet({ ...at, body: ds });
        return;
      } catch (e) {
        if ((e as { code?: number }).code !== 409 || attempt >= CONFLICT_RETRIES) throw e;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }

  async kubeconfig(): Promise<string> {
    return runChecked([this.bin, "get", "kubeconfig", "--name", this.name]);
  }

  private async kubeConfig<T extends { loadFromString(s: string): void }>(KubeConfig: new () => T): Promise<T> {
    const kc = new KubeConfig();
    kc.loadFromString(await runChecked([this.bin, "get", "kubeconfig", "--name", this.name]));
    return kc;
  }

  /** A running container's PID and address on Kind's network; undefined when it has none (yet). */
  private async onKindNetwork(
    id: string,
  ): Promise<{ container: string; containerId: string; pid: number; internalIp: string } | undefined> {
    const c = await this.runtime.inspect(id).catch(() => undefined);
    const ip = c?.networks?.[KIND_NETWORK];
    if (!c?.running || !c.pid || !ip) return undefined;
    return { container: c.name, containerId: c.id, pid: c.pid, internalIp: ip };
  }

  /** Kind's Docker network: its IPv4 range and gateway. */
  private async kindNetwork(): Promise<{ subnet: string; gateway: string }> {
    const net = await this.runtime.network(KIND_NETWORK);
    const ipam = net?.ipv4.find((c) => c.gateway);
    if (!ipam?.gateway) {
      throw new KindaError(`Docker network "kind" has no IPv4 subnet with a gateway`, {
        hint: "kinda needs Kind's IPv4 network (remove the network with docker network rm kind when no cluster uses it; Kind recreates it)",
      });
    }
    return { subnet: ipam.subnet, gateway: ipam.gateway };
  }

  /** Kind creates its external load balancer when the cluster has more than one control plane. */
  hasLoadBalancer(nodes: readonly NodeSpec[]): boolean {
    return nodes.filter((n) => n.role === "control-plane").length > 1;
  }

  async discoverLoadBalancer(): Promise<LoadBalancerFacts | undefined> {
    const found = await this.runtime.list({ [KIND_CLUSTER_LABEL]: this.name, [KIND_ROLE_LABEL]: KIND_LB_ROLE });
    if (found.length === 0) return undefined;
    if (found.length > 1) throw new KindaError(`Kind cluster ${this.name} has ${found.length} load balancer containers`);
    const c = await this.runtime.inspect(found[0]!.id);
    if (!c?.running) throw new KindaError(`the load balancer container ${found[0]!.name} of Kind cluster ${this.name} is not running`);
    const ip = c.networks?.[KIND_NETWORK];
    if (!ip) throw new KindaError(`the load balancer container ${found[0]!.name} has no address on Docker network "kind"`);
    const ipam = await this.kindNetwork();
    return {
      name: LOAD_BALANCER,
      role: "load-balancer",
      container: found[0]!.name,
      containerId: c.id,
      pid: c.pid,
      internalIp: ip,
      providerCidr: ipam.subnet,
      providerGateway: ipam.gateway,
      providerIf: "eth0",
      apiPort: KIND_API_PORT,
    };
  }

  /** The container of a node Kind made (control plane first, for the admin commands). */
  private async kindNodes(role: "control-plane" | "worker") {
    return (await this.runtime.list({ [KIND_CLUSTER_LABEL]: this.name, [KIND_ROLE_LABEL]: role })).filter((c) => c.running);
  }

  private async execOk(id: string, argv: string[], what: string, input?: string): Promise<string> {
    const r = await this.runtime.exec(id, argv, input === undefined ? {} : { input });
    if (r.exitCode !== 0)
      throw new KindaError(`${what} failed (exit ${r.exitCode}):\n${r.output.trim().split("\n").slice(-15).join("\n")}`);
    return r.output;
  }

  async createNode(node: NodeSpec, o: { container?: string; image?: string } = {}): Promise<NodeFacts> {
    const container = o.container ?? `${this.name}-${node.name}`;
    if (await this.runtime.inspect(container)) throw new KindaError(`a container named ${container} exists already`);
    let image = o.image ?? this.options.image;
    if (!image) {
      const [cp] = await this.kindNodes("control-plane");
      if (!cp) throw new KindaError(`Kind cluster ${this.name} has no running control plane`);
      image = (await this.runtime.inspect(cp.id))?.image;
    }
    if (!image) throw new KindaError(`cannot tell the node image of Kind cluster ${this.name}`);
    await runChecked(["docker", ...kindNodeRunArgs(this.name, container, image)]);
    const ipam = await this.kindNetwork();
    for (let i = 0; i < 150; i++) {
      const c = await this.onKindNetwork(container);
      if (c) return { name: node.name, role: node.role, k8sName: c.container, ...c, ...providerNet(ipam), podCidrs: [] };
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new KindaError(`node container ${container} did not come up on Docker network "kind"`);
  }

  /** A join token (made on the first control plane) and the kubeadm configuration Kind wrote into one of its workers. */
  private async joinMaterial(exclude?: string): Promise<{ token: string; conf: string }> {
    const [cp] = await this.kindNodes("control-plane");
    if (!cp) throw new KindaError(`Kind cluster ${this.name} has no running control plane`);
    const token = (await this.execOk(cp.id, ["kubeadm", "token", "create", "--ttl", "2h"], "kubeadm token create")).trim();
    // a worker Kind made holds the file; those kinda made (later waves, added nodes) may not yet
    const from = [...(await this.kindNodes("worker")).filter((c) => c.name !== exclude), cp];
    for (const c of from) {
      const r = await this.runtime.exec(c.id, ["cat", "/kind/kubeadm.conf"]);
      if (r.exitCode === 0 && /JoinConfiguration/.test(r.output)) return { token, conf: r.output };
    }
    throw new KindaError(`no node of Kind cluster ${this.name} holds Kind's /kind/kubeadm.conf`);
  }

  async joinNode(node: NodeFacts, opts: { nodeIp: string }): Promise<void> {
    await this.join(node, { nodeIp: opts.nodeIp, ...(await this.joinMaterial(node.container)) });
  }

  /**
   * kubeadm join as Kind's own joins run it, retried: a join that fails on a loaded host (a
   * short fixed wait of kubeadm's expiring) is reset (`kubeadm reset -f`) and run again, up to
   * JOIN_ATTEMPTS times; the last failure is the error.
   */
  private async join(
    node: { name: string; container: string; containerId: string },
    o: { nodeIp: string; token: string; conf: string },
    say?: (line: string) => void,
  ): Promise<void> {
    const cfg = joinConfigFor(o.conf, {
      cluster: this.name,
      container: node.container,
      topoName: node.name,
      nodeIp: o.nodeIp,
      token: o.token,
    });
    // systemd brings containerd up in the new container: wait for it as Kind's node image does
    for (let i = 0; ; i++) {
      const r = await this.runtime.exec(node.containerId, ["systemctl", "is-active", "containerd"]);
      if (r.exitCode === 0) break;
      if (i > 300) throw new KindaError(`containerd did not start in ${node.container}: ${r.output.trim()}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    await this.execOk(node.containerId, ["mkdir", "-p", "/kind"], "mkdir /kind");
    await this.execOk(node.containerId, ["cp", "/dev/stdin", "/kind/kubeadm.conf"], "writing /kind/kubeadm.conf", cfg);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.execOk(
          node.containerId,
          ["kubeadm", "join", "--config", "/kind/kubeadm.conf", "--skip-phases=preflight", "--v=2"],
          `kubeadm join on ${node.container}`,
        );
        return;
      } catch (e) {
        if (attempt >= JOIN_ATTEMPTS) throw e;
        say?.(`kinda: kubeadm join on ${node.container} failed (attempt ${attempt} of ${JOIN_ATTEMPTS}), resetting and retrying`);
        await this.runtime.exec(node.containerId, ["kubeadm", "reset", "-f"]);
        await new Promise((r) => setTimeout(r, 2000 * attempt));
      }
    }
  }

  async removeNode(node: { name: string; k8sName: string; container: string }, opts: { drain: boolean }): Promise<void> {
    const [cp] = await this.kindNodes("control-plane");
    if (cp) {
      // Kind sets KUBECONFIG=/etc/kubernetes/admin.conf in its control planes
      if (opts.drain)
        await this.execOk(
          cp.id,
          ["kubectl", "drain", node.k8sName, "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout=180s"],
          `kubectl drain ${node.k8sName}`,
        );
      await this.execOk(cp.id, ["kubectl", "delete", "node", node.k8sName, "--ignore-not-found"], `kubectl delete node ${node.k8sName}`);
    }
    const c = await this.runtime.inspect(node.container);
    if (c) await this.runtime.remove(c.id);
  }

  async delete(): Promise<void> {
    const stopped = await this.stopCreate();
    const r = await run([this.bin, "delete", "cluster", "--name", this.name]).catch((e: Error) => e);
    if (r instanceof Error) {
      // no kind CLI (any more): remove the cluster's containers as kind would, found by its label
      const cs = await this.runtime.list({ [KIND_CLUSTER_LABEL]: this.name });
      await Promise.all(cs.map((c) => this.runtime.remove(c.id)));
      const left = await this.runtime.list({ [KIND_CLUSTER_LABEL]: this.name });
      if (left.length)
        throw new KindaError(`the kind CLI (${this.bin}) is not runnable and ${left.length} containers of ${this.name} stay`);
    } else if (r.exitCode !== 0) {
      throw new KindaError(`kind delete cluster --name ${this.name} failed: ${r.stderr.trim()}`);
    }
    if (stopped) await this.sweepLate();
    this.removeConfigDir();
    await this.removeOwnNetwork();
  }

  /**
   * Stops the `kind create cluster` the state recorded when it still runs (the same PID and start
   * time, its own arguments): the `up` that ran it died. True when it was stopped.
   */
  private async stopCreate(): Promise<boolean> {
    const m = /^(\d+):(\d+)$/.exec(this.options.createPid ?? "");
    if (!m) return false;
    const pid = Number(m[1]);
    if (processStart(pid) !== m[2]) return false;
    const args = processArgs(pid);
    const i = args.indexOf("create");
    if (i < 0 || args[i + 1] !== "cluster" || args[args.indexOf("--name") + 1] !== this.name) return false;
    const alive = await killGroup(pid);
    if (alive.length)
      throw new KindaError(
        `kind create cluster --name ${this.name} (pid ${pid}) of an earlier up still runs after SIGKILL: ${alive.join(", ")}`,
      );
    return true;
  }

  /**
   * After a stopped `kind create`: a node container whose `docker run` the engine was still
   * carrying out appears after Kind's delete listed the cluster; looked for twice and removed.
   */
  private async sweepLate(): Promise<void> {
    for (const wait of [1000, 2000]) {
      await new Promise((r) => setTimeout(r, wait));
      const cs = await this.runtime.list({ [KIND_CLUSTER_LABEL]: this.name });
      await Promise.all(cs.map((c) => this.runtime.remove(c.id)));
    }
  }

  /** The config folder of a `kind create` whose `up` died (it removes its own otherwise): kind.yaml, then the folder. */
  private removeConfigDir(): void {
    const dir = this.options.configDir;
    if (!dir || !/^kinda-kind-[A-Za-z0-9]{6}$/.test(basename(dir))) return;
    rmSync(join(dir, "kind.yaml"), { force: true });
    try {
      rmdirSync(dir);
    } catch {
      // gone, or not only kind's config in it: left
    }
  }
}

function providerNet(ipam: { subnet: string; gateway: string }) {
  return { providerCidr: ipam.subnet, providerGateway: ipam.gateway, providerIf: "eth0" };
}

/** Runs `f` over `items`, at most `n` at once; the first failure is the error (the others finish first). */
export async function pool<T>(items: readonly T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length) {
      const x = items[next++]!;
      try {
        await f(x);
      } catch (e) {
        errors.push(e);
        next = items.length; // no new ones; those under way finish
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (errors.length) throw errors[0];
}
