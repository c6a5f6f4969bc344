/**
 * The seed's fat tree (examples/fat-tree.ts generates one instead): Kathara's data-center-bgp lab (10 FRR routers running BGP in a fat tree)
 * with its 8 servers replaced by Kubernetes nodes. Each node joins the server's segment with
 * the server's address and gateway (read from the server's start-up file), so the lab's BGP
 * routes it as it routed the server; pods reach each other through VXLAN across the fabric.
 *
 *   sudo npx tsx examples/data-center-bgp-cluster.ts PATH/TO/Kathara-Labs/.../data-center-bgp
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ClusterBuilder, KindProvider, type ClusterProvider } from "../src/seed.js";
// a Kathara lab changed in code before it is deployed: below the package's API, from its modules
import { deploy, teardown } from "../src/app/library.js";
import { defaultRuntime, defaultStore } from "../src/app/root.js";
import type { Lab } from "../src/model/lab.js";
import { planLab } from "../src/plan/lab.js";
import type { StateStore } from "../src/state/store.js";
import { loadKatharaLab } from "../src/topology/kathara.js";

export interface ReplacedServer {
  name: string;
  domain: string;
  address: string;
  gateway: string;
}

/** The lab without its servers, and where each server sat (segment, address, gateway). */
export function withoutServers(labDir: string): { lab: Lab; servers: ReplacedServer[] } {
  const lab = loadKatharaLab(labDir);
  const servers: ReplacedServer[] = [];
  for (const d of lab.devices.filter((x) => x.name.startsWith("server_"))) {
    const text = d.startup ? readFileSync(d.startup, "utf8") : "";
    const address = /ip address add (\S+) dev eth0/.exec(text)?.[1];
    const gateway = /default via (\S+)/.exec(text)?.[1];
    const domain = d.interfaces[0]?.domain;
    if (!address || !gateway || !domain) throw new Error(`cannot read ${d.name}'s address and gateway from its start-up file`);
    servers.push({ name: d.name, domain, address, gateway });
  }
  lab.devices = lab.devices.filter((x) => !x.name.startsWith("server_"));
  return { lab, servers };
}

export async function dataCenterBgpCluster(
  labDir: string,
  o: { name?: string; provider?: ClusterProvider; imageMap?: Record<string, string>; store?: StateStore } = {},
) {
  const name = o.name ?? "fat-tree";
  const store = o.store ?? defaultStore();
  const runtime = defaultRuntime();
  const { lab, servers } = withoutServers(labDir);
  const plan = planLab(lab, {
    name,
    imageMap: o.imageMap ?? {},
    sharedDir: store.sharedDir(name),
    stageRoot: store.stageRoot(name),
    source: labDir,
  });
  await deploy(plan, { runtime, store });
  const cluster = new ClusterBuilder(name, o.provider ?? new KindProvider(name), { encapsulation: "vxlan" }, { runtime, store });
  servers.forEach((s, i) => {
    cluster.addNode(s.name, i === 0 ? "control-plane" : "worker");
    cluster.connect({ node: s.name, domain: s.domain, nodeAddress: s.address, gateway: s.gateway, defaultRoute: true });
  });
  try {
    await cluster.build();
  } catch (e) {
    await teardown(name, { runtime, store });
    throw e;
  }
  return {
    servers,
    async down() {
      await cluster.destroy();
      await teardown(name, { runtime, store });
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) throw new Error("usage: examples/data-center-bgp-cluster.ts PATH/TO/data-center-bgp");
  const t = await dataCenterBgpCluster(dir);
  console.log(`fat tree up with ${t.servers.length} Kubernetes nodes; kinda status fat-tree; kinda down fat-tree`);
}
