import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { KindProvider, kindFromState } from "../../../src/providers/kind.js";
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
