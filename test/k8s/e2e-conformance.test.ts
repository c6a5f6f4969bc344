/**
 * Kubernetes' own e2e tests inside the emulated network (issue 23): a fixed subset of the
 * [sig-network] [Conformance] tests (DNS, ClusterIP Services, NodePort, session affinity, pod-to-pod
 * and node-to-pod across racks) run by scripts/k8s/conformance.sh against the seed's tree cut to
 * one worker per rack (test/k8s/conformance/tree-small.yaml: apiThroughNetwork, pods' traffic in
 * kinda's VXLAN overlay, kinda's default; the full run on that overlay found that nodes could not
 * reach remote pods). The script finds (or builds) e2e.test, ginkgo and the test images, deploys
 * the tree, loads the three images these tests use into the two workers, runs the tests, writes
 * the JUnit report and takes the lab down. About 6-8 minutes here under load. The full set on
 * every topology is its own command (docs/kubernetes-conformance.md):
 *   bash scripts/k8s/conformance.sh tree|tree-vxlan|small|small-vxlan|fat-tree|kind
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { ensureTestEnv, ROOT } from "../support/env.js";
import { CACHE } from "./support.js";

/** The subset: each entry a part of one test's full name (all of them end in [Conformance]). */
export const CI_SUBSET = [
  "DNS should provide DNS for the cluster",
  "DNS should provide DNS for services",
  "DNS should resolve DNS of partial qualified names for services",
  "Services should serve a basic endpoint from pods",
  "Services should serve multiport endpoints from pods",
  "Services should be able to create a functioning NodePort service",
  "Services should have session affinity work for service with type clusterIP",
  "Services should be able to change the type from ExternalName to NodePort",
  "Networking Granular Checks: Pods should function for intra-pod communication: http",
  "Networking Granular Checks: Pods should function for intra-pod communication: udp",
  "Networking Granular Checks: Pods should function for node-pod communication: http",
  "Networking Granular Checks: Pods should function for node-pod communication: udp",
];
const escape = (s: string) => s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
const FOCUS = `\\[sig-network\\] (${CI_SUBSET.map(escape).join("|")})\\b.*\\[Conformance\\]`;

it(
  `${CI_SUBSET.length} [sig-network] [Conformance] tests pass on a two-rack tree with kinda's VXLAN overlay`,
  { timeout: 3_600_000 },
  () => {
    ensureTestEnv();
    const results = mkdtempSync(join(CACHE, "e2e-results-ci-"));
    const t0 = Date.now();
    const r = spawnSync("bash", [join(ROOT, "scripts", "k8s", "conformance.sh"), "small-vxlan", FOCUS], {
      env: {
        ...process.env,
        KINDA_SKIP_SETUP: "1",
        // the CI's name; KINDA_E2E_CI_NAME lets a second run on the same machine use its own
        KINDA_E2E_NAME: process.env.KINDA_E2E_CI_NAME ?? "e2e-ci-small",
        KINDA_E2E_RESULTS: results,
        // what these twelve tests run (nginx is for others)
        KINDA_E2E_IMAGES: "agnhost jessie-dnsutils busybox",
      },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    process.stdout.write(r.stdout ?? "");
    console.log(`# conformance subset: ${Math.round((Date.now() - t0) / 1000)} s; results in ${results}`);
    const junit = readFileSync(join(results, "junit_01.xml"), "utf8");
    const status = (s: string) => (junit.match(new RegExp(`<testcase name="\\[It\\] [^>]*status="${s}"`, "g")) ?? []).length;
    // every test of the subset ran (a name that stopped matching shows as a missing pass) and passed
    assert.equal(status("failed"), 0, `failed tests (see ${results}/e2e.log):\n${r.stdout}`);
    assert.equal(status("passed"), CI_SUBSET.length, `expected ${CI_SUBSET.length} passed tests:\n${r.stdout}`);
    assert.equal(r.status, 0, r.stdout);
  },
);
