/**
 * Differential test against Kathara 3.8.3 on kinda's own small Kathara lab
 * (test/fixtures/labs/kathara-own, so it runs in a clone with nothing beside it): every device
 * read back and compared with the recorded expectation (test/support/kathara-diff.ts).
 */
import { before, describe, it } from "node:test";
import { ensureTestEnv, fixtureLab } from "../support/env.js";
import { OWN, compareLab } from "../support/kathara-diff.js";

before(() => ensureTestEnv());

describe("Kathara 3.8.3 differential", () => {
  it("kinda's own lab (test/fixtures/labs/kathara-own): every device as under Kathara", async () => {
    await compareLab(fixtureLab("kathara-own"), "t-kdiff-own", OWN, 30);
  });
});
