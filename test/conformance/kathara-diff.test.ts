/**
 * Differential test against Kathara 3.8.3 on each conformance lab: every device read back and
 * compared with what Kathara produces, built by rules from the lab's files and recorded route
 * expectations (test/support/kathara-diff.ts, each value with its source reference).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { conformanceLabs, ensureTestEnv } from "../support/env.js";
import { LAB_ROUTES, compareLab, expectFromLab } from "../support/kathara-diff.js";

const labs = conformanceLabs();
if ("missing" in labs) {
  describe("Kathara 3.8.3 differential on the conformance labs", () => {
    if (["true", "1"].includes(process.env["CI"] ?? "")) it("needs the conformance labs (CI=true)", () => assert.fail(labs.missing));
    else it("did not run", { skip: labs.missing }, () => undefined);
  });
} else {
  before(() => ensureTestEnv());
  describe("Kathara 3.8.3 differential on the conformance labs", { concurrency: true }, () => {
    for (const lab of Object.keys(LAB_ROUTES)) {
      it(`${lab}: every device as under Kathara`, async () => {
        const dir = join(labs.dir, lab);
        const seconds = /frr|bgp/.test(lab) ? 150 : 30;
        await compareLab(dir, `t-kdiff-${lab.replace(/_/g, "-")}`.toLowerCase(), expectFromLab(dir, LAB_ROUTES[lab]!), seconds);
      });
    }
  });
}
