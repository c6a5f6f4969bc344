/**
 * Open vSwitch on the Kubernetes path with real Kind (node image built offline by scripts/k8s/):
 * an OVS device `sw` between the nodes (every node links to it; its addresses on its bridge, where
 * its kernel routes the node subnets and, with encapsulation none, the pod ranges), and worker w2
 * behind an OVS smart NIC (w2-nic, in w2's network namespace). Every Kubernetes flow crosses the
 * network (apiThroughNetwork), so w2 turning Ready already needs its NIC. Then, at the device and
 * at the NIC: pods reach each other; an OpenFlow rule dropping one pod's address stops exactly
 * that, its counter equals the packets sent; deleting it restores. Run as root:
 *   KINDA_SKIP_SETUP=1 node --import tsx --test test/k8s/kind-ovs.test.ts
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { up as upTopology, type Lab as TopologyHandle } from "../../src/app/up.js";
import type { TopologySpec } from "../../src/model/spec.js";
import { POD_IMAGE, IMAGE_MAP, ensureTestEnv } from "../support/env.js";
import { eventually, kinda, kindaOk, stateDir } from "../support/kinda.js";
import { dropOnePodExperiment, repliesOf, type Pinger } from "../support/ovs.js";
import { KIND, Kubectl, NODE_IMAGE, buildImages, internalIps } from "./support.js";

process.env["KINDA_STATE_DIR"] = stateDir; // the CLI (kinda status, exec) and this process share the state
const LAB = "t-kind-ovs";
const CLUSTER = "kinda-ovs";

let handle: TopologyHandle | undefined;
let kube: Kubectl;
/** Pod IPs by name: w1a, w1b on w1; w2a, w2b on w2. */
let ips: Record<string, string> = {};

const spec: TopologySpec = {
  name: LAB,
  routing: "static",
  encapsulation: "none",
  cluster: { name: CLUSTER, image: NODE_IMAGE, apiThroughNetwork: true },
  devices: [
    { name: "sw", kind: "ovs-switch", flows: ["priority=10,arp,actions=NORMAL"] },
    { name: "c1", kind: "control-plane" },
    { name: "w1", kind: "worker" },
    { name: "w2", kind: "worker" },
  ],
  links: [
    { endpoints: ["sw", "c1"], addresses: ["10.0.1.1/24", "10.0.1.2/24"] },
    { endpoints: ["sw", "w1"], addresses: ["10.0.2.1/24", "10.0.2.2/24"] },
    {
      endpoints: ["sw", "w2"],
      addresses: ["10.0.3.1/24", "10.0.3.2/24"],
      nic: { kind: "ovs", flows: ["priority=10,arp,actions=NORMAL"] },
    },
  ],
};

/** A pod that sleeps, on the node with this topology name. */
function pod(name: string, node: string) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: { app: "ovs-test" } },
    spec: {
      nodeSelector: { "kinda.dev/name": node },
      containers: [{ name: "p", image: POD_IMAGE, imagePullPolicy: "Never", command: ["sleep", "infinity"] }],
    },
  };
}

/** Pings from w1's pods (0: w1a, 1: w1b); the number of replies (a duplicate reply fails). */
const fromW1: Pinger = async (from, ip, count) => {
  const r = await kube.tryAsync("exec", from === 0 ? "w1a" : "w1b", "--", "ping", "-c", String(count), "-i", "0.05", "-W", "1", ip);
  assert.doesNotMatch(r.out, /DUP!/, r.out);
  return repliesOf(r.out);
};

before(async () => {
  ensureTestEnv();
  buildImages();
  const t = performance.now();
  handle = await upTopology(spec, { imageMap: IMAGE_MAP });
  console.log(`# ${LAB}: up with its Kind cluster in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  kube = new Kubectl(CLUSTER);
});

after(async () => {
  await handle?.down().catch(() => undefined);
  await kinda("down", LAB);
});

describe("Open vSwitch on the path of a real Kind cluster: a device between the nodes, a smart NIC on w2", () => {
  it("every node turns Ready with its emulated address, w2 through its NIC", async () => {
    const s = await eventually("all nodes Ready", 300, async () => {
      const r = kube.try("get", "nodes", "-o", "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}{' '}{end}");
      const st = r.out.trim().split(" ");
      return r.code === 0 && st.length === 3 && st.every((x) => x === "True");
    });
    console.log(`# all nodes Ready ${s.toFixed(1)} s after kinda returned`);
    assert.deepEqual(Object.values(internalIps(kube)).sort(), ["10.0.1.2", "10.0.2.2", "10.0.3.2"]);
    // w2's traffic crossed its NIC: the NIC's bridge forwarded (NORMAL) packets of both directions
    const ports = await kindaOk("exec", "--lab", LAB, "w2-nic", "--", "ovs-ofctl", "dump-ports", "br-nic");
    // OpenFlow port 1 is knic-out (toward sw), 2 is knic-in (toward w2); dump-ports prints numbers
    const names: Record<string, string> = { "1": "knic-out", "2": "knic-in" };
    const rx = [...ports.matchAll(/port +(1|2): rx pkts=(\d+)/g)].map((m) => [names[m[1]!]!, Number(m[2])]);
    assert.equal(rx.length, 2, ports);
    for (const [port, n] of rx) assert.ok((n as number) > 100, `the NIC received Kubernetes traffic on ${port} (${n} packets)`);
    const st = await kindaOk("status", LAB);
    assert.match(st, /w2-nic +running +nic ovs .* between w2 and sw/, st);
  });

  it("pods on w1 and w2 reach each other through sw and w2's NIC", async () => {
    execFileSync(KIND, ["load", "docker-image", POD_IMAGE, "--name", CLUSTER], { stdio: "ignore" });
    const pods = [pod("w1a", "w1"), pod("w1b", "w1"), pod("w2a", "w2"), pod("w2b", "w2")];
    kube.run(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: pods }));
    kube.run(["wait", "--for=condition=Ready", "pod", "-l", "app=ovs-test", "--timeout=180s"]);
    const list = JSON.parse(kube.run(["get", "pods", "-l", "app=ovs-test", "-o", "json"])) as {
      items: { metadata: { name: string }; status: { podIP: string } }[];
    };
    ips = Object.fromEntries(list.items.map((p) => [p.metadata.name, p.status.podIP]));
    assert.equal(await fromW1(0, ips["w2a"]!, 3), 3);
    assert.equal(await fromW1(1, ips["w2b"]!, 3), 3);
  });

  it("at the device: a drop rule for one of w2's pods stops exactly that traffic and counts it; deleting it restores", async () => {
    await dropOnePodExperiment({ lab: LAB, device: "sw", bridge: "br0" }, { ping: fromW1, target: ips["w2a"]!, other: ips["w2b"]! });
  });

  it("at w2's NIC: the same, on the node's own path", async () => {
    await dropOnePodExperiment({ lab: LAB, device: "w2-nic", bridge: "br-nic" }, { ping: fromW1, target: ips["w2b"]!, other: ips["w2a"]! });
  });
});
