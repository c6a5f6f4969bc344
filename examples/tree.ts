/**
 * The seed's tree example, line for line in kinda's API (examples/tree.yaml is the same topology
 * in YAML). r1 and r2 are in-network (P4) switches in the seed; here they are plain routers
 * (examples/p4-tree.yaml runs BMv2 in them). Routing is static: kinda installs the routes.
 *
 *   sudo npx tsx examples/tree.ts        # builds it with Kind, tears it down when the scope ends
 *   sudo npx kinda up examples/tree.ts   # the same topology, left running (kinda down tree)
 */
import { fileURLToPath } from "node:url";
import {
  Def,
  ExternalDeviceMeta,
  IncSwitchMeta,
  K8sNodeMeta,
  KindaCluster,
  Link,
  NetDeviceMeta,
  Network,
  TreeTopologyBuilder,
  type ClusterProvider,
} from "../src/index.js";

export function treeExample(encapsulation: "vxlan" | "none" = "vxlan") {
  const network = new Network("tree");
  const builder = new TreeTopologyBuilder(network, {
    rootName: "internet",
    deviceDefinitions: [
      Def("internet", ExternalDeviceMeta()), // debian-based host
      Def("gateway", NetDeviceMeta({ image: "kathara/frr" })), // router
      Def("r1", IncSwitchMeta()), // a P4 switch in the seed; a router without a program
      Def("r2", IncSwitchMeta()),
      Def("w1", K8sNodeMeta.Worker()), // Kubernetes worker node
      Def("w2", K8sNodeMeta.Worker()),
      Def("w3", K8sNodeMeta.Worker()),
      Def("c1", K8sNodeMeta.Control()), // Kubernetes control plane node
    ],
    links: [
      Link(["internet", "gateway"], ["10.0.1.1/24", "10.0.1.2/24"]),
      Link(["gateway", "r1"], ["10.0.2.1/24", "10.0.2.2/24"]),
      Link(["gateway", "r2"], ["10.0.3.1/24", "10.0.3.2/24"]),
      Link(["r1", "w1"], ["10.0.4.1/24", "10.0.4.2/24"]),
      Link(["r1", "w2"], ["10.0.5.1/24", "10.0.5.2/24"]),
      Link(["r2", "w3"], ["10.0.6.1/24", "10.0.6.2/24"]),
      Link(["r2", "c1"], ["10.0.7.1/24", "10.0.7.2/24"]),
    ],
    encapsulation,
  });
  return { network, builder };
}

/** `kinda up examples/tree.ts` deploys this. */
export default treeExample().builder;

export async function main(provider?: ClusterProvider, imageMap?: Record<string, string>): Promise<void> {
  const { network, builder } = treeExample();
  await using cluster = new KindaCluster("example-cluster", network, {
    ...(provider ? { provider } : {}),
    ...(imageMap ? { imageMap } : {}),
  });
  await builder.setupNetwork(cluster);
  await builder.attachAndBuildCluster(cluster);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
