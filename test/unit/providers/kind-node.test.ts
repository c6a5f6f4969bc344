import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import {
  joinConfigFor,
  kindContainerNames,
  kindNodeRunArgs,
  NAME_LABEL,
  pool,
  positiveInt,
  splitWaves,
} from "../../../src/providers/kind.js";

// the shape of the file Kind writes into a worker (v1beta4: kubelet extra args as name/value)
const KIND_CONF = `apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: lab
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration:
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs:
    - name: node-ip
      value: 10.0.4.2
    - name: provider-id
      value: kind://docker/lab/lab-worker
    - name: node-labels
      value: ${NAME_LABEL}=w1,rack=a
discovery:
  bootstrapToken:
    apiServerEndpoint: 10.0.7.2:6443
    token: abcdef.0123456789abcdef
    unsafeSkipCAVerification: true
`;

describe("a worker joining later", () => {
  it("joins with the worker's configuration renamed: its IP, provider id, name label and a fresh token", () => {
    const out = joinConfigFor(KIND_CONF, { cluster: "lab", container: "lab-w9", topoName: "w9", nodeIp: "10.0.9.2", token: "new.token" });
    const docs = parseAllDocuments(out).map((d) => d.toJS() as Record<string, unknown>);
    assert.equal(docs.length, 2);
    const join = docs.find((d) => d["kind"] === "JoinConfiguration") as {
      nodeRegistration: { name: string; kubeletExtraArgs: { name: string; value: string }[] };
      discovery: { bootstrapToken: { token: string; apiServerEndpoint: string } };
    };
    const arg = (k: string) => join.nodeRegistration.kubeletExtraArgs.find((a) => a.name === k)?.value;
    assert.equal(arg("node-ip"), "10.0.9.2");
    assert.equal(arg("provider-id"), "kind://docker/lab/lab-w9");
    assert.equal(arg("node-labels"), `rack=a,${NAME_LABEL}=w9`);
    assert.equal(join.nodeRegistration.name, "lab-w9");
    assert.equal(join.discovery.bootstrapToken.token, "new.token");
    // still through the endpoint kinda's patches gave the first workers
    assert.equal(join.discovery.bootstrapToken.apiServerEndpoint, "10.0.7.2:6443");
  });
  it("refuses a configuration without a join", () => {
    assert.throws(
      () => joinConfigFor("kind: ClusterConfiguration\n", { cluster: "c", container: "x", topoName: "x", nodeIp: "1.2.3.4", token: "t" }),
      /no JoinConfiguration/,
    );
  });
  it("makes the container as Kind makes its nodes, with the cluster's label (kind delete removes it)", () => {
    const a = kindNodeRunArgs("lab", "lab-w9", "img:1");
    assert.equal(a.at(-1), "img:1");
    for (const x of ["--privileged", "io.x-k8s.kind.cluster=lab", "io.x-k8s.kind.role=worker", "kind", "--cgroupns=private"])
      assert.ok(a.includes(x), x);
  });
});

describe("nodes in waves", () => {
  const nodes = [
    { name: "w1", role: "worker" as const },
    { name: "c1", role: "control-plane" as const },
    { name: "w2", role: "worker" as const },
    { name: "w3", role: "worker" as const },
  ];

  it("Kind makes the control planes and the first wave; the later ones keep the names Kind would give them", () => {
    const { kind, later } = splitWaves(nodes, 2);
    assert.deepEqual(
      kind.map((n) => n.name),
      ["c1", "w1", "w2"],
    );
    assert.deepEqual(
      later.map((n) => n.name),
      ["w3"],
    );
    assert.equal(kindContainerNames("lab", nodes).get("w3"), "lab-worker3");
    assert.deepEqual(splitWaves(nodes, 10).later, []);
  });

  it("wave sizes: positive whole numbers, else an error naming the variable", () => {
    assert.equal(positiveInt(undefined, "KINDA_KIND_WAVE", 10), 10);
    assert.equal(positiveInt("25", "KINDA_KIND_WAVE", 10), 25);
    assert.throws(() => positiveInt("0", "KINDA_KIND_WAVE", 10), /KINDA_KIND_WAVE=0 is not a positive whole number/);
    assert.throws(() => positiveInt("2.5", "KINDA_JOIN_PARALLEL", 3), /KINDA_JOIN_PARALLEL=2.5/);
  });

  it("joins a few at a time: never more than the limit at once, all of them done; a failure stops new ones", async () => {
    let now = 0;
    let most = 0;
    const seen: number[] = [];
    await pool([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
      most = Math.max(most, ++now);
      await new Promise((r) => setTimeout(r, 5));
      seen.push(x);
      now--;
    });
    assert.equal(most, 3);
    assert.deepEqual(
      seen.sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7],
    );
    const started: number[] = [];
    await assert.rejects(
      pool([1, 2, 3, 4, 5], 1, async (x) => {
        started.push(x);
        if (x === 2) throw new Error("join 2 failed");
      }),
      /join 2 failed/,
    );
    assert.deepEqual(started, [1, 2]);
  });
});
