import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { KindProvider, kindConfig, kindContainerNames, kindFromState } from "../../../src/providers/kind.js";
import { pathWith } from "../../support/path.js";

describe("the Kind provider's recorded options", () => {
  it("record the kind binary that made the cluster as a path, so down from another shell uses it", () => {
    const dir = pathWith(["kind"]);
    const made = new KindProvider("c", { kindBinary: join(dir, "kind") });
    assert.deepEqual(made.stateOptions(), { kindBinary: join(dir, "kind") });
    const again = kindFromState("c", made.stateOptions());
    assert.deepEqual(again.hostPrograms?.().at(-1)?.name, join(dir, "kind"));
    assert.deepEqual(
      new KindProvider("c", { kindBinary: join(dir, "absent") }).stateOptions(),
      {},
      "nothing to record when it is not there",
    );
  });
});

describe("the Kind provider with an emulated identity", () => {
  it("names node containers as Kind does: per role, in config order, control planes first", () => {
    const names = kindContainerNames("k", [
      { name: "w1", role: "worker" },
      { name: "c1", role: "control-plane" },
      { name: "w2", role: "worker" },
    ]);
    assert.deepEqual(
      [...names],
      [
        ["c1", "k-control-plane"],
        ["w1", "k-worker"],
        ["w2", "k-worker2"],
      ],
    );
  });

  it("with an emulated identity: kubeadm patches for node IPs, the advertise address and the API endpoint", () => {
    const id = { addresses: { c1: "10.0.2.2", w1: "10.0.1.2" }, apiEndpoint: "10.0.2.2:6443" };
    const cfg = kindConfig(
      [
        { name: "w1", role: "worker" },
        { name: "c1", role: "control-plane" },
      ],
      "10.244.0.0/16",
      {},
      id,
    );
    const [cp, w] = (cfg["nodes"] as { kubeadmConfigPatches: string[] }[]).map((n) =>
      n.kubeadmConfigPatches.map((y) => parse(y) as unknown),
    );
    assert.deepEqual(cp![0], {
      kind: "InitConfiguration",
      localAPIEndpoint: { advertiseAddress: "10.0.2.2" },
      nodeRegistration: { kubeletExtraArgs: { "node-ip": "10.0.2.2" } },
    });
    assert.deepEqual(w, [
      {
        kind: "JoinConfiguration",
        nodeRegistration: { kubeletExtraArgs: { "node-ip": "10.0.1.2" } },
        discovery: { bootstrapToken: { apiServerEndpoint: "10.0.2.2:6443" } },
      },
    ]);
    const cluster = parse((cfg["kubeadmConfigPatches"] as string[])[0]!) as Record<string, unknown>;
    assert.equal(cluster["controlPlaneEndpoint"], "10.0.2.2:6443");
  });
});
