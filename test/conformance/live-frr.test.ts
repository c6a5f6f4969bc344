/**
 * A cut (`kinda link ... down|up`) on a lab running FRR: the Kathara-Labs OSPF lab, which is not
 * the project's, so this runs with the conformance suite (KINDA_CONFORMANCE_DIR). The cut drops
 * carrier on the lab-side end only: the router keeps its address and, once the link is back,
 * its OSPF routes return. The project's own static-routing cut is in test/integration/live.test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { IMAGE_MAP_ARGS, conformanceLabs, ensureTestEnv } from "../support/env.js";
import { assertNothingLeft, eventually, hostLinks, kinda, kindaOk, stateDir } from "../support/kinda.js";

process.env["KINDA_STATE_DIR"] = stateDir;
const labs = conformanceLabs();
let linksBefore: string[];

if ("missing" in labs) {
  describe("a cut with FRR (OSPF, single area)", () => {
    if (["true", "1"].includes(process.env["CI"] ?? "")) it("needs the conformance labs (CI=true)", () => assert.fail(labs.missing));
    else it("did not run", { skip: labs.missing }, () => undefined);
  });
} else {
  before(() => {
    ensureTestEnv();
    linksBefore = hostLinks();
  });
  describe("a cut with FRR (OSPF, single area)", () => {
    const FRR = "lvospf";
    it("bb0's cut interface keeps its address and routes; after up, bb0 reaches C directly and OSPF routes return", async () => {
      await kindaOk("up", join(labs.dir, "ospf_frr-singlearea"), "--name", FRR, ...IMAGE_MAP_ARGS);
      try {
        const reach = (a: string) => kinda("exec", "--lab", FRR, "bb0", "--", "ping", "-c1", "-W1", a).then((r) => r.code === 0);
        await eventually("OSPF converged: bb0 reaches bb3 on B", 180, () => reach("10.0.1.2"));
        await kindaOk("link", FRR, "bb0:eth1", "down");
        await eventually("bb0 no longer reaches bb3 on C through its cut interface", 30, async () => !(await reach("10.0.2.2")));
        const addr = await kindaOk("exec", "--lab", FRR, "bb0", "--", "ip", "-br", "addr", "show", "eth1");
        assert.match(addr, /10\.0\.2\.3\/24/, "the cut left bb0's address in place");
        await kindaOk("link", FRR, "bb0:eth1", "up");
        await eventually("bb0 reaches bb3 on C again", 60, () => reach("10.0.2.2"));
        await eventually("bb0 reaches bb3 on B again (OSPF)", 120, () => reach("10.0.1.2"));
      } finally {
        await kindaOk("down", FRR);
      }
      await assertNothingLeft(FRR, linksBefore);
    });
  });
}
