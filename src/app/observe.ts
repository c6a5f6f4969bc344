/**
 * What a lab that is up looks like now, for `kinda ui` and `kinda metrics`: every link's counters
 * and rates (the same sample as `kinda status --links`), each device's container up or not, and,
 * with a cluster, each Kubernetes node's Ready condition and pod count from the API.
 */
import { KindaError } from "../core/errors.js";
import type { Runtime } from "../model/container.js";
import type { ProviderLookup } from "../model/provider.js";
import { sampleLinks, withRates, type LinkCounters } from "../engine/watch.js";
import type { LabState, StateStore } from "../state/store.js";

export interface DeviceView {
  name: string;
  kind: string;
  up: boolean;
}

export interface NodeView {
  name: string;
  k8sName: string;
  role: string;
  /** The node's container is running. */
  up: boolean;
  /** Kubernetes' Ready condition; undefined when the API could not be read. */
  ready?: boolean;
  pods?: number;
}

export interface Snapshot {
  lab: string;
  /** Milliseconds since the epoch. */
  at: number;
  links: LinkCounters[];
  devices: DeviceView[];
  nodes: NodeView[];
  /** What could not be read this time (the API down, a container gone), one line each. */
  problems: string[];
}

export interface ObserverDeps {
  store: StateStore;
  runtime: Runtime;
  providers: ProviderLookup;
}

interface KubeNodeLike {
  metadata?: { name?: string };
  status?: { conditions?: { type: string; status: string }[] };
}
interface KubePodLike {
  spec?: { nodeName?: string };
}

/** Samples one lab; keeps the previous sample for rates and the containers' PIDs between samples. */
export class LabObserver {
  private prev: { at: number; links: LinkCounters[] } | undefined;
  private readonly pids = new Map<string, number>();

  constructor(
    readonly lab: string,
    private readonly deps: ObserverDeps,
  ) {}

  state(): LabState {
    const st = this.deps.store.read(this.lab);
    if (!st)
      throw new KindaError(`LAB ${JSON.stringify(this.lab)}: no lab of that name is up`, { hint: "kinda status lists the labs that are" });
    return st;
  }

  async sample(): Promise<Snapshot> {
    const st = this.state();
    const problems: string[] = [];
    const at = Date.now();
    const [raw, devices, nodes] = await Promise.all([
      sampleLinks(st, { runtime: this.deps.runtime, pids: this.pids }).catch((e: unknown) => {
        problems.push(`links: ${(e as Error).message}`);
        this.pids.clear();
        return [] as LinkCounters[];
      }),
      this.devices(st),
      this.nodes(st, problems),
    ]);
    const links = this.prev ? withRates(raw, this.prev.links, (at - this.prev.at) / 1000) : raw;
    if (raw.length) this.prev = { at, links: raw };
    return { lab: st.name, at, links, devices, nodes, problems };
  }

  private async devices(st: LabState): Promise<DeviceView[]> {
    return Promise.all(
      st.devices.map(async (d) => {
        const c = await this.deps.runtime.inspect(d.container).catch(() => undefined);
        return { name: d.name, kind: d.role?.kind ?? "device", up: !!c?.running };
      }),
    );
  }

  private async nodes(st: LabState, problems: string[]): Promise<NodeView[]> {
    const cl = st.cluster;
    if (!cl) return [];
    const views: NodeView[] = await Promise.all(
      cl.nodes.map(async (n) => {
        const c = await this.deps.runtime.inspect(n.container).catch(() => undefined);
        return { name: n.name, k8sName: n.k8sName, role: n.role, up: !!c?.running };
      }),
    );
    const provider = this.deps.providers.providerFor(cl.provider, cl.name, cl.providerOptions);
    if (!provider?.kubeconfig) return views;
    try {
      const { KubeConfig, CoreV1Api } = await import("@kubernetes/client-node");
      const kc = new KubeConfig();
      kc.loadFromString(await provider.kubeconfig());
      const api = kc.makeApiClient(CoreV1Api);
      const [nodeList, podList] = await Promise.all([api.listNode(), api.listPodForAllNamespaces()]);
      const ready = new Map(
        (nodeList.items as KubeNodeLike[]).map((k) => [
          k.metadata?.name ?? "",
          k.status?.conditions?.find((x) => x.type === "Ready")?.status === "True",
        ]),
      );
      const pods = new Map<string, number>();
      for (const p of podList.items as KubePodLike[]) if (p.spec?.nodeName) pods.set(p.spec.nodeName, (pods.get(p.spec.nodeName) ?? 0) + 1);
      for (const v of views) {
        const r = ready.get(v.k8sName);
        if (r !== undefined) v.ready = r;
        v.pods = pods.get(v.k8sName) ?? 0;
      }
    } catch (e) {
      problems.push(`kubernetes: ${(e as Error).message.split("\n")[0]}`);
    }
    return views;
  }
}
