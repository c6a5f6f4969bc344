/** Deploys a TopologySpec: its network as a lab, then (when it has nodes) its cluster. */
import { requirePrograms } from "../core/host.js";
import { ClusterBuilder, type BuildResult } from "../engine/cluster.js";
import { KindProvider } from "../providers/kind.js";
import type { ClusterProvider, ProviderLookup } from "../model/provider.js";
import { createProviderRegistry, defaultRuntime, defaultStore } from "./root.js";
import { publishTopology } from "./k8s-topology.js";
import { deploy, teardown, type DeployResult } from "../engine/lab.js";
import type { Reporter } from "../core/reporter.js";
import { planLab, type Plan } from "../plan/lab.js";
import type { Runtime } from "../model/container.js";
import type { StateStore } from "../state/store.js";
import { compileSpec, validateSpec, type CompiledTopology, type SpecIssue, type SpecPath } from "../topology/compile.js";
import { staticRouter } from "../plan/routes.js";
import { KindaError, type Issue } from "../core/errors.js";
import type { TopologySpec } from "../model/spec.js";
import { LOAD_BALANCER } from "../model/cluster.js";
import { NIC_INNER, NIC_OUTER, nicName } from "../core/names.js";
import { checkDeployShaping } from "../engine/live.js";
import { describeShaping } from "../core/tc.js";

export interface UpTopologyOptions {
  provider?: ClusterProvider;
  clusterName?: string;
  imageMap?: Record<string, string>;
  runtime?: Runtime;
  store?: StateStore;
  reporter?: Reporter;
  signal?: AbortSignal;
  /** Deploy the network only; build the cluster later with `handle.buildCluster()`. */
  networkOnly?: boolean;
  where?: (path: SpecPath) => Partial<Issue>;
  source?: string;
}

/** compileSpec with kinda's static router: what up and --dry-run compile with (the library's compileSpec). */
export function compileTopology(spec: TopologySpec, where?: (path: SpecPath) => Partial<Issue>): CompiledTopology {
  return compileSpec(spec, where, staticRouter);
}

/** validateSpec with kinda's static router (the library's validateSpec). */
export function validateTopology(spec: TopologySpec): SpecIssue[] {
  return validateSpec(spec, staticRouter);
}

/** Compiles and plans without touching anything (dry-run; TS and YAML forms compare equal here). */
export function planTopology(spec: TopologySpec, opts: UpTopologyOptions = {}): { compiled: CompiledTopology; plan: Plan } {
  const compiled = compileTopology(spec, opts.where);
  const store = opts.store ?? defaultStore();
  const plan = planLab(compiled.lab, {
    name: spec.name,
    imageMap: opts.imageMap ?? {},
    sharedDir: store.sharedDir(spec.name),
    stageRoot: store.stageRoot(spec.name),
    ...(opts.source ? { source: opts.source } : {}),
  });
  return { compiled, plan };
}

/** Text for --dry-run: the lab plan and the cluster part. */
export function formatTopologyPlan(t: { compiled: CompiledTopology; plan: Plan }, formatPlan: (p: Plan) => string): string {
  const out = [formatPlan(t.plan)];
  const c = t.compiled;
  if (c.nodes.length) {
    out.push(`kubernetes nodes: ${c.nodes.map((n) => `${n.name}(${n.role})`).join(" ")}; encapsulation ${c.clusterOptions.encapsulation}`);
    // the load balancer's link names it LOAD_BALANCER; show the topology's name for it
    const who = (node: string) => (node === LOAD_BALANCER && c.loadBalancer ? `${c.loadBalancer}(load balancer)` : node);
    for (const l of c.nodeLinks)
      out.push(
        `  ${who(l.node)} ${l.nodeAddress} <-> ${l.device ? `${l.device} ${l.deviceAddress}` : `segment ${l.domain} via ${l.gateway}`}${l.nodeTc ? ` tc from the node: ${describeShaping(l.nodeTc)}` : ""}${l.deviceTc ? ` tc from ${l.device}: ${describeShaping(l.deviceTc)}` : ""}${l.mtu ? ` mtu ${l.mtu}` : ""}`,
      );
    for (const l of c.nodeLinks.filter((x) => x.nic)) {
      const nic = l.nic!;
      out.push(
        `  ${nicName(l.node)}: smart NIC (${nic.kind}, image ${nic.image}) in ${l.node}'s network namespace, ports ${NIC_OUTER} (to ${l.device ?? l.domain}) and ${NIC_INNER} (peer of ${l.node}'s ${l.nodeIf ?? "eth1"}); runs:`,
      );
      for (const s of nic.services) out.push(`    ${s.argv.join(" ")}`);
    }
    for (const r of c.clusterOptions.podRoutes ?? [])
      out.push(`  pod route on ${r.device}: pods of ${r.node} via ${typeof r.via === "string" ? r.via : r.via.join(" and ")}`);
    for (const r of c.clusterOptions.p4PodRoutes ?? [])
      out.push(`  pod entries on ${r.device} (at attach, one per pod CIDR): pods of ${r.node} => ${r.mac} ${r.port} (via ${r.via})`);
  }
  return out.join("\n");
}

export class TopologyHandle {
  cluster: BuildResult | undefined;
  constructor(
    readonly spec: TopologySpec,
    readonly compiled: CompiledTopology,
    readonly network: DeployResult,
    private readonly builder: ClusterBuilder | undefined,
    private readonly runtime: Runtime,
    private readonly store: StateStore,
  ) {}

  /** How teardown finds the cluster's provider: the one in hand, else the registry. */
  private providers(): { providers: ProviderLookup; provider?: ClusterProvider } {
    return { providers: createProviderRegistry(this.runtime), ...(this.builder ? { provider: this.builder.provider } : {}) };
  }

  get name(): string {
    return this.spec.name;
  }

  async buildCluster(signal?: AbortSignal): Promise<BuildResult | undefined> {
    if (!this.builder || this.cluster) return this.cluster;
    // the builder starts the data planes whose ports include node links (and writes pod entries)
    this.cluster = await this.builder.build(signal ? { signal } : {});
    await publishTopology(this.spec.name, this.store, createProviderRegistry(this.runtime));
    return this.cluster;
  }

  /** Removes the cluster (if any) and the network. */
  async down(): Promise<void> {
    if (this.builder && this.cluster) await this.builder.destroy().catch(() => undefined);
    await teardown(this.spec.name, { runtime: this.runtime, store: this.store, ...this.providers() });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.down();
  }
}

export async function upTopology(spec: TopologySpec, opts: UpTopologyOptions = {}): Promise<TopologyHandle> {
  const { compiled, plan } = planTopology(spec, opts);
  const runtime = opts.runtime ?? defaultRuntime();
  const store = opts.store ?? defaultStore();
  const provider = compiled.nodes.length
    ? (opts.provider ??
      new KindProvider(
        opts.clusterName ?? spec.cluster?.name ?? spec.name,
        spec.cluster?.image ? { image: spec.cluster.image } : {},
        runtime,
      ))
    : undefined;
  // every host program the lab, its nodes and the provider need, all named at once, before anything is created
  if (provider) requirePrograms(["lab", "cluster"], provider.hostPrograms?.() ?? []);
  await provider?.preflight?.(); // e.g. a kind CLI that does not run: say so before creating anything
  await checkDeployShaping(
    compiled.nodeLinks.flatMap((l) =>
      [l.nodeTc, l.deviceTc].flatMap((s) =>
        s ? [{ endpoint: `${l.node}--${l.device}`, shaping: s, field: `link ${l.node}--${l.device} tc` }] : [],
      ),
    ),
  );
  const network = await deploy(plan, {
    runtime,
    store,
    kind: opts.source?.endsWith(".ts") ? "api" : "yaml",
    ...(opts.imageMap ? { imageMap: opts.imageMap } : {}),
    ...(opts.reporter ? { reporter: opts.reporter } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  let builder: ClusterBuilder | undefined;
  if (provider) {
    builder = new ClusterBuilder(spec.name, provider, compiled.clusterOptions, {
      runtime,
      store,
      ...(opts.reporter ? { reporter: opts.reporter } : {}),
      ...(spec.cluster?.image ? { providerOptions: { image: spec.cluster.image } } : {}),
      ...(opts.imageMap ? { imageMap: opts.imageMap } : {}),
    });
    for (const n of compiled.nodes) builder.addNode(n.name, n.role);
    for (const l of compiled.nodeLinks) builder.connect(l);
  }
  const handle = new TopologyHandle(spec, compiled, network, builder, runtime, store);
  if (!opts.networkOnly) {
    try {
      await handle.buildCluster(opts.signal);
    } catch (e) {
      const left = await teardown(spec.name, {
        runtime,
        store,
        providers: createProviderRegistry(runtime),
        ...(provider ? { provider } : {}),
      }).then(
        () => undefined,
        (te: Error) => te,
      );
      if (left) {
        // both are the user's business: why it failed, and that something stays
        throw new KindaError(`${(e as Error).message}; removing what was created failed too: ${left.message}`, {
          hint: `run kinda down ${spec.name} once the cause is fixed`,
        });
      }
      throw e;
    }
  }
  return handle;
}
