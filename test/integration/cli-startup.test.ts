/**
 * What the bin users run (dist/bin/kinda.js, the esbuild bundle) loads at start-up, counted by a
 * module-load hook: `kinda exec` reads no package from node_modules (no CLI framework), and no
 * hot verb loads @kubernetes/client-node (about 870 modules; only a lab on the Kubernetes runtime
 * needs it). The bundle once inlined root-light.ts's dynamic import of the Kubernetes runtime,
 * so that client became a static import of the entry: every command, `--version` too, took 2-4 s
 * on this machine instead of a few hundred ms (bench: `npm run bench -- --only live`).
 * Needs dist/ built (npm ci or npm run build); no container is made (the labs do not exist).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ROOT } from "../support/env.js";

const BIN = join(ROOT, "dist", "bin", "kinda.js");
const state = mkdtempSync(join(tmpdir(), "kinda-cli-startup-"));
// prints every module URL the process loads, on stderr, marked
const HOOK =
  "data:text/javascript," +
  encodeURIComponent(
    `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent("export async function load(u, c, n) { process.stderr.write('@@mod ' + u + '\\\\n'); return n(u, c); }"));`,
  );

/** The packages (node_modules folders) a `kinda ARGS` process loaded. */
function packagesLoaded(args: string[]): string[] {
  const r = spawnSync(process.execPath, ["--import", HOOK, BIN, ...args], {
    env: { ...process.env, KINDA_STATE_DIR: state },
    encoding: "utf8",
    timeout: 60_000,
  });
  const mods = [...r.stderr.matchAll(/^@@mod (\S+)$/gm)].map((m) => m[1]!);
  assert.ok(
    mods.some((u) => u.endsWith("/dist/bin/kinda.js")),
    `the hook saw the bin load: ${r.stderr.slice(0, 400)}`,
  );
  const pkgs = mods.map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p): p is string => Boolean(p));
  return [...new Set(pkgs)].sort();
}

after(() => rmSync(state, { recursive: true, force: true }));

describe("the bundled CLI's start-up", () => {
  it("kinda exec loads no package from node_modules", () => {
    assert.deepEqual(packagesLoaded(["exec", "--lab", "cli-startup-none", "h1", "--", "true"]), []);
  });

  it("--version, kinda link and kinda node load no Kubernetes client", () => {
    for (const args of [["--version"], ["link", "cli-startup-none", "r1--r2", "--clear"], ["node", "cli-startup-none", "w9", "remove"]]) {
      const pkgs = packagesLoaded(args);
      assert.ok(!pkgs.includes("@kubernetes/client-node"), `kinda ${args.join(" ")} loaded: ${pkgs.join(", ")}`);
    }
  });
});
