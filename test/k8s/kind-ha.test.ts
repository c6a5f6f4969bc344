/**
 * Several control planes: real Kubernetes (Kind, offline node image and Kind's load balancer
 * image built by scripts/k8s/) with two control planes and a worker, deployed from the YAML
 * example examples/ha.yaml as a user would (static routing, Kind's external load balancer linked
 * as a `load-balancer` device, API traffic through the network: apiThroughNetwork). The nodes'
 * Kubernetes identity is their emulated address as with one control plane (InternalIPs, API
 * advertise addresses, etcd's peer URLs; the API endpoint is the load balancer's emulated address,
 * and it forwards to the control planes' emulated addresses), so no address is rewritten. Checks
 * that the nodes' API traffic to the load balancer, the load balancer's traffic to the API servers
 * and etcd's traffic between the control planes cross the emulated network, never the Kind
 * bridge. Run as root: `npx tsx --test test/k8s/kind-ha.test.ts` (or `npm run test:k8s`).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { join } from "node:path";
import type { BuildResult } from "../../src/engine/cluster.js";
import { destroyCluster } from "../../src/app/library.js";
import { up as upTopology, type Lab as TopologyHandle } from "../../src/app/up.js";
import { IMAGE_MAP, ROOT, ensureTestEnv } from "../support/env.js";
import { eventually, kinda, kindaOk } from "../support/kinda.js";
import {
  apiServiceEndpoints,
  assertKindNetworkAsBefore,
  buildImages,
  internalIps,
  KIND,
  kindNetworkExists,
  Kubectl,
  NODE_IMAGE,
  txPackets,
} from "./support.js";

const LAB = "t-kind-ha";
const CLUSTER = "kinda-ha";
const LB_NAME = `${CLUSTER}-external-load-balancer`;
/** The nodes' addresses in examples/ha.yaml. */
const EMULATED: Record<string, string> = { c1: "10.0.11.2", c2: "10.0.12.2", w1: "10.0.13.2" };

let handle: TopologyHandle | undefined;
let built: BuildResult;
let kube: Kubectl;
/** Whether Docker had the "kind" network before this test made its cluster. */
let hadKindNetwork: boolean;
/** When kinda had attached everything (ISO time, for the kubelet's lease). */
let attachedAt: string;

const kubectl = (...args: string[]) => kube.run(args);
const tryKubectl = (...args: string[]) => kube.try(...args);
const counter = (device: string, ifname: string) => txPackets(LAB, device, ifname);

let probes = 0;
/**
 * A counting rule (no target) at the end of mangle POSTROUTING in a container's namespace: TCP
 * packets leaving through `ifname` to port `port`, to `dst` (or, with "!gateway", to anywhere but
 * the Kind network's gateway: the host's own kubectl reaches the load balancer's published port).
 */
function countLeaving(pid: number, ifname: string, dst: string, port: number): () => number {
  const comment = `kinda-ha-probe-${++probes}`;
  const ns = ["nsenter", "-t", String(pid), "-n"];
  const to = dst === "!gateway" ? ["!", "-d", `${kindGateway()}/32`] : ["-d", `${dst}/32`];
  execFileSync(ns[0]!, [
    ...ns.slice(1),
    "iptables",
    "-t",
    "mangle",
    "-A",
    "POSTROUTING",
    "-o",
    ifname,
    ...to,
    "-p",
    "tcp",
    "--dport",
    String(port),
    "-m",
    "comment",
    "--comment",
    comment,
  ]);
  return () => {
    // (stderr: iptables-save's note that the node also has legacy tables, which kinda does not use)
    const line = execFileSync(ns[0]!, [...ns.slice(1), "iptables-save", "-c", "-t", "mangle"], { encoding: "utf8", stdio: "pipe" })
      .split("\n")
      .find((l) => l.includes(comment));
    return Number(/^\[(\d+):/.exec(line ?? "")?.[1] ?? "NaN");
  };
}

/** The Kind network's IPv4 gateway: the host, whose kubectl reaches the load balancer's published port. */
function kindGateway(): string {
  const gws = execFileSync("/usr/bin/docker", ["network", "inspect", "kind", "-f", "{{range .IPAM.Config}}{{.Gateway}} {{end}}"], {
    encoding: "utf8",
  });
  return gws.split(" ").find((g) => /^\d+\.\d+\.\d+\.\d+$/.test(g))!;
}

/** All three nodes report Ready. */
function allReady(): boolean {
  const r = tryKubectl("get", "nodes", "-o", "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}{' '}{end}");
  const st = r.out.trim().split(" ");
  return r.code === 0 && st.length === 3 && st.every((x) => x === "True");
}

function node(name: string) {
  const n = built.nodes.find((x) => x.name === name);
  assert.ok(n, `node ${name}`);
  return n;
}

function nodeExec(name: string, ...argv: string[]): string {
  return execFileSync("/usr/bin/docker", ["exec", node(name).container, ...argv], { encoding: "utf8" });
}

before(async () => {
  ensureTestEnv();
  hadKindNetwork = kindNetworkExists();
  let t = performance.now();
  buildImages();
  console.log(`# images (node + load balancer) ready in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  // core -- r1 (c1, w1) and core -- r2 (c2, the load balancer): the worker's API traffic, the load
  // balancer's to c1 and etcd's between c1 and c2 cross the core. Only the names (lab, cluster)
  // and the node image are the test's; the rest is the example as a user deploys it.
  const file = join(ROOT, "examples", "ha.yaml");
  t = performance.now();
  handle = await upTopology(file, { name: LAB, clusterName: CLUSTER, nodeImage: NODE_IMAGE, imageMap: IMAGE_MAP });
  built = handle.cluster!;
  attachedAt = new Date().toISOString();
  console.log(
    `# network up, cluster built and attached in ${((performance.now() - t) / 1000).toFixed(1)} s ` +
      `(Kind ${built.seconds.provider.toFixed(1)} s, plumbing ${built.seconds.plumbing.toFixed(1)} s, ${built.plan.size} operations)`,
  );
  kube = new Kubectl(CLUSTER);
});

after(async () => {
  await handle?.down().catch(() => undefined);
  await kinda("down", LAB);
});

describe("Kind with two control planes: the load balancer attached by kinda", () => {
  it("kinda found Kind's load balancer and attached it: a veth into r2 with its address", async () => {
    const lb = built.loadBalancer;
    assert.ok(lb, "the provider reported a load balancer");
    assert.equal(lb.container, LB_NAME);
    const addr = execFileSync("nsenter", ["-t", String(lb.pid), "-n", "ip", "-br", "addr", "show", "eth1"], { encoding: "utf8" });
    assert.match(addr, /10\.0\.9\.2\/24/);
    assert.ok(await kindaOk("exec", "--lab", LAB, "r2", "--", "ping", "-c", "1", "-W", "2", "10.0.9.2"));
  });

  it("all three nodes turn Ready and kubectl works through the load balancer", async () => {
    const s = await eventually("nodes Ready", 300, async () => allReady());
    console.log(`# all nodes Ready ${s.toFixed(1)} s after attaching`);
    // the host's kubectl talks to the load balancer's published port (Kind's kubeconfig)
    assert.match(readFileSync(kube.kubeconfig, "utf8"), /server: https:\/\/127\.0\.0\.1:\d+/);
    assert.match(kubectl("get", "nodes"), new RegExp(`${CLUSTER}-control-plane2\\s+Ready`));
  });

  it("every node's Kubernetes identity is its emulated address: InternalIPs, the API endpoint, etcd's peers; no address rewritten", () => {
    const byName = internalIps(kube);
    for (const [n, addr] of Object.entries(EMULATED)) assert.equal(byName[node(n).k8sName], addr, `${n}'s InternalIP`);
    assert.deepEqual(
      apiServiceEndpoints(kube),
      [EMULATED["c1"], EMULATED["c2"]],
      "the API Service (10.96.0.1) leads to both control planes' emulated addresses",
    );
    // kubelets, kube-proxy and joining nodes name the load balancer's emulated address
    assert.match(nodeExec("w1", "grep", "server:", "/etc/kubernetes/kubelet.conf"), /https:\/\/10\.0\.9\.2:6443/);
    const etcd = kubectl("get", "pod", "-n", "kube-system", `etcd-${node("c2").k8sName}`, "-o", "jsonpath={.spec.containers[0].command}");
    assert.match(etcd, /--initial-advertise-peer-urls=https:\/\/10\.0\.12\.2:2380/, "c2's etcd advertises its emulated address");
    assert.match(etcd, /--initial-cluster=[^"]*https:\/\/10\.0\.11\.2:2380/, "and found c1's there");
    // kinda put no NAT rule anywhere: nothing to rewrite when everyone addresses the emulated addresses
    for (const pid of [...built.nodes.map((n) => n.pid), built.loadBalancer!.pid]) {
      const nat = execFileSync("nsenter", ["-t", String(pid), "-n", "iptables-save", "-t", "nat"], { encoding: "utf8", stdio: "pipe" });
      assert.ok(
        !nat.includes(`kinda:${LAB}`),
        `no kinda NAT rule in ${pid}: ${nat
          .split("\n")
          .filter((l) => l.includes("kinda"))
          .join("; ")}`,
      );
    }
  });

  it("the worker's API traffic goes to the load balancer's emulated address through the network, none through the Kind bridge", async () => {
    const w1 = node("w1");
    const leak = countLeaving(w1.pid, "eth0", "!gateway", 6443);
    const viaNet = countLeaving(w1.pid, "eth1", "10.0.9.2", 6443);
    const coreBefore = await counter("r1", "eth0");
    const out = nodeExec("w1", "bash", "-c", 'for i in $(seq 1 20); do curl -sk --max-time 5 "https://10.0.9.2:6443/healthz"; echo; done');
    assert.equal(
      out
        .trim()
        .split("\n")
        .filter((l) => l === "ok").length,
      20,
      `healthz through the load balancer: ${out}`,
    );
    // and the kubelet's own traffic (lease renewals every 10 s) for a while
    await new Promise((r) => setTimeout(r, 15000));
    const coreAfter = await counter("r1", "eth0");
    // the kubelet's only way to the API is the load balancer: a lease renewed since attaching went through the network
    const renewed = kubectl("get", "lease", "-n", "kube-node-lease", w1.k8sName, "-o", "jsonpath={.spec.renewTime}").trim();
    assert.ok(new Date(renewed) > new Date(attachedAt), `w1's lease was renewed after attaching (${renewed} > ${attachedAt})`);
    console.log(
      `# w1 -> load balancer: ${viaNet()} packets via eth1, ${leak()} to port 6443 via eth0; r1 core tx +${coreAfter - coreBefore}`,
    );
    assert.ok(viaNet() >= 20 * 5, `the worker sent its API traffic to the load balancer's emulated address (${viaNet()} packets)`);
    assert.equal(leak(), 0, "no API packet left the worker's Kind interface");
    assert.ok(coreAfter - coreBefore >= 20 * 5, `r1's core link carried it (${coreAfter - coreBefore} packets)`);
  });

  it("the load balancer reaches both API servers through the network, and etcd's members each other", async () => {
    const lb = built.loadBalancer!;
    const c1 = node("c1");
    const lbLeak = countLeaving(lb.pid, "eth0", "!gateway", 6443);
    const lbViaNet = ["10.0.11.2", "10.0.12.2"].map((emu) => countLeaving(lb.pid, "eth1", emu, 6443));
    const etcdLeak = countLeaving(c1.pid, "eth0", "!gateway", 2380);
    const etcdViaNet = countLeaving(c1.pid, "eth1", "10.0.12.2", 2380);
    // writes need both etcd members (a quorum of 2); each goes host -> load balancer -> an API server
    for (let i = 0; i < 10; i++) kubectl("create", "configmap", `ha-probe-${i}`, "--from-literal", `i=${i}`);
    assert.equal(kubectl("get", "--raw", "/readyz/etcd").trim(), "ok");
    await new Promise((r) => setTimeout(r, 5000)); // haproxy's health checks run every 2 s
    const via = lbViaNet.map((f) => f());
    console.log(
      `# load balancer -> c1, c2: ${via.join(", ")} packets via eth1; etcd c1 -> c2: ${etcdViaNet()} via eth1, ${etcdLeak()} via eth0`,
    );
    assert.ok(via[0]! > 0 && via[1]! > 0, `the load balancer used both API servers' emulated addresses (${via.join(", ")})`);
    assert.equal(lbLeak(), 0, "no packet left the load balancer's Kind interface for an API server");
    assert.ok(etcdViaNet() > 0, "etcd's peer traffic from c1 to c2 crossed the network");
    assert.equal(etcdLeak(), 0, "no etcd peer packet left c1's Kind interface");
    assert.ok(allReady(), "every node still Ready");
    assert.deepEqual(
      [...backendStates()].sort(),
      [
        [`${CLUSTER}-control-plane`, "UP"],
        [`${CLUSTER}-control-plane2`, "UP"],
      ],
      "haproxy's health checks pass for both API servers",
    );
  });

  it("teardown removes the cluster (load balancer included) and the lab", async () => {
    // r2's own link (eth0, to core) and the device ends of the veths to c2 and the load balancer
    const r2Links = async () =>
      (await kindaOk("exec", "--lab", LAB, "r2", "--", "ip", "-br", "link"))
        .split("\n")
        .map((l) => l.split(/\s+/)[0]!.split("@")[0]!)
        .filter((n) => n.startsWith("eth"));
    assert.equal((await r2Links()).length, 3, "r2: its core link and the veths to c2 and the load balancer");
    await destroyCluster(LAB); // the cluster alone: the lab stays up
    assertKindNetworkAsBefore(hadKindNetwork);
    const clusters = execFileSync(KIND, ["get", "clusters"], { encoding: "utf8" });
    assert.ok(!clusters.split("\n").includes(CLUSTER), `kind still lists ${CLUSTER}`);
    const left = execFileSync("/usr/bin/docker", ["ps", "-a", "-q", "--filter", `label=io.x-k8s.kind.cluster=${CLUSTER}`], {
      encoding: "utf8",
    });
    assert.equal(left.trim(), "", "no container of the cluster remains");
    // kinda deletes the device ends itself: the kernel removes a dead namespace's links only
    // later (108 s after `kind delete` here)
    await eventually("r2's links to c2 and the load balancer gone", 5, async () => (await r2Links()).join() === "eth0");
    await kindaOk("down", LAB);
  });
});

/** haproxy's last word on each API server (it logs to stderr: `Server kube-apiservers/NAME is UP|DOWN`). */
function backendStates(): Map<string, string> {
  const r = spawnSync("/usr/bin/docker", ["logs", LB_NAME], { encoding: "utf8" });
  const states = new Map<string, string>();
  for (const m of `${r.stdout}${r.stderr}`.matchAll(/Server kube-apiservers\/(\S+) is (UP|DOWN)/g)) states.set(m[1]!, m[2]!);
  return states;
}
