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
import { IMAGE_MAP_ARGS, BASE_IMAGE, ensureTestEnv } from "../support/env.js";
import { eventually, kinda, kindaOk } from "../support/kinda.js";
import { KIND, Kubectl, assertKindNetworkAsBefore, kindNetworkExists, buildImages, kindBuilder, txPackets } from "./support.js";

const LAB = "t-kind";
const CLUSTER = "kinda-e2e";

let builder: ClusterBuilder;
let kube: Kubectl;
/** Whether Docker had the "kind" network before this test made its cluster. */
let hadKindNetwork: boolean;

const kubectl = (...args: string[]) => kube.run(args);
const tryKubectl = (...args: string[]) => kube.try(...args);
const counter = (device: string, ifname: string) => txPackets(LAB, device, ifname);

/**
 * Counts, in a node, packets that leave through its Kind interface (eth0) towards a pod range,
 * or as VXLAN: the pod traffic that would cross the Kind bridge without kinda. (The node's own
 * API and kubelet traffic does cross it, so raw interface counters cannot tell.)
 */
function countPodLeaks(container: string, podCidr: string): () => number {
  const comment = "kinda-e2e-leak";
  const dexec = (...a: string[]) => execFileSync("/usr/bin/docker", ["exec", container, ...a], { encoding: "utf8" });
  dexec("iptables", "-t", "mangle", "-A", "POSTROUTING", "-o", "eth0", "-d", podCidr, "-m", "comment", "--comment", comment);
  dexec(
    "iptables",
    "-t",
    "mangle",
    "-A",
    "POSTROUTING",
    "-o",
    "eth0",
    "-p",
    "udp",
    "--dport",
    "4789",
    "-m",
    "comment",
    "--comment",
    comment,
  );
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
  builder = kindBuilder(LAB, CLUSTER, { encapsulation: "vxlan" });
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
    execFileSync(KIND, ["load", "docker-image", BASE_IMAGE, "--name", CLUSTER], { stdio: "ignore" });
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
              { name: "probe", image: BASE_IMAGE, imagePullPolicy: "Never", command: ["iperf3", "-s"], ports: [{ containerPort: 5201 }] },
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

    // (`timeout` in the pod: an iperf3 client that loses its control connection waits forever)
    const tcp = JSON.parse(
      kubectl("exec", onW1.metadata.name, "--", "timeout", "60", "iperf3", "-c", onW2.status.podIP, "-n", "2M", "-J"),
    ) as {
      end: { sum_sent: { bytes: number } };
    };
    assert.ok(tcp.end.sum_sent.bytes >= 2 * 1024 * 1024, `sent ${tcp.end.sum_sent.bytes} bytes`);
    assert.equal(leaks(), 0, "the TCP transfer did not cross the Kind bridge either");

    kubectl("label", "pod", onW2.metadata.name, "target=w2");
    kubectl("expose", "pod", onW2.metadata.name, "--name", "probe-w2", "--port", "5201", "--selector", "target=w2");
    const svc = kubectl("get", "service", "probe-w2", "-o", "jsonpath={.spec.clusterIP}").trim();
    // kube-proxy programs a new Service asynchronously: a SYN sent before its rules exist gets a
    // conntrack entry without NAT that its retransmissions keep (seen once: the client hung)
    await eventually(
      "the Service answers",
      60,
      async () => tryKubectl("exec", onW1.metadata.name, "--", "timeout", "5", "iperf3", "-c", svc, "-n", "1K").code === 0,
    );
    const viaSvc = JSON.parse(kubectl("exec", onW1.metadata.name, "--", "timeout", "60", "iperf3", "-c", svc, "-n", "1M", "-J")) as {
      end: { sum_sent: { bytes: number } };
    };
    assert.ok(viaSvc.end.sum_sent.bytes >= 1024 * 1024, "the Service answers from the other worker");
    assert.equal(leaks(), 0, "nor did the traffic to the Service");

    await kindaOk("exec", "--lab", LAB, "r1", "--", "ip", "link", "set", "eth0", "down");
    assert.notEqual(
      tryKubectl("exec", onW1.metadata.name, "--", "ping", "-c", "2", "-W", "1", onW2.status.podIP).code,
      0,
      "no path with r1's core link down",
    );
    await kindaOk("exec", "--lab", LAB, "r1", "--", "ip", "link", "set", "eth0", "up");
    await kindaOk("exec", "--lab", LAB, "r1", "--", "ip", "route", "replace", "10.0.2.0/23", "via", "10.0.0.2");
    await eventually(
      "pod traffic restored",
      30,
      async () => tryKubectl("exec", onW1.metadata.name, "--", "ping", "-c", "1", "-W", "1", onW2.status.podIP).code === 0,
    );
  });

  it("teardown removes the Kind cluster and the lab", async () => {
    await builder.destroy();
    assertKindNetworkAsBefore(hadKindNetwork);
    const clusters = execFileSync(KIND, ["get", "clusters"], { encoding: "utf8" });
    assert.ok(!clusters.split("\n").includes(CLUSTER), `kind still lists ${CLUSTER}`);
    await kindaOk("down", LAB);
  });
});
