import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { dryRun, status } from "../../../src/app/api.js";
import { planSource } from "../../../src/app/up.js";
import { StateStore } from "../../../src/state/store.js";
import { ROOT } from "../../support/env.js";
import { MemoryRuntime } from "../../support/memory.js";
import { labState } from "../../support/state.js";

const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-unit-api-")));
const tree = join(ROOT, "examples", "tree.yaml");

describe("up's overrides of a topology (--encapsulation, --node-image)", () => {
  it("change the plan of a topology with nodes", async () => {
    assert.match(await dryRun(tree, { store }), /kubernetes nodes: .*; encapsulation vxlan/);
    const none = await dryRun(tree, { store, encapsulation: "none", name: "demo" });
    assert.match(none, /kubernetes nodes: .*; encapsulation none/);
    assert.match(none, /container kinda-demo-gateway/);
  });

  it("--node-image replaces the topology's cluster image, with or without --cluster-name", async () => {
    const image = async (o: Parameters<typeof planSource>[1]) => (await planSource(tree, { store, ...o })).topology?.spec.cluster?.image;
    const own = await image({});
    assert.notEqual(own, "kinda-unit/node:given", "the example's own image is another one");
    assert.equal(await image({ nodeImage: "kinda-unit/node:given" }), "kinda-unit/node:given");
    assert.equal(await image({ nodeImage: "kinda-unit/node:given", clusterName: "other" }), "kinda-unit/node:given");
    // and the cluster name given beside it is kept too
    assert.equal(
      (await planSource(tree, { store, nodeImage: "kinda-unit/node:given", clusterName: "other" })).topology?.spec.cluster?.name,
      "other",
    );
    assert.equal(await image({ clusterName: "other" }), own, "without --node-image the topology's image stays");
  });

  it("are refused for a Kathara lab, which has no nodes", async () => {
    await assert.rejects(
      dryRun(join(ROOT, "examples", "labs", "two-routers"), { store, nodeImage: "x:1", encapsulation: "none" }),
      /--node-image and --encapsulation: .*two-routers is a Kathara lab, which has no Kubernetes nodes/,
    );
  });
});

describe("status of labs whose state kinda cannot or did not write", () => {
  it("shows a lab with an unreadable state file as unreadable, with its path and the way out, beside the others", async () => {
    const st = new StateStore(mkdtempSync(join(tmpdir(), "kinda-unit-status-")));
    st.write(labState("okay"));
    st.write(labState("broken"));
    writeFileSync(join(st.root, "labs", "broken", "state.json"), '{"version": 1, "name": "bro');
    const labs = await status(undefined, { store: st, runtime: new MemoryRuntime() });
    assert.deepEqual(
      labs.map((l) => [l.name, l.phase]),
      [
        ["broken", "unreadable"],
        ["okay", "deploying"],
      ],
    );
    const w = labs[0]!.warnings.join("\n");
    assert.match(
      w,
      new RegExp(`state of lab broken \\(${join(st.root, "labs", "broken", "state.json").replace(/[/.]/g, "\\$&")}\\) cannot be read`),
    );
    assert.match(w, /kinda down --force broken/);
  });

  it("shows the start-ups of a lab Kathara started as not kinda's, not as pending", async () => {
    const st = new StateStore(mkdtempSync(join(tmpdir(), "kinda-unit-status-")));
    const s = labState("kat");
    s.external = { manager: "kathara", hash: "abc", user: "root" };
    s.devices = [{ name: "r1", container: "kathara_root-abc_r1", image: "", shell: "/bin/bash", interfaces: [] }];
    st.write(s);
    const [l] = await status("kat", { store: st, runtime: new MemoryRuntime() });
    assert.equal(l!.devices[0]!.startup, "not kinda's (kathara's device)");
  });
});
