import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { dryRun } from "../../../src/app/api.js";
import { StateStore } from "../../../src/state/store.js";
import { ROOT } from "../../support/env.js";

const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-unit-api-")));
const tree = join(ROOT, "examples", "tree.yaml");

describe("up's overrides of a topology (--encapsulation, --node-image)", () => {
  it("change the plan of a topology with nodes", async () => {
    assert.match(await dryRun(tree, { store }), /kubernetes nodes: .*; encapsulation vxlan/);
    const none = await dryRun(tree, { store, encapsulation: "none", name: "demo" });
    assert.match(none, /kubernetes nodes: .*; encapsulation none/);
    assert.match(none, /container kinda-demo-gateway/);
  });

  it("are refused for a Kathara lab, which has no nodes", async () => {
    await assert.rejects(
      dryRun(join(ROOT, "examples", "labs", "two-routers"), { store, nodeImage: "x:1", encapsulation: "none" }),
      /--node-image and --encapsulation: .*two-routers is a Kathara lab, which has no Kubernetes nodes/,
    );
  });
});
