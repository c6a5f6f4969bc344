/**
 * A cluster on a lab that Kathara itself started (the seed's way: "build the network with
 * Kathara, then attach the cluster"). The lab is found by Kathara's labels and recorded as an
 * external lab: its devices are Kathara's containers, its collision domains Kathara's `kt-...`
 * bridges in the host namespace. Nodes then attach to devices or domains as for kinda's own labs,
 * and `kinda down` removes only what kinda added (nodes, their links, what they changed inside
 * devices); Kathara's containers and networks stay.
 */
import { existsSync, readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { KindaError, TopologyError, type Issue } from "../core/errors.js";
import { isValidLabName } from "../core/names.js";
import type { Reporter } from "../core/reporter.js";
import type { ClusterOptions, NodeLink, NodeRole } from "../model/cluster.js";
import type { ClusterProvider } from "../model/provider.js";
import type { Runtime } from "../model/container.js";
import type { Kernel } from "../model/kernel.js";
import { ClusterBuilder, type BuildResult } from "../engine/cluster.js";
import { removeHostSide } from "../engine/cluster-apply.js";
import { findKatharaLab } from "../runtime/kathara.js";
import type { LabState, StateStore } from "../state/store.js";
import { createEnv, type Env } from "./root.js";
import { readArgv } from "../plan/ops.js";

export interface AdoptOptions {
  /** kinda's name for it (default: `kathara-<hash>`, lower-cased). */
  name?: string;
  runtime?: Runtime;
  store?: StateStore;
  kernel?: Kernel;
  /** Where the cluster's provider is found (default: the root's registry). */
  providers?: Env["providers"];
}

async function hostLinkExists(kernel: Kernel, name: string): Promise<boolean> {
  return (await kernel.run(readArgv({ read: "links", dev: name }))).exitCode === 0;
}

/**
 * Records a running Kathara lab (a lab directory, or its hash) under a kinda lab name, so that
 * ClusterBuilder, status and down work on it. Creates nothing in the kernel or in Docker.
 */
export async function adoptKatharaLab(dirOrHash: string, opts: AdoptOptions = {}): Promise<LabState> {
  const { runtime, store, kernel } = createEnv(opts);
  const k = await findKatharaLab(runtime, dirOrHash);
  const name = opts.name ?? `kathara-${k.hash.toLowerCase()}`.slice(0, 40);
  if (!isValidLabName(name)) throw new KindaError(`${JSON.stringify(name)} is not a lab name`, { hint: "pass --name" });
  const missing: string[] = [];
  for (const d of k.domains) if (!(await hostLinkExists(kernel, d.bridge))) missing.push(`${d.name} (${d.bridge})`);
  if (missing.length)
    throw new KindaError(`collision domains of Kathara lab ${k.hash} have no bridge in the host namespace: ${missing.join(", ")}`);
  const prev = store.read(name);
  if (prev?.external?.hash === k.hash) return prev;
  const now = new Date().toISOString();
  const state: LabState = {
    version: 1,
    name,
    kind: "kathara",
    netns: "",
    phase: "up",
    createdAt: now,
    updatedAt: now,
    devices: k.devices.map((d) => ({
      name: d.name,
      container: d.container,
      containerId: d.id,
      image: "",
      shell: d.shell,
      interfaces: k.domains.filter((x) => x.containers.includes(d.container)).map((x) => ({ name: "", domain: x.name, hostIf: "" })),
    })),
    domains: k.domains.map((d) => ({ name: d.name, bridge: d.bridge })),
    warnings: [],
    external: { manager: "kathara", hash: k.hash, user: k.user, ...(existsSync(dirOrHash) ? { source: dirOrHash } : {}) },
  };
  store.claim(state); // a kinda lab of that name already there: an error, nothing recorded
  return state;
}

/** What `kinda attach` reads: the cluster's nodes and their links, plus cluster options. */
export interface AttachSpec {
  cluster?: { name?: string; image?: string };
  options: ClusterOptions;
  nodes: { name: string; role: NodeRole }[];
  links: NodeLink[];
}

const LINK_KEYS = new Set([
  "node",
  "device",
  "domain",
  "gateway",
  "nodeAddress",
  "deviceAddress",
  "deviceBridge",
  "nodeIf",
  "deviceIf",
  "nodeMac",
  "deviceMac",
  "mtu",
  "nodeTc",
  "deviceTc",
  "defaultRoute",
]);
const OPTION_KEYS = new Set(["encapsulation", "apiThroughNetwork", "internetVia", "hostRoutes"]);

/** Parses an attach file (YAML): `cluster`, `encapsulation`..., `nodes`, `links`; every problem at once. */
export function parseAttachSpec(text: string, file: string): AttachSpec {
  const issues: Issue[] = [];
  let doc: Record<string, unknown>;
  try {
    doc = (parseYaml(text) ?? {}) as Record<string, unknown>;
  } catch (e) {
    throw new TopologyError([{ file, message: `not YAML: ${(e as Error).message}` }]);
  }
  const options: ClusterOptions = {};
  for (const [k, v] of Object.entries(doc)) {
    if (OPTION_KEYS.has(k)) (options as Record<string, unknown>)[k] = v;
    else if (!["cluster", "nodes", "links"].includes(k)) issues.push({ file, field: k, message: "unknown key" });
  }
  const nodes = Array.isArray(doc["nodes"]) ? (doc["nodes"] as { name?: unknown; role?: unknown }[]) : [];
  if (!nodes.length) issues.push({ file, field: "nodes", message: "a list of nodes ({name, role}) is needed" });
  const out: AttachSpec["nodes"] = [];
  nodes.forEach((n, i) => {
    if (typeof n?.name !== "string") issues.push({ file, field: `nodes[${i}].name`, message: "a name is needed" });
    else if (n.role !== undefined && n.role !== "worker" && n.role !== "control-plane")
      issues.push({ file, field: `nodes[${i}].role`, message: "worker or control-plane" });
    else out.push({ name: n.name, role: (n.role as NodeRole | undefined) ?? "worker" });
  });
  const links = Array.isArray(doc["links"]) ? (doc["links"] as Record<string, unknown>[]) : [];
  links.forEach((l, i) => {
    for (const k of Object.keys(l ?? {})) if (!LINK_KEYS.has(k)) issues.push({ file, field: `links[${i}].${k}`, message: "unknown key" });
  });
  if (issues.length) throw new TopologyError(issues);
  const cluster = (doc["cluster"] ?? undefined) as AttachSpec["cluster"];
  return { ...(cluster ? { cluster } : {}), options, nodes: out, links: links as unknown as NodeLink[] };
}

/**
 * `kinda attach --kathara LAB_DIR|HASH FILE`: records the Kathara lab, then builds the cluster of
 * FILE on it. If building fails, what kinda added is removed and the record forgotten.
 */
export async function attachToKathara(
  dirOrHash: string,
  spec: AttachSpec,
  opts: AdoptOptions & { provider?: ClusterProvider; signal?: AbortSignal; reporter?: Reporter } = {},
): Promise<{ lab: string; result: BuildResult }> {
  const env = createEnv(opts);
  const { store, runtime, kernel } = env;
  const existed = opts.name ? store.read(opts.name) : undefined;
  const state = await adoptKatharaLab(dirOrHash, { ...opts, store, runtime, kernel });
  const clusterName = spec.cluster?.name ?? state.name;
  const provider =
    opts.provider ?? env.providers.providerFor("kind", clusterName, spec.cluster?.image ? { image: spec.cluster.image } : {});
  if (!provider) throw new KindaError(`no cluster provider "kind" is registered`);
  const builder = new ClusterBuilder(state.name, provider, spec.options, {
    runtime,
    store,
    kernel,
    ...(opts.reporter ? { reporter: opts.reporter } : {}),
  });
  for (const n of spec.nodes) builder.addNode(n.name, n.role);
  for (const l of spec.links) builder.connect(l);
  try {
    const result = await builder.build(opts.signal ? { signal: opts.signal } : {});
    return { lab: state.name, result };
  } catch (e) {
    if (!existed && !store.read(state.name)?.cluster) {
      await removeHostSide(state.name, [], kernel);
      store.remove(state.name);
    }
    throw e;
  }
}

export function readAttachSpec(path: string): AttachSpec {
  if (!existsSync(path)) throw new TopologyError([{ file: path, message: "no such file" }]);
  return parseAttachSpec(readFileSync(path, "utf8"), path);
}
