/**
 * The manual cluster builder (the seed's flow): add nodes, connect each to a device of a lab
 * that is up, optionally give internet access through a device, then build: the provider
 * creates the nodes, kinda discovers them and plumbs them into the network. `destroy()` (or
 * `await using`) removes the cluster and everything kinda added for it.
 */
import { requirePrograms } from "../core/host.js";
import { InterruptedError, KindaError, TopologyError } from "../core/errors.js";
import { inNetns } from "../net/ip.js";
import { LABEL_DEVICE, LABEL_LAB, LABEL_MANAGED, LABEL_NIC, MANAGED_VALUE, nicName } from "../core/names.js";
import { removeNics, startNics } from "./nic.js";
import { deleteP4Entries, writeP4Entries } from "./p4.js";
import { runServices } from "./services.js";
import { nicImage } from "../plan/cluster/nic.js";
import type { Runtime } from "../model/container.js";
import type { ClusterState, LabState, StateStore } from "../state/store.js";
import { silentReporter, type Reporter } from "../core/reporter.js";
import { applyClusterPlan, removeHostSide, undoInDevices } from "./cluster-apply.js";
import { routePods } from "./reroute.js";
import { withNode, withoutPods } from "../plan/reroute.js";
import type { Route } from "../model/ops.js";
import { fdbDel, readArgv, takeBackOp } from "../plan/ops.js";
import type { KernelOp } from "../model/ops.js";
import type { Kernel } from "../model/kernel.js";
import {
  LOAD_BALANCER,
  type ClusterOptions,
  type DeviceFacts,
  type HostConnection,
  type LoadBalancerFacts,
  type NodeFacts,
  type NodeLink,
  type NodeRole,
  type NodeSpec,
} from "../model/cluster.js";
import { DEFAULT_API_PORT, DEFAULT_POD_CIDR } from "../core/defaults.js";
import {
  emulatedIdentity,
  handOverLoadBalancer,
  optionsForNodes,
  planCluster,
  recordedIndexes,
  withAddedNode,
  withoutNode,
  subtractPlan,
  validateLinks,
  type ClusterPlan,
  type NodeIdentity,
} from "../plan/cluster.js";
import { ClusterExistsError, type ClusterProvider, type ProviderLookup } from "../model/provider.js";

export interface BuilderDeps {
  runtime: Runtime;
  store: StateStore;
  /** The kernel the plumbing goes through (the environment's: app/root.ts createEnv). */
  kernel: Kernel;
  reporter?: Reporter;
  /** Recorded so that `kinda down` can rebuild the provider (e.g. Kind's image). */
  providerOptions?: Record<string, string>;
  /**
   * PATH in which the host programs that attaching nodes runs must be (default: the process's).
   * Unit tests with a fake runtime and provider, which run no host program, give their own.
   */
  hostPath?: string;
  /** Image substitutions for the nodes' smart NICs (as for the lab's devices). */
  imageMap?: Record<string, string>;
  /** The caller (app/up.ts) has checked the host programs of the lab and its cluster already, all at once. */
  hostChecked?: boolean;
  /**
   * How long attaching the nodes early may go on after the provider's create has returned (the
   * nodes exist then; default 120 s, or $KINDA_ATTACH_TIMEOUT seconds): past it the build fails
   * and removes what it made, instead of waiting for ever.
   */
  attachDeadlineMs?: number;
}

/** The early attach did not finish within its deadline after the provider created the nodes. */
export class AttachDeadlineError extends KindaError {
  override name = "AttachDeadlineError";
}

/** $KINDA_ATTACH_TIMEOUT: seconds the early attach may take after the provider created the nodes (default 120). */
export function attachDeadlineMs(v = process.env["KINDA_ATTACH_TIMEOUT"]): number {
  if (v === undefined || v === "") return 120_000;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new KindaError(`KINDA_ATTACH_TIMEOUT=${v} is not a number of seconds`);
  return n * 1000;
}

export interface BuildResult {
  nodes: NodeFacts[];
  /** The provider's API load balancer, when the cluster has one (attached when linked). */
  loadBalancer?: LoadBalancerFacts;
  plan: ClusterPlan;
  /**
   * provider: creating the nodes (with an emulated identity, attaching them meanwhile: `attach`
   * of it); plumbing: after creation (discovery, the rest of the plan).
   */
  seconds: { provider: number; plumbing: number; attach?: number };
}

interface IpLink {
  ifname: string;
  linkinfo?: { info_kind?: string };
}
export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  metric?: number;
  flags?: string[];
}

/** `ip -j route` output as a route that re-creates it (kernel-only flags dropped). */
export function routeOf(r: IpRoute | undefined): Route | undefined {
  if (!r?.dev) return undefined;
  return {
    dst: r.dst,
    ...(r.gateway ? { via: r.gateway } : {}),
    dev: r.dev,
    ...(r.protocol && r.protocol !== "boot" ? { proto: r.protocol } : {}),
    ...(r.metric ? { metric: r.metric } : {}),
    ...(r.flags?.includes("onlink") ? { onlink: true } : {}),
  };
}

/** Devices of a lab that is up, with PIDs, present interfaces, bridges and default route. */
export async function discoverDevices(
  lab: string,
  runtime: Runtime,
  kernel: Pick<Kernel, "run">,
  state?: LabState,
): Promise<DeviceFacts[]> {
  // a lab kinda attached to (Kathara's): its containers as recorded, not by kinda's labels
  const cs = state?.external
    ? state.devices.map((d) => ({ id: d.containerId ?? d.container, name: d.container, labels: { [LABEL_DEVICE]: d.name } }))
    : // a node's smart NIC is no device
      (await runtime.list({ [LABEL_MANAGED]: MANAGED_VALUE, [LABEL_LAB]: lab })).filter((c) => c.labels[LABEL_NIC] === undefined);
  return Promise.all(
    cs.map(async (c) => {
      const info = await runtime.inspect(c.id);
      if (!info?.running) throw new KindaError(`device ${c.labels[LABEL_DEVICE]} of lab ${lab} is not running`);
      const [links, routes] = await Promise.all([
        kernel.run(inNetns({ pid: info.pid }, readArgv({ read: "links", details: true }))),
        kernel.run(inNetns({ pid: info.pid }, readArgv({ read: "default-routes-v4" }))),
      ]);
      const ls = links.exitCode === 0 ? (JSON.parse(links.stdout || "[]") as IpLink[]) : [];
      const rs = routes.exitCode === 0 ? (JSON.parse(routes.stdout || "[]") as IpRoute[]) : [];
      const defaultRoute = routeOf(rs.find((x) => !x.metric));
      return {
        name: c.labels[LABEL_DEVICE] ?? c.name,
        container: c.name,
        pid: info.pid,
        interfaces: ls.map((l) => l.ifname),
        bridges: ls.filter((l) => l.linkinfo?.info_kind === "bridge").map((l) => l.ifname),
        ...(defaultRoute ? { defaultRoute } : {}),
      };
    }),
  );
}

export class ClusterBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly links: NodeLink[] = [];
  readonly options: ClusterOptions;
  private readonly runtime: Runtime;
  private readonly store: StateStore;
  readonly kernel: Kernel;
  private readonly reporter: Reporter;
  private built = false;
  /** Every node's tunnel index, given at build in the order the nodes were added (recorded with them). */
  private nodeIndex: Record<string, number> = {};

  constructor(
    readonly lab: string,
    readonly provider: ClusterProvider,
    options: ClusterOptions = {},
    private readonly deps: BuilderDeps,
  ) {
    this.options = { ...options };
    this.runtime = deps.runtime;
    this.store = deps.store;
    this.kernel = deps.kernel;
    this.reporter = deps.reporter ?? silentReporter;
  }

  addNode(name: string, role: NodeRole = "worker"): this {
    this.nodes.push({ name, role });
    return this;
  }

  /** The seed's connect_with_container (with `deviceBridge`, its as_bridge_in_container). */
  connect(link: NodeLink): this {
    this.links.push(link);
    return this;
  }

  /**
   * Links the provider's API load balancer into a device (or domain) like a node: Kind's
   * external load balancer, which exists when there are several control planes. With
   * `apiThroughNetwork`, the nodes' API traffic to it and its traffic to the API servers then
   * cross the network. The same as `connect({ node: LOAD_BALANCER, ... })`.
   */
  connectLoadBalancer(link: Omit<NodeLink, "node">): this {
    return this.connect({ ...link, node: LOAD_BALANCER });
  }

  /** The seed's enable_internet_access_via. */
  enableInternetAccessVia(device: string, hostRoutes?: string[]): this {
    this.options.internetVia = device;
    if (hostRoutes) this.options.hostRoutes = hostRoutes;
    return this;
  }

  /** The seed's establish_simple_host_connection: the host gets a link into a device. */
  connectHost(c: HostConnection): this {
    (this.options.hostConnections ??= []).push(c);
    return this;
  }

  private validateUpFront(devices: DeviceFacts[]): void {
    const issues = validateLinks({
      lab: this.lab,
      links: this.links,
      options: this.options,
      podCidr: DEFAULT_POD_CIDR,
      nodeNames: this.nodes.map((n) => n.name),
      loadBalancer: this.provider.hasLoadBalancer?.(this.nodes) ?? false,
      deviceNames: devices.map((d) => d.name),
      domainNames: this.store.read(this.lab)?.domains.map((d) => d.name) ?? [],
    });
    this.links.forEach((l, i) => {
      const d = devices.find((x) => x.name === l.device);
      if (d && l.deviceBridge && d.interfaces.includes(l.deviceBridge) && !d.bridges?.includes(l.deviceBridge))
        issues.push({
          field: `links[${i}].deviceBridge`,
          message: `${l.deviceBridge} exists in device ${d.name} and is not a Linux bridge`,
        });
    });
    const names = new Set<string>();
    for (const n of this.nodes) {
      if (names.has(n.name)) issues.push({ field: `node ${n.name}`, message: "is defined twice" });
      names.add(n.name);
      if (n.name === LOAD_BALANCER) issues.push({ field: `node ${n.name}`, message: "is the name links use for the API load balancer" });
      if (devices.some((d) => d.name === n.name)) issues.push({ field: `node ${n.name}`, message: "has the name of a device of the lab" });
    }
    if (!this.nodes.some((n) => n.role === "control-plane")) issues.push({ field: "nodes", message: "no control-plane node" });
    if (issues.length) throw new TopologyError(issues);
  }

  /** Creates the cluster and attaches it; on failure removes what it created. */
  /** The lab must be up without a cluster, the links valid, the host programs there, the name free. */
  private async checkBuildable(): Promise<{ state: LabState; devices: DeviceFacts[] }> {
    const state = this.store.read(this.lab);
    if (!state || state.phase !== "up") throw new KindaError(`lab ${this.lab} is not up`, { hint: `deploy it first (kinda up ...)` });
    if (state.cluster) throw new KindaError(`lab ${this.lab} already has a cluster (${state.cluster.name})`);
    const devices = await discoverDevices(this.lab, this.runtime, this.kernel, this.store.read(this.lab));
    this.validateUpFront(devices);
    if (!this.deps.hostChecked) requirePrograms(["cluster"], this.provider.hostPrograms?.() ?? [], this.deps.hostPath);
    await this.checkNicImages();
    if (await this.provider.exists?.()) {
      throw new KindaError(`a ${this.provider.kind} cluster named ${this.provider.name} already exists`, {
        hint: "kinda neither adopts nor deletes a cluster it did not create: pick another cluster name, or delete that one",
      });
    }
    return { state, devices };
  }

  /** Every smart NIC's image is present (named with its node and field), before anything is created. */
  private async checkNicImages(): Promise<void> {
    const withNic = this.links.filter((l) => l.nic);
    if (!withNic.length) return;
    const missing = new Set(await this.runtime.missingImages(withNic.map((l) => nicImage(l.nic!, this.deps.imageMap))));
    const issues = withNic
      .filter((l) => missing.has(nicImage(l.nic!, this.deps.imageMap)))
      .map((l) => ({
        field: `link ${l.node}--${l.device ?? l.domain} nic.image`,
        message: `image ${nicImage(l.nic!, this.deps.imageMap)} of ${nicName(l.node)} is not present locally; pull or build it, or substitute another with --image-map ${l.nic!.image}=IMAGE`,
      }));
    if (issues.length) throw new TopologyError(issues);
  }

  /** Starts the plan's smart NICs once their links exist (with the nodes' links, early or not). */
  async startNics(plan: ClusterPlan, nodes: NodeFacts[], state: LabState): Promise<void> {
    if (!plan.nics.length) return;
    const s = this.reporter.step(`starting ${plan.nics.length} smart NICs (${plan.nics.map((n) => nicName(n.node)).join(", ")})`);
    await startNics(this.lab, plan, nodes, state, {
      runtime: this.runtime,
      store: this.store,
      ...(this.deps.imageMap ? { imageMap: this.deps.imageMap } : {}),
    });
    s.done();
  }

  private initialClusterState(): ClusterState {
    return {
      provider: this.provider.kind,
      name: this.provider.name,
      providerOptions: { ...this.deps.providerOptions },
      phase: "creating",
      encapsulation: this.options.encapsulation ?? "vxlan",
      nodes: [],
      links: this.links.map((l) => ({
        node: l.node,
        nodeAddress: l.nodeAddress,
        ...(l.device ? { device: l.device } : {}),
        ...(l.domain ? { domain: l.domain } : {}),
      })),
      hostLinks: [],
    };
  }

  /** The provider creates and reports the nodes (and its load balancer); the state follows each step. */
  private async createNodes(
    state: LabState,
    cluster: ClusterState,
    signal: AbortSignal | undefined,
    early: EarlyAttach | undefined,
    identity: NodeIdentity | undefined,
  ) {
    const s1 = this.reporter.step(`creating ${this.nodes.length} Kubernetes nodes (${this.provider.kind})`);
    try {
      await this.createWhileAttaching(s1, early, identity, signal);
    } finally {
      Object.assign(cluster.providerOptions, this.provider.stateOptions?.());
      this.store.update(state);
    }
    s1.done();
    const created = performance.now();
    const nodes = inOrderOf(await this.provider.discover(this.nodes), early?.order);
    const loadBalancer = await this.provider.discoverLoadBalancer?.();
    cluster.nodes = nodes.map((n) => ({
      name: n.name,
      role: n.role,
      k8sName: n.k8sName,
      container: n.container,
      index: this.nodeIndex[n.name]!,
    }));
    if (loadBalancer) cluster.loadBalancer = { container: loadBalancer.container };
    this.store.update(state);
    return { nodes, loadBalancer, created };
  }

  /** Plans the plumbing, records its host links and device inverses, then applies it. */
  private async attach(
    state: LabState,
    cluster: ClusterState,
    devices: DeviceFacts[],
    nodes: NodeFacts[],
    loadBalancer: LoadBalancerFacts | undefined,
    identity: NodeIdentity | undefined,
    early: EarlyAttach | undefined,
  ) {
    const s2 = this.reporter.step(`attaching nodes to lab ${this.lab} (${cluster.encapsulation})`);
    const plan = this.plan(nodes, devices, state, loadBalancer, identity);
    cluster.hostLinks = plan.hostLinks;
    cluster.deviceUndo = plan.deviceUndo;
    for (const l of cluster.links ?? [])
      Object.assign(
        l,
        plan.linkIfs.find((x) => x.node === l.node),
      );
    this.store.update(state);
    // attached early: what is left are the pod CIDRs' routes
    await applyClusterPlan(early?.applied ? subtractPlan(plan, early.applied) : plan, this.kernel);
    if (!early?.applied) await this.startNics(plan, nodes, state);
    if (identity) await this.provider.adoptIdentity?.(identity);
    if (identity?.backends && loadBalancer) await applyClusterPlan(handOverLoadBalancer(plan, loadBalancer, nodes), this.kernel);
    const lbLinked = this.links.some((l) => l.node === LOAD_BALANCER);
    if (loadBalancer && !lbLinked && this.options.apiThroughNetwork) {
      this.reporter.warn(
        `${loadBalancer.container} is not linked: the nodes' API traffic to it crosses the Kind bridge ` +
          `(link it: a device of kind load-balancer, or connectLoadBalancer)`,
      );
    }
    await this.startDataPlanes(plan, state);
    // the pod ranges' routes follow a cut from now on (encapsulation none, static routing); the P4
    // switches' pod entries startDataPlanes wrote are there already (adding them again is a DUPLICATE_ENTRY)
    await routePods(
      state,
      Object.fromEntries(nodes.map((n) => [n.name, n.podCidrs])),
      { runtime: this.runtime, kernel: this.kernel },
      plan.p4Entries,
    );
    this.store.update(state);
    s2.done(`attached ${nodes.length} nodes${loadBalancer && lbLinked ? " and the load balancer" : ""} (${plan.size} operations)`);
    return plan;
  }

  /**
   * Data planes whose ports include node links start now that those interfaces exist (the
   * devices' "cluster" services); then the P4 switches get their entries for the pod CIDRs.
   */
  private async startDataPlanes(plan: ClusterPlan, state: LabState): Promise<void> {
    for (const d of state.devices)
      if (d.clusterServices?.length && d.containerId)
        await runServices(this.runtime, d.containerId, { name: d.name, services: d.clusterServices }, "cluster");
    if (!plan.p4Entries.length) return;
    const s = this.reporter.step(`writing the pod CIDRs' table entries in ${plan.p4Entries.map((p) => p.device).join(", ")}`);
    await writeP4Entries(
      this.runtime,
      plan,
      (name) => {
        const d = state.devices.find((x) => x.name === name);
        return d?.containerId ?? d?.container;
      },
      state.cluster?.deviceUndo ?? [],
      () => this.store.update(state),
    );
    s.done(`${plan.p4Entries.reduce((n, p) => n + p.entries.length, 0)} table entries`);
  }

  async build(opts: { signal?: AbortSignal } = {}): Promise<BuildResult> {
    const { state, devices } = await this.checkBuildable();
    const cluster = this.initialClusterState();
    state.cluster = cluster;
    // each node's tunnel index: its place in the order the provider makes them (Kind: control
    // planes, then workers), which every plan of the build (early attach, waves, full) then uses
    const first = this.provider.firstWave?.(this.nodes) ?? this.nodes;
    const made = [...first, ...this.nodes.filter((n) => !first.includes(n))];
    this.nodeIndex = Object.fromEntries(made.map((n, i) => [n.name, i]));
    this.store.update(state); // `down` can now find and delete the cluster, even after a crash
    const t0 = performance.now();
    // a provider that cannot tell when its nodes' containers (and its load balancer) run keeps its own addresses
    const found = this.provider.started
      ? emulatedIdentity(this.nodes, this.links, this.options, this.provider.apiPort ?? DEFAULT_API_PORT)
      : undefined;
    const identity = found?.backends && !this.provider.discoverLoadBalancer ? undefined : found;
    try {
      if (this.options.internetVia && !this.options.uplinkCidr) {
        // allocated and recorded (before attaching early plans with it), so two labs on one
        // machine never share a range
        this.options.uplinkCidr = cluster.uplinkCidr = this.store.claimUplink(this.lab);
        this.store.update(state);
      }
      const early = identity ? new EarlyAttach(this, devices, state, identity, () => this.store.update(state)) : undefined;
      const { nodes, loadBalancer, created: t1 } = await this.createNodes(state, cluster, opts.signal, early, identity);
      if (opts.signal?.aborted) throw new InterruptedError();
      const plan = await this.attach(state, cluster, devices, nodes, loadBalancer, identity, early);
      cluster.phase = "up";
      this.store.update(state);
      this.built = true;
      const seconds = {
        provider: (t1 - t0) / 1000,
        plumbing: (performance.now() - t1) / 1000,
        ...(early?.seconds !== undefined ? { attach: early.seconds } : {}),
      };
      return { nodes, ...(loadBalancer ? { loadBalancer } : {}), plan, seconds };
    } catch (e) {
      if (e instanceof ClusterExistsError) {
        // nothing was created yet, and that cluster is not kinda's: forget it, delete nothing
        delete state.cluster;
        this.store.update(state);
      } else {
        await destroyCluster(this.lab, { runtime: this.runtime, store: this.store, provider: this.provider, kernel: this.kernel }).catch(
          () => undefined,
        );
      }
      throw e;
    }
  }

  /** The plan for these facts (without pod CIDRs: what attaching early applies). */
  plan(
    nodes: NodeFacts[],
    devices: DeviceFacts[],
    state: { netns: string; domains: { name: string; bridge: string }[] } & Pick<LabState, "external">,
    loadBalancer?: LoadBalancerFacts,
    identity?: NodeIdentity,
  ): ClusterPlan {
    return planCluster({
      lab: this.lab,
      // the nodes made so far (a provider making them in waves): their links
      links: this.links.filter((l) => l.node === LOAD_BALANCER || nodes.some((n) => n.name === l.node)),
      nodes,
      ...(loadBalancer ? { loadBalancer } : {}),
      devices,
      options: optionsForNodes(
        this.options,
        nodes.map((n) => n.name),
      ),
      podCidr: DEFAULT_POD_CIDR,
      labNetns: state.netns,
      domains: state.domains,
      // a lab Kathara started: its collision domains are bridges in the host namespace
      ...(state.external ? { domainsInHost: true } : {}),
      ...(identity ? { emulatedIdentity: identity } : {}),
      nodeIndex: this.nodeIndex,
    });
  }

  /**
   * The provider creates the nodes; with an emulated identity kinda attaches them meanwhile, as
   * soon as their containers run, so that their addresses exist when kubeadm starts Kubernetes
   * on them. Either failing stops the other.
   */
  private async createWhileAttaching(
    step: { update(l: string): void },
    early: EarlyAttach | undefined,
    identity: NodeIdentity | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener("abort", onAbort);
    const attaching = early?.run(stop.signal).catch((e: unknown) => {
      stop.abort();
      throw e;
    });
    try {
      await this.provider.create(this.nodes, {
        podCidr: DEFAULT_POD_CIDR,
        signal: stop.signal,
        onOutput: (l) => step.update(l),
        ...(identity ? { identity } : {}),
        ...(early ? { attachLater: (later: NodeFacts[]) => early.later(later, attaching) } : {}),
      });
      await this.attachWithin(attaching, stop);
    } catch (e) {
      stop.abort();
      if (e instanceof AttachDeadlineError) {
        // a provider call that hangs is not waited for: the rollback removes the nodes under it
        attaching?.catch(() => undefined);
        throw e;
      }
      // the attach error says why creating stopped
      await attaching?.catch((a: unknown) => {
        throw a;
      });
      throw e;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Waits for the early attach once the provider has created the nodes, no longer than the
   * deadline: a provider whose nodes never show as started must not hold the build for ever.
   */
  private async attachWithin(attaching: Promise<void> | undefined, stop: AbortController): Promise<void> {
    if (!attaching) return;
    const ms = this.deps.attachDeadlineMs ?? attachDeadlineMs();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        stop.abort();
        reject(
          new AttachDeadlineError(
            `the ${this.provider.kind} provider created cluster ${this.provider.name}, but its nodes were not attached to lab ${this.lab} within ${ms / 1000} s`,
            { hint: "the nodes' containers never showed as started; see kinda status, or raise KINDA_ATTACH_TIMEOUT (seconds)" },
          ),
        );
      }, ms);
    });
    try {
      await Promise.race([attaching, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  async destroy(): Promise<void> {
    await destroyCluster(this.lab, { runtime: this.runtime, store: this.store, provider: this.provider, kernel: this.kernel });
    this.built = false;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.built) await this.destroy();
  }
}

/** Attaches the nodes while the provider creates them: links, routes and tunnels, no pod routes yet. */
class EarlyAttach {
  applied?: ClusterPlan;
  /** Seconds from the nodes' containers running to their links, routes and tunnels in place. */
  seconds?: number;
  constructor(
    private readonly builder: ClusterBuilder,
    private readonly devices: DeviceFacts[],
    private readonly state: LabState,
    private readonly identity: NodeIdentity,
    private readonly record: () => void,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const provider = this.builder.provider;
    if (!provider.started) throw new KindaError(`the ${provider.kind} provider cannot give nodes an emulated identity`);
    // a provider that makes nodes in waves: the first wave now, the others through `later`
    const wave = provider.firstWave?.(this.builder.nodes) ?? this.builder.nodes;
    for (;;) {
      if (signal.aborted) return;
      const nodes = await provider.started(wave);
      // with several control planes the API endpoint is the load balancer's: it is attached too
      const lb = nodes && this.identity.backends ? await provider.discoverLoadBalancer?.().catch(() => undefined) : undefined;
      if (nodes && (lb || !this.identity.backends)) {
        const t = performance.now();
        await this.apply(nodes, lb);
        this.nodes = nodes;
        this.lb = lb;
        this.seconds = (performance.now() - t) / 1000;
        return;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  private nodes: NodeFacts[] = [];
  private lb: LoadBalancerFacts | undefined;

  /** The nodes' names in the order their plan numbered them (tunnel addresses, MACs). */
  get order(): string[] | undefined {
    return this.applied ? this.nodes.map((n) => n.name) : undefined;
  }

  /** The plan for these nodes, less what was applied before; recorded first (for `down`), then applied. */
  private async apply(nodes: NodeFacts[], lb: LoadBalancerFacts | undefined, fresh?: readonly string[]): Promise<void> {
    const plan = this.builder.plan(nodes, this.devices, this.state, lb, this.identity);
    const cluster = this.state.cluster!;
    cluster.hostLinks = plan.hostLinks;
    cluster.deviceUndo = plan.deviceUndo;
    this.record();
    await applyClusterPlan(this.applied ? subtractPlan(plan, this.applied) : plan, this.builder.kernel);
    this.applied = plan;
    // the node's traffic crosses its NIC: in place before kubeadm starts Kubernetes
    await this.builder.startNics(fresh ? { ...plan, nics: plan.nics.filter((n) => fresh.includes(n.node)) } : plan, nodes, this.state);
  }

  /** The provider's later nodes (after its first wave), linked before they join; the first wave's attach is done first. */
  async later(nodes: NodeFacts[], running: Promise<void> | undefined): Promise<void> {
    await running;
    if (!this.applied) throw new KindaError("the provider's later nodes came before its first ones were attached");
    const t = performance.now();
    await this.apply(
      [...this.nodes, ...nodes],
      this.lb,
      nodes.map((n) => n.name),
    );
    this.nodes = [...this.nodes, ...nodes];
    this.seconds = (this.seconds ?? 0) + (performance.now() - t) / 1000;
  }
}

/**
 * The nodes in the order an early attach planned them. A plan without recorded indexes numbers
 * the nodes (tunnel addresses, MACs) by their place in its list, so the full plan, subtracted from
 * the early one, had to list them the same way, else a node got a second tunnel address and routed
 * through its own (CI found it: "Nexthop has invalid gateway"). The build now gives every plan the
 * nodes' indexes (ClusterBuilder.nodeIndex, in this order too); the order still keeps the state's
 * list as the plans saw it. Nodes the early plan did not have come last.
 */
export function inOrderOf<T extends { name: string }>(nodes: T[], order: readonly string[] | undefined): T[] {
  if (!order) return nodes;
  const at = (n: T) => {
    const i = order.indexOf(n.name);
    return i < 0 ? order.length : i;
  };
  return [...nodes].sort((a, b) => at(a) - at(b));
}

/**
 * Removes a lab's cluster: host-side links and rules, what it added inside devices (unless the
 * lab is going too), then the provider's nodes; clears the state. The state keeps the cluster
 * when the provider could not delete it, so that `down` can be run again.
 */
export async function destroyCluster(
  lab: string,
  deps: {
    runtime: Runtime;
    store: StateStore;
    provider?: ClusterProvider;
    /** Where to find the provider that made the recorded cluster when `provider` is not it. */
    providers?: ProviderLookup;
    labGoing?: boolean;
    kernel: Kernel;
  },
): Promise<void> {
  const { store, runtime } = deps;
  const state = store.read(lab);
  const c = state?.cluster;
  const { kernel } = deps;
  // the NICs live in the nodes' namespaces: they go first
  await removeNics(lab, runtime, store);
  await removeHostSide(lab, c?.hostLinks ?? [], kernel);
  if (c?.deviceUndo?.length && !deps.labGoing) {
    const pids = new Map<string, number>();
    const ids = new Map<string, string>();
    for (const d of state?.devices ?? []) {
      const info = await runtime.inspect(d.container);
      if (info?.running) {
        pids.set(d.name, info.pid);
        ids.set(d.name, info.id);
      }
    }
    await undoInDevices(
      lab,
      c.deviceUndo,
      (d) => pids.get(d),
      kernel,
      (d, ops) => deleteP4Entries(runtime, ids.get(d)!, ops),
    );
  }
  if (!c) return; // no cluster recorded: nothing of a provider's is kinda's to delete
  // the given provider only if it is the one that made the recorded cluster
  const given = deps.provider && deps.provider.kind === c.provider && deps.provider.name === c.name ? deps.provider : undefined;
  const provider = given ?? deps.providers?.providerFor(c.provider, c.name, c.providerOptions);
  if (!provider) {
    throw new KindaError(`cannot remove cluster ${c.name}: no provider "${c.provider}" is known to this process`, {
      hint: `remove its nodes yourself, then run kinda down --force to forget it`,
    });
  }
  await provider.delete();
  store.releaseUplink(lab);
  if (state?.cluster) {
    delete state.cluster;
    store.write(state);
  }
}

/** What adding or removing one node needs: the cluster's links and options as the lab's source gives them. */
export interface NodeChangeInput {
  lab: string;
  /** Every node of the cluster after the change, in the order `up` created them (the new one last). */
  nodes: NodeSpec[];
  /** Their links, in the order `up` planned them (the new node's last). */
  links: NodeLink[];
  options: ClusterOptions;
  provider: ClusterProvider;
  runtime: Runtime;
  store: StateStore;
  kernel: Kernel;
  reporter?: Reporter;
}

function planWith(
  lab: string,
  st: LabState,
  links: NodeLink[],
  options: ClusterOptions,
  nodes: NodeFacts[],
  devices: DeviceFacts[],
  lb: LoadBalancerFacts | undefined,
  identity: NodeIdentity | undefined,
): ClusterPlan {
  return planCluster({
    nodeIndex: recordedIndexes(st.cluster?.nodes ?? []),
    lab,
    links: links.filter((l) => l.node === LOAD_BALANCER || nodes.some((n) => n.name === l.node)),
    nodes,
    ...(lb ? { loadBalancer: lb } : {}),
    devices,
    options: optionsForNodes(
      options,
      nodes.map((n) => n.name),
    ),
    podCidr: DEFAULT_POD_CIDR,
    labNetns: st.netns,
    domains: st.domains,
    ...(st.external ? { domainsInHost: true } : {}),
    ...(identity ? { emulatedIdentity: identity } : {}),
  });
}

/**
 * The links as recorded: each device end keeps the interface it got at `up` (the planner would
 * otherwise pick the device's next free ethN again, which is now taken by that very link).
 */
function pinned(links: NodeLink[], cluster: ClusterState): NodeLink[] {
  return links.map((l) => {
    const r = cluster.links?.find((x) => x.node === l.node && x.device === l.device && x.domain === l.domain);
    return r?.deviceIf && !l.deviceIf ? { ...l, deviceIf: r.deviceIf } : l;
  });
}

function identityFor(input: NodeChangeInput, nodes: readonly NodeSpec[]): NodeIdentity | undefined {
  if (!input.provider.started) return undefined;
  return emulatedIdentity(nodes, input.links, input.options, input.provider.apiPort ?? DEFAULT_API_PORT);
}

/**
 * `kinda node LAB NAME add`: a worker joins the running cluster. Its container is made by the
 * provider, linked like the others (the plan of the cluster with it, less the plan without it:
 * its links and tunnels, the other nodes' entries for it), joined (kubeadm) on its emulated
 * address, and once Kubernetes gave it a pod CIDR, every device and node gets the routes for it.
 * Recorded before each step, so that `down` removes it with the cluster; a failure removes it.
 */
export async function addNodeToCluster(input: NodeChangeInput, name: string, opts: { readyTimeoutS?: number } = {}): Promise<NodeFacts> {
  const { lab, store, runtime, provider } = input;
  const reporter = input.reporter ?? silentReporter;
  const st = store.read(lab);
  const cluster = st?.cluster;
  if (!st || !cluster || cluster.phase !== "up") throw new KindaError(`lab ${lab} has no cluster that is up`);
  if (cluster.nodes.some((n) => n.name === name)) throw new KindaError(`NAME ${name}: the cluster has a node of that name already`);
  const spec = input.nodes.find((n) => n.name === name);
  if (!spec || spec.role !== "worker") throw new KindaError(`NAME ${name}: only workers can be added`);
  if (!provider.createNode || !provider.joinNode) throw new KindaError(`the ${provider.kind} provider cannot add nodes`);
  const links = pinned(input.links, cluster);
  const oldSpecs = input.nodes.filter((n) => n.name !== name && cluster.nodes.some((c) => c.name === n.name));
  const devices = await discoverDevices(lab, runtime, input.kernel, st);
  const s1 = reporter.step(`creating node ${name} (${provider.kind})`);
  const old = await provider.discover(oldSpecs);
  const lb = await provider.discoverLoadBalancer?.();
  const fresh = await provider.createNode(spec);
  // the tunnel index: the lowest no node holds (the others' written down, for a state from before them)
  cluster.nodes = withAddedNode(cluster.nodes, { name, role: spec.role, k8sName: fresh.k8sName, container: fresh.container });
  store.update(st);
  s1.done();
  const undo = async () => {
    await provider.removeNode?.({ name, k8sName: fresh.k8sName, container: fresh.container }, { drain: false }).catch(() => undefined);
    const now = store.read(lab);
    if (now?.cluster) {
      now.cluster.nodes = now.cluster.nodes.filter((n) => n.name !== name);
      store.update(now);
    }
  };
  try {
    const s2 = reporter.step(`linking ${name} into lab ${lab}`);
    const idOld = identityFor(input, oldSpecs);
    const idNew = identityFor(input, [...oldSpecs, spec]);
    const before = planWith(lab, st, links, input.options, old, devices, lb, idOld);
    const withNew = planWith(lab, st, links, input.options, [...old, fresh], devices, lb, idNew);
    cluster.hostLinks = [...new Set([...cluster.hostLinks, ...withNew.hostLinks])];
    cluster.deviceUndo = withNew.deviceUndo;
    for (const l of withNew.linkIfs.filter((x) => x.node === name)) {
      const src = links.find((x) => x.node === name);
      (cluster.links ??= []).push({
        nodeAddress: src?.nodeAddress ?? "",
        ...(src?.deviceAddress ? { deviceAddress: src.deviceAddress } : {}),
        ...(src?.device ? { device: src.device } : {}),
        ...(src?.domain ? { domain: src.domain } : {}),
        ...l,
      });
    }
    store.update(st);
    await applyClusterPlan(subtractPlan(withNew, before), input.kernel);
    s2.done();
    const s3 = reporter.step(`joining ${name} to the cluster (kubeadm join)`);
    await provider.joinNode(fresh, { nodeIp: idNew?.addresses[name] ?? fresh.internalIp });
    const deadline = performance.now() + (opts.readyTimeoutS ?? 300) * 1000;
    let joined: NodeFacts | undefined;
    for (;;) {
      joined = (await provider.discover([spec]).catch(() => []))[0];
      if (joined?.podCidrs.length) break;
      if (performance.now() > deadline) throw new KindaError(`node ${name} got no pod CIDR within ${opts.readyTimeoutS ?? 300} s`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    s3.done(`joined as ${joined.k8sName}, pods ${joined.podCidrs.join(" ")}`);
    const s4 = reporter.step(`routing the pods of ${name} on every device and node`);
    const withPods = planWith(lab, st, links, input.options, [...old, joined], devices, lb, idNew);
    cluster.deviceUndo = withPods.deviceUndo;
    store.update(st);
    await applyClusterPlan(subtractPlan(withPods, withNew), input.kernel);
    await routeNewNodePods(st, store, { runtime, kernel: input.kernel }, links, joined);
    s4.done();
    return joined;
  } catch (e) {
    await undo();
    throw e;
  }
}

/**
 * A joined node's pods in the routing record, routed over what carries traffic now; a node the
 * compiled topology did not have (its link from the command line) joins the routing graph first.
 */
async function routeNewNodePods(
  st: LabState,
  store: StateStore,
  parts: { runtime: Runtime; kernel: Kernel },
  links: readonly NodeLink[],
  joined: NodeFacts,
): Promise<void> {
  if (!st.routing) return;
  const name = joined.name;
  const l = links.find((x) => x.node === name);
  if (l?.device && l.deviceAddress)
    st.routing = withNode(st.routing, name, {
      name: `${l.device}--${name}`,
      endpoints: [l.device, name],
      addresses: [l.deviceAddress, l.nodeAddress],
    });
  try {
    await routePods(st, { [name]: joined.podCidrs }, parts);
  } finally {
    store.update(st);
  }
}

/**
 * `kinda node LAB NAME remove`: drains the node (unless `drain` is false: a crash), deletes its
 * Node object and container, and undoes what the cluster's plan had for it in the devices (its
 * link's device end, the routes to its pods) and in the other nodes (its tunnel entries).
 */
export async function removeNodeFromCluster(input: NodeChangeInput, name: string, opts: { drain: boolean }): Promise<void> {
  const { lab, store, runtime, provider } = input;
  const reporter = input.reporter ?? silentReporter;
  const st = store.read(lab);
  const cluster = st?.cluster;
  if (!st || !cluster) throw new KindaError(`lab ${lab} has no cluster`);
  const rec = cluster.nodes.find((n) => n.name === name);
  if (!rec) throw new KindaError(`NAME ${name}: no node of that name in the cluster of lab ${lab}`);
  if (rec.role !== "worker") throw new KindaError(`NAME ${name}: only workers can be removed (it is a ${rec.role})`);
  if (!provider.removeNode) throw new KindaError(`the ${provider.kind} provider cannot remove nodes`);
  const links = pinned(input.links, cluster);
  const specs = input.nodes.filter((n) => cluster.nodes.some((c) => c.name === n.name));
  const rest = specs.filter((n) => n.name !== name);
  const devices = await discoverDevices(lab, runtime, input.kernel, st);
  const facts = await provider.discover(specs);
  const lb = await provider.discoverLoadBalancer?.();
  const all = planWith(lab, st, links, input.options, facts, devices, lb, identityFor(input, specs));
  const less = planWith(
    lab,
    st,
    links,
    input.options,
    facts.filter((f) => f.name !== name),
    devices,
    lb,
    identityFor(input, rest),
  );
  const s1 = reporter.step(`${opts.drain ? "draining and " : ""}removing node ${name} (${rec.k8sName})`);
  await provider.removeNode({ name, k8sName: rec.k8sName, container: rec.container }, opts);
  s1.done();
  const s2 = reporter.step(`removing what the devices and nodes had for ${name}`);
  // in the devices: the recorded inverses the plan without the node no longer has
  const key = (o: unknown) => JSON.stringify(o);
  const kept = new Set(less.deviceUndo.flatMap((u) => u.undo.map((o) => `${u.device} ${key(o)}`)));
  const gone = all.deviceUndo
    .map((u) => ({ device: u.device, undo: u.undo.filter((o) => !kept.has(`${u.device} ${key(o)}`)) }))
    .filter((u) => u.undo.length);
  const pids = new Map(devices.map((d) => [d.name, d.pid]));
  await undoInDevices(lab, gone, (d) => pids.get(d), input.kernel);
  // in the other nodes: the inverses of their routes and tunnel entries for it
  await takeBackInNodes(
    input.kernel,
    removedFromNodes(all, less, facts, name),
    new Map(facts.filter((f) => f.name !== name).map((f) => [f.name, f.pid])),
  );
  cluster.nodes = withoutNode(cluster.nodes, name);
  cluster.links = (cluster.links ?? []).filter((l) => l.node !== name);
  cluster.hostLinks = cluster.hostLinks.filter((h) => less.hostLinks.includes(h) || !all.hostLinks.includes(h));
  cluster.deviceUndo = less.deviceUndo;
  // the routes to its pods are gone from the devices: no longer in the routing record either
  if (st.routing) st.routing = withoutPods(st.routing, name);
  store.update(st);
  s2.done();
}

/**
 * What the other nodes hold for a node being removed, as the operations that take it back: the
 * operations of the plan with the node that the plan without it lacks, in each other node's
 * steps (its routes and pod rules, the tunnel's neighbour and forwarding entries for its VTEP).
 */
export function removedFromNodes(
  all: ClusterPlan,
  less: ClusterPlan,
  facts: readonly { name: string }[],
  name: string,
): { node: string; ops: KernelOp[] }[] {
  const extra = subtractPlan(all, less);
  const others = facts.filter((f) => f.name !== name).map((f) => f.name);
  const out = new Map<string, KernelOp[]>();
  for (const step of extra.steps) {
    const node = others.find((n) => step.label === `node ${n}`);
    if (!node) continue;
    const ops = out.get(node) ?? [];
    // routes before the neighbour entries and links they use
    ops.unshift(...step.ip.flatMap((x) => takeBackOp(x) ?? []).reverse());
    ops.push(...step.bridge.map(fdbDel));
    out.set(node, ops);
  }
  return [...out].map(([node, ops]) => ({ node, ops }));
}

/** Forced: an entry or route already gone must not keep the others (bridge -force goes on past it too). */
async function takeBackInNodes(kernel: Kernel, back: { node: string; ops: KernelOp[] }[], pids: Map<string, number>): Promise<void> {
  await Promise.all(
    back.map(async ({ node, ops }) => {
      const pid = pids.get(node);
      if (pid !== undefined && ops.length) await kernel.apply({ pid }, ops, { force: true });
    }),
  );
}
