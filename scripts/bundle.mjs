/**
 * Bundles the CLI for start-up (`npm run build` and `prepare` run this after tsc; the bin is
 * dist/bin/kinda.js). Two entries: src/cli/kinda.ts holds the plain `kinda exec` path (with the
 * few chunks it shares), so that command loads no CLI framework; every other command imports the
 * full CLI (dist/bin/main.js), whose verbs' code sits in chunks loaded when a verb runs. The pure-JS packages every command loads (commander, ipaddr.js) go into the bundle;
 * the other dependencies stay in node_modules (native add-ons, and loaded only by the verbs that
 * need them). Tests and typecheck run on the sources; this is only the bin. See docs/scale.md.
 */
import { build } from "esbuild";
import { chmodSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const inline = new Set(["commander", "ipaddr.js"]);
const outdir = join(root, "dist", "bin");
rmSync(outdir, { recursive: true, force: true });
const common = {
  absWorkingDir: root,
  outdir,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: Object.keys(pkg.dependencies).filter((d) => !inline.has(d)),
  // commander is CommonJS: its require() of node built-ins needs a require in an ES module
  banner: {
    js: "import { createRequire as __kindaCreateRequire } from 'node:module'; const require = __kindaCreateRequire(import.meta.url);",
  },
  sourcemap: true,
  logLevel: "warning",
};
// One build of both entries with code splitting: the entry (kinda.js) holds the fast exec path
// and imports ./main.js (the full CLI) for any other command; the verbs' code sits in chunks
// loaded when a verb runs. Without splitting, a dynamic import of a source file is inlined and an
// external package it imports becomes a static import of the whole file: the entry once loaded
// @kubernetes/client-node (about 870 modules, 2-4 s) for every command through root-light.ts's
// import of the Kubernetes runtime, which only a lab on that runtime needs.
await build({ ...common, entryPoints: { kinda: "src/cli/kinda.ts", main: "src/cli/main.ts" }, splitting: true });
chmodSync(join(outdir, "kinda.js"), 0o755);
