/**
 * Kubernetes at scale: a real Kind cluster of one control plane and N workers (N from
 * KINDA_K8S_SCALE_N, default 6) on an emulated rack tree (examples/rack-tree.ts: core router,
 * racks of three nodes, natively routed, every Kubernetes flow through the network). All nodes
 * Ready, a pod on every node, pod-to-pod between every pair of racks. Prints Kind create time,
 * attach time, time to all Ready and memory per node. Run as root:
 *   KINDA_K8S_SCALE_N=10 KINDA_SKIP_SETUP=1 node --import tsx --test test/k8s/kind-scale.test.ts
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fixSysctls } from "../../src/app/doctor.js";
import { memoryPerNodeMiB } from "../../bench/kind-real.js";
import { upTopology, type TopologyHandle } from "../../src/app/topology.js";
import { rackOf, rackTree } from "../../examples/rack-tree.js";
import type { TopologySpec } from "../../src/model/spec.js";
import { BASE_IMAGE, IMAGE_MAP, ensureTestEnv } from "../support/env.js";
import { eventually, kinda } from "../support/kinda.js";
import { KIND, Kubectl, NODE_IMAGE, buildImages } from "./support.js";

const N = Number(process.env["KINDA_K8S_SCALE_N"] ?? "6");
const LAB = "t-kind-scale";
const CLUSTER = "kinda-scale";

let handle: TopologyHandle | undefined;
let spec: TopologySpec;
let kube: Kubectl;

before(async () => {
  assert.ok(Number.isInteger(N) && N >= 1, `KINDA_K8S_SCALE_N=${process.env["KINDA_K8S_SCALE_N"]} is not a positive integer`);
  ensureTestEnv();
  // what Kind needs for several nodes, as `kinda doctor --fix` sets it (saying so)
  fixSysctls((l) => console.log(`# ${l}`));
  buildImages();
  spec = rackTree(N, { name: LAB, cluster: CLUSTER, image: NODE_IMAGE });
  const t = performance.now();
  handle = await upTopology(spec, { imageMap: IMAGE_MAP });
  const built = handle.cluster!;
  console.log(
    `# kind-real-${N}: up in ${((performance.now() - t) / 1000).toFixed(1)} s (Kind create with attaching ` +
      `${built.seconds.provider.toFixed(1)} s, pod routes ${built.seconds.plumbing.toFixed(1)} s, ${built.plan.size} operations)`,
  );
  kube = new Kubectl(CLUSTER);
});

after(async () => {
  await handle?.down().catch(() => undefined);
  await kinda("down", LAB);
});

describe(`Kind at scale: 1 control plane and ${N} workers on a rack tree`, () => {
  it("every node turns Ready with its emulated address as InternalIP", async () => {
    const s = await eventually("all nodes Ready", 120 + 30 * N, async () => {
      const r = kube.try("get", "nodes", "-o", "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}{' '}{end}");
      const st = r.out.trim().split(" ");
      return r.code === 0 && st.length === N + 1 && st.every((x) => x === "True");
    });
    const ips = kube
      .run(["get", "nodes", "-o", "jsonpath={.items[*].status.addresses[?(@.type=='InternalIP')].address}"])
      .trim()
      .split(" ");
    assert.ok(
      ips.every((ip) => ip.startsWith("10.2.")),
      `InternalIPs on the emulated links: ${ips.join(" ")}`,
    );
    const mem = memoryPerNodeMiB(CLUSTER);
    console.log(
      `# kind-real-${N}: all Ready ${s.toFixed(1)} s after kinda returned; memory per node ` +
        `${(mem.reduce((a, b) => a + b, 0) / mem.length).toFixed(0)} MiB (max ${Math.max(...mem).toFixed(0)})`,
    );
  });

  it("a pod on every node, and pod-to-pod between every pair of racks", async () => {
    execFileSync(KIND, ["load", "docker-image", BASE_IMAGE, "--name", CLUSTER], { stdio: "ignore" });
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
            containers: [{ name: "p", image: BASE_IMAGE, imagePullPolicy: "Never", command: ["sleep", "infinity"] }],
          },
        },
      },
    };
    kube.run(["apply", "-f", "-"], JSON.stringify(ds));
    kube.run(["rollout", "status", "daemonset/everywhere", `--timeout=${120 + 20 * N}s`]);
    const pods = JSON.parse(kube.run(["get", "pods", "-l", "app=everywhere", "-o", "json"])) as {
      items: { metadata: { name: string; labels: Record<string, string> }; spec: { nodeName: string }; status: { podIP: string } }[];
    };
    assert.equal(pods.items.length, N + 1, "one pod per node");
    const topo = JSON.parse(kube.run(["get", "nodes", "-o", "json"])) as {
      items: { metadata: { name: string; labels: Record<string, string> } }[];
    };
    const nameOf = new Map(topo.items.map((n) => [n.metadata.name, n.metadata.labels["kinda.dev/name"]!]));
    const byRack = new Map<string, (typeof pods.items)[number]>();
    for (const p of pods.items) {
      const rack = rackOf(spec, nameOf.get(p.spec.nodeName)!);
      if (!byRack.has(rack)) byRack.set(rack, p);
    }
    const racks = [...byRack.keys()].sort();
    assert.ok(racks.length >= 2, `pods in ${racks.length} racks`);
    for (const a of racks)
      for (const b of racks) {
        if (a >= b) continue;
        const from = byRack.get(a)!;
        const to = byRack.get(b)!;
        const r = kube.try("exec", from.metadata.name, "--", "ping", "-c", "2", "-W", "2", to.status.podIP);
        assert.equal(r.code, 0, `pod in ${a} to pod in ${b}: ${r.out}`);
      }
  });
});
