/**
 * deploy and teardown against an in-memory runtime and kernel: what they create, in what order,
 * what they record, and that a failure or an abort halfway leaves nothing. The same paths run for
 * real (Docker, netns, veths) in test/integration/lifecycle.test.ts.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { InterruptedError } from "../../../src/core/errors.js";
import { silentReporter } from "../../../src/core/reporter.js";
import { programsFor } from "../../../src/core/host.js";
import { LABEL_DEVICE, LABEL_LAB } from "../../../src/core/names.js";
import { containerSpec, deploy, teardown } from "../../../src/engine/lab.js";
import { NET_CONFIG_LABEL, planLab, type Plan } from "../../../src/plan/lab.js";
import type { IpOp } from "../../../src/model/ops.js";
import { addrAdd, routeAdd } from "../../../src/plan/ops.js";
import { StateStore } from "../../../src/state/store.js";
import { parseLabConf } from "../../../src/topology/kathara.js";
import { MemoryKernel, MemoryRuntime } from "../../support/memory.js";
import { pathWith } from "../../support/path.js";

const hostPath = pathWith(programsFor(["lab"]).map((p) => p.name));

function setup(conf = 'r1[0]="A"\nr1[1]="B"\nr2[0]="A"\nh1[0]="B"\n', net: Record<string, IpOp[]> = {}) {
  const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-mem-state-")));
  const p = parseLabConf(conf);
  assert.deepEqual(p.issues, []);
  for (const d of p.devices) if (net[d.name]) d.net = net[d.name]!;
  const plan: Plan = planLab(
    { metadata: p.metadata, devices: p.devices, warnings: p.warnings },
    { name: "mem", sharedDir: store.sharedDir("mem"), stageRoot: store.stageRoot("mem") },
  );
  return { store, plan, runtime: new MemoryRuntime(), kernel: new MemoryKernel() };
}

describe("deploy and teardown (in-memory runtime and kernel)", () => {
  it("deploys: the lab namespace with a bridge per domain, a container per device, each device's links; records the lab", async () => {
    const { store, plan, runtime, kernel } = setup();
    const r = await deploy(plan, { runtime, store, kernel, hostPath });
    assert.deepEqual([...kernel.namespaces], ["kinda-mem"]);
    const lab = kernel.linesIn({ name: "kinda-mem" });
    assert.ok(lab.includes("link add cd-0 type bridge mcast_snooping 0") && lab.includes("link add cd-1 type bridge mcast_snooping 0"));
    const names = (await runtime.list({ [LABEL_LAB]: "mem" })).map((c) => c.labels[LABEL_DEVICE]).sort();
    assert.deepEqual(names, ["h1", "r1", "r2"]);
    for (const c of await runtime.list({ [LABEL_LAB]: "mem" })) {
      assert.equal(c.running, true);
      // the device end of every veth goes into the device's namespace by PID
      assert.ok(
        lab.some((l) => l.endsWith(`netns ${c.pid}`)),
        `a veth into ${c.name}`,
      );
    }
    assert.equal(r.state.phase, "up");
    assert.equal(store.read("mem")?.phase, "up");
    assert.deepEqual(
      store.read("mem")?.devices.map((d) => [d.name, d.interfaces.map((i) => i.domain)]),
      [
        ["r1", ["A", "B"]],
        ["r2", ["A"]],
        ["h1", ["B"]],
      ],
    );
  });

  it("hands the runtime the container's fields only, none of the plan's own (steps, interfaces, staging)", () => {
    const { plan } = setup();
    const spec = containerSpec(plan.devices[0]!);
    assert.equal(spec.name, "kinda-mem-r1");
    const keys = ["name", "image", "hostname", "labels", "env", "sysctls", "capAdd", "privileged", "ports", "network", "mounts", "ulimits"];
    assert.deepEqual(Object.keys(spec).sort(), keys.sort());
  });

  it("tears down: every container, the namespace and the state go; a second teardown finds nothing and does not fail", async () => {
    const { store, plan, runtime, kernel } = setup();
    await deploy(plan, { runtime, store, kernel, hostPath });
    // the namespace goes first (its veths in one batch), then the containers
    const nsAtRemove: number[] = [];
    const remove = runtime.remove.bind(runtime);
    runtime.remove = async (id: string) => {
      nsAtRemove.push(kernel.namespaces.size);
      return remove(id);
    };
    const t = await teardown("mem", { runtime, store, kernel });
    assert.deepEqual(nsAtRemove, [0, 0, 0]);
    assert.equal(t.containers, 3);
    assert.equal(runtime.containers.size, 0);
    assert.equal(kernel.namespaces.size, 0);
    assert.equal(store.read("mem"), undefined);
    assert.equal((await teardown("mem", { runtime, store, kernel })).containers, 0);
  });

  it("a corrupted state: deploy and teardown refuse it with its path; teardown --force removes the lab by labels and names", async () => {
    const { store, plan, runtime, kernel } = setup();
    await deploy(plan, { runtime, store, kernel, hostPath });
    const path = join(store.root, "labs", "mem", "state.json");
    writeFileSync(path, readFileSync(path, "utf8").slice(0, 200)); // truncated
    await assert.rejects(teardown("mem", { runtime, store, kernel }), (e: Error) => {
      assert.match(e.message, new RegExp(`state of lab mem \\(${path.replace(/[/.]/g, "\\$&")}\\) cannot be read: not JSON`));
      return true;
    });
    assert.equal(runtime.containers.size, 3, "refused: nothing removed");
    assert.equal(kernel.namespaces.size, 1);
    // a new deploy of the name is refused with the same error, before creating anything
    const calls = runtime.calls.length;
    await assert.rejects(deploy(plan, { runtime, store, kernel, hostPath }), /state of lab mem .* cannot be read/);
    assert.equal(runtime.calls.length, calls);
    const warned: string[] = [];
    const reporter = { ...silentReporter, warn: (m: string) => void warned.push(m) };
    const t = await teardown("mem", { runtime, store, kernel, reporter, forgetCluster: true });
    assert.equal(t.containers, 3);
    assert.equal(runtime.containers.size, 0);
    assert.equal(kernel.namespaces.size, 0);
    assert.equal(existsSync(join(store.root, "labs", "mem")), false, "the bad file goes with the lab");
    assert.match(warned.join("\n"), /cannot be read: not JSON.*removing lab mem by kinda's labels and names/);
  });

  it("refuses a name that is taken before creating anything", async () => {
    const { store, plan, runtime, kernel } = setup();
    kernel.namespaces.add("kinda-mem");
    await assert.rejects(deploy(plan, { runtime, store, kernel, hostPath }), /a lab named mem already exists/);
    assert.equal(runtime.calls.length, 0);
    assert.equal(store.read("mem"), undefined);
  });

  it("a device that fails to start rolls everything back: no container, namespace or state is left", async () => {
    const { store, plan, runtime, kernel } = setup();
    runtime.failStart.add("kinda-mem-r2");
    await assert.rejects(deploy(plan, { runtime, store, kernel, hostPath }), /cannot start kinda-mem-r2/);
    assert.ok(runtime.calls.includes("create kinda-mem-r2"));
    assert.equal(runtime.containers.size, 0);
    assert.equal(kernel.namespaces.size, 0);
    assert.equal(store.read("mem"), undefined);
  });

  it("a deploy whose lab was taken down from elsewhere and claimed by another process removes exactly its own containers (by id), not the other's", async () => {
    const { store, plan, runtime, kernel } = setup();
    const start = runtime.start.bind(runtime);
    let theirs = "";
    runtime.start = async (id: string) => {
      const name = (await runtime.inspect(id))?.name;
      if (name === "kinda-mem-h1") {
        // meanwhile: `kinda down mem` from elsewhere (state, namespace and the containers it saw
        // then are gone), and another process claims the name and creates its first container
        const mine = store.read("mem")!;
        store.remove("mem");
        kernel.namespaces.delete("kinda-mem");
        const { claimId: _, ...rest } = mine;
        store.claim({ ...rest, devices: [], phase: "deploying" });
        theirs = await runtime.create({ ...containerSpec(plan.devices[0]!) });
        throw new Error("no such container (removed elsewhere)");
      }
      return start(id);
    };
    await assert.rejects(deploy(plan, { runtime, store, kernel, hostPath }), /removed while this process was working on it/);
    assert.deepEqual(
      [...runtime.containers.keys()],
      [theirs],
      "the other process's container stays; every container this deploy created is removed",
    );
    assert.ok(store.read("mem"), "the other process's state is left alone");
  });

  it("an abort stops the deploy with an InterruptedError and removes what was created", async () => {
    const { store, plan, runtime, kernel } = setup();
    const abort = new AbortController();
    const add = kernel.netnsAdd.bind(kernel);
    kernel.netnsAdd = async (name) => {
      await add(name);
      abort.abort(); // Ctrl+C while the namespace is being made
    };
    await assert.rejects(deploy(plan, { runtime, store, kernel, hostPath, signal: abort.signal }), InterruptedError);
    assert.equal(runtime.containers.size, 0);
    assert.equal(kernel.namespaces.size, 0);
    assert.equal(store.read("mem"), undefined);
  });
});

describe("a device's own addresses and routes, applied from the host (no start-up runner for them)", () => {
  const CONF = ['r1[0]="A"', 'h1[0]="A"', 'h1[exec]="echo started"'].join("\n");
  // what compile gives a topology's devices (Device.net): typed operations, not command strings
  const NET: Record<string, IpOp[]> = {
    r1: [addrAdd("10.0.0.1/24", "eth0"), routeAdd("10.1.0.0/16", ["10.0.0.2"])],
    h1: [addrAdd("10.0.0.3/24", "eth0"), routeAdd("10.0.0.0/8", ["10.0.0.1"])],
  };
  const setupNet = () => setup(CONF, NET);

  it("plans them apart from the steps: the runner gets only the device's own commands", () => {
    const { plan } = setupNet();
    const [r1, h1] = plan.devices;
    assert.deepEqual(r1!.netConfig, { label: NET_CONFIG_LABEL, ops: NET["r1"] });
    assert.deepEqual(r1!.startup, []);
    assert.deepEqual(
      h1!.startup.map((s) => s.file),
      ["000-exec-0"],
    );
  });

  it("one forced batch inside the device brings its links up, then adds them; a device with nothing else runs no exec", async () => {
    const { store, plan, runtime, kernel } = setupNet();
    const r = await deploy(plan, { runtime, store, kernel, hostPath });
    const pid = (n: string) => r.state.devices.find((d) => d.name === n)!.containerId!;
    const pidOf = async (n: string) => (await runtime.inspect(pid(n)))!.pid;
    assert.deepEqual(kernel.linesIn({ pid: await pidOf("r1") }, true), [
      "link set eth0 up",
      "addr add 10.0.0.1/24 dev eth0",
      "route add 10.1.0.0/16 via 10.0.0.2",
    ]);
    assert.deepEqual(
      runtime.calls.filter((c) => c.startsWith("exec")),
      ["exec kinda-mem-h1"],
      "only h1, which has a command of its own, runs the start-up runner",
    );
    assert.deepEqual(r.state.devices.find((d) => d.name === "r1")!.startup, { status: "ok", log: store.logPath("mem", "r1") });
    assert.equal(r.state.devices.find((d) => d.name === "h1")!.startup?.status, "ok");
    assert.deepEqual(r.failedDevices, []);
  });

  it("a line that fails fails the device's start-up at that step; the lab stays up, the log says why", async () => {
    const { store, plan, runtime, kernel } = setupNet();
    kernel.failIp = /^route add 10\.(1\.0\.0\/16|0\.0\.0\/8)/;
    const r = await deploy(plan, { runtime, store, kernel, hostPath });
    assert.deepEqual(r.failedDevices, ["h1", "r1"]);
    const r1 = r.state.devices.find((d) => d.name === "r1")!.startup!;
    assert.deepEqual({ ...r1, log: undefined }, { status: "failed", failedStep: NET_CONFIG_LABEL, exitCode: 1, log: undefined });
    const log = readFileSync(r1.log!, "utf8");
    assert.match(log, /=== addresses-and-routes\nRTNETLINK answers: File exists\nCommand failed -:3\n/);
    assert.match(log, /addresses-and-routes: exit 1\n$/);
    // h1's runner still ran the rest, as it would have after a failing step
    assert.equal(r.state.devices.find((d) => d.name === "h1")!.startup?.failedStep, NET_CONFIG_LABEL);
    assert.equal(r.state.phase, "up");
  });

  it("a device with services (an Open vSwitch bridge its addresses go on) gets them after its services", async () => {
    const { store, plan, runtime, kernel } = setupNet();
    plan.devices[0]!.services = [{ what: "add bridge", argv: ["ovs-vsctl", "add-br", "br0"] }];
    const batchesAtService: number[] = [];
    const exec = runtime.exec.bind(runtime);
    runtime.exec = async (id: string) => {
      if ((await runtime.inspect(id))?.name === "kinda-mem-r1") batchesAtService.push(kernel.batches.length);
      return exec(id);
    };
    const r = await deploy(plan, { runtime, store, kernel, hostPath });
    const pid = (await runtime.inspect(r.state.devices[0]!.containerId!))!.pid;
    const mine = kernel.batches
      .map((b, i) => ({ ...b, i }))
      .filter((b) => JSON.stringify(b.ns) === JSON.stringify({ pid }) && b.lines.length);
    assert.deepEqual(
      mine.map((b) => [b.lines, b.force ?? false]),
      [
        [["link set eth0 up"], false],
        [["addr add 10.0.0.1/24 dev eth0", "route add 10.1.0.0/16 via 10.0.0.2"], true],
      ],
    );
    assert.deepEqual(batchesAtService, [mine[1]!.i], "the service ran before the addresses' batch");
  });

  it("a link that does not come up fails the deploy and removes what was created", async () => {
    const { store, plan, runtime, kernel } = setupNet();
    kernel.failIp = /^link set eth0 up$/;
    await assert.rejects(deploy(plan, { runtime, store, kernel, hostPath }), /device r1: its interfaces did not come up/);
    assert.equal(runtime.containers.size, 0);
    assert.equal(store.read("mem"), undefined);
  });
});
