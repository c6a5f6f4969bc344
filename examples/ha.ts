/**
 * Two control planes and a worker, with Kind's API load balancer linked into r2 like a node
 * (examples/ha.yaml is the same topology in YAML). With apiThroughNetwork the nodes' API traffic
 * to the load balancer and its traffic to the API servers cross the core router.
 *
 *   sudo npx tsx examples/ha.ts        # builds it with Kind, tears it down when the scope ends
 *   sudo npx kinda up examples/ha.ts   # the same topology, left running (kinda down ha)
 */
import { fileURLToPath } from "node:url";
import {
  Def,
  K8sNodeMeta,
  KindaCluster,
  Link,
  LoadBalancerMeta,
  NetDeviceMeta,
  Network,
  TreeTopologyBuilder,
  type ClusterProvider,
} from "../src/seed.js";

export function haExample() {
  const network = new Network("ha");
  const builder = new TreeTopologyBuilder(network, {
    rootName: "core",
    deviceDefinitions: [
      Def("core", NetDeviceMeta()),
      Def("r1", NetDeviceMeta()),
      Def("r2", NetDeviceMeta()),
      Def("c1", K8sNodeMeta.Control()),
      Def("c2", K8sNodeMeta.Control()),
      Def("w1", K8sNodeMeta.Worker()),
      Def("lb", LoadBalancerMeta()), // Kind's haproxy container, not a lab device
    ],
    links: [
      Link(["core", "r1"], ["10.0.1.1/30", "10.0.1.2/30"]),
      Link(["core", "r2"], ["10.0.2.1/30", "10.0.2.2/30"]),
      Link(["r1", "c1"], ["10.0.11.1/24", "10.0.11.2/24"]),
      Link(["r2", "c2"], ["10.0.12.1/24", "10.0.12.2/24"]),
      Link(["r1", "w1"], ["10.0.13.1/24", "10.0.13.2/24"]),
      Link(["r2", "lb"], ["10.0.9.1/24", "10.0.9.2/24"]),
    ],
    cluster: { apiThroughNetwork: true },
  });
  return { network, builder };
}

/** `kinda up examples/ha.ts` deploys this. */
export default haExample().builder;

export async function main(provider?: ClusterProvider, imageMap?: Record<string, string>): Promise<void> {
  const { network, builder } = haExample();
  // the library handles no signals: this program does, so Ctrl+C stops the build and the scope
  // below removes what was made
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  await using cluster = new KindaCluster("ha", network, {
    signal: stop.signal,
    ...(provider ? { provider } : {}),
    ...(imageMap ? { imageMap } : {}),
  });
  await builder.setupNetwork(cluster);
  await builder.attachAndBuildCluster(cluster);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
