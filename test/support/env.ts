/** Test-environment facts shared by the integration tests and the bench. */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BASE_IMAGE = process.env["KINDA_TEST_BASE_IMAGE"] ?? "kinda-test/kathara-base:latest";
export const FRR_IMAGE = process.env["KINDA_TEST_FRR_IMAGE"] ?? "kinda-test/kathara-frr:latest";
export const IMAGE_MAP: Record<string, string> = { "kathara/base": BASE_IMAGE, "kathara/frr": FRR_IMAGE };
export const IMAGE_MAP_ARGS = Object.entries(IMAGE_MAP).flatMap(([k, v]) => ["--image-map", `${k}=${v}`]);

/** ../shared/conformance/kathara-labs from the project root (never copied into the project). */
export function conformanceDir(): string {
  const d = process.env["KINDA_CONFORMANCE_DIR"] ?? join(ROOT, "..", "shared", "conformance", "kathara-labs");
  if (!existsSync(d)) throw new Error(`conformance labs not found at ${d} (set KINDA_CONFORMANCE_DIR)`);
  return d;
}

/** Runs the project's test-env set-up (idempotent; installs/starts what is missing). */
export function ensureTestEnv(): void {
  if (process.env["KINDA_SKIP_SETUP"] === "1") return;
  execFileSync("bash", [join(ROOT, "scripts", "test-env", "setup.sh")], { stdio: ["ignore", "ignore", "inherit"] });
}
