/**
 * Bundles the CLI for start-up (`npm run build` and `prepare` run this after tsc; the bin is
 * dist/bin/kinda.js). Two bundles: the entry (src/cli/kinda.ts) is one file holding the plain
 * `kinda exec` path, so that command reads one file and loads no CLI framework; every other
 * command imports the full CLI (dist/bin/main.js), whose verbs' code sits in chunks loaded when a
 * verb runs. The pure-JS packages every command loads (commander, ipaddr.js) go into the bundle;
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
// the entry: one file with the fast exec path; any other command imports ./main.js beside it
await build({ ...common, entryPoints: { kinda: "src/cli/kinda.ts" }, external: [...common.external, "./main.js"] });
// the full CLI, its verbs' code in chunks loaded when a verb runs
await build({ ...common, entryPoints: { main: "src/cli/main.ts" }, splitting: true });
chmodSync(join(outdir, "kinda.js"), 0o755);
