/**
 * The package as users get it: `npm pack`, the tarball installed into an empty folder (and
 * globally, under a prefix in a temporary folder), then `kinda --version`, `kinda doctor`,
 * `kinda up` of a YAML file and of a TypeScript script that imports the package by its name,
 * `kinda status` and `kinda down`, all outside this repository. Real Docker and kernel. Its own command
 * (`npm run test:pack`), not in the default CI run: 6 minutes on this 2-core machine, 12.7 under
 * a load average of 40-50 (npm pack builds dist/, two npm installs of the dependencies from
 * npm's cache, the two ups and downs).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { BASE_IMAGE, ROOT } from "../support/env.js";

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), "kinda-pack-"));
const state = join(work, "state");
const env = { ...process.env, KINDA_STATE_DIR: state, CI: "1" };
const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
let tarball = "";
const made: string[] = [];

/** `BIN ARGS` as a user runs it, in `cwd`; never throws: the exit code is part of the result. */
async function cli(bin: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  try {
    const r = await run(bin, args, { cwd, env, maxBuffer: 16 << 20 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === "number" ? x.code : 1, out: `${x.stdout ?? ""}${x.stderr ?? ""}` };
  }
}

const npm = (args: string[], cwd: string) =>
  run("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, env, maxBuffer: 16 << 20 });

before(async () => {
  await npm(["pack", "--pack-destination", work], ROOT);
  tarball = join(
    work,
    readdirSync(work).find((f) => f.endsWith(".tgz"))!,
  );
});

after(async () => {
  for (const lab of made) await cli(join(work, "app", "node_modules", ".bin", "kinda"), ["down", lab], work);
  rmSync(work, { recursive: true, force: true });
});

describe("the npm package outside the repository", () => {
  it("holds only what it needs: dist/src, dist/bin, the schema, README, SECURITY, package.json", async () => {
    const { stdout } = await run("tar", ["-tzf", tarball]);
    const top = new Set(
      stdout
        .split("\n")
        .filter(Boolean)
        .map((p) => p.split("/").slice(1, 3).join("/")),
    );
    assert.ok(top.has("schema/topology.schema.json"), "the JSON Schema ships");
    assert.ok(top.has("dist/src"), "the build ships");
    const stray = [...top].filter(
      (p) => !/^(dist\/src|dist\/bin|schema\/topology\.schema\.json|README\.md|SECURITY\.md|package\.json|LICENSE)$/.test(p),
    );
    assert.deepEqual(stray, [], "no tests, sources or scripts in the package");
  });

  it("installed into an empty folder: doctor, up of YAML and of a script importing 'kinda', status, down", async () => {
    const app = join(work, "app");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "kinda-pack-user", private: true, type: "module" }));
    await npm(["install", "--prefer-offline", tarball], app);
    const kinda = join(app, "node_modules", ".bin", "kinda");

    const v = await cli(kinda, ["--version"], app);
    assert.equal(v.out.trim(), version);
    const doc = await cli(kinda, ["doctor"], app);
    assert.match(doc.out, /docker/i, doc.out);

    // a YAML topology pointing at the package's schema
    writeFileSync(
      join(app, "pair.yaml"),
      `# yaml-language-server: $schema=node_modules/kinda/schema/topology.schema.json
name: packy
routing: static
devices:
  - { name: a, kind: host }
  - { name: b, kind: host }
links:
  - { endpoints: [a, b], addresses: [10.77.0.1/30, 10.77.0.2/30] }
`,
    );
    made.push("packy");
    const y = await cli(kinda, ["up", "pair.yaml", "--image-map", `kathara/base=${BASE_IMAGE}`], app);
    assert.equal(y.code, 0, y.out);
    assert.match(y.out, /lab packy is up: 2 devices/);
    const ping = await cli(kinda, ["exec", "--lab", "packy", "a", "--", "ping", "-c1", "-W2", "10.77.0.2"], app);
    assert.equal(ping.code, 0, `a reaches b: ${ping.out}`);

    // a TypeScript script that imports the package by its name (a generator from the root entry point)
    writeFileSync(
      join(app, "chain.ts"),
      `import { linear } from "kinda";\n\nexport default linear({ name: "packts", n: 2, perRouter: 1 });\n`,
    );
    made.push("packts");
    const t = await cli(kinda, ["up", "chain.ts", "--image-map", `kathara/base=${BASE_IMAGE}`], app);
    assert.equal(t.code, 0, t.out);
    assert.match(t.out, /lab packts is up: 4 devices/);
    const st = await cli(kinda, ["status", "--json"], app);
    // (other labs on the machine are listed too: only these two are this test's)
    const labs = JSON.parse(st.out) as { name: string; source?: string }[];
    assert.equal(labs.find((l) => l.name === "packy")?.source, join(app, "pair.yaml"));
    assert.equal(labs.find((l) => l.name === "packts")?.source, join(app, "chain.ts"));

    for (const lab of ["packy", "packts"]) {
      const d = await cli(kinda, ["down", lab], app);
      assert.equal(d.code, 0, d.out);
    }
    const left = (JSON.parse((await cli(kinda, ["status", "--json"], app)).out) as { name: string }[]).map((l) => l.name);
    assert.ok(!left.includes("packy") && !left.includes("packts"), `both gone: ${left.join(", ")}`);
  });

  it("installed globally (under a prefix): the command is on the prefix's bin, --version and completion run", async () => {
    const prefix = join(work, "global");
    await npm(["install", "-g", "--prefer-offline", "--prefix", prefix, tarball], work);
    const kinda = join(prefix, "bin", "kinda");
    assert.equal((await cli(kinda, ["--version"], work)).out.trim(), version);
    assert.match((await cli(kinda, ["completion", "bash"], work)).out, /complete -o filenames -F _kinda kinda/);
  });
});
