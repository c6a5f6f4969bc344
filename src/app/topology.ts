/** A TopologySpec compiled with kinda's static router and planned (deploying it is app/up.ts). */
import { defaultStore } from "./root.js";
import type { Reporter } from "../core/reporter.js";
import { planLab, type Plan } from "../plan/lab.js";
import type { Runtime } from "../model/container.js";
import type { StateStore } from "../state/store.js";
import { compileSpec, validateSpec, type CompiledTopology, type SpecIssue, type SpecPath } from "../topology/compile.js";
import { staticRouter } from "../plan/routes.js";
import type { Issue } from "../core/errors.js";
import type { TopologySpec } from "../model/spec.js";
import type { ClusterProvider } from "../model/provider.js";
import { LOAD_BALANCER } from "../model/cluster.js";
import { NIC_INNER, NIC_OUTER, nicName } from "../core/names.js";
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
