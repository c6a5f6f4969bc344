/**
 * `kinda node LAB NAME add|remove`: a Kubernetes worker added to, or removed from, the cluster of
 * a lab that is up (engine/cluster.ts does the work). The cluster's nodes and links come from
 * the lab's source, as `up` compiled it; a node the source defines (added to it after `up`) is
 * linked as written there, or the command line gives its link (`--device`, `--address`).
 */
import { KindaError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import { addNodeToCluster, removeNodeFromCluster, type NodeChangeInput } from "../engine/cluster.js";
import type { NodeLink, NodeSpec } from "../model/cluster.js";
import type { ClusterState, StateStore } from "../state/store.js";
import { loadSource } from "../topology/source.js";
import { createEnv } from "./root.js";
import { compileTopology } from "./topology.js";

export interface NodeCommandOptions {
  store?: StateStore;
  reporter?: Reporter;
  /** The new node's link when the source does not define it: a device and both ends' addresses. */
  device?: string;
  address?: string;
  deviceAddress?: string;
  drain?: boolean;
  readyTimeoutS?: number;
}

/**
 * The cluster's nodes and links for a change of node `name`, in the order they were made (a new
 * node last, so the others keep their places: tunnel MACs and addresses follow the index). From the source as compiled, plus the nodes added from the command line earlier (their
 * links as recorded in the state). The node being removed is among them even when it was added
 * from the command line: the plan with it, less the plan without it, is what its removal undoes
 * (its routes and tunnel entries in the other nodes, its link's end in the device).
 */
export function nodeChangeLists(
  from: {
    nodes: readonly NodeSpec[];
    links: readonly NodeLink[];
    /** The cluster's links as the state recorded them, and its nodes in the order they were made. */
    recorded: NonNullable<ClusterState["links"]>;
    made: readonly string[];
    source: string;
  },
  name: string,
  adding: boolean,
  o: Pick<NodeCommandOptions, "device" | "address" | "deviceAddress">,
): { nodes: NodeSpec[]; links: NodeLink[] } {
  const nodes = [...from.nodes];
  let links: NodeLink[] = [...from.links];
  if (adding && (o.device || o.address)) {
    if (!o.device || !o.address) throw new KindaError("--device and --address go together (the node's link and its address)");
    if (nodes.some((n) => n.name === name)) throw new KindaError(`NAME ${name}: ${from.source} defines it; drop --device/--address`);
    nodes.push({ name, role: "worker" });
    links = links.filter((l) => l.node !== name);
    links.push({ node: name, device: o.device, nodeAddress: o.address, ...(o.deviceAddress ? { deviceAddress: o.deviceAddress } : {}) });
  } else if (adding && !nodes.some((n) => n.name === name)) {
    throw new KindaError(`NAME ${name}: ${from.source} defines no node of that name`, {
      hint: "add it to the topology (nodes: and its link), or give its link: --device DEVICE --address CIDR [--device-address CIDR]",
    });
  }
  // a node that was added from the command line before: its recorded link (when adding, the
  // new node's own link comes from the command line or the source instead)
  for (const l of from.recorded)
    if ((!adding || l.node !== name) && !links.some((x) => x.node === l.node) && l.device) {
      nodes.push({ name: l.node, role: "worker" });
      links.push({
        node: l.node,
        device: l.device,
        nodeAddress: l.nodeAddress,
        ...(l.deviceAddress ? { deviceAddress: l.deviceAddress } : {}),
        ...(l.deviceIf ? { deviceIf: l.deviceIf } : {}),
      });
    }
  // in the order the nodes were made (`up`, then each add), a new one last: each keeps the place
  // (the tunnel MAC and address go by it) that it had when it was linked
  const order = (n: string) => (from.made.includes(n) ? from.made.indexOf(n) : from.made.length);
  nodes.sort((a, b) => order(a.name) - order(b.name));
  links.sort((a, b) => order(a.node) - order(b.node));
  return { nodes, links };
}

async function changeInput(lab: string, name: string, o: NodeCommandOptions, adding: boolean): Promise<NodeChangeInput> {
  const { store, runtime, kernel, providers } = createEnv({ store: o.store });
  const st = store.read(lab);
  if (!st) throw new KindaError(`LAB ${JSON.stringify(lab)}: no lab of that name is up`);
  const c = st.cluster;
  if (!c) throw new KindaError(`lab ${lab} has no Kubernetes cluster`);
  if (!st.source || !/\.(ya?ml|ts)$/.test(st.source))
    throw new KindaError(`lab ${lab} was not made from a YAML or TypeScript topology: kinda node reads the cluster's links from it`);
  const src = await loadSource(st.source);
  if (src.type === "kathara") throw new KindaError(`lab ${lab}'s source ${st.source} is a Kathara lab, which has no cluster`);
  const compiled = compileTopology({ ...src.spec, name: st.name });
  const { nodes, links } = nodeChangeLists(
    { nodes: compiled.nodes, links: compiled.nodeLinks, recorded: c.links ?? [], made: c.nodes.map((n) => n.name), source: st.source },
    name,
    adding,
    o,
  );
  const provider = providers.providerFor(c.provider, c.name, c.providerOptions);
  if (!provider) throw new KindaError(`no cluster provider "${c.provider}" is known to this process`);
  return {
    lab,
    nodes,
    links,
    options: { ...compiled.clusterOptions, ...(c.uplinkCidr ? { uplinkCidr: c.uplinkCidr } : {}) },
    provider,
    runtime,
    store,
    kernel,
    ...(o.reporter ? { reporter: o.reporter } : {}),
  };
}

export async function addNode(lab: string, name: string, o: NodeCommandOptions = {}): Promise<string> {
  const t = performance.now();
  const n = await addNodeToCluster(await changeInput(lab, name, o, true), name, o.readyTimeoutS ? { readyTimeoutS: o.readyTimeoutS } : {});
  return `added node ${name} to lab ${lab}: Kubernetes node ${n.k8sName}, pods ${n.podCidrs.join(" ")} (${((performance.now() - t) / 1000).toFixed(1)} s)`;
}

export async function removeNode(lab: string, name: string, o: NodeCommandOptions = {}): Promise<string> {
  const t = performance.now();
  const drain = o.drain ?? true;
  await removeNodeFromCluster(await changeInput(lab, name, o, false), name, { drain });
  return `removed node ${name} from lab ${lab}${drain ? " (drained first)" : " (not drained: a crash)"} (${((performance.now() - t) / 1000).toFixed(1)} s)`;
}
