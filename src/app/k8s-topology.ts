/**
 * The emulated network, published to the cluster for network-aware schedulers: each Kubernetes
 * node labelled with its place (its device; `topology.kubernetes.io/zone` = that device, its rack;
 * for a generated fat tree `topology.kubernetes.io/region` = its pod), and scheduler-plugins'
 * NetworkTopology resource (group networktopology.diktyo.x-k8s.io, v1alpha1; its CRD made when
 * absent) with, for every pair of zones, the path cost over the links that carry traffic: one
 * per hop plus each shaped link's delay/latency in milliseconds, and the path's narrowest shaped
 * rate as its bandwidth capacity. Cut links carry nothing; zones cut off from each other get the
 * plugins' maximum cost (100). Where nodes carry regions (a fat tree's pods), the same per pair of
 * regions: the cheapest pair of their zones.
 */
import { graphFromState, type Graph } from "./graph.js";
import type { LabState, StateStore } from "../state/store.js";
import type { ProviderLookup } from "../model/provider.js";

export const NT_GROUP = "networktopology.diktyo.x-k8s.io";
export const NT_VERSION = "v1alpha1";
export const NT_PLURAL = "networktopologies";
export const ZONE = "topology.kubernetes.io/zone";
export const REGION = "topology.kubernetes.io/region";
export const DEVICE_LABEL = "kinda.dev/device";
export const LAB_LABEL = "kinda.dev/lab";
/** scheduler-plugins' NetworkOverhead: MaxCost */
export const MAX_COST = 100;

export interface NodePlace {
  k8sName: string;
  labels: Record<string, string>;
}

export interface Cost {
  destination: string;
  networkCost: number;
  bandwidthCapacity?: string;
}

export interface NetworkTopologySpec {
  configmapName: string;
  weights: { name: string; topologyList: { topologyKey: string; originList: { origin: string; costList: Cost[] }[] }[] }[];
}

/** tc rate to bits per second (10mbit = 1e7). */
export function rateBits(rate: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)$/i.exec(rate);
  if (!m) return undefined;
  const u = m[2]!.toLowerCase();
  const scale = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12, bps: 8, kbps: 8e3, mbps: 8e6, gbps: 8e9, tbps: 8e12 }[u]!;
  return Number(m[1]) * scale;
}

const ms = (t: string | undefined) => {
  const m = t ? /^(\d+(?:\.\d+)?)(us|ms|s)$/.exec(t) : null;
  if (!m) return 0;
  return Number(m[1]) * (m[2] === "s" ? 1000 : m[2] === "us" ? 0.001 : 1);
};

/**
 * The interface keys (plan/live.ts ifKey) of each end of an edge: a device's interface (its
 * lab-side veth and its own name in the container), a node's link (its interface, its lab-side end).
 */
function edgeKeys(st: LabState): (e: Graph["edges"][number]) => Set<string> {
  const byEnd = new Map<string, string[]>();
  const add = (end: string, ...keys: string[]) => byEnd.set(end, [...(byEnd.get(end) ?? []), ...keys]);
  for (const d of st.devices)
    for (const i of d.interfaces) add(`${d.name}/${i.name}`, `netns:${st.netns}/${i.hostIf}`, `container:${d.container}/${i.name}`);
  for (const l of st.cluster?.links ?? []) {
    const n = st.cluster?.nodes.find((x) => x.name === l.node);
    const dev = l.device ? st.devices.find((x) => x.name === l.device) : undefined;
    add(
      `${l.node}/`,
      ...(n?.container && l.nodeIf ? [`container:${n.container}/${l.nodeIf}`] : []),
      ...(l.labIf ? [`netns:${st.netns}/${l.labIf}`] : []),
      ...(dev && l.deviceIf ? [`container:${dev.container}/${l.deviceIf}`] : []),
    );
  }
  return (e) => new Set([`${e.a}/${e.labelA}`, `${e.b}/${e.labelB}`, `${e.a}/`, `${e.b}/`].flatMap((end) => byEnd.get(end) ?? []));
}

/**
 * Each edge of the lab's graph: its cost and rate limit from its shaping, cut or not. The shaping
 * is state.live's: what `kinda link` set at run time and what the topology's `tc` set at deploy
 * time (engine/live.ts shapeAtDeploy records it there too, under the collision domain's name), each
 * found by the interface it acts on, whatever name the endpoint was given.
 */
function weighted(st: LabState, g: Graph) {
  const shaping = st.live?.shaping ?? [];
  const keysOf = edgeKeys(st);
  return g.edges.map((e) => {
    const names = new Set([`${e.a}--${e.b}`, `${e.b}--${e.a}`, `${e.a}:${e.labelA}`, `${e.b}:${e.labelB}`]);
    const keys = keysOf(e);
    const mine = shaping.filter((s) => keys.has(s.key) || names.has(s.endpoint));
    const delay = Math.max(0, ...mine.map((s) => ms(s.shaping["delay"]) + ms(s.shaping["latency"])));
    const rates = mine
      .map((s) => (s.shaping["rate"] ? rateBits(s.shaping["rate"]) : undefined))
      .filter((r): r is number => r !== undefined);
    return { a: e.a, b: e.b, cut: !!e.cut, cost: 1 + delay, ...(rates.length ? { rate: Math.min(...rates) } : {}) };
  });
}

/** Cheapest paths from one vertex (Dijkstra on a few hundred vertices): cost and narrowest rate on the way. */
function fromOne(start: string, edges: ReturnType<typeof weighted>) {
  const adj = new Map<string, { to: string; cost: number; rate?: number }[]>();
  for (const e of edges) {
    if (e.cut) continue;
    const r = e.rate !== undefined ? { rate: e.rate } : {};
    (adj.get(e.a) ?? adj.set(e.a, []).get(e.a)!).push({ to: e.b, cost: e.cost, ...r });
    (adj.get(e.b) ?? adj.set(e.b, []).get(e.b)!).push({ to: e.a, cost: e.cost, ...r });
  }
  const best = new Map<string, { cost: number; rate: number }>([[start, { cost: 0, rate: Infinity }]]);
  const todo = new Set([start]);
  while (todo.size) {
    const u = [...todo].reduce((x, y) => (best.get(x)!.cost <= best.get(y)!.cost ? x : y));
    todo.delete(u);
    const bu = best.get(u)!;
    for (const n of adj.get(u) ?? []) {
      const c = bu.cost + n.cost;
      const rate = Math.min(bu.rate, n.rate ?? Infinity);
      const old = best.get(n.to);
      if (!old || c < old.cost || (c === old.cost && rate > old.rate)) {
        best.set(n.to, { cost: c, rate });
        todo.add(n.to);
      }
    }
  }
  return best;
}

/** The labels of every Kubernetes node of the lab's cluster, from where it is linked. */
export function nodePlaces(st: LabState): NodePlace[] {
  const out: NodePlace[] = [];
  for (const n of st.cluster?.nodes ?? []) {
    const link = st.cluster?.links?.find((l) => l.node === n.name);
    const place = link?.device ?? link?.domain;
    const labels: Record<string, string> = { [LAB_LABEL]: st.name };
    if (place) {
      labels[DEVICE_LABEL] = place;
      labels[ZONE] = place;
      const pod = /^edge(\d+)_\d+$/.exec(place);
      if (pod) labels[REGION] = `pod${pod[1]}`;
    }
    out.push({ k8sName: n.k8sName, labels });
  }
  return out;
}

/** NetworkTopology's spec: zone-to-zone costs over the links that carry traffic now. */
export function networkTopologySpec(st: LabState): NetworkTopologySpec {
  const g = graphFromState(st);
  const edges = weighted(st, g);
  const zones = [
    ...new Set(
      nodePlaces(st)
        .map((p) => p.labels[ZONE])
        .filter((z): z is string => !!z),
    ),
  ].sort();
  // a node on a shared segment sits at the segment's vertex
  const vertex = (z: string) => (g.nodes.some((n) => n.id === z) ? z : `[${z}]`);
  const originList = zones.map((origin) => {
    const best = fromOne(vertex(origin), edges);
    const costList = zones
      .filter((d) => d !== origin)
      .map((destination): Cost => {
        const b = best.get(vertex(destination));
        if (!b) return { destination, networkCost: MAX_COST };
        return {
          destination,
          networkCost: Math.min(MAX_COST, Math.round(b.cost)),
          ...(Number.isFinite(b.rate) ? { bandwidthCapacity: `${Math.round(b.rate)}` } : {}),
        };
      });
    return { origin, costList };
  });
  const topologyList: NetworkTopologySpec["weights"][number]["topologyList"] = [{ topologyKey: ZONE, originList }];
  // NetworkOverhead compares nodes of different regions by the region pair's cost alone: the
  // cheapest of their zones' pairs (the narrowest rate of that path)
  const regionOf = new Map(
    nodePlaces(st).flatMap((p) => (p.labels[REGION] && p.labels[ZONE] ? [[p.labels[ZONE], p.labels[REGION]] as const] : [])),
  );
  const regions = [...new Set(regionOf.values())].sort();
  if (regions.length > 1)
    topologyList.push({
      topologyKey: REGION,
      originList: regions.map((origin) => ({
        origin,
        costList: regions
          .filter((d) => d !== origin)
          .map((destination): Cost => {
            const pairs = originList
              .filter((o) => regionOf.get(o.origin) === origin)
              .flatMap((o) => o.costList.filter((c) => regionOf.get(c.destination) === destination));
            const best = pairs.reduce<Cost | undefined>((x, c) => (!x || c.networkCost < x.networkCost ? c : x), undefined);
            return { ...(best ?? { networkCost: MAX_COST }), destination };
          }),
      })),
    });
  return {
    configmapName: `kinda-${st.name}-topology`,
    weights: [{ name: "UserDefined", topologyList }],
  };
}

/**
 * The CRD of scheduler-plugins' NetworkTopology (enough schema for the API server to keep the
 * spec), as @kubernetes/client-node's typed body: its serializer knows
 * `x-kubernetes-preserve-unknown-fields` only as `x_kubernetes_preserve_unknown_fields` and drops the JSON one.
 */
export function networkTopologyCrd(): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${NT_PLURAL}.${NT_GROUP}`, labels: { "app.kubernetes.io/managed-by": "kinda" } },
    spec: {
      group: NT_GROUP,
      names: {
        kind: "NetworkTopology",
        listKind: "NetworkTopologyList",
        plural: NT_PLURAL,
        singular: "networktopology",
        shortNames: ["nt"],
      },
      scope: "Namespaced",
      versions: [
        {
          name: NT_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: {
                spec: { type: "object", x_kubernetes_preserve_unknown_fields: true },
                status: { type: "object", x_kubernetes_preserve_unknown_fields: true },
              },
            },
          },
        },
      ],
    },
  };
}

interface ApiError {
  code?: number;
}

/**
 * Labels the nodes and writes (or replaces) the lab's NetworkTopology in namespace `default`,
 * making its CRD first when the cluster has none. Returns what it wrote.
 */
export async function publishNetworkTopology(
  st: LabState,
  providers: ProviderLookup,
): Promise<{ labelled: number; spec: NetworkTopologySpec } | undefined> {
  const cl = st.cluster;
  if (!cl) return undefined;
  const provider = providers.providerFor(cl.provider, cl.name, cl.providerOptions);
  if (!provider?.kubeconfig) return undefined;
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  kc.loadFromString(await provider.kubeconfig());
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const places = nodePlaces(st);
  for (const p of places)
    await core.patchNode(
      { name: p.k8sName, body: { metadata: { labels: p.labels } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const crd = networkTopologyCrd();
  try {
    await ext.readCustomResourceDefinition({ name: `${NT_PLURAL}.${NT_GROUP}` });
  } catch (e) {
    if ((e as ApiError).code !== 404) throw e;
    await ext.createCustomResourceDefinition({ body: crd as never });
    // the API serves a new CRD's resource a moment after creating it
    for (let i = 0; i < 50; i++) {
      const c = await ext.readCustomResourceDefinition({ name: `${NT_PLURAL}.${NT_GROUP}` });
      if (c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True")) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const spec = networkTopologySpec(st);
  const name = `kinda-${st.name}`;
  const body = {
    apiVersion: `${NT_GROUP}/${NT_VERSION}`,
    kind: "NetworkTopology",
    metadata: { name, labels: { [LAB_LABEL]: st.name } },
    spec,
  };
  const where = { group: NT_GROUP, version: NT_VERSION, namespace: "default", plural: NT_PLURAL };
  try {
    const old = (await custom.getNamespacedCustomObject({ ...where, name })) as { metadata?: { resourceVersion?: string } };
    await custom.replaceNamespacedCustomObject({
      ...where,
      name,
      body: { ...body, metadata: { ...body.metadata, resourceVersion: old.metadata?.resourceVersion } },
    });
  } catch (e) {
    if ((e as ApiError).code !== 404) throw e;
    await custom.createNamespacedCustomObject({ ...where, body });
  }
  return { labelled: places.length, spec };
}

/**
 * publishNetworkTopology for a lab by name, never failing the verb that called it: a cluster whose
 * API cannot be written gets a warning in the lab's state (kinda status shows it) instead.
 */
export async function publishTopology(lab: string, store: StateStore, providers: ProviderLookup): Promise<string | undefined> {
  const st = store.read(lab);
  if (!st?.cluster) return undefined;
  try {
    const r = await publishNetworkTopology(st, providers);
    return r ? `NetworkTopology kinda-${lab} written (${r.labelled} nodes labelled)` : undefined;
  } catch (e) {
    const msg = `the network topology could not be published to the cluster: ${(e as Error).message.split("\n")[0]}`;
    const now = store.read(lab);
    if (now && !now.warnings.includes(msg)) store.write({ ...now, warnings: [...now.warnings, msg] });
    return msg;
  }
}
