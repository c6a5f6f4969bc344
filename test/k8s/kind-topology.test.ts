/**
 * The network published to a real cluster: examples/two-routers-static.yaml (cp behind ra, wk
 * behind rb) deployed with a real Kind cluster; the nodes carry their device as zone, the
 * NetworkTopology resource (and its CRD) exist with the ra-rb cost of one hop; shaping ra--rb with
 * `kinda link` raises the cost and sets the bandwidth, cutting it makes the zones unreachable
 * (the plugins' maximum cost), restoring brings one hop back; `kinda down` removes the cluster.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { up } from "../../src/app/up.js";
import { loadTopologyYaml } from "../../src/topology/yaml.js";
import { IMAGE_MAP, ROOT, ensureTestEnv } from "../support/env.js";
import { kinda, kindaOk } from "../support/kinda.js";
import { buildImages, Kubectl, NODE_IMAGE } from "./support.js";

const LAB = "t-kind-topo";
const CLUSTER = "kinda-topo";
let kube: Kubectl;

interface Nt {
  spec: {
    weights: {
      topologyList: {
        topologyKey: string;
        originList: { origin: string; costList: { destination: string; networkCost: number; bandwidthCapacity?: string }[] }[];
      }[];
    }[];
  };
}
const nt = () =>
  JSON.parse(kube.run(["get", "networktopologies.networktopology.diktyo.x-k8s.io", `kinda-${LAB}`, "-n", "default", "-o", "json"])) as Nt;
function raToRb() {
  const o = nt();
  const cost = o.spec?.weights?.[0]?.topologyList?.[0]?.originList
    ?.find((x) => x.origin === "ra")
    ?.costList?.find((c) => c.destination === "rb");
  assert.ok(cost, `NetworkTopology kinda-${LAB} has a cost from zone ra to zone rb: ${JSON.stringify(o)}`);
  return cost;
}

describe("the emulated network published to a real cluster", { timeout: 900_000 }, () => {
  before(async () => {
    ensureTestEnv();
    buildImages();
    // the example's 192.168.x subnets can fall inside Docker's "kind" network (Docker hands out
    // 192.168.0.0/20 and up once earlier networks used its 172.x pools): moved to 10.168.x
    const { spec } = loadTopologyYaml(join(ROOT, "examples", "two-routers-static.yaml"));
    const moved = JSON.parse(JSON.stringify(spec).replace(/192\.168\./g, "10.168.")) as typeof spec;
    await up(moved, { name: LAB, clusterName: CLUSTER, nodeImage: NODE_IMAGE, imageMap: IMAGE_MAP });
    kube = new Kubectl(CLUSTER);
  });
  after(async () => {
    await kinda("down", LAB);
  });

  it("labels every node with its device as its zone", () => {
    const out = kube.run([
      "get",
      "nodes",
      "-o",
      "jsonpath={range .items[*]}{.metadata.labels.kinda\\.dev/device}={.metadata.labels.topology\\.kubernetes\\.io/zone} {end}",
    ]);
    assert.deepEqual(out.trim().split(" ").sort(), ["ra=ra", "rb=rb"]);
  });

  it("writes the NetworkTopology (its CRD too) and follows kinda link: shaped, cut, restored", async () => {
    assert.equal(kube.try("get", "crd", "networktopologies.networktopology.diktyo.x-k8s.io").code, 0);
    assert.deepEqual(raToRb(), { destination: "rb", networkCost: 1 });
    await kindaOk("link", LAB, "ra--rb", "--rate", "10mbit", "--latency", "20ms");
    assert.deepEqual(raToRb(), { destination: "rb", networkCost: 21, bandwidthCapacity: "10000000" });
    await kindaOk("link", LAB, "ra--rb", "--clear");
    await kindaOk("link", LAB, "ra--rb", "down");
    assert.deepEqual(raToRb(), { destination: "rb", networkCost: 100 });
    await kindaOk("link", LAB, "ra--rb", "up");
    assert.deepEqual(raToRb(), { destination: "rb", networkCost: 1 });
  });
});
