/**
 * Issue 5's end-to-end test: real Kubernetes (Kind, with the node image built offline by
 * scripts/k8s/) attached by kinda to a two-router network with VXLAN. Run with `npm run test:k8s`
 * (root; builds or reuses the node image first; see docs/k8s-offline.md for times).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { ClusterBuilder } from "../../src/app/library.js";
import { LAB_DIR } from "../../examples/manual-cluster.js";
import { IMAGE_MAP_ARGS, POD_IMAGE, ensureTestEnv } from "../support/env.js";
import { eventually, kinda, kindaOk } from "../support/kinda.js";
import {
  KIND,
  Kubectl,
  apiServiceEndpoints,
  internalIps,
  assertKindNetworkAsBefore,
  kindNetworkExists,
  buildImages,
  execInPodOnNode,
  kindBuilder,
  txPackets,
} from "./support.js";

const LAB = "t-kind";
const CLUSTER = "kinda-e2e";

let builder: ClusterBuilder;
let kube: Kubectl;
/** Whether Docker had the "kind" network before this test made its cluster. */
let hadKindNetwork: boolean;

const kubectl = (...args: string[]) => kube.run(args);
const tryKubectl = (...args: string[]) => kube.try(...args);
const counter = (device: string, ifname: string) => txPackets(LAB, device, ifname);

/** The nodes' emulated addresses, as linked below. */
const EMULATED: Record<string, string> = { c1: "10.0.2.2", w1: "10.0.1.2", w2: "10.0.3.2" };
const CONTAINERS: Record<string, string> = { c1: `${CLUSTER}-control-plane`, w1: `${CLUSTER}-worker`, w2: `${CLUSTER}-worker2` };

/**
 * Counts, in a node, every packet of a Kubernetes flow that leaves through its Kind interface
 * (eth0): to the pod or Service ranges, VXLAN, and TCP to or from the API server (6443), etcd
 * (2379, 2380) and the kubelet (10250). Only the host's own kubectl and kind reach the API across
 * the Kind bridge by design (the host is not in the emulated network): replies to the Kind
 * network's gateway, the host's address there, are not counted.
 */
function countKubernetesLeaks(container: string): () => number {
  const gateway = execFileSync("/usr/bin/docker", ["exec", container, "ip", "-4", "route", "show", "default"], { encoding: "utf8" }).split(
    " ",
  )[2]!;
  const ports = "6443,2379,2380,10250";
  return countLeaving(container, "kinda-e2e-k8s-leak", [
    ["-d", "10.244.0.0/16"],
    ["-d", "10.96.0.0/12"],
    ["-p", "udp", "--dport", "4789"],
    ["!", "-d", gateway, "-p", "tcp", "-m", "multiport", "--dports", ports],
    ["!", "-d", gateway, "-p", "tcp", "-m", "multiport", "--sports", ports],
  ]);
}

/**
 * Sends KiB kibibytes of zeros over TCP from a pod to the probe's sink (port 5201) at host; its
 * output is the byte count the receiving pod counted. `timeout` bounds nc itself (a connection
 * that stalls would hold the exec forever; around the shell it would leave nc running), `-w` its
 * connect.
 */
function sendTcp(pod: string, host: string, kib: number, seconds: number): { code: number; out: string } {
  const send = 'dd if=/dev/zero bs=1024 count="$2" 2>/dev/null | timeout "$3" nc -w 3 "$1" 5201';
  return tryKubectl("exec", pod, "--", "sh", "-c", send, "sh", host, String(kib), String(seconds));
}

/** Cuts r1's core link (the cable: carrier off on its lab-side end, as `kinda link` does), or restores it. */
async function core(state: "down" | "up"): Promise<void> {
  await kindaOk("link", LAB, "r1:eth0", state);
}

/** Ready condition of each Kubernetes node, by name. */
function readiness(): Record<string, string> {
  const r = tryKubectl(
    "get",
    "nodes",
    "-o",
    "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=='Ready')].status}{' '}{end}",
  );
  return Object.fromEntries(
    r.out
      .trim()
      .split(" ")
      .filter(Boolean)
      .map((x) => x.split("=") as [string, string]),
  );
}

/**
 * Counts, in a node, packets that leave through its Kind interface (eth0) towards a pod range,
 * or as VXLAN: the pod traffic that would cross the Kind bridge without kinda. (The node's own
 * API and kubelet traffic does cross it, so raw interface counters cannot tell.)
 */
function countPodLeaks(container: string, podCidr: string): () => number {
  return countLeaving(container, "kinda-e2e-leak", [
    ["-d", podCidr],
    ["-p", "udp", "--dport", "4789"],
  ]);
}

/** Counting rules (no target) in a node's mangle POSTROUTING for packets leaving eth0; their sum. */
function countLeaving(container: string, comment: string, matches: string[][]): () => number {
  const dexec = (...a: string[]) => execFileSync("/usr/bin/docker", ["exec", container, ...a], { encoding: "utf8" });
  for (const m of matches)
    dexec("iptables", "-t", "mangle", "-A", "POSTROUTING", "-o", "eth0", ...m, "-m", "comment", "--comment", comment);
  return () =>
    dexec("iptables-save", "-c", "-t", "mangle")
      .split("\n")
      .filter((l) => l.includes(comment))
      .reduce((sum, l) => sum + Number(/^\[(\d+):/.exec(l)?.[1] ?? "0"), 0);
}

before(async () => {
  ensureTestEnv();
  hadKindNetwork = kindNetworkExists();
  buildImages();
  await kindaOk("up", LAB_DIR, "--name", LAB, ...IMAGE_MAP_ARGS);
  // apiThroughNetwork with one control plane: the nodes' Kubernetes identity is their emulated
  // address. No encapsulation: the routers route the pod ranges (VXLAN runs in kind-ha.test.ts)
  const via = (device: string, node: string, v: string) => ({ device, node, via: v });
  builder = kindBuilder(LAB, CLUSTER, {
    encapsulation: "none",
    apiThroughNetwork: true,
    podRoutes: [
      via("r1", "w1", "10.0.1.2"),
      via("r1", "c1", "10.0.0.2"),
      via("r1", "w2", "10.0.0.2"),
      via("r2", "w1", "10.0.0.1"),
      via("r2", "c1", "10.0.2.2"),
      via("r2", "w2", "10.0.3.2"),
    ],
  });
  builder.addNode("c1", "control-plane").addNode("w1").addNode("w2");
  builder.connect({ node: "c1", device: "r2", nodeAddress: "10.0.2.2/24", deviceAddress: "10.0.2.1/24" });
  builder.connect({ node: "w1", device: "r1", deviceBridge: "br0", nodeAddress: "10.0.1.2/24", deviceAddress: "10.0.1.1/24" });
  builder.connect({ node: "w2", device: "r2", nodeAddress: "10.0.3.2/24", deviceAddress: "10.0.3.1/24" });
  await builder.build();
  kube = new Kubectl(CLUSTER);
});

after(async () => {
  await builder?.destroy().catch(() => undefined);
  await kinda("down", LAB);
});

describe("Kind (offline node image) attached by kinda", () => {
  it("kinda's Kind provider made one control plane and two workers, all Ready", async () => {
    await eventually("nodes Ready", 300, async () => {
      const r = tryKubectl("get", "nodes", "-o", "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}{' '}{end}");
      return (
        r.code === 0 &&
        r.out.trim().split(" ").length === 3 &&
        r.out
          .trim()
          .split(" ")
          .every((s) => s === "True")
      );
    });
    assert.equal((await kindaOk("reverse", "w1")).trim(), `${CLUSTER}-worker`);
  });

  it("a Deployment with pods on both workers: pod-to-pod ping and TCP, and a Service, through the network", async () => {
    execFileSync(KIND, ["load", "docker-image", POD_IMAGE, "--name", CLUSTER], { stdio: "ignore" });
    const deploy = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "probe" },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: "probe" } },
        template: {
          metadata: { labels: { app: "probe" } },
          spec: {
            affinity: {
              podAntiAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: [
                  { labelSelector: { matchLabels: { app: "probe" } }, topologyKey: "kubernetes.io/hostname" },
                ],
              },
            },
            containers: [
              {
                // a TCP sink: for each connection, counts the bytes received and sends the count back
                name: "probe",
                image: POD_IMAGE,
                imagePullPolicy: "Never",
                command: ["nc", "-ll", "-p", "5201", "-e", "wc", "-c"],
                ports: [{ containerPort: 5201 }],
              },
            ],
          },
        },
      },
    };
    kube.run(["apply", "-f", "-"], JSON.stringify(deploy));
    kubectl("rollout", "status", "deployment/probe", "--timeout=180s");
    const pods = JSON.parse(kubectl("get", "pods", "-l", "app=probe", "-o", "json")) as {
      items: { metadata: { name: string }; spec: { nodeName: string }; status: { podIP: string } }[];
    };
    const onW1 = pods.items.find((p) => p.spec.nodeName === `${CLUSTER}-worker`)!;
    const onW2 = pods.items.find((p) => p.spec.nodeName === `${CLUSTER}-worker2`)!;
    assert.ok(onW1 && onW2, "one pod on each worker");

    const w2PodCidr = kubectl("get", "node", `${CLUSTER}-worker2`, "-o", "jsonpath={.spec.podCIDR}").trim();
    const leaks = countPodLeaks(`${CLUSTER}-worker`, w2PodCidr);
    const coreBefore = await counter("r1", "eth0");
    kubectl("exec", onW1.metadata.name, "--", "ping", "-c", "100", "-i", "0.01", "-W", "2", onW2.status.podIP);
    const coreAfter = await counter("r1", "eth0");
    assert.ok(coreAfter - coreBefore >= 100, `r1's core link carried the pod traffic (${coreAfter - coreBefore})`);
    assert.equal(leaks(), 0, "no pod packet (plain or VXLAN) left w1 through its Kind interface");

    // unencapsulated: every router on the path answers a pod's traceroute (w1's router, the core, w2)
    // (three probes a hop, one at a time, as busybox's traceroute sends them: a router's ICMP rate
    // limit may drop one answer)
    const hops = kubectl("exec", onW1.metadata.name, "--", "traceroute", "-n", "-q", "3", "-w", "2", onW2.status.podIP)
      .split("\n")
      .slice(1)
      .filter((l) => l.trim())
      .map((l) => /\d+\.\d+\.\d+\.\d+/.exec(l.replace(/^\s*\d+\s+/, ""))?.[0] ?? "*");
    assert.deepEqual(hops.slice(1), ["10.0.1.1", "10.0.0.2", "10.0.3.2", onW2.status.podIP], `traceroute hops: ${hops.join(" ")}`);

    const received = sendTcp(onW1.metadata.name, onW2.status.podIP, 2048, 60);
    assert.equal(received.out.trim(), String(2 * 1024 * 1024), `the other pod received 2 MiB over TCP: ${received.out}`);
    assert.equal(leaks(), 0, "the TCP transfer did not cross the Kind bridge either");

    kubectl("label", "pod", onW2.metadata.name, "target=w2");
    kubectl("expose", "pod", onW2.metadata.name, "--name", "probe-w2", "--port", "5201", "--selector", "target=w2");
    const svc = kubectl("get", "service", "probe-w2", "-o", "jsonpath={.spec.clusterIP}").trim();
    // kube-proxy programs a new Service asynchronously: a SYN sent before its rules exist gets a
    // conntrack entry without NAT that its retransmissions keep (seen once: the client hung)
    await eventually("the Service answers", 60, async () => sendTcp(onW1.metadata.name, svc, 1, 5).out.trim() === "1024");
    const viaSvc = sendTcp(onW1.metadata.name, svc, 1024, 60);
    assert.equal(viaSvc.out.trim(), String(1024 * 1024), `the Service's pod on the other worker received 1 MiB: ${viaSvc.out}`);
    assert.equal(leaks(), 0, "nor did the traffic to the Service");

    const before = execInPodOnNode(CONTAINERS["w1"]!, onW1.metadata.name, ["ping", "-c", "2", "-W", "2", onW2.status.podIP]);
    assert.equal(before.code, 0, `the same ping through w1's runtime works before the cut: ${before.out}`);
    await core("down");
    const kept = (await kindaOk("exec", "--lab", LAB, "r1", "--", "ip", "route", "show", "10.0.2.0/23")).trim();
    assert.match(kept, /via 10\.0\.0\.2 dev eth0/, "r1 keeps its route through the cut link");
    // through w1's own runtime: the API server cannot reach w1's kubelet across the cut either
    const cut = execInPodOnNode(CONTAINERS["w1"]!, onW1.metadata.name, ["ping", "-c", "2", "-W", "1", onW2.status.podIP]);
    assert.notEqual(cut.code, 0, `no path with r1's core link down: ${cut.out}`);
    assert.match(cut.out, / 0 received|100% packet loss/, "the ping ran and got no answer");
    await core("up"); // r1 kept its routes (a cut drops carrier only): nothing to re-add
    await eventually(
      "pod traffic restored",
      30,
      async () => tryKubectl("exec", onW1.metadata.name, "--", "ping", "-c", "1", "-W", "1", onW2.status.podIP).code === 0,
    );
  });

  it("every node's Kubernetes identity is its emulated address: InternalIP, the API Service's endpoint", () => {
    const byName = internalIps(kube);
    for (const [n, c] of Object.entries(CONTAINERS)) assert.equal(byName[c], EMULATED[n], `${c}'s InternalIP`);
    assert.deepEqual(
      apiServiceEndpoints(kube),
      [EMULATED["c1"]],
      "the API Service (10.96.0.1) leads to the control plane's emulated address",
    );
  });

  it("for 60 s with a Deployment rolling, no packet of a Kubernetes flow leaves any node through its Kind interface; the routers carry them", async () => {
    const leaks = Object.values(CONTAINERS).map((c) => [c, countKubernetesLeaks(c)] as const);
    const roller = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "roller" },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: "roller" } },
        template: {
          metadata: { labels: { app: "roller" } },
          spec: { containers: [{ name: "r", image: POD_IMAGE, imagePullPolicy: "Never", command: ["sleep", "infinity"] }] },
        },
      },
    };
    const r1Before = await counter("r1", "eth0");
    const r2Before = await counter("r2", "eth0");
    const t0 = Date.now();
    kube.run(["apply", "-f", "-"], JSON.stringify(roller));
    kubectl("rollout", "status", "deployment/roller", "--timeout=180s");
    let rollouts = 1;
    while (Date.now() - t0 < 60_000) {
      kubectl("rollout", "restart", "deployment/roller");
      kubectl("rollout", "status", "deployment/roller", "--timeout=180s");
      // the API server to a kubelet (10250): logs of a pod on a worker
      const pod = kubectl("get", "pods", "-l", "app=roller", "-o", "jsonpath={.items[0].metadata.name}").trim();
      tryKubectl("logs", pod);
      rollouts++;
    }
    const r1Grew = (await counter("r1", "eth0")) - r1Before;
    const r2Grew = (await counter("r2", "eth0")) - r2Before;
    for (const [c, count] of leaks) assert.equal(count(), 0, `${c}: Kubernetes packets left through the Kind interface`);
    assert.ok(
      r1Grew > 100 && r2Grew > 100,
      `the core link carried them both ways (r1 ${r1Grew}, r2 ${r2Grew} packets; ${rollouts} rollouts)`,
    );
    kubectl("delete", "deployment", "roller", "--wait=false");
  });

  it("cutting w1's router off the core makes w1 NotReady after the grace period, Ready again once the link is back", async () => {
    const w1 = CONTAINERS["w1"]!;
    await core("down");
    try {
      await eventually("w1 NotReady", 180, async () => readiness()[w1] === "Unknown" || readiness()[w1] === "False");
      const now = readiness();
      assert.equal(now[CONTAINERS["w2"]!], "True", "w2, on the control plane's router, stays Ready");
    } finally {
      await core("up"); // r1 kept its routes (a cut drops carrier only): nothing to re-add
    }
    await eventually("w1 Ready again", 180, async () => readiness()[w1] === "True");
  });

  it("teardown removes the Kind cluster and the lab", async () => {
    await builder.destroy();
    assertKindNetworkAsBefore(hadKindNetwork);
    const clusters = execFileSync(KIND, ["get", "clusters"], { encoding: "utf8" });
    assert.ok(!clusters.split("\n").includes(CLUSTER), `kind still lists ${CLUSTER}`);
    await kindaOk("down", LAB);
  });
});
