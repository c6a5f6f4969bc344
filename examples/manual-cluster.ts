/**
 * The seed's manual flow with kinda's API: a network (the lab in examples/labs/cluster-net),
 * Kubernetes nodes added one by one, each connected to a device (two of them on one bridge
 * inside r1), internet access through r2, then build. Tearing down happens when the scope ends.
 *
 *   sudo npx tsx examples/manual-cluster.ts          # with Kind (needs kind and a node image)
 *
 * The integration tests run the same `buildExample` against Kind-compatible fixture nodes.
 */
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { down, up } from "../src/index.js";
import { ClusterBuilder, KindProvider, type ClusterOptions, type ClusterProvider } from "../src/seed.js";

export const LAB_DIR = join(dirname(fileURLToPath(import.meta.url)), "labs", "cluster-net");

export function buildExample(lab: string, provider: ClusterProvider, options: ClusterOptions = {}): ClusterBuilder {
  const cluster = new ClusterBuilder(lab, provider, { encapsulation: "vxlan", ...options });
  cluster.addNode("c1", "control-plane").addNode("w1").addNode("w2").addNode("w3");
  // two nodes share one segment: ports of bridge br0 inside r1
  cluster.connect({
    node: "w1",
    device: "r1",
    deviceBridge: "br0",
    nodeAddress: "10.0.1.2/24",
    deviceAddress: "10.0.1.1/24",
    defaultRoute: true,
  });
  cluster.connect({
    node: "w2",
    device: "r1",
    deviceBridge: "br0",
    nodeAddress: "10.0.1.3/24",
    deviceAddress: "10.0.1.1/24",
    defaultRoute: true,
  });
  cluster.connect({
    node: "w3",
    device: "r2",
    nodeAddress: "10.0.3.2/24",
    deviceAddress: "10.0.3.1/24",
    defaultRoute: true,
    nodeTc: { rate: "100mbit", burst: "64kbit", latency: "20ms" },
  });
  cluster.connect({ node: "c1", device: "r2", nodeAddress: "10.0.2.2/24", deviceAddress: "10.0.2.1/24", defaultRoute: true });
  cluster.enableInternetAccessVia("r2");
  // the host reaches the nodes' network through r2 (the seed's establish_simple_host_connection)
  cluster.connectHost({ device: "r2", hostAddress: "10.0.9.1/30", deviceAddress: "10.0.9.2/30", routes: ["10.0.1.0/24", "10.0.2.0/23"] });
  return cluster;
}

async function main(): Promise<void> {
  const lab = "example-cluster";
  const imageMap = { "kathara/base": process.env["KINDA_BASE_IMAGE"] ?? "kathara/base" };
  await up(LAB_DIR, { name: lab, imageMap });
  try {
    const image = process.env["KINDA_NODE_IMAGE"];
    await using cluster = buildExample(lab, new KindProvider(lab, image ? { image } : {}));
    const r = await cluster.build();
    console.log(`cluster up: ${r.nodes.map((n) => `${n.name}=${n.k8sName}`).join(", ")}`);
    console.log("kubectl get nodes -o wide   # works now; press Ctrl+C or let the script end to tear down");
  } finally {
    await down(lab);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
