/**
 * Kubernetes at scale on a fat tree: a real Kind cluster of one control plane and N workers
 * (N from KINDA_K8S_SCALE_N, default 10) at the edge of a k-ary fat tree (examples/fat-tree-cluster.ts:
 * k=4 up to 15 workers, the nodes spread over the fat tree's pods, static routing with ECMP,
 * pods routed natively with encapsulation none, every Kubernetes flow through the network).
 * All nodes Ready with their emulated addresses, a pod on every node, pod-to-pod between every
 * pair of edge routers (racks), the pod CIDRs in the edge, aggregation and core routers' tables,
 * the core routers carrying the traffic between the fat tree's pods and a pod's traceroute
 * naming every tier. Prints Kind create time, attach time, time to all Ready and memory per node.
 * Run as root:
 *   KINDA_K8S_SCALE_N=10 KINDA_SKIP_SETUP=1 node --import tsx --test test/k8s/kind-scale.test.ts
 * KINDA_K8S_SCALE_CLUSTER names the Kind cluster (default kinda-scale, the CI run's; the lab is
 * t-<cluster>), so that a run by hand does not meet CI's cluster.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fixSysctls } from "../../src/app/doctor.js";
import { hostOf } from "../../src/core/addr.js";
import { cpuPerNodePercent, memoryPerNodeMiB } from "../../bench/kind-real.js";
import { up as upTopology, type Lab as TopologyHandle } from "../../src/app/up.js";
import { edgeOf, fatTreeCluster } from "../../examples/fat-tree-cluster.js";
import type { TopologySpec } from "../../src/model/spec.js";
import { POD_IMAGE, IMAGE_MAP, ensureTestEnv } from "../support/env.js";
import { addressOn, eventually, kinda, kindaOk, txTotal } from "../support/kinda.js";
import { KIND, Kubectl, NODE_IMAGE, buildImages } from "./support.js";

const N = Number(process.env["KINDA_K8S_SCALE_N"] ?? "10");
const CLUSTER = process.env["KINDA_K8S_SCALE_CLUSTER"] ?? "kinda-scale";
const LAB = CLUSTER === "kinda-scale" ? "t-kind-scale" : `t-${CLUSTER}`;

let handle: TopologyHandle | undefined;
let spec: TopologySpec;
let kube: Kubectl;

interface Pod {
  name: string;
  ip: string;
  /** Topology name of its node (h1_1_1, ...), its edge router and fat-tree pod. */
  node: string;
  edge: string;
  fabricPod: number;
}
/** The DaemonSet's pods, one per node (filled by the second test). */
let pods: Pod[] = [];

const cores = () => spec.devices.filter((d) => d.name.startsWith("core")).map((d) => d.name);
const exec = (device: string, ...cmd: string[]) => kindaOk("exec", "--lab", LAB, device, "--", ...cmd);

/** Which device holds an address of the topology (link ends), or the address itself. */
function deviceAt(addr: string): string {
  for (const l of spec.links) for (const [i, a] of (l.addresses ?? []).entries()) if (a && hostOf(a) === addr) return l.endpoints[i]!;
  return addr;
}

before(async () => {
  assert.ok(Number.isInteger(N) && N >= 1, `KINDA_K8S_SCALE_N=${process.env["KINDA_K8S_SCALE_N"]} is not a positive integer`);
  ensureTestEnv();
  // what Kind needs for several nodes, as `kinda doctor --fix` sets it (saying so)
  fixSysctls((l) => console.log(`# ${l}`));
  buildImages();
  spec = fatTreeCluster(N, { name: LAB, cluster: CLUSTER, image: NODE_IMAGE });
  const t = performance.now();
  handle = await upTopology(spec, { imageMap: IMAGE_MAP });
  const built = handle.cluster!;
  console.log(
    `# kind-real-${N}: ${spec.devices.length} devices, up in ${((performance.now() - t) / 1000).toFixed(1)} s (Kind create with attaching ` +
      `${built.seconds.provider.toFixed(1)} s, pod routes ${built.seconds.plumbing.toFixed(1)} s, ${built.plan.size} operations)`,
  );
  kube = new Kubectl(CLUSTER);
});

after(async () => {
  await handle?.down().catch(() => undefined);
  await kinda("down", LAB);
});

describe(`Kind at scale: 1 control plane and ${N} workers at the edge of a fat tree, pods routed natively`, () => {
  it("every node turns Ready with its emulated address as InternalIP", async () => {
    const s = await eventually("all nodes Ready", 120 + 30 * N, async () => {
      const r = kube.try("get", "nodes", "-o", "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}{' '}{end}");
      const st = r.out.trim().split(" ");
      return r.code === 0 && st.length === N + 1 && st.every((x) => x === "True");
    });
    const nodes = JSON.parse(kube.run(["get", "nodes", "-o", "json"])) as {
      items: { metadata: { labels: Record<string, string> }; status: { addresses: { type: string; address: string }[] } }[];
    };
    for (const n of nodes.items) {
      const name = n.metadata.labels["kinda.dev/name"]!;
      const ip = n.status.addresses.find((a) => a.type === "InternalIP")?.address;
      assert.equal(ip, addressOn(spec, name, edgeOf(spec, name).edge), `${name}'s InternalIP is its address on the fat tree`);
    }
    const mem = memoryPerNodeMiB(CLUSTER);
    const cpu = cpuPerNodePercent(CLUSTER);
    console.log(
      `# kind-real-${N}: all Ready ${s.toFixed(1)} s after kinda returned; memory per node ` +
        `${(mem.reduce((a, b) => a + b, 0) / mem.length).toFixed(0)} MiB (max ${Math.max(...mem).toFixed(0)}); ` +
        `CPU per node ${(cpu.reduce((a, b) => a + b, 0) / cpu.length).toFixed(1)}% of a core (max ${Math.max(...cpu).toFixed(1)})`,
    );
  });

  it("a pod on every node; pod-to-pod between every pair of edge routers, the cores carrying what crosses the fat tree's pods", async () => {
    const t = performance.now();
    execFileSync(KIND, ["load", "docker-image", POD_IMAGE, "--name", CLUSTER], { stdio: "ignore" });
    console.log(`# kind load docker-image ${POD_IMAGE} into ${N + 1} nodes: ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const ds = {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "everywhere" },
      spec: {
        selector: { matchLabels: { app: "everywhere" } },
        template: {
          metadata: { labels: { app: "everywhere" } },
          spec: {
            tolerations: [{ operator: "Exists" }],
            containers: [{ name: "p", image: POD_IMAGE, imagePullPolicy: "Never", command: ["sleep", "infinity"] }],
          },
        },
      },
    };
    kube.run(["apply", "-f", "-"], JSON.stringify(ds));
    kube.run(["rollout", "status", "daemonset/everywhere", `--timeout=${120 + 20 * N}s`]);
    const list = JSON.parse(kube.run(["get", "pods", "-l", "app=everywhere", "-o", "json"])) as {
      items: { metadata: { name: string }; spec: { nodeName: string }; status: { podIP: string } }[];
    };
    assert.equal(list.items.length, N + 1, "one pod per node");
    const topo = JSON.parse(kube.run(["get", "nodes", "-o", "json"])) as {
      items: { metadata: { name: string; labels: Record<string, string> } }[];
    };
    const nameOf = new Map(topo.items.map((n) => [n.metadata.name, n.metadata.labels["kinda.dev/name"]!]));
    pods = list.items.map((p) => {
      const node = nameOf.get(p.spec.nodeName)!;
      const { edge, pod } = edgeOf(spec, node);
      return { name: p.metadata.name, ip: p.status.podIP, node, edge, fabricPod: pod };
    });
    const byEdge = new Map<string, Pod>();
    for (const p of pods) if (!byEdge.has(p.edge)) byEdge.set(p.edge, p);
    const racks = [...byEdge.values()];
    assert.ok(new Set(racks.map((p) => p.fabricPod)).size >= 2, "pods in two fat-tree pods at least");

    const before = await Promise.all(cores().map((c) => txTotal(LAB, c)));
    // one exec per rack (in parallel): its pod pings a pod behind every other edge router, printing the misses
    const loop = 'for ip in "$@"; do ping -c 2 -i 0.2 -W 2 -q "$ip" >/dev/null || echo "missed $ip"; done';
    const results = await Promise.all(
      racks.map(async (from) => {
        const to = racks.filter((p) => p !== from).map((p) => p.ip);
        const r = await kube.tryAsync("exec", from.name, "--", "sh", "-c", loop, "sh", ...to);
        return r.code === 0 && !r.out.includes("missed") ? "" : `from ${from.edge} (${from.ip}): ${r.out.trim()}`;
      }),
    );
    assert.deepEqual(results.filter(Boolean), [], "every pod reaches a pod behind every other edge router");
    const crossing = racks.flatMap((a) => racks.filter((b) => b.fabricPod !== a.fabricPod)).length;
    const through = (await Promise.all(cores().map((c) => txTotal(LAB, c)))).reduce((a, b, i) => a + b - before[i]!, 0);
    // each of the `crossing` ordered pairs sent 2 requests and got 2 replies, each through one core
    assert.ok(
      through >= 4 * crossing,
      `the cores forwarded the pod traffic between the fat tree's pods (${through} packets, ${crossing} pairs)`,
    );
    console.log(
      `# pod-to-pod: ${racks.length} racks, ${racks.length * (racks.length - 1)} ordered pairs; the cores forwarded ${through} packets`,
    );
  });

  it("the edge, aggregation and core routers route the pod CIDRs over the fabric's equal-cost paths", async () => {
    const from = pods.find((p) => p.fabricPod === 1)!;
    const far = pods.filter((p) => p.fabricPod !== 1).at(-1)!;
    const cidr = kube.run(["get", "node", "-l", `kinda.dev/name=${far.node}`, "-o", "jsonpath={.items[0].spec.podCIDR}"]).trim();
    const nexthops = async (device: string) =>
      [...(await exec(device, "ip", "route", "show", cidr)).matchAll(/via (\d+\.\d+\.\d+\.\d+)/g)].map((m) => deviceAt(m[1]!)).sort();
    const half = Math.sqrt(cores().length); // (k/2)² cores
    const aggs = (pod: number) => Array.from({ length: half }, (_, i) => `agg${pod}_${i + 1}`);
    assert.deepEqual(await nexthops(from.edge), aggs(1), `${from.edge} routes ${far.node}'s pods (${cidr}) over every aggregation router`);
    const agg = aggs(1)[0]!;
    const upward = Array.from({ length: half }, (_, i) => `core${i + 1}`);
    assert.deepEqual(await nexthops(agg), upward, `${agg} routes them over its cores`);
    assert.deepEqual(await nexthops("core1"), [`agg${far.fabricPod}_1`], `core1 routes them down to pod ${far.fabricPod}`);
    assert.deepEqual(await nexthops(far.edge), [far.node], `${far.edge} routes them to ${far.node}`);
  });

  it("a pod's traceroute to a pod in another fat-tree pod names edge, aggregation, core, aggregation, edge, node", async () => {
    const from = pods.find((p) => p.fabricPod === 1)!;
    const far = pods.filter((p) => p.fabricPod !== 1).at(-1)!;
    // three probes a hop, one at a time (busybox's traceroute sends one and waits for it): a
    // router's ICMP rate limit may drop one answer
    const hops = kube
      .run(["exec", from.name, "--", "traceroute", "-n", "-q", "3", "-w", "2", far.ip])
      .split("\n")
      .slice(1)
      .filter((l) => l.trim())
      .map((l) => deviceAt(/\d+\.\d+\.\d+\.\d+/.exec(l.replace(/^\s*\d+\s+/, ""))?.[0] ?? "*"));
    const path = hops.slice(1); // hops[0]: its own node
    console.log(`# traceroute ${from.node} -> ${far.node}: ${path.join(" ")}`);
    const tiers = [from.edge, /^agg1_/, /^core\d+$/, new RegExp(`^agg${far.fabricPod}_`), far.edge, far.node, far.ip];
    assert.equal(path.length, tiers.length, `traceroute hops: ${hops.join(" ")}`);
    tiers.forEach((t, i) => assert.ok(typeof t === "string" ? path[i] === t : t.test(path[i]!), `hop ${i + 2} is ${t}: ${hops.join(" ")}`));
  });
});
