/**
 * The Kind provider: writes Kind's cluster config from the node list, runs `kind create cluster`
 * (which merges the kubeconfig, so kubectl works afterwards), finds node containers by Kind's
 * labels and reads node names, InternalIPs and pod CIDRs through the Kubernetes API. With several
 * control planes Kind adds an external load balancer (haproxy) in front of their API servers;
 * it is found by Kind's labels too.
 */
import { findProgram, kindProgram, programsFor, type HostProgram } from "../core/host.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { stringify } from "yaml";
import { KindaError } from "../core/errors.js";
import { run, runChecked } from "../net/exec.js";
import type { Runtime } from "../model/container.js";
import {
  KIND_CLUSTER_NAME,
  KIND_CLUSTER_NAME_RULE,
  LOAD_BALANCER,
  type LoadBalancerFacts,
  type NodeFacts,
  type NodeSpec,
} from "../model/cluster.js";
import { ClusterExistsError, type ClusterProvider, type CreateOptions, type ProviderFactory } from "../model/provider.js";

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
 * identity: the kubelet's node IP, and joining through the emulated API endpoint; the first
 * control plane also advertises its API server there, which puts etcd's URLs there too.
 */
function identityPatches(n: NodeSpec, first: boolean, id: Identity): string[] {
  const ip = id.addresses[n.name]!;
  const kubelet = { kubeletExtraArgs: { "node-ip": ip } };
  const join = {
    kind: "JoinConfiguration",
    nodeRegistration: kubelet,
    discovery: { bootstrapToken: { apiServerEndpoint: id.apiEndpoint } },
  };
  const init = { kind: "InitConfiguration", localAPIEndpoint: { advertiseAddress: ip }, nodeRegistration: kubelet };
  return (first ? [init, join] : [join]).map((p) => stringify(p));
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
  const patches = [...(opts.kubeadmConfigPatches ?? []), ...(identity ? [identityClusterPatch(identity)] : [])];
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

export class KindProvider implements ClusterProvider {
  readonly kind = "kind";
  readonly apiPort = KIND_API_PORT;
  /** Kind made the "kind" network for this cluster (see KindOptions.ownsNetwork). */
  private ownsNetwork: boolean;
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

  async create(nodes: readonly NodeSpec[], opts: CreateOptions): Promise<void> {
    await this.ensureKind();
    await this.runtime.ping();
    const dir = mkdtempSync(join(tmpdir(), "kinda-kind-"));
    const cfg = join(dir, "kind.yaml");
    writeFileSync(cfg, kindConfigYaml(nodes, opts.podCidr, this.options, opts.identity));
    const argv = [this.bin, "create", "cluster", "--name", this.name, "--config", cfg, "--wait", "5m"];
    const hadNetwork = await this.networkExists();
    if (this.options.image) argv.push("--image", this.options.image);
    try {
      await new Promise<void>((res, rej) => {
        const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
        let tail = "";
        const onData = (c: Buffer) => {
          const text = c.toString();
          tail = (tail + text).slice(-4000);
          for (const line of text.split("\n")) if (line.trim()) opts.onOutput?.(line.trim());
        };
        child.stdout.on("data", onData);
        child.stderr.on("data", onData);
        const abort = () => child.kill("SIGTERM");
        opts.signal?.addEventListener("abort", abort);
        child.on("error", rej);
        child.on("close", (code) => {
          opts.signal?.removeEventListener("abort", abort);
          if (code === 0) res();
          // Kind's own words when another `kind create` of this name got there first
          else if (/already exist for a cluster with the name/.test(tail))
            rej(new ClusterExistsError(`a Kind cluster named ${this.name} was created by someone else meanwhile; kinda leaves it alone`));
          else rej(new KindaError(`kind create cluster --name ${this.name} failed (exit ${code}):\n${tail.trim()}`));
        });
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      // also when creation failed halfway: the failed build's clean-up removes what Kind made
      if (!hadNetwork && (await this.networkExists())) this.ownsNetwork = true;
    }
  }

  /**
   * The kind binary that made the cluster (as a path), so that `down` from another shell, where
   * KINDA_KIND or PATH may differ, deletes it with Kind (which also removes its kubeconfig entries).
   */
  stateOptions(): Record<string, string> {
    const bin = findProgram(this.bin);
    return { ...(this.ownsNetwork ? { ownsNetwork: "1" } : {}), ...(bin ? { kindBinary: bin } : {}) };
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
    for (const n of nodes) {
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
    for (const n of nodes) {
      const mine = containers.find((c) => c.name === names.get(n.name));
      const c = mine && (await this.onKindNetwork(mine.id));
      if (!c) return undefined;
      facts.push({ name: n.name, role: n.role, k8sName: c.container, ...c, ...providerNet(ipam), podCidrs: [] });
    }
    return facts;
  }

  /**
   * Kind's CNI (kindnet) is told the API endpoint by the control plane's name on Kind's network;
   * with an emulated identity it gets the emulated endpoint instead (its pods restart).
   */
  async adoptIdentity(identity: Identity): Promise<void> {
    const { KubeConfig, AppsV1Api } = await import("@kubernetes/client-node");
    const apps = (await this.kubeConfig(KubeConfig)).makeApiClient(AppsV1Api);
    // a node image whose CNI is not Kind's kindnet (or a stand-in without the variable): nothing to move
    const ds = await apps.readNamespacedDaemonSet({ name: "kindnet", namespace: "kube-system" }).catch(() => undefined);
    if (!ds) return;
    const env = ds.spec?.template.spec?.containers[0]?.env ?? [];
    const ep = env.find((e) => e.name === "CONTROL_PLANE_ENDPOINT");
    if (!ep || ep.value === identity.apiEndpoint) return;
    ep.value = identity.apiEndpoint;
    await apps.replaceNamespacedDaemonSet({ name: "kindnet", namespace: "kube-system", body: ds });
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

  async delete(): Promise<void> {
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
    await this.removeOwnNetwork();
  }
}

function providerNet(ipam: { subnet: string; gateway: string }) {
  return { providerCidr: ipam.subnet, providerGateway: ipam.gateway, providerIf: "eth0" };
}

/** The factory that rebuilds a KindProvider from the options a lab state recorded (for `down`). */
export function kindFromState(runtime: Runtime): ProviderFactory {
  return (name, o) =>
    new KindProvider(
      name,
      {
        ...(o["image"] ? { image: o["image"] } : {}),
        ...(o["kindBinary"] ? { kindBinary: o["kindBinary"] } : {}),
        ...(o["ownsNetwork"] ? { ownsNetwork: true } : {}),
      },
      runtime,
    );
}
