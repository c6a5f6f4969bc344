/** Test-environment facts shared by the integration tests and the bench. */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BASE_IMAGE = process.env["KINDA_TEST_BASE_IMAGE"] ?? "kinda-test/kathara-base:latest";
export const FRR_IMAGE = process.env["KINDA_TEST_FRR_IMAGE"] ?? "kinda-test/kathara-frr:latest";
export const OVS_IMAGE = process.env["KINDA_TEST_OVS_IMAGE"] ?? "kinda-test/kathara-sdn:latest";
/** The P4 image: the stand-in (not BMv2) unless KINDA_P4_IMAGE names a real one (kathara/p4). */
export const P4_IMAGE = process.env["KINDA_P4_IMAGE"] ?? process.env["KINDA_TEST_P4_IMAGE"] ?? "kinda-test/p4-standin:latest";
/**
 * The real-Kind tests' pod image (scripts/test-env/setup.sh): a static busybox with sh, ping,
 * traceroute, sleep, nc, ip, timeout, wc, dd, cat; ~2 MB, so `kind load` into many nodes is quick.
 */
export const POD_IMAGE = process.env["KINDA_TEST_POD_IMAGE"] ?? "kinda-test/pod:latest";
export const IMAGE_MAP: Record<string, string> = {
  "kathara/base": BASE_IMAGE,
  "kathara/frr": FRR_IMAGE,
  "kathara/sdn": OVS_IMAGE,
  "kathara/p4": P4_IMAGE,
};
export const IMAGE_MAP_ARGS = Object.entries(IMAGE_MAP).flatMap(([k, v]) => ["--image-map", `${k}=${v}`]);

/** The project's own test labs (test/fixtures/labs/NAME). */
export function fixtureLab(name: string): string {
  return join(ROOT, "test", "fixtures", "labs", name);
}

/** Where the Kathara-Labs conformance labs are read from (never copied into the project). */
export const CONFORMANCE_DIR = resolve(process.env["KINDA_CONFORMANCE_DIR"] ?? join(ROOT, "..", "shared", "conformance", "kathara-labs"));

/**
 * The conformance labs, or the one line that says their suite did not run and how to run it.
 * Under CI=true their absence is an error for the suite to report.
 */
export function conformanceLabs(): { dir: string } | { missing: string } {
  if (existsSync(join(CONFORMANCE_DIR, "static-routing", "lab.conf"))) return { dir: CONFORMANCE_DIR };
  return {
    missing:
      `the Kathara-Labs conformance suite did not run: no labs at ${CONFORMANCE_DIR}; ` +
      "to run it: KINDA_CONFORMANCE_DIR=/path/to/kathara-labs npm run -s test:conformance",
  };
}

/** Runs the project's test-env set-up (idempotent; installs/starts what is missing). */
export function ensureTestEnv(): void {
  if (process.env["KINDA_SKIP_SETUP"] === "1") return;
  execFileSync("bash", [join(ROOT, "scripts", "test-env", "setup.sh")], { stdio: ["ignore", "ignore", "inherit"] });
}
