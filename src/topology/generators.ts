/**
 * Topologies researchers draw, generated as plain TopologySpecs (Mininet's topolib, containerlab's
 * `generate`): k-ary fat trees, leaf-spine (Clos) fabrics, trees and chains. Routers get
 * predictable names, every link a name ("spine1-leaf2") and a /30 from one address pool, in the
 * order the links are listed; the user says which leaves are Kubernetes nodes. Pure: no I/O.
 */
import { TopologyError } from "../core/errors.js";
import { isIpv4Cidr, nthAddress, prefixLength } from "../core/addr.js";
import type { ClusterSpec, DeviceSpec, LinkSpec, TopologySpec } from "../model/spec.js";

export interface GeneratorOptions {
  /** Topology (lab) name. Default: the generator's, e.g. "fat-tree-4". */
  name?: string;
  /** IPv4 range every link takes a /30 of, in link order. Default 10.0.0.0/16. */
  addressPool?: string;
  /** Image of the routers (default: kinda's default image). */
  image?: string;
  /** Image of the leaves that stay plain hosts. */
  hostImage?: string;
  /** Leaves that become Kubernetes control planes. */
  controlPlanes?: string[];
  /** Leaves that become Kubernetes workers; "rest": every leaf that is not a control plane. */
  workers?: string[] | "rest";
  /** Default "static". */
  routing?: "static" | "none" | "ospf" | "bgp";
  bfd?: boolean;
  encapsulation?: "vxlan" | "gre" | "none";
  cluster?: ClusterSpec;
}

export interface FatTreeOptions extends GeneratorOptions {
  /** Ports per switch, even: k pods of k/2 aggregation and k/2 edge routers, (k/2)² cores, k³/4 leaves. */
  k: number;
}
export interface LeafSpineOptions extends GeneratorOptions {
  spines: number;
  leaves: number;
  /** Hosts (or nodes) under each leaf. */
  perLeaf: number;
}
export interface TreeGenOptions extends GeneratorOptions {
  /** Levels of routers (1: one router and its leaves). */
  depth: number;
  /** Children of every router. */
  fanout: number;
}
export interface LinearOptions extends GeneratorOptions {
  /** Routers in a chain. */
  n: number;
  /** Leaves under each router (default 1). */
  perRouter?: number;
}

/** What a generator draws: routers, leaves, links (upper end first). */
interface Shape {
  name: string;
  routers: string[];
  leaves: string[];
  links: [string, string][];
  root?: string;
}

export const DEFAULT_ADDRESS_POOL = "10.0.0.0/16";
/** Generated topologies stay small enough to deploy on one machine. */
const MAX_DEVICES = 2000;

export interface GeneratorIssue {
  /** The option at fault ("k", "controlPlanes[1]", ...). */
  field: string;
  message: string;
}

function count(issues: GeneratorIssue[], field: string, v: unknown, min: number): void {
  if (!Number.isInteger(v) || (v as number) < min) issues.push({ field, message: `${field} must be a whole number of at least ${min}` });
}

function fail(issues: GeneratorIssue[]): never {
  throw new TopologyError(issues);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

function fatTreeShape(o: FatTreeOptions): Shape {
  const issues: GeneratorIssue[] = [];
  count(issues, "k", o.k, 2);
  if (!issues.length && o.k % 2) issues.push({ field: "k", message: `k must be even (k/2 routers face each way); it is ${o.k}` });
  if (issues.length) fail(issues);
  const h = o.k / 2;
  const cores = range(h * h).map((c) => `core${c}`);
  const links: [string, string][] = [];
  const aggs: string[] = [];
  const edges: string[] = [];
  const leaves: string[] = [];
  // core c (1-based) links to aggregation router ceil(c / (k/2)) of every pod
  for (const p of range(o.k)) for (const a of range(h)) aggs.push(`agg${p}_${a}`);
  for (const p of range(o.k)) for (const e of range(h)) edges.push(`edge${p}_${e}`);
  for (const p of range(o.k)) for (const c of range(h * h)) links.push([`core${c}`, `agg${p}_${Math.ceil(c / h)}`]);
  for (const p of range(o.k)) for (const a of range(h)) for (const e of range(h)) links.push([`agg${p}_${a}`, `edge${p}_${e}`]);
  for (const p of range(o.k))
    for (const e of range(h))
      for (const i of range(h)) {
        leaves.push(`h${p}_${e}_${i}`);
        links.push([`edge${p}_${e}`, `h${p}_${e}_${i}`]);
      }
  return { name: `fat-tree-${o.k}`, routers: [...cores, ...aggs, ...edges], leaves, links };
}

function leafSpineShape(o: LeafSpineOptions): Shape {
  const issues: GeneratorIssue[] = [];
  count(issues, "spines", o.spines, 1);
  count(issues, "leaves", o.leaves, 1);
  count(issues, "perLeaf", o.perLeaf, 0);
  if (issues.length) fail(issues);
  const spines = range(o.spines).map((s) => `spine${s}`);
  const leafRouters = range(o.leaves).map((l) => `leaf${l}`);
  const links: [string, string][] = [];
  for (const l of range(o.leaves)) for (const s of range(o.spines)) links.push([`spine${s}`, `leaf${l}`]);
  const leaves: string[] = [];
  for (const l of range(o.leaves))
    for (const i of range(o.perLeaf)) {
      leaves.push(`h${l}_${i}`);
      links.push([`leaf${l}`, `h${l}_${i}`]);
    }
  return { name: `leaf-spine-${o.spines}x${o.leaves}`, routers: [...spines, ...leafRouters], leaves, links };
}

function treeShape(o: TreeGenOptions): Shape {
  const issues: GeneratorIssue[] = [];
  count(issues, "depth", o.depth, 1);
  count(issues, "fanout", o.fanout, 1);
  if (!issues.length && o.fanout > 1 && o.depth * Math.log(o.fanout) > Math.log(MAX_DEVICES))
    issues.push({ field: "depth", message: `fanout ${o.fanout} to depth ${o.depth} makes more than ${MAX_DEVICES} leaves` });
  if (issues.length) fail(issues);
  // routers numbered breadth first (r1 is the root), leaves h1.. left to right
  const routers = ["r1"];
  const links: [string, string][] = [];
  let level = ["r1"];
  for (let d = 1; d < o.depth; d++) {
    const next: string[] = [];
    for (const parent of level)
      for (let i = 0; i < o.fanout; i++) {
        const r = `r${routers.length + 1}`;
        routers.push(r);
        next.push(r);
        links.push([parent, r]);
      }
    level = next;
  }
  const leaves: string[] = [];
  for (const parent of level)
    for (let i = 0; i < o.fanout; i++) {
      const h = `h${leaves.length + 1}`;
      leaves.push(h);
      links.push([parent, h]);
    }
  return { name: `tree-${o.depth}-${o.fanout}`, routers, leaves, links, root: "r1" };
}

function linearShape(o: LinearOptions): Shape {
  const issues: GeneratorIssue[] = [];
  count(issues, "n", o.n, 1);
  if (o.perRouter !== undefined) count(issues, "perRouter", o.perRouter, 0);
  if (issues.length) fail(issues);
  const routers = range(o.n).map((r) => `r${r}`);
  const links: [string, string][] = [];
  for (const r of range(o.n - 1)) links.push([`r${r}`, `r${r + 1}`]);
  const leaves: string[] = [];
  for (const r of range(o.n))
    for (const i of range(o.perRouter ?? 1)) {
      leaves.push(`h${r}_${i}`);
      links.push([`r${r}`, `h${r}_${i}`]);
    }
  return { name: `linear-${o.n}`, routers, leaves, links };
}

/** Problems with the leaf roles: unknown names, a leaf named twice. */
function roleIssues(shape: Shape, o: GeneratorOptions): GeneratorIssue[] {
  const issues: GeneratorIssue[] = [];
  const leaves = new Set(shape.leaves);
  const hint = (n: string) => `${JSON.stringify(n)} is not a leaf of this topology (leaves: ${shape.leaves.slice(0, 4).join(", ")}, ...)`;
  (o.controlPlanes ?? []).forEach((n, i) => {
    if (!leaves.has(n)) issues.push({ field: `controlPlanes[${i}]`, message: hint(n) });
  });
  if (Array.isArray(o.workers))
    o.workers.forEach((n, i) => {
      if (!leaves.has(n)) issues.push({ field: `workers[${i}]`, message: hint(n) });
      else if (o.controlPlanes?.includes(n)) issues.push({ field: `workers[${i}]`, message: `${n} is a control plane already` });
    });
  return issues;
}

/** Addresses, names, kinds: from a shape to the plain topology. */
function finish(shape: Shape, o: GeneratorOptions): TopologySpec {
  const pool = o.addressPool ?? DEFAULT_ADDRESS_POOL;
  const issues = roleIssues(shape, o);
  const devices = shape.routers.length + shape.leaves.length;
  if (devices > MAX_DEVICES) issues.push({ field: "size", message: `${devices} devices; kinda generates at most ${MAX_DEVICES}` });
  if (!isIpv4Cidr(pool)) issues.push({ field: "addressPool", message: `${JSON.stringify(pool)} is not an IPv4 range (e.g. 10.0.0.0/16)` });
  else if (4 * shape.links.length > 2 ** (32 - prefixLength(pool)))
    issues.push({
      field: "addressPool",
      message: `${pool} holds ${2 ** (30 - Math.min(prefixLength(pool), 30))} links of a /30; this topology has ${shape.links.length}`,
    });
  if (issues.length) fail(issues);
  const cps = new Set(o.controlPlanes ?? []);
  const workers = new Set(o.workers === "rest" ? shape.leaves.filter((l) => !cps.has(l)) : (o.workers ?? []));
  const leaf = (name: string): DeviceSpec =>
    cps.has(name)
      ? { name, kind: "control-plane" }
      : workers.has(name)
        ? { name, kind: "worker" }
        : { name, kind: "host", ...(o.hostImage ? { image: o.hostImage } : {}) };
  const links: LinkSpec[] = shape.links.map(([a, b], i) => ({
    name: `${a}-${b}`,
    endpoints: [a, b],
    addresses: [`${nthAddress(pool, 4 * i + 1)}/30`, `${nthAddress(pool, 4 * i + 2)}/30`],
  }));
  const spec: TopologySpec = {
    name: o.name ?? shape.name,
    routing: o.routing ?? "static",
    ...(o.bfd !== undefined ? { bfd: o.bfd } : {}),
    ...(o.encapsulation ? { encapsulation: o.encapsulation } : {}),
    ...(shape.root ? { root: shape.root } : {}),
    ...(o.cluster ? { cluster: o.cluster } : {}),
    devices: [
      ...shape.routers.map((name): DeviceSpec => ({ name, kind: "router", ...(o.image ? { image: o.image } : {}) })),
      ...shape.leaves.map(leaf),
    ],
    links,
  };
  return spec;
}

/** k-ary fat tree: k pods of k/2 aggregation and k/2 edge routers, (k/2)² cores, k/2 leaves per edge router. */
export function fatTree(o: FatTreeOptions): TopologySpec {
  return finish(fatTreeShape(o), o);
}

/** Leaf-spine (two-tier Clos): every leaf router linked to every spine, perLeaf leaves under each leaf router. */
export function leafSpine(o: LeafSpineOptions): TopologySpec {
  return finish(leafSpineShape(o), o);
}

/** A tree of routers `depth` levels deep, each with `fanout` children; the last level's children are leaves. */
export function tree(o: TreeGenOptions): TopologySpec {
  return finish(treeShape(o), o);
}

/** A chain of n routers, each with perRouter leaves. */
export function linear(o: LinearOptions): TopologySpec {
  return finish(linearShape(o), o);
}

export const GENERATORS = { fatTree, leafSpine, tree, linear } as const;
export type GeneratorName = keyof typeof GENERATORS;
