/**
 * The one `up` pipeline. Every source (a Kathara lab directory, a YAML topology, a TypeScript
 * module, a spec or builder handed over in code) goes through the same steps with the same
 * options: load (the format recorded, never guessed again), plan, check the host once, deploy
 * the network, build the cluster; and comes back as one {@link Lab} handle that holds both.
 */
import { KindaError, type Issue } from "../core/errors.js";
import { requirePrograms, type HostNeed } from "../core/host.js";
import type { Reporter } from "../core/reporter.js";
import { ClusterBuilder, type BuildResult } from "../engine/cluster.js";
import { deploy, teardown, type DeployResult } from "../engine/lab.js";
import { checkDeployShaping } from "../engine/live.js";
import type { Runtime } from "../model/container.js";
import type { Kernel } from "../model/kernel.js";
import type { ClusterProvider, ProviderLookup } from "../model/provider.js";
import type { RuntimeSpec, TopologySpec } from "../model/spec.js";
import type { KubeApi, KubeTarget } from "../model/kube.js";
import { kubeDeploy, kubeTeardown } from "../engine/kube-lab.js";
import { formatKubePlan, planKubeLab, type KubeLabOptions } from "../plan/kube.js";
import { formatPlan, planLab, type Plan } from "../plan/lab.js";
import type { LabState, RecordedUpOptions, StateStore } from "../state/store.js";
import type { CompiledTopology, SpecPath } from "../topology/compile.js";
import { loadSource, type SourceFormat } from "../topology/source.js";
import { createEnv, defaultStore, kubeApiFor } from "./root.js";
import { formatTopologyPlan, planTopology } from "./topology.js";
import { publishTopology } from "./k8s-topology.js";

/** What `up` deploys: a path (lab directory, FILE.yaml, SCRIPT.ts), a spec, or anything with a `spec()` (a TreeTopologyBuilder) or a `spec` (a Network). */
export type TopologySource = string | TopologySpec | { spec(): TopologySpec } | { spec: TopologySpec | undefined };

/** The options of `up` (and `--dry-run`): the same for every source. Each CLI option of `kinda up` is one of these. */
export interface UpOptions {
  /** Lab name (`--name`; default: the directory's name or the topology's `name`). */
  name?: string;
  /** Use image TO wherever the lab asks for FROM (`--image-map FROM=TO`); also for smart NICs. */
  imageMap?: Record<string, string>;
  /** Kind node image (`--node-image`), overriding the topology's `cluster.image`. Refused for a Kathara lab. */
  nodeImage?: string;
  /** Pod traffic between nodes (`--encapsulation`), overriding the topology's. Refused for a Kathara lab. */
  encapsulation?: TopologySpec["encapsulation"];
  /** A YAML topology's `vars:` (`--var NAME=VALUE`). Refused for any other source. */
  vars?: Record<string, string>;
  /** Container operations in flight at once (`--parallelism`). */
  parallelism?: number;
  /** The cluster's name (default: the topology's `cluster.name`, else the lab's name). */
  clusterName?: string;
  /** Deploy the network only; build the cluster later with {@link Lab.buildCluster}. */
  networkOnly?: boolean;
  /** Aborting stops the deploy or build and removes what was created. */
  signal?: AbortSignal;
  /** Told each step (the CLI's spinner); default: silent. */
  reporter?: Reporter;
  /** Container runtime (default: Docker through its Engine API). */
  runtime?: Runtime;
  /** State store (default: $KINDA_STATE_DIR or /var/lib/kinda). */
  store?: StateStore;
  /** The cluster provider to use instead of the registry's Kind. */
  provider?: ClusterProvider;
  /** Where the cluster's provider comes from (default: the composition root's registry). */
  providers?: ProviderLookup;
  /** Kernel adapter (default: the host's); tests pass an in-memory one. */
  kernel?: Kernel;
  /** PATH the host programs are looked for in (default: the process's). */
  hostPath?: string;
  /** How long attaching nodes may go on after the provider created them (default $KINDA_ATTACH_TIMEOUT or 120 s). */
  attachDeadlineMs?: number;
  /** For a spec loaded from YAML by the caller: where each field is in the file (errors then name file and line). */
  where?: (path: SpecPath) => Partial<Issue>;
  /** Where the devices run (`--runtime`): this machine's Docker engine (default) or pods on a host Kubernetes cluster; over the topology's `runtime:`. */
  runtimeKind?: RuntimeSpec["kind"];
  /** The Kubernetes runtime's host cluster, namespace and placement (`--kubeconfig`, `--context`, `--namespace`, `--place`); over the topology's `runtime:`. */
  kube?: KubeTarget & KubeLabOptions;
  /** The host cluster's API (default: made by the composition root from `kube`'s kubeconfig and context). */
  kubeApi?: KubeApi;
}

/** The runtime a source goes on: the options' choice over the topology's `runtime:`, Docker by default. */
export interface RuntimeChoice {
  kind: RuntimeSpec["kind"];
  kube: KubeTarget & KubeLabOptions;
}

/** The options' runtime over the topology's; Kubernetes options without that runtime are a mistake worth saying. */
export function chooseRuntime(o: Pick<UpOptions, "runtimeKind" | "kube">, spec?: RuntimeSpec): RuntimeChoice {
  const kind = o.runtimeKind ?? spec?.kind ?? "docker";
  const fromSpec: KubeTarget & KubeLabOptions = {
    ...(spec?.kubeconfig ? { kubeconfig: spec.kubeconfig } : {}),
    ...(spec?.context ? { context: spec.context } : {}),
    ...(spec?.namespace ? { namespace: spec.namespace } : {}),
    ...(spec?.placement ? { placement: spec.placement } : {}),
    ...(spec?.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
  };
  const given = Object.keys(o.kube ?? {});
  if (kind !== "kubernetes" && given.length)
    throw new KindaError(
      `--${given[0] === "placement" ? "place" : given[0]}: an option of the Kubernetes runtime; add --runtime kubernetes`,
    );
  return { kind, kube: { ...fromSpec, ...(o.kube ?? {}) } };
}

/** The kubeconfig and context of a host cluster, without the lab's own options. */
export function kubeTarget(k: KubeTarget): KubeTarget {
  return { ...(k.kubeconfig ? { kubeconfig: k.kubeconfig } : {}), ...(k.context ? { context: k.context } : {}) };
}

/** A source loaded and planned: what `up` deploys and `--dry-run` prints. */
export interface PlannedSource {
  name: string;
  /** How the source was written ("api": a spec or builder handed over in code). */
  format: SourceFormat | "api";
  /** The file or directory, absolute (absent for a spec from code). */
  source?: string;
  plan: Plan;
  /** A topology (YAML, module, spec): its compiled form, with nodes and their links. */
  topology?: { spec: TopologySpec; compiled: CompiledTopology };
  /** The runtime it goes on (options over the topology's `runtime:`). */
  runtime: RuntimeChoice;
}

function specOfObject(x: Exclude<TopologySource, string>): TopologySpec {
  const o = x as { spec?: unknown; devices?: unknown };
  if (typeof o.spec === "function") return (o.spec as () => TopologySpec).call(x);
  if (o.spec && typeof o.spec === "object") return o.spec as TopologySpec;
  if (Array.isArray(o.devices)) return x as TopologySpec;
  throw new KindaError("up: not a topology (a path, a TopologySpec, a TreeTopologyBuilder or a Network that one was built for)");
}

/** Node options given for a Kathara lab are a mistake worth saying. */
function noNodeOptions(path: string, o: UpOptions): void {
  const given = [o.nodeImage && "--node-image", o.encapsulation && "--encapsulation"].filter(Boolean);
  if (given.length) throw new KindaError(`${given.join(" and ")}: ${path} is a Kathara lab, which has no Kubernetes nodes`);
}

function overridden(spec: TopologySpec, o: UpOptions): TopologySpec {
  return {
    ...spec,
    ...(o.name ? { name: o.name } : {}),
    ...(o.encapsulation ? { encapsulation: o.encapsulation } : {}),
    ...(o.nodeImage ? { cluster: { ...spec.cluster, image: o.nodeImage } } : {}),
    ...(o.clusterName ? { cluster: { ...spec.cluster, ...(o.nodeImage ? { image: o.nodeImage } : {}), name: o.clusterName } } : {}),
  };
}

/** Loads and plans a source without touching anything (the first half of `up`, all of `--dry-run`). */
export async function planSource(source: TopologySource, opts: UpOptions = {}): Promise<PlannedSource> {
  const store = opts.store ?? defaultStore();
  const imageMap = opts.imageMap ?? {};
  if (typeof source !== "string") {
    if (opts.vars && Object.keys(opts.vars).length)
      throw new KindaError("vars set a YAML topology's vars:; this topology is not a YAML file");
    const spec = overridden(specOfObject(source), opts);
    const t = planTopology(spec, { store, imageMap, ...(opts.where ? { where: opts.where } : {}) });
    const runtime = chooseRuntime(opts, spec.runtime);
    return { name: spec.name, format: "api", plan: t.plan, topology: { spec, compiled: t.compiled }, runtime };
  }
  const src = await loadSource(source, { ...(opts.vars ? { vars: opts.vars } : {}) });
  if (src.type === "kathara") {
    noNodeOptions(source, opts);
    const name = opts.name ?? src.defaultName;
    const plan = planLab(src.lab, { name, imageMap, sharedDir: store.sharedDir(name), stageRoot: store.stageRoot(name), source: src.path });
    return { name, format: "kathara", source: src.path, plan, runtime: chooseRuntime(opts) };
  }
  const spec = overridden(src.spec, opts);
  const where: ((p: SpecPath) => Partial<Issue>) | undefined = src.where;
  const t = planTopology(spec, { store, imageMap, source: src.path, ...(where ? { where } : {}) });
  const runtime = chooseRuntime(opts, spec.runtime);
  return { name: spec.name, format: src.format, source: src.path, plan: t.plan, topology: { spec, compiled: t.compiled }, runtime };
}

/** The `--dry-run` text of a source: its lab plan, and its cluster part when it has nodes. */
export async function dryRun(source: TopologySource, opts: UpOptions = {}): Promise<string> {
  const p = await planSource(source, opts);
  if (p.runtime.kind === "kubernetes") return `${formatPlan(p.plan)}\n${formatKubePlan(planKubeLab(p.plan, p.runtime.kube))}`;
  return p.topology ? formatTopologyPlan({ compiled: p.topology.compiled, plan: p.plan }, formatPlan) : formatPlan(p.plan);
}

/**
 * A lab that is up: its network and (when the topology has Kubernetes nodes) its cluster.
 * `await using lab = await up("tree.yaml")` removes both when the scope ends.
 */
export class Lab implements AsyncDisposable {
  /** The cluster, once built (absent for a lab without nodes, or before {@link buildCluster}). */
  cluster: BuildResult | undefined;
  constructor(
    /** What was deployed: the network's result (state, devices whose start-up failed, timings). */
    readonly network: DeployResult,
    /** The topology it came from (absent for a Kathara lab). */
    readonly topology: { spec: TopologySpec; compiled: CompiledTopology } | undefined,
    private readonly builder: ClusterBuilder | undefined,
    private readonly deps: { runtime: Runtime; store: StateStore; providers: ProviderLookup; kernel: Kernel; kubeApi?: KubeApi },
  ) {}

  /** The lab's name (what `kinda status`, `kinda down` and the link/device verbs take). */
  get name(): string {
    return this.network.state.name;
  }

  /** The spec (absent for a Kathara lab). */
  get spec(): TopologySpec | undefined {
    return this.topology?.spec;
  }

  /** The compiled topology (absent for a Kathara lab). */
  get compiled(): CompiledTopology | undefined {
    return this.topology?.compiled;
  }

  /** The lab's recorded state as it is now (devices, cluster, run-time changes). */
  state(): LabState | undefined {
    return this.deps.store.read(this.name);
  }

  /** Builds the cluster of a lab deployed with `networkOnly` (no-op when built, or when it has no nodes). */
  async buildCluster(signal?: AbortSignal): Promise<BuildResult | undefined> {
    if (!this.builder || this.cluster) return this.cluster;
    this.cluster = await this.builder.build(signal ? { signal } : {});
    // the network as the cluster's scheduler may read it: node labels, NetworkTopology (a failure is a warning)
    await publishTopology(this.name, this.deps.store, this.deps.providers);
    return this.cluster;
  }

  /** Removes the cluster (if any) and the network; as `kinda down`. */
  async down(): Promise<void> {
    const rec = this.deps.store.read(this.name)?.runtime;
    if (rec?.kind === "kubernetes") {
      await kubeTeardown(this.name, { api: this.deps.kubeApi ?? (await kubeApiFor(kubeTarget(rec))), store: this.deps.store });
      return;
    }
    await teardown(this.name, {
      runtime: this.deps.runtime,
      store: this.deps.store,
      providers: this.deps.providers,
      ...(this.builder ? { provider: this.builder.provider } : {}),
      kernel: this.deps.kernel,
    });
    this.cluster = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.down();
  }
}

function recorded(opts: UpOptions): RecordedUpOptions {
  return {
    ...(opts.nodeImage ? { nodeImage: opts.nodeImage } : {}),
    ...(opts.encapsulation ? { encapsulation: opts.encapsulation } : {}),
    ...(opts.vars && Object.keys(opts.vars).length ? { vars: opts.vars } : {}),
    ...(opts.clusterName ? { clusterName: opts.clusterName } : {}),
  };
}

/** The node links' shaping, checked before anything is created (the lab's own is checked by deploy). */
async function checkNodeShaping(compiled: CompiledTopology): Promise<void> {
  await checkDeployShaping(
    compiled.nodeLinks.flatMap((l) =>
      [l.nodeTc, l.deviceTc].flatMap((s) =>
        s ? [{ endpoint: `${l.node}--${l.device}`, shaping: s, field: `link ${l.node}--${l.device} tc` }] : [],
      ),
    ),
  );
}

/**
 * Deploys a source (a lab directory, FILE.yaml, SCRIPT.ts, a spec or builder) and, when it has
 * Kubernetes nodes, builds its cluster inside the network. Nothing is created when the source or
 * the host is wrong; a failure halfway removes what was created.
 */
export async function up(source: TopologySource, opts: UpOptions = {}): Promise<Lab> {
  const { runtime, store, providers, kernel } = createEnv(opts);
  const p = await planSource(source, { ...opts, store });
  if (p.runtime.kind === "kubernetes") return upKube(p, { ...opts, store, kernel }, runtime, providers);
  const t = p.topology;
  const image = t?.spec.cluster?.image;
  const provider =
    t && t.compiled.nodes.length
      ? (opts.provider ??
        providers.providerFor("kind", opts.clusterName ?? t.spec.cluster?.name ?? t.spec.name, image ? { image } : {}) ??
        (() => {
          throw new KindaError("no cluster provider of kind kind is registered");
        })())
      : undefined;
  // every host program the lab, its nodes and the provider need, all named at once, before anything is created
  const needs: HostNeed[] = provider ? ["lab", "cluster"] : ["lab"];
  requirePrograms(needs, provider?.hostPrograms?.() ?? [], opts.hostPath);
  await provider?.preflight?.(); // e.g. a kind CLI that does not run: say so before creating anything
  if (t) await checkNodeShaping(t.compiled);
  const common = {
    runtime,
    store,
    ...(opts.reporter ? { reporter: opts.reporter } : {}),
    kernel,
    ...(opts.hostPath ? { hostPath: opts.hostPath } : {}),
  };
  const upOptions = recorded(opts);
  const network = await deploy(p.plan, {
    ...common,
    kind: p.format,
    hostChecked: true,
    ...(opts.imageMap ? { imageMap: opts.imageMap } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.parallelism ? { parallelism: opts.parallelism } : {}),
    ...(Object.keys(upOptions).length ? { upOptions } : {}),
  });
  let builder: ClusterBuilder | undefined;
  if (provider && t) {
    builder = new ClusterBuilder(p.name, provider, t.compiled.clusterOptions, {
      ...common,
      hostChecked: true,
      ...(image ? { providerOptions: { image } } : {}),
      ...(opts.imageMap ? { imageMap: opts.imageMap } : {}),
      ...(opts.attachDeadlineMs ? { attachDeadlineMs: opts.attachDeadlineMs } : {}),
    });
    for (const n of t.compiled.nodes) builder.addNode(n.name, n.role);
    for (const l of t.compiled.nodeLinks) builder.connect(l);
  }
  const lab = new Lab(network, t, builder, { runtime, store, providers, kernel });
  if (!opts.networkOnly && builder) {
    try {
      await lab.buildCluster(opts.signal);
    } catch (e) {
      const left = await lab.down().then(
        () => undefined,
        (te: Error) => te,
      );
      if (left) {
        // both are the user's business: why it failed, and that something stays
        throw new KindaError(`${(e as Error).message}; removing what was created failed too: ${left.message}`, {
          hint: `run kinda down ${p.name} once the cause is fixed`,
        });
      }
      throw e;
    }
  }
  return lab;
}

/**
 * `up` on the Kubernetes runtime: the same plan, deployed as one pod per device in a namespace of
 * the host cluster (engine/kube-lab.ts). Its state records the runtime, so `down` finds it after a crash.
 */
async function upKube(
  p: PlannedSource,
  opts: UpOptions & { store: StateStore; kernel: Kernel },
  runtime: Runtime,
  providers: ProviderLookup,
): Promise<Lab> {
  const nodes = p.topology?.compiled.nodes ?? [];
  if (nodes.length)
    throw new KindaError(
      `${p.source ?? p.name}: Kubernetes nodes (${nodes.map((n) => n.name).join(", ")}) on the Kubernetes runtime are not supported yet`,
      { hint: "deploy the topology on the Docker runtime, or its network devices alone on the Kubernetes runtime" },
    );
  const target = kubeTarget(p.runtime.kube);
  const kubeApi = opts.kubeApi ?? (await kubeApiFor(target));
  const upOptions = recorded(opts);
  const network = await kubeDeploy(p.plan, {
    api: kubeApi,
    store: opts.store,
    target,
    kube: p.runtime.kube,
    kind: p.format,
    imageMap: opts.imageMap ?? {},
    ...(opts.reporter ? { reporter: opts.reporter } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.parallelism ? { parallelism: opts.parallelism } : {}),
    ...(Object.keys(upOptions).length ? { upOptions } : {}),
  });
  return new Lab(network, p.topology, undefined, { runtime, store: opts.store, providers, kernel: opts.kernel, kubeApi });
}
