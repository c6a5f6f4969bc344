/**
 * Topology pictures: a small graph model built from any source (a kinda topology, a Kathara
 * lab, a lab that is up with its cluster), laid out in layers from a root (readable for trees
 * and fat trees), rendered as SVG (PNG through resvg), Mermaid or DOT.
 */
import dagre from "@dagrejs/dagre";
import type { Lab } from "../model/lab.js";
import { isLoadBalancer, isNode, type DeviceKind, type TopologySpec } from "../model/spec.js";
import { nicName } from "../core/names.js";
import type { LabState } from "../state/store.js";
import { LOAD_BALANCER } from "../model/cluster.js";

/** "nic": a Kubernetes node's smart NIC (Open vSwitch or BMv2), drawn between the node and its device. */
export type GraphKind = DeviceKind | "device" | "segment" | "nic";

export interface GraphNode {
  id: string;
  kind: GraphKind;
  label?: string;
}

export interface GraphEdge {
  a: string;
  b: string;
  /** Address (or interface) at each end. */
  labelA?: string;
  labelB?: string;
  /** Cut at run time (kinda link LAB ENDPOINT down): drawn dashed red. */
  cut?: boolean;
}

export interface Graph {
  title: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
  root?: string;
}

/** The load balancer's label: its name and what it is (the API load balancer of several control planes). */
function lbLabel(name: string): string {
  return `${name} (API LB)`;
}

/**
 * A node's link through its smart NIC: the edge node--device becomes device--NIC--node, the
 * addresses at the device's and the node's ends.
 */
function throughNic(g: Graph, e: GraphEdge, node: string, kind: string): void {
  const id = nicName(node);
  g.nodes.push({ id, kind: "nic", label: `${id} (${kind})` });
  const nodeIsA = e.a === node;
  const [dev, devLabel, nodeLabel] = nodeIsA ? [e.b, e.labelB, e.labelA] : [e.a, e.labelA, e.labelB];
  g.edges.push(
    { a: dev, b: id, ...(devLabel ? { labelA: devLabel } : {}) },
    { a: id, b: node, ...(nodeLabel ? { labelB: nodeLabel } : {}) },
  );
}

export function graphFromSpec(spec: TopologySpec): Graph {
  const g: Graph = {
    title: spec.name,
    nodes: spec.devices.map((d) => ({ id: d.name, kind: d.kind, ...(isLoadBalancer(d.kind) ? { label: lbLabel(d.name) } : {}) })),
    edges: [],
  };
  const kindOf = new Map(spec.devices.map((d) => [d.name, d.kind]));
  for (const l of spec.links) {
    const e: GraphEdge = {
      a: l.endpoints[0],
      b: l.endpoints[1],
      ...(l.addresses ? { labelA: l.addresses[0], labelB: l.addresses[1] } : {}),
    };
    const node = l.endpoints.find((x) => isNode(kindOf.get(x) ?? "router"));
    if (l.nic && node) throughNic(g, e, node, l.nic.kind);
    else g.edges.push(e);
  }
  for (const s of spec.segments ?? []) {
    const id = `[${s.name}]`;
    g.nodes.push({ id, kind: "segment", label: s.name });
    g.edges.push({ a: s.device, b: id, labelA: s.address });
    for (const m of s.members) g.edges.push({ a: id, b: m.name, labelB: m.address });
  }
  if (spec.root) g.root = spec.root;
  return g;
}

/** Collision domains with two members become edges; larger ones a segment node. */
function fromDomains(title: string, devices: { name: string; kind: GraphKind; ifs: { name: string; domain: string }[] }[]): Graph {
  const nodes: GraphNode[] = devices.map((d) => ({ id: d.name, kind: d.kind }));
  const edges: GraphEdge[] = [];
  const members = new Map<string, { dev: string; ifn: string }[]>();
  for (const d of devices)
    for (const i of d.ifs) (members.get(i.domain) ?? members.set(i.domain, []).get(i.domain)!).push({ dev: d.name, ifn: i.name });
  for (const [domain, m] of [...members].sort(([a], [b]) => a.localeCompare(b))) {
    if (m.length === 2) edges.push({ a: m[0]!.dev, b: m[1]!.dev, labelA: m[0]!.ifn, labelB: m[1]!.ifn });
    else {
      const id = `[${domain}]`;
      nodes.push({ id, kind: "segment", label: domain });
      for (const x of m) edges.push({ a: id, b: x.dev, labelB: x.ifn });
    }
  }
  return { title, nodes, edges };
}

export function graphFromLab(title: string, lab: Lab): Graph {
  return fromDomains(
    title,
    lab.devices.map((d) => ({
      name: d.name,
      kind: "device" as GraphKind,
      ifs: d.interfaces.map((i) => ({ name: `eth${i.index}`, domain: i.domain })),
    })),
  );
}

export function graphFromState(st: LabState): Graph {
  const g = fromDomains(
    st.name,
    st.devices.map((d) => ({ name: d.name, kind: (d.role?.kind ?? "device") as GraphKind, ifs: d.interfaces })),
  );
  // on the Kubernetes runtime each device says which host node runs its pod
  for (const n of g.nodes) {
    const node = st.devices.find((d) => d.name === n.id)?.pod?.node;
    if (node) n.label = `${n.id} @ ${node}`;
  }
  for (const n of st.cluster?.nodes ?? []) g.nodes.push({ id: n.name, kind: n.role, label: `${n.name} (${n.k8sName})` });
  const lb = st.cluster?.loadBalancer;
  if (lb && st.cluster?.links?.some((l) => l.node === LOAD_BALANCER))
    g.nodes.push({ id: LOAD_BALANCER, kind: "load-balancer", label: lbLabel(lb.container) });
  for (const l of st.cluster?.links ?? []) {
    if (!g.nodes.some((n) => n.id === l.node)) continue;
    const nic = st.cluster?.nics?.find((x) => x.node === l.node);
    if (l.device && nic) throughNic(g, { a: l.device, b: l.node, labelB: l.nodeAddress }, l.node, nic.kind);
    else if (l.device) g.edges.push({ a: l.device, b: l.node, labelB: l.nodeAddress });
    else if (l.domain) {
      // a node on a shared segment: join the segment node, or the two-member edge's ends
      const seg = g.nodes.find((n) => n.kind === "segment" && n.label === l.domain);
      const members = st.devices.filter((d) => d.interfaces.some((i) => i.domain === l.domain)).map((d) => d.name);
      if (seg) g.edges.push({ a: seg.id, b: l.node, labelB: l.nodeAddress });
      else for (const m of members) g.edges.push({ a: m, b: l.node, labelB: l.nodeAddress });
    }
  }
  markCuts(st, g);
  return g;
}

/** Marks the edges of a running lab whose interfaces are cut (state.live.cuts). */
function markCuts(st: LabState, g: Graph): void {
  const cutKeys = new Set(st.live?.cuts.map((c) => c.key));
  if (!cutKeys.size) return;
  const cut = new Set<string>();
  for (const d of st.devices)
    for (const i of d.interfaces)
      if (
        cutKeys.has(`netns:${st.netns}/${i.hostIf}`) ||
        cutKeys.has(`container:${d.container}/${i.name}`) ||
        // the Kubernetes runtime: kinda's end (kvN) is in the device's pod
        cutKeys.has(`container:${d.container}/${i.hostIf}`)
      )
        cut.add(`${d.name}/${i.name}`);
  for (const l of st.cluster?.links ?? []) {
    const c = st.cluster?.nodes.find((n) => n.name === l.node)?.container;
    if ((c && cutKeys.has(`container:${c}/${l.nodeIf}`)) || (l.labIf && cutKeys.has(`netns:${st.netns}/${l.labIf}`))) cut.add(`${l.node}/`);
  }
  for (const e of g.edges)
    if (cut.has(`${e.a}/${e.labelA}`) || cut.has(`${e.b}/${e.labelB}`) || cut.has(`${e.b}/`) || cut.has(`${e.a}/`)) e.cut = true;
}

interface Placed {
  x: number;
  y: number;
}

/**
 * Layers: BFS depth from the root (trees), else distance from the leaves with leaves at the
 * bottom (Kathara labs, fat trees, leaf-spine fabrics).
 */
function layers(g: Graph): Map<string, number> {
  const adj = new Map<string, string[]>(g.nodes.map((n) => [n.id, []]));
  for (const e of g.edges) {
    adj.get(e.a)?.push(e.b);
    adj.get(e.b)?.push(e.a);
  }
  const bfs = (starts: string[]) => {
    const d = new Map<string, number>(starts.map((s0) => [s0, 0]));
    const q = [...starts];
    while (q.length) {
      const u = q.shift()!;
      for (const v of adj.get(u) ?? [])
        if (!d.has(v)) {
          d.set(v, d.get(u)! + 1);
          q.push(v);
        }
    }
    return d;
  };
  if (g.root && adj.has(g.root)) return bfs([g.root]);
  const leaves = g.nodes.filter((n) => (adj.get(n.id)?.length ?? 0) <= 1).map((n) => n.id);
  const fromLeaves = bfs(leaves.length ? leaves : g.nodes.slice(0, 1).map((n) => n.id));
  const max = Math.max(0, ...fromLeaves.values());
  return new Map(g.nodes.map((n) => [n.id, max - (fromLeaves.get(n.id) ?? max)]));
}

/**
 * Positions from dagre's layered layout (crossing minimisation, so a fat tree's pods stay
 * together) on kinda's layers.
 */
export function layout(g: Graph): Map<string, Placed> {
  const depth = layers(g);
  const dg = new dagre.graphlib.Graph({ multigraph: true });
  // links point up, from the lower layer to the upper, drawn bottom to top: dagre's first ordering
  // then follows the leaves in name order (h1_1_1, h1_1_2, ...), keeping pods together
  dg.setGraph({ rankdir: "BT", nodesep: 30, ranksep: 110, marginx: 70, marginy: 60 });
  for (const n of g.nodes) dg.setNode(n.id, { width: 76, height: 56 });
  g.edges.forEach((e, i) => {
    const up = (depth.get(e.a) ?? 0) >= (depth.get(e.b) ?? 0);
    dg.setEdge(up ? e.a : e.b, up ? e.b : e.a, {}, `e${i}`);
  });
  dagre.layout(dg);
  return new Map(g.nodes.map((n) => [n.id, { x: Math.round(dg.node(n.id).x), y: Math.round(dg.node(n.id).y) }]));
}

const COLORS: Record<GraphKind, string> = {
  router: "#4e79a7",
  switch: "#f28e2b",
  "p4-switch": "#d4a017",
  "ovs-switch": "#8c564b",
  host: "#76b7b2",
  external: "#bab0ac",
  worker: "#59a14f",
  "control-plane": "#e15759",
  "load-balancer": "#b07aa1",
  device: "#4e79a7",
  segment: "#9c755f",
  nic: "#17becf",
};

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function shape(n: GraphNode, p: Placed): string {
  const c = COLORS[n.kind];
  const { x, y } = p;
  switch (n.kind) {
    case "router":
    case "device":
      return `<circle cx="${x}" cy="${y}" r="26" fill="${c}"/>`;
    case "switch":
      return `<rect x="${x - 26}" y="${y - 26}" width="52" height="52" rx="8" fill="${c}"/>`;
    case "p4-switch": {
      // an octagon: a programmable chip
      const pts = [22.5, 67.5, 112.5, 157.5, 202.5, 247.5, 292.5, 337.5].map(
        (a) => `${(x + 30 * Math.cos((a * Math.PI) / 180)).toFixed(1)},${(y + 30 * Math.sin((a * Math.PI) / 180)).toFixed(1)}`,
      );
      return `<polygon points="${pts.join(" ")}" fill="${c}"/>`;
    }
    case "ovs-switch":
      // a parallelogram: a software switch
      return `<polygon points="${x - 22},${y - 22} ${x + 36},${y - 22} ${x + 22},${y + 22} ${x - 36},${y + 22}" fill="${c}"/>`;
    case "nic":
      // a small card with contacts along its edge: a network card on the node's link
      return (
        `<rect x="${x - 30}" y="${y - 14}" width="60" height="28" rx="3" fill="${c}" stroke="#222" stroke-dasharray="3 2"/>` +
        `<path d="M${x - 20},${y + 14} v5 M${x - 8},${y + 14} v5 M${x + 4},${y + 14} v5 M${x + 16},${y + 14} v5" stroke="#222" stroke-width="2"/>`
      );
    case "external":
      return `<ellipse cx="${x}" cy="${y}" rx="38" ry="24" fill="${c}"/>`;
    case "host":
      return `<rect x="${x - 30}" y="${y - 20}" width="60" height="40" fill="${c}"/>`;
    case "segment":
      return `<polygon points="${x},${y - 16} ${x + 22},${y} ${x},${y + 16} ${x - 22},${y}" fill="${c}"/>`;
    case "load-balancer":
      // a trapezoid, wide side up: many clients in, a few API servers out
      return `<polygon points="${x - 34},${y - 22} ${x + 34},${y - 22} ${x + 20},${y + 22} ${x - 20},${y + 22}" fill="${c}"/>`;
    default: {
      // Kubernetes nodes: a hexagon
      const pts = [0, 60, 120, 180, 240, 300].map(
        (a) => `${(x + 28 * Math.cos((a * Math.PI) / 180)).toFixed(1)},${(y + 28 * Math.sin((a * Math.PI) / 180)).toFixed(1)}`,
      );
      return `<polygon points="${pts.join(" ")}" fill="${c}"/>`;
    }
  }
}

/** Above this many links, address labels overlap each other and the lines: the SVG leaves them out. */
const MAX_LABELLED_LINKS = 24;

export function toSvg(g: Graph): string {
  const at = layout(g);
  const crowded = g.edges.length > MAX_LABELLED_LINKS;
  const xs = [...at.values()].map((p) => p.x);
  const ys = [...at.values()].map((p) => p.y);
  const w = Math.max(300, ...xs) + 100;
  const h = Math.max(200, ...ys) + 80;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<title>${esc(g.title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  for (const e of g.edges) {
    const a = at.get(e.a)!;
    const b = at.get(e.b)!;
    out.push(
      `<line class="link" data-a="${esc(e.a)}" data-b="${esc(e.b)}" x1="${a.x}" y1="${a.y}" x2="${b.x}" y2="${b.y}" ${e.cut ? 'stroke="#c00" stroke-dasharray="6 4"' : 'stroke="#555"'} stroke-width="2"/>`,
    );
    const lab = (p: Placed, q: Placed, text: string) => {
      const tx = p.x + (q.x - p.x) * 0.4;
      const ty = p.y + (q.y - p.y) * 0.4;
      return `<text class="address" x="${tx.toFixed(1)}" y="${ty.toFixed(1)}" font-size="10" fill="#333" text-anchor="middle" dy="3" stroke="white" stroke-width="3" paint-order="stroke">${esc(text)}</text>`;
    };
    if (e.labelA && !crowded) out.push(lab(a, b, e.labelA));
    if (e.labelB && !crowded) out.push(lab(b, a, e.labelB));
  }
  for (const n of g.nodes) {
    const p = at.get(n.id)!;
    out.push(
      `<g class="device" data-name="${esc(n.id)}" data-kind="${n.kind}">${shape(n, p)}<text x="${p.x}" y="${p.y + 5}" font-size="12" font-weight="bold" text-anchor="middle" fill="white" stroke="#222" stroke-width="2.5" paint-order="stroke">${esc(n.label ?? n.id)}</text></g>`,
    );
  }
  if (crowded)
    out.push(
      `<text class="note" x="10" y="${h - 12}" font-size="11" fill="#555">${g.edges.length} links: addresses left out to keep the picture readable (--dry-run or kinda expand lists them; -f dot keeps them)</text>`,
    );
  const legend = [...new Set(g.nodes.map((n) => n.kind))];
  legend.forEach((k, i) =>
    out.push(
      `<g class="legend"><rect x="10" y="${10 + i * 16}" width="10" height="10" fill="${COLORS[k]}"/><text x="24" y="${19 + i * 16}" font-size="10">${k}</text></g>`,
    ),
  );
  out.push("</svg>");
  return out.join("\n");
}

export async function toPng(g: Graph): Promise<Buffer> {
  const { Resvg } = await import("@resvg/resvg-js");
  return Buffer.from(new Resvg(toSvg(g), { background: "white" }).render().asPng());
}

const mid = (id: string) => id.replace(/[^A-Za-z0-9_]/g, "_");

export function toMermaid(g: Graph): string {
  const out = ["graph TD"];
  for (const n of g.nodes) {
    const text = `"${(n.label ?? n.id).replace(/"/g, "'")}<br/><small>${n.kind}</small>"`;
    const open =
      n.kind === "router" || n.kind === "device"
        ? "(("
        : n.kind === "segment"
          ? "{"
          : n.kind === "load-balancer"
            ? "[/"
            : n.kind === "nic"
              ? ">"
              : n.kind === "p4-switch"
                ? "[["
                : n.kind === "ovs-switch"
                  ? "[/"
                  : isNode(n.kind as DeviceKind)
                    ? "{{"
                    : "[";
    const close =
      open === "(("
        ? "))"
        : open === "{"
          ? "}"
          : open === "{{"
            ? "}}"
            : open === "[["
              ? "]]"
              : open === "[/"
                ? n.kind === "ovs-switch"
                  ? "/]"
                  : "\\]"
                : "]";
    out.push(`  ${mid(n.id)}${open}${text}${close}`);
  }
  for (const e of g.edges) {
    const label = [e.labelA, e.labelB].filter(Boolean).join(" - ");
    out.push(`  ${mid(e.a)} ${e.cut ? "-.-" : "---"}${label ? `|"${label}${e.cut ? " (cut)" : ""}"|` : ""} ${mid(e.b)}`);
  }
  return out.join("\n") + "\n";
}

export function toDot(g: Graph): string {
  const shapes: Record<GraphKind, string> = {
    router: "circle",
    device: "circle",
    switch: "box",
    "p4-switch": "octagon",
    "ovs-switch": "parallelogram",
    host: "box",
    external: "ellipse",
    worker: "hexagon",
    "control-plane": "hexagon",
    "load-balancer": "invtrapezium",
    segment: "diamond",
    nic: "component",
  };
  const out = [`graph "${g.title.replace(/"/g, "'")}" {`, "  node [style=filled, fontname=Helvetica];"];
  for (const n of g.nodes)
    out.push(`  "${n.id}" [shape=${shapes[n.kind]}, fillcolor="${COLORS[n.kind]}", label="${(n.label ?? n.id).replace(/"/g, "'")}"];`);
  for (const e of g.edges)
    out.push(
      `  "${e.a}" -- "${e.b}"${e.labelA || e.labelB ? ` [taillabel="${e.labelA ?? ""}", headlabel="${e.labelB ?? ""}", fontsize=9${e.cut ? ", style=dashed, color=red" : ""}]` : e.cut ? " [style=dashed, color=red]" : ""};`,
    );
  out.push("}");
  return out.join("\n") + "\n";
}
