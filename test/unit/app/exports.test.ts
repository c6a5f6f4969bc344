/**
 * The public API: every name the docs import from "kinda" or "kinda/seed" is exported there (types
 * included, read from the entry points with the TypeScript compiler), every root export is in
 * docs/api.md, the root stays about two dozen names, and package.json's exports map points at
 * the entry points.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";
import { ROOT } from "../../support/env.js";

const ENTRIES = { kinda: join(ROOT, "src", "index.ts"), "kinda/seed": join(ROOT, "src", "seed.ts") } as const;

/** Names (values and types) each entry point exports, as the compiler sees them. */
function exportedNames(): Record<keyof typeof ENTRIES, Set<string>> {
  const program = ts.createProgram(Object.values(ENTRIES), {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const out = {} as Record<keyof typeof ENTRIES, Set<string>>;
  for (const [k, file] of Object.entries(ENTRIES) as [keyof typeof ENTRIES, string][]) {
    const sf = program.getSourceFile(file);
    assert.ok(sf, file);
    const sym = checker.getSymbolAtLocation(sf);
    assert.ok(sym, `module symbol of ${file}`);
    out[k] = new Set(checker.getExportsOfModule(sym).map((s) => s.name));
  }
  return out;
}

/** Every `import { ... } from "kinda"` / "kinda/seed" in the docs' code blocks, with the file it is in. */
function documentedImports(): { file: string; from: keyof typeof ENTRIES; name: string }[] {
  const files = [
    join(ROOT, "README.md"),
    ...readdirSync(join(ROOT, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => join(ROOT, "docs", f)),
  ];
  const found: { file: string; from: keyof typeof ENTRIES; name: string }[] = [];
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+"(kinda(?:\/seed)?)"/g)) {
      for (const raw of m[1]!.split(",")) {
        const name = raw
          .trim()
          .replace(/^type\s+/, "")
          .split(/\s+as\s+/)[0]!;
        if (name) found.push({ file, from: m[2] as keyof typeof ENTRIES, name });
      }
    }
  }
  return found;
}

describe("the public API", () => {
  const names = exportedNames();

  it("exports every name the docs import", () => {
    const docs = documentedImports();
    assert.ok(docs.length > 40, `the docs show the API (${docs.length} names)`);
    const missing = docs.filter((d) => !names[d.from].has(d.name)).map((d) => `${d.name} from "${d.from}" (${d.file})`);
    assert.deepEqual(missing, []);
  });

  it("docs/api.md shows every name of both entry points", () => {
    const shown = new Set(
      documentedImports()
        .filter((d) => d.file.endsWith("api.md"))
        .map((d) => `${d.from} ${d.name}`),
    );
    for (const [k, set] of Object.entries(names)) {
      const undocumented = [...set].filter((n) => !shown.has(`${k} ${n}`));
      assert.deepEqual(undocumented, [], `exported by ${k} but not in docs/api.md`);
    }
  });

  it("the root is what users need: about two dozen values, no internals", async () => {
    const root = await import("../../../src/index.js");
    const values = Object.keys(root);
    assert.ok(values.length <= 25, `${values.length} values: ${values.join(", ")}`);
    for (const internal of ["RouteGraph", "LPM_TABLE", "planLab", "DockerRuntime", "StateStore", "KindaCluster", "Network"])
      assert.ok(!values.includes(internal), `${internal} is not a root export`);
    for (const verb of ["up", "down", "status", "addLink", "removeLink", "addDevice", "removeDevice", "changeLink", "fatTree"])
      assert.equal(typeof (root as Record<string, unknown>)[verb], "function", verb);
    const seed = await import("../../../src/seed.js");
    for (const n of ["Network", "TreeTopologyBuilder", "KindaCluster", "Def", "Link", "K8sNodeMeta", "IncSwitchMeta"])
      assert.ok(n in seed, `kinda/seed exports ${n}`);
  });

  it("package.json maps both entry points and the schema", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { exports: Record<string, unknown>; files: string[] };
    assert.deepEqual(pkg.exports["."], { types: "./dist/src/index.d.ts", import: "./dist/src/index.js" });
    assert.deepEqual(pkg.exports["./seed"], { types: "./dist/src/seed.d.ts", import: "./dist/src/seed.js" });
    assert.equal(pkg.exports["./schema/topology.schema.json"], "./schema/topology.schema.json");
    assert.ok(pkg.files.includes("schema"), "the schema ships: YAML topologies are checked against it at run time");
  });
});

describe("a library never handles signals", () => {
  it("KindaCluster adds no SIGINT/SIGTERM listener; setupNetwork() without a session throws", async () => {
    const { KindaCluster, Network, TreeTopologyBuilder, Def, HostMeta } = await import("../../../src/seed.js");
    const before = [process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")];
    const network = new Network("sig");
    const builder = new TreeTopologyBuilder(network, { rootName: "a", deviceDefinitions: [Def("a", HostMeta())], links: [] });
    const c = new KindaCluster("sig", network);
    assert.deepEqual([process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")], before);
    await c.dispose();
    await assert.rejects(builder.setupNetwork(), /setupNetwork\(\) of network sig needs the cluster session that deploys it/);
  });
});
