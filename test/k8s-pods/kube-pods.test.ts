/**
 * Kubernetes nodes under test as pods of a host cluster (the kube-pods provider), for real: a
 * three-node Kind host cluster with the node image loaded, then the provider makes a control
 * plane pod and a worker pod on two different host nodes, kubeadm init and join in them, and
 * both nodes Ready; a pod of the cluster under test runs on its worker; `delete` leaves nothing
 * on the host cluster. Checked with the host cluster's own kubectl, not through the provider.
 *
 * Long (about 8-10 minutes on a loaded machine: Kind create, the 1 GB node image into three
 * nodes, two node pods): not in the default CI run; `npm run test:k8s:pods`. With
 * KINDA_TEST_KP_HOST naming an existing Kind cluster that has the node image loaded, it uses that
 * one and leaves it (only its own namespace is made and removed).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KubeClusterApi } from "../../src/runtime/kube.js";
import { KubePodsProvider } from "../../src/providers/kube-pods.js";
import { ensureTestEnv } from "../support/env.js";
import { CACHE, KIND, Kubectl, NODE_IMAGE } from "../k8s/support.js";

const GIVEN = process.env["KINDA_TEST_KP_HOST"];
const HOST = GIVEN ?? "kp-host";
const CLUSTER = "kp-inner";
const NS = `kinda-nodes-${CLUSTER}`;
const t0 = Date.now();
const took = (what: string, since: number) => console.log(`# ${what}: ${((Date.now() - since) / 1000).toFixed(1)} s`);

let kube: Kubectl | undefined;
let provider: KubePodsProvider;
const nodes = [
  { name: "cp1", role: "control-plane" as const },
  { name: "w1", role: "worker" as const },
];

/** kubectl of the cluster under test, run in its control plane pod by the host cluster's kubectl. */
const inner = (...args: string[]) =>
  (kube as Kubectl).run(["exec", "-n", NS, "cp1", "-c", "node", "--", "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", ...args]);

describe("kube-pods provider: a control plane and a worker as pods of a three-node host cluster", { timeout: 1_800_000 }, () => {
  before(() => {
    ensureTestEnv();
    let t = Date.now();
    if (!GIVEN) {
      const clusters = execFileSync(KIND, ["get", "clusters"], { encoding: "utf8" });
      if (clusters.split("\n").includes(HOST)) execFileSync(KIND, ["delete", "cluster", "--name", HOST], { stdio: "ignore" });
      const config = join(CACHE, `kind-config-${HOST}.yaml`);
      writeFileSync(
        config,
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n- role: worker\n- role: worker\n",
      );
      execFileSync(KIND, ["create", "cluster", "--name", HOST, "--image", NODE_IMAGE, "--config", config, "--wait", "300s"], {
        stdio: ["ignore", "ignore", "inherit"],
        timeout: 600_000,
      });
      took("kind create cluster (3 nodes)", t);
      t = Date.now();
      execFileSync(KIND, ["load", "docker-image", "--name", HOST, NODE_IMAGE], {
        stdio: ["ignore", "ignore", "inherit"],
        timeout: 900_000,
      });
      took("kind load docker-image (node image, 3 nodes)", t);
    }
    kube = new Kubectl(HOST);
    // a namespace left by an interrupted run of this test (its own name only)
    kube.try("delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=180s");
    const api = new KubeClusterApi({ kubeconfig: kube.kubeconfig });
    provider = new KubePodsProvider(
      CLUSTER,
      { image: NODE_IMAGE, placement: { cp1: `${HOST}-worker`, w1: `${HOST}-worker2` }, target: { kubeconfig: kube.kubeconfig } },
      async () => api,
    );
  });

  after(async () => {
    if (kube) {
      kube.try("delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=180s");
      if (!GIVEN) execFileSync(KIND, ["delete", "cluster", "--name", HOST], { stdio: "ignore", timeout: 300_000 });
    }
    took("whole test", t0);
  });

  it("makes both nodes Ready, each pod on its own host node", async () => {
    const t = Date.now();
    await provider.create(nodes, { podCidr: "10.210.0.0/16", onOutput: (l) => console.log(`# ${l}`) });
    took("create (2 node pods, kubeadm init + join, Ready)", t);
    const ready = inner(
      "get",
      "nodes",
      "-o",
      'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}',
    );
    console.log(`# nodes: ${ready}`);
    assert.deepEqual(ready.trim().split(/\s+/).sort(), ["cp1=True", "w1=True"]);
    const where = (kube as Kubectl).run([
      "get",
      "pods",
      "-n",
      NS,
      "-o",
      "jsonpath={range .items[*]}{.metadata.name}={.spec.nodeName} {end}",
    ]);
    assert.deepEqual(where.trim().split(/\s+/).sort(), [`cp1=${HOST}-worker`, `w1=${HOST}-worker2`]);
    const roles = inner("get", "nodes", "cp1", "-o", "jsonpath={.metadata.labels}");
    assert.match(roles, /node-role.kubernetes.io\/control-plane/);
  });

  it("reports each node's facts: its pod's IP, a pod range in the one asked for", async () => {
    const facts = await provider.discover(nodes);
    const ips = JSON.parse((kube as Kubectl).run(["get", "pods", "-n", NS, "-o", "json"])) as {
      items: { metadata: { name: string }; status: { podIP: string } }[];
    };
    for (const f of facts) {
      assert.equal(f.internalIp, ips.items.find((i) => i.metadata.name === f.name)?.status.podIP);
      assert.equal(f.podCidrs.length, 1);
      assert.match(f.podCidrs[0] as string, /^10\.210\.\d+\.0\/24$/);
    }
    assert.match(await provider.kubeconfig(), /server: https:\/\/[\d.]+:6443/);
  });

  it("runs a pod of the cluster under test on its worker", () => {
    const t = Date.now();
    inner(
      "run",
      "kp-pause",
      "--image=registry.k8s.io/pause:3.10.1",
      "--image-pull-policy=Never",
      "--overrides",
      '{"spec":{"nodeName":"w1"}}',
    );
    inner("wait", "--for=condition=Ready", "pod/kp-pause", "--timeout=180s");
    const ip = inner("get", "pod", "kp-pause", "-o", "jsonpath={.spec.nodeName} {.status.podIP}");
    console.log(`# pod on the worker: ${ip} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    assert.match(ip, /^w1 10\.210\.\d+\.\d+$/);
  });

  it("delete removes the node pods and their namespace from the host cluster", async () => {
    const t = Date.now();
    await provider.delete();
    took("delete", t);
    assert.equal((kube as Kubectl).try("get", "namespace", NS).code, 1, "the namespace is gone");
    assert.equal(await provider.exists(), false);
    await provider.delete(); // again: no error when it is gone
  });
});
