import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { execIn, type ExecRuntime } from "../../../src/app/exec.js";
import { LABEL_DEVICE, LABEL_LAB, LABEL_MANAGED, MANAGED_VALUE } from "../../../src/core/names.js";
import { StateStore } from "../../../src/state/store.js";
import { MemoryRuntime } from "../../support/memory.js";
import { labState } from "../../support/state.js";

/** A lab `lab` whose state records device `dev` in container kinda-LAB-DEV (running unless told). */
async function setUp(store: StateStore, rt: MemoryRuntime, lab: string, dev: string, o: { running?: boolean } = {}) {
  const container = `kinda-${lab}-${dev}`;
  const st = labState(lab, { phase: "up" });
  st.devices.push({ name: dev, container, image: "img", interfaces: [], shell: "/bin/sh" });
  store.write(st);
  const id = await rt.create({
    name: container,
    image: "img",
    labels: { [LABEL_MANAGED]: MANAGED_VALUE, [LABEL_LAB]: lab, [LABEL_DEVICE]: dev },
  } as unknown as Parameters<MemoryRuntime["create"]>[0]);
  if (o.running ?? true) await rt.start(id);
  return container;
}

/** The memory runtime, counting container lists, exec by name or id (as the Engine API takes either). */
function counted(rt: MemoryRuntime): ExecRuntime & { lists: number } {
  const r = {
    lists: 0,
    list: async (labels: Record<string, string>) => {
      r.lists++;
      return rt.list(labels);
    },
    inspect: (id: string) => rt.inspect(id),
    exec: async (idOrName: string, argv: string[], opts?: Parameters<MemoryRuntime["exec"]>[2]) => {
      const c = await rt.inspect(idOrName);
      if (!c) throw new Error(`Docker engine: POST /containers/${idOrName}/exec: No such container`);
      if (!c.running) throw new Error(`Docker engine: POST /containers/${idOrName}/exec: container is not running`);
      return rt.exec(c.id, argv, opts);
    },
  };
  return r;
}

describe("execIn", () => {
  it("runs in the container the state records, without listing containers", async () => {
    const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-unit-exec-")));
    const mem = new MemoryRuntime();
    const c = await setUp(store, mem, "a", "h1");
    await setUp(store, mem, "b", "h2");
    const rt = counted(mem);
    assert.equal((await execIn("h1", ["true"], { store, runtime: rt })).exitCode, 0);
    assert.equal((await execIn("h1", [], { lab: "a", store, runtime: rt })).exitCode, 0);
    assert.deepEqual(
      mem.execs.map((e) => [e.container, e.argv]),
      [
        [c, ["true"]],
        [c, ["/bin/sh"]], // no command: the device's shell from its state
      ],
    );
    assert.equal(rt.lists, 0);
  });

  it("names the lab and device when the recorded container is gone or stopped, or the name is in several labs", async () => {
    const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-unit-exec-")));
    const mem = new MemoryRuntime();
    await setUp(store, mem, "a", "h1", { running: false });
    const rt = counted(mem);
    await assert.rejects(execIn("h1", ["true"], { lab: "a", store, runtime: rt }), /h1 \(container kinda-a-h1\) is not running/);
    await assert.rejects(execIn("h9", ["true"], { lab: "a", store, runtime: rt }), /no device or Kubernetes node named h9 in lab a/);
    const gone = labState("c", { phase: "up" });
    gone.devices.push({ name: "h3", container: "kinda-c-h3", image: "img", interfaces: [], shell: "/bin/sh" });
    store.write(gone);
    await assert.rejects(execIn("h3", ["true"], { store, runtime: rt }), /no device or Kubernetes node named h3 in any lab that is up/);
    await setUp(store, mem, "d", "h1");
    await assert.rejects(execIn("h1", ["true"], { store, runtime: rt }), /device h1 exists in several labs \(a, d\)/);
    assert.equal(mem.execs.length, 0, "nothing ran");
  });
});
