/**
 * Deploy, cluster attach and a run-time link change against the in-memory kernel's state (not
 * its command lines): the links, addresses and routes each namespace holds after the change, and
 * that taking it back leaves nothing of kinda's. The kernel is strict here: an operation on an
 * interface that is not there, or adding one that is, fails as iproute2's line would. The same
 * paths run for real in test/integration/ (lifecycle, cluster-undo, live).
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { programsFor } from "../../../src/core/host.js";
import { ClusterBuilder, destroyCluster } from "../../../src/engine/cluster.js";
import { deploy, teardown } from "../../../src/engine/lab.js";
import { changeLink } from "../../../src/engine/live.js";
import type { ClusterProvider } from "../../../src/model/provider.js";
import type { NodeFacts } from "../../../src/model/cluster.js";
import { addrAdd, routeAdd } from "../../../src/plan/ops.js";
import { planLab } from "../../../src/plan/lab.js";
import { StateStore } from "../../../src/state/store.js";
import { parseLabConf } from "../../../src/topology/kathara.js";
import { MemoryKernel, MemoryRuntime, nsKey, withNamespaces } from "../../support/memory.js";
import { fakeNodes } from "../../support/facts.js";
import { pathWith } from "../../support/path.js";

const hostPath = pathWith([...programsFor(["lab"]), ...programsFor(["cluster"])].map((p) => p.name));

/** Lab "ks": r1 on A and B, h1 on B, with addresses and a route applied from the host. */
async function upLab() {
  const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-ks-state-")));
  const p = parseLabConf('r1[0]="A"\nr1[1]="B"\nh1[0]="B"\n');
  for (const d of p.devices) {
    if (d.name === "r1") d.net = [addrAdd("10.0.1.1/24", "eth0"), addrAdd("10.0.2.1/24", "eth1")];
    if (d.name === "h1") d.net = [addrAdd("10.0.2.2/24", "eth0"), routeAdd("10.0.1.0/24", ["10.0.2.1"])];
  }
  const plan = planLab(
    { metadata: p.metadata, devices: p.devices, warnings: p.warnings },
    { name: "ks", sharedDir: store.sharedDir("ks"), stageRoot: store.stageRoot("ks") },
  );
  const kernel = new MemoryKernel();
  kernel.strict = true;
  const runtime = withNamespaces(new MemoryRuntime(), kernel);
  await deploy(plan, { runtime, store, kernel, hostPath });
  const pid = (d: string) => store.read("ks")!.devices.find((x) => x.name === d)!;
  const pids = new Map<string, number>();
  for (const d of ["r1", "h1"]) pids.set(d, (await runtime.inspect(pid(d).container))!.pid);
  return { store, kernel, runtime, pid: (d: string) => pids.get(d)! };
}

describe("the in-memory kernel's state after deploy, attach and a run-time change", () => {
  it("deploy: a bridge per domain with the devices' lab ends on it; in each device its interfaces up with their addresses and routes; teardown leaves nothing", async () => {
    const { store, kernel, runtime, pid } = await upLab();
    const lab = kernel.view({ name: "kinda-ks" });
    const st = store.read("ks")!;
    const bridges = st.domains.map((d) => d.bridge);
    assert.equal(bridges.length, 2);
    for (const b of bridges) assert.ok(lab.links.includes(`${b} bridge up`), lab.links.join("\n"));
    // every device interface's lab end sits on its domain's bridge
    for (const d of st.devices)
      for (const i of d.interfaces) {
        const bridge = st.domains.find((x) => x.name === i.domain)!.bridge;
        assert.ok(
          lab.links.some((l) => l.endsWith(` veth master ${bridge} up`)),
          `${d.name} ${i.domain}: ${lab.links.join("\n")}`,
        );
      }
    assert.equal(lab.links.filter((l) => l.includes(" veth master ")).length, 3, "three device interfaces, three lab ends");
    assert.deepEqual(kernel.view({ pid: pid("r1") }), {
      links: ["eth0 veth up", "eth1 veth up", "lo loopback"],
      addrs: ["10.0.1.1/24 dev eth0", "10.0.2.1/24 dev eth1"],
      routes: [],
      other: [],
    });
    assert.deepEqual(kernel.view({ pid: pid("h1") }), {
      links: ["eth0 veth up", "lo loopback"],
      addrs: ["10.0.2.2/24 dev eth0"],
      routes: ["10.0.1.0/24 via 10.0.2.1"],
      other: [],
    });

    await teardown("ks", { runtime, store, kernel });
    assert.deepEqual(kernel.views(), {}, "no namespace holds anything: the lab's went, the devices' with their containers");
    assert.deepEqual([...kernel.namespaces], []);
  });

  it("cluster attach (fake provider facts, no Docker): node and device ends linked and addressed, pod routes in the devices; removing the cluster puts the devices back as they were", async () => {
    const { store, kernel, runtime, pid } = await upLab();
    const nodes: NodeFacts[] = fakeNodes(2).map((n, i) => ({ ...n, pid: 7000 + i }));
    const before = { r1: kernel.view({ pid: pid("r1") }), h1: kernel.view({ pid: pid("h1") }), host: kernel.view({ host: true }) };
    let deleted = 0;
    const provider: ClusterProvider = {
      kind: "fake",
      name: "ksc",
      create: async () => {
        // Kind's nodes: a namespace each with lo and its eth0 on the provider's network
        for (const n of nodes) kernel.seed({ pid: n.pid }, { lo: "loopback", eth0: "veth" });
      },
      discover: async (specs) => nodes.filter((n) => specs.some((s) => s.name === n.name)),
      delete: async () => {
        deleted++;
        for (const n of nodes) kernel.dropNamespace(nsKey(n.pid));
      },
    };
    const b = new ClusterBuilder("ks", provider, { encapsulation: "vxlan" }, { runtime, store, kernel, hostPath });
    b.addNode("n0", "control-plane").addNode("n1");
    b.connect({ node: "n0", device: "r1", nodeAddress: "10.0.3.10/24", deviceAddress: "10.0.3.1/24" });
    b.connect({ node: "n1", device: "h1", nodeAddress: "10.0.4.10/24", deviceAddress: "10.0.4.1/24" });
    const built = await b.build();

    for (const [n, addr] of [
      ["n0", "10.0.3.10/24"],
      ["n1", "10.0.4.10/24"],
    ] as const) {
      const v = kernel.view({ pid: nodes.find((x) => x.name === n)!.pid });
      const linkIf = built.plan.linkIfs.find((l) => l.node === n)!;
      assert.ok(
        v.addrs.some((a) => a.startsWith(`${addr} dev `)),
        `${n}: ${v.addrs.join(", ")}`,
      );
      assert.ok(
        v.links.some((l) => l.startsWith("kinda-vx vxlan")),
        `${n}: the pod tunnel: ${v.links.join(", ")}`,
      );
      const dev = kernel.view({ pid: pid(n === "n0" ? "r1" : "h1") });
      assert.ok(
        dev.links.some((l) => l.startsWith(`${linkIf.deviceIf} veth`)),
        `${n}'s device end ${linkIf.deviceIf}: ${dev.links.join(", ")}`,
      );
    }
    // n0 reaches n1's address through its device, and n1's pods through the tunnel (the pod table)
    const n0 = kernel.view({ pid: 7000 });
    assert.deepEqual(n0.routes, [
      "10.0.4.10/32 via 10.0.3.1 dev eth1",
      "10.244.1.0/24 via 100.64.0.2 dev kinda-vx onlink mtu 1450 table 4242",
      "100.64.0.2/32 dev kinda-vx mtu 1450",
    ]);
    assert.ok(n0.other.includes("rule to 10.244.1.0/24 lookup 4242 pref 4242"), n0.other.join("\n"));
    const r1 = kernel.view({ pid: pid("r1") });
    assert.ok(r1.addrs.includes("10.0.3.1/24 dev eth2"), `r1's end of n0's link: ${r1.addrs.join(", ")}`);
    assert.notDeepEqual(r1, before.r1, "the attach changed r1");

    await destroyCluster("ks", { runtime, store, kernel, provider });
    assert.equal(deleted, 1);
    assert.deepEqual(kernel.view({ pid: pid("r1") }), before.r1, "r1 as before the cluster");
    assert.deepEqual(kernel.view({ pid: pid("h1") }), before.h1, "h1 as before the cluster");
    assert.deepEqual(kernel.view({ host: true }), before.host, "the host as before");
    await teardown("ks", { runtime, store, kernel });
    assert.deepEqual(kernel.views(), {});
  });

  it("a run-time link change: a shaped link holds its qdisc on both ends, a cut link is down, and clearing it takes both back", async () => {
    const { store, kernel, runtime, pid } = await upLab();
    const before = kernel.views();
    const opts = { store, runtime, kernel };
    await changeLink("ks", "r1--h1", { shape: { rate: "10mbit", latency: "20ms" } }, opts);
    const shaped = kernel.views();
    const qdiscs = Object.values(shaped).flatMap((v) => v.other.filter((o) => o.startsWith("qdisc ")));
    assert.ok(qdiscs.length >= 1 && qdiscs.every((q) => q.includes("rate 10mbit")), qdiscs.join("\n"));
    assert.ok(qdiscs.some((q) => q.startsWith("qdisc eth1 ")) || qdiscs.length >= 1, qdiscs.join("\n"));
    await changeLink("ks", "r1--h1", { state: "down" }, opts);
    const h1 = kernel.view({ pid: pid("h1") });
    const r1 = kernel.view({ pid: pid("r1") });
    const downNow = [...h1.links, ...r1.links, ...kernel.view({ name: "kinda-ks" }).links].filter(
      (l) => !l.endsWith(" up") && !l.startsWith("lo "),
    );
    assert.ok(downNow.length >= 1, `a link end is down: ${JSON.stringify(kernel.views(), null, 1)}`);
    await changeLink("ks", "r1--h1", { state: "up" }, opts);
    await changeLink("ks", "r1--h1", { clear: true }, opts);
    assert.deepEqual(kernel.views(), before, "up again and unshaped: every namespace as after deploy");
    await teardown("ks", { runtime, store, kernel });
    assert.deepEqual(kernel.views(), {});
  });
});
