/**
 * The kube-pods provider's pure parts: the node pod it makes (what the probe found a node image
 * needs as a pod), its kubeadm configuration, its checks before anything is created, and that the
 * provider registry finds it. The real thing (pods on a Kind host cluster, kubeadm, Ready) is
 * test/k8s-pods/kube-pods.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { createProviderRegistry } from "../../../src/app/root.js";
import type { KubeApi } from "../../../src/model/kube.js";
import { KubePodsProvider, kubeadmConfig, nodePodManifest } from "../../../src/providers/kube-pods.js";

type Container = {
  name: string;
  image: string;
  command: string[];
  securityContext?: { privileged?: boolean };
  volumeMounts: { name: string; mountPath: string }[];
};

describe("kube-pods provider", () => {
  it("makes a node pod with /var copied from the image and its own cgroup namespace", () => {
    const m = nodePodManifest("c1", { name: "cp1", role: "control-plane" }, "img:1", "host-worker") as {
      metadata: { name: string; labels: Record<string, string> };
      spec: {
        nodeName?: string;
        hostname: string;
        initContainers: Container[];
        containers: Container[];
        volumes: { name: string; emptyDir?: { medium?: string } }[];
      };
    };
    assert.equal(m.metadata.name, "cp1");
    assert.equal(m.spec.hostname, "cp1");
    assert.equal(m.spec.nodeName, "host-worker");
    assert.equal(
      (m.spec as { automountServiceAccountToken?: boolean }).automountServiceAccountToken,
      false,
      "no host cluster token in the node",
    );
    assert.equal(m.metadata.labels["kinda.role"], "control-plane");
    const init = m.spec.initContainers[0] as Container;
    assert.deepEqual(init.command, ["cp", "-a", "/var/.", "/mnt/var/"]);
    assert.equal(init.image, "img:1");
    const node = m.spec.containers[0] as Container;
    assert.deepEqual(node.command, ["unshare", "--cgroup", "/usr/local/bin/entrypoint", "/sbin/init"]);
    assert.equal(node.securityContext?.privileged, true);
    assert.deepEqual(node.volumeMounts.map((v) => v.mountPath).sort(), ["/lib/modules", "/run", "/tmp", "/var"]);
    assert.equal(m.spec.volumes.find((v) => v.name === "run")?.emptyDir?.medium, "Memory");
    assert.equal(m.spec.volumes.find((v) => v.name === "var")?.emptyDir?.medium, undefined, "/var on disk, not in memory");
    const free = nodePodManifest("c1", { name: "w1", role: "worker" }, "img:1") as { spec: { nodeName?: string } };
    assert.equal(free.spec.nodeName, undefined, "without placement the scheduler picks the host node");
  });

  it("writes a kubeadm configuration with the node's and the control plane's addresses", () => {
    const text = kubeadmConfig({
      cluster: "c1",
      token: "abcdef.0123456789abcdef",
      version: "v1.34.4",
      nodeIp: "10.244.2.3",
      controlPlaneIp: "10.244.1.2",
      podCidr: "10.210.0.0/16",
      serviceCidr: "10.211.0.0/16",
    });
    const docs = parseAllDocuments(text).map((d) => d.toJS() as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.deepEqual(
      docs.map((d) => d["kind"]),
      ["InitConfiguration", "JoinConfiguration", "ClusterConfiguration", "KubeletConfiguration", "KubeProxyConfiguration"],
    );
    const [init, join, cluster, kubelet] = docs as [Record<string, any>, Record<string, any>, Record<string, any>, Record<string, any>]; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(init["localAPIEndpoint"].advertiseAddress, "10.244.2.3");
    assert.deepEqual(join["nodeRegistration"].kubeletExtraArgs, [{ name: "node-ip", value: "10.244.2.3" }]);
    assert.equal(join["discovery"].bootstrapToken.apiServerEndpoint, "10.244.1.2:6443");
    assert.equal(init["bootstrapTokens"][0].token, "abcdef.0123456789abcdef");
    assert.equal(join["discovery"].bootstrapToken.token, "abcdef.0123456789abcdef");
    assert.equal(cluster["controlPlaneEndpoint"], "10.244.1.2:6443");
    assert.equal(cluster["kubernetesVersion"], "v1.34.4");
    assert.deepEqual(cluster["networking"], { podSubnet: "10.210.0.0/16", serviceSubnet: "10.211.0.0/16" });
    assert.equal(kubelet["cgroupDriver"], "systemd");
    assert.equal(kubelet["cgroupRoot"], "/kubelet");
  });

  it("refuses, before asking the host cluster anything, what it cannot make", async () => {
    let asked = 0;
    const api = async (): Promise<KubeApi> => {
      asked++;
      throw new Error("not reached");
    };
    const p = new KubePodsProvider("c1", { image: "img:1", placement: { nope: "h1" } }, api);
    const cp = { name: "cp1", role: "control-plane" as const };
    await assert.rejects(
      p.create([{ name: "w1", role: "worker" }], { podCidr: "10.210.0.0/16" }),
      /exactly one control plane; the topology has 0/,
    );
    await assert.rejects(p.create([cp, { name: "cp2", role: "control-plane" }], { podCidr: "10.210.0.0/16" }), /has 2/);
    await assert.rejects(
      p.create([cp, { name: "W_1", role: "worker" }], { podCidr: "10.210.0.0/16" }),
      /node W_1: not usable as a pod's name/,
    );
    await assert.rejects(p.create([cp], { podCidr: "10.210.0.0/16" }), /placement: nope is not a node/);
    const q = new KubePodsProvider("c1", { image: "img:1" }, api);
    await assert.rejects(q.create([cp], { podCidr: "10.210.0.0/16; rm -rf /" }), /not an IPv4 CIDR/);
    assert.equal(asked, 0);
  });

  it("is in the provider registry, rebuilt from a lab state's options", () => {
    const reg = createProviderRegistry();
    assert.ok(reg.kinds().includes("kube-pods"));
    const p = reg.providerFor("kube-pods", "c1", { image: "img:1", namespace: "ns1", kubeconfig: "/k/c" }) as KubePodsProvider;
    assert.equal(p.kind, "kube-pods");
    assert.equal(p.namespace, "ns1");
    assert.deepEqual(p.stateOptions(), { image: "img:1", namespace: "ns1", kubeconfig: "/k/c" });
  });
});
