/** The cluster builder against a lab that is up in a state store (no containers): its checks before anything is created, and small readers. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClusterBuilder, attachDeadlineMs, routeOf } from "../../../src/engine/cluster.js";
import { renderRoute } from "../../../src/plan/ops.js";
import { ClusterExistsError, type ClusterProvider } from "../../../src/model/provider.js";
import { shutdownTimeoutMs } from "../../../src/engine/lab.js";
import { MissingProgramsError, programsFor } from "../../../src/core/host.js";
import { pathWith } from "../../support/path.js";
import { withUpLab } from "../../support/uplab.js";
import { MemoryKernel } from "../../support/memory.js";

describe("a cluster of the same name made by someone else meanwhile", () => {
  it("is neither adopted nor deleted when the provider's create finds it", async () => {
    await withUpLab([{ name: "A", bridge: "kb-a" }], async ({ store, runtime }) => {
      let deleted = false;
      const provider: ClusterProvider = {
        kind: "kind",
        name: "k",
        exists: async () => false, // not yet: the other `create` wins the race after this check
        create: async () => {
          throw new ClusterExistsError("a Kind cluster named k was created by someone else meanwhile");
        },
        discover: async () => [],
        delete: async () => {
          deleted = true;
        },
      };
      const b = new ClusterBuilder(
        "l",
        provider,
        {},
        { runtime, store, kernel: new MemoryKernel(), hostPath: pathWith(programsFor(["cluster"]).map((p) => p.name)) },
      );
      b.addNode("c1", "control-plane").connect({ node: "c1", domain: "A", nodeAddress: "10.1.0.2/24" });
      await assert.rejects(b.build(), ClusterExistsError);
      assert.equal(deleted, false, "the other cluster was not deleted");
      assert.equal(store.read("l")?.cluster, undefined, "and kinda does not record it as its own");
    });
  });
});

describe("small readers", () => {
  it("turns `ip -j route` back into arguments that re-create the route", () => {
    assert.equal(
      renderRoute(routeOf({ dst: "default", gateway: "172.17.0.1", dev: "eth0", protocol: "static", flags: ["onlink"] })!),
      "default via 172.17.0.1 dev eth0 proto static onlink",
    );
    assert.equal(
      renderRoute(routeOf({ dst: "default", dev: "eth1", protocol: "boot", metric: 5, flags: ["linkdown"] })!),
      "default dev eth1 metric 5",
    );
    assert.equal(routeOf(undefined), undefined);
  });

  it("KINDA_SHUTDOWN_TIMEOUT: seconds, default 30, anything else refused", () => {
    assert.equal(shutdownTimeoutMs(undefined), 30_000);
    assert.equal(shutdownTimeoutMs("2.5"), 2_500);
    assert.throws(() => shutdownTimeoutMs("ten"), /KINDA_SHUTDOWN_TIMEOUT=ten is not a number of seconds/);
    assert.throws(() => shutdownTimeoutMs("-1"), /not a number of seconds/);
  });
});

describe("host programs of a cluster", () => {
  it("a missing one stops build before the provider creates anything, named with its package", async () => {
    await withUpLab([{ name: "A", bridge: "kb-a" }], async ({ store, runtime }) => {
      let created = false;
      const provider: ClusterProvider = {
        kind: "fake",
        name: "k",
        hostPrograms: () => [{ name: "fakectl", debianPackage: "fake-tools", purpose: "creating fake clusters", needFor: [] }],
        create: async () => {
          created = true;
        },
        discover: async () => [],
        delete: async () => undefined,
      };
      const hostPath = pathWith(
        programsFor(["cluster"])
          .map((p) => p.name)
          .filter((n) => n !== "ethtool"),
      );
      const b = new ClusterBuilder("l", provider, {}, { runtime, store, kernel: new MemoryKernel(), hostPath });
      b.addNode("c1", "control-plane").connect({ node: "c1", domain: "A", nodeAddress: "10.1.0.2/24" });
      await assert.rejects(b.build(), (e: unknown) => {
        assert.ok(e instanceof MissingProgramsError);
        assert.deepEqual(
          e.missing.map((p) => p.name),
          ["ethtool", "fakectl"],
        );
        assert.match(e.message, /ethtool \(Debian package ethtool\)/);
        return true;
      });
      assert.equal(created, false);
      assert.equal(store.read("l")?.cluster, undefined, "nothing recorded: nothing was made");
    });
  });
});

describe("attaching early", () => {
  it("has a deadline once the provider's create has returned: nodes that never show as started fail the build", async () => {
    await withUpLab([{ name: "A", bridge: "kb-a" }], async ({ store, runtime }) => {
      let deleted = false;
      const provider: ClusterProvider = {
        kind: "fake",
        name: "k",
        create: async () => undefined,
        // the nodes' containers never show as running
        started: async () => undefined,
        discover: async () => [],
        delete: async () => {
          deleted = true;
        },
      };
      const hostPath = pathWith(programsFor(["cluster"]).map((p) => p.name));
      // the API through the network: the nodes get their addresses while kubeadm starts (early attach)
      const b = new ClusterBuilder(
        "l",
        provider,
        { apiThroughNetwork: true },
        { runtime, store, kernel: new MemoryKernel(), hostPath, attachDeadlineMs: 300 },
      );
      b.addNode("c1", "control-plane").connect({ node: "c1", domain: "A", nodeAddress: "10.1.0.2/24" });
      const t = performance.now();
      await assert.rejects(b.build(), /created cluster k, but its nodes were not attached to lab l within 0.3 s/);
      assert.ok(performance.now() - t < 30_000, "it did not wait for ever");
      assert.equal(deleted, true, "what the provider made is removed");
    });
  });

  it("KINDA_ATTACH_TIMEOUT: seconds, default 120, anything else refused", () => {
    assert.equal(attachDeadlineMs(undefined), 120_000);
    assert.equal(attachDeadlineMs("5"), 5_000);
    assert.throws(() => attachDeadlineMs("soon"), /KINDA_ATTACH_TIMEOUT=soon is not a number of seconds/);
  });
});
