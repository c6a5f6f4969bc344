/**
 * The layer check of `npm run lint` (dependency-cruiser with .dependency-cruiser.mjs) fails on what
 * it is there to catch: a tree shaped like src/ is written to a temporary folder, first clean (the
 * check passes), then with one deliberate violation at a time (the check fails and names it). The
 * violations are the ones ESLint's no-restricted-imports cannot see: a dynamic import() of runtime/
 * from engine/, a type-only import, and a cycle between two files of one folder.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ROOT } from "../../support/env.js";

const CONFIG = join(ROOT, ".dependency-cruiser.mjs");
const BIN = join(ROOT, "node_modules", ".bin", "depcruise");

function write(dir: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

/** Runs the check as `npm run lint:layers` does, in `dir`; exit code and what it printed. */
function check(dir: string): Promise<{ code: number; out: string }> {
  return new Promise((res, rej) => {
    const child = spawn(BIN, ["src", "--config", CONFIG, "--output-type", "err"], { cwd: dir });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", rej);
    child.on("close", (code) => res({ code: code ?? -1, out }));
  });
}

/** A clean tree: engine/ takes a runtime passed in, app/ makes it (as app/root.ts does). */
const CLEAN: Record<string, string> = {
  "tsconfig.json": JSON.stringify({ compilerOptions: { module: "nodenext", moduleResolution: "nodenext", strict: true } }),
  "package.json": JSON.stringify({ type: "module" }),
  "src/model/container.ts": "export interface Runtime { ping(): Promise<void> }\n",
  "src/runtime/docker.ts":
    'import type { Runtime } from "../model/container.js";\nexport class DockerRuntime implements Runtime { async ping() {} }\n',
  "src/engine/lab.ts": 'import type { Runtime } from "../model/container.js";\nexport const deploy = (rt: Runtime) => rt.ping();\n',
  "src/plan/a.ts": 'import { b } from "./b.js";\nexport const a = () => b + 1;\n',
  "src/plan/b.ts": "export const b = 1;\n",
  "src/app/root.ts":
    'import { DockerRuntime } from "../runtime/docker.js";\nimport { deploy } from "../engine/lab.js";\nexport const up = () => deploy(new DockerRuntime());\n',
};

describe("the layer check (dependency-cruiser in npm run lint)", () => {
  let dir: string;
  let clean: Promise<{ code: number; out: string }>;
  let broken: Promise<{ code: number; out: string }>;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "kinda-layers-"));
    write(join(dir, "clean"), CLEAN);
    // three violations at once, in three files (one process each tree, both trees at once)
    write(join(dir, "broken"), {
      ...CLEAN,
      "src/engine/lab.ts":
        'export async function deploy() {\n  const rt = new (await import("../runtime/docker.js")).DockerRuntime();\n  await rt.ping();\n}\n',
      "src/engine/watch.ts":
        'import type { DockerRuntime } from "../runtime/docker.js";\nexport const sample = (rt: DockerRuntime) => rt.ping();\n',
      "src/plan/b.ts": 'import { a } from "./a.js";\nexport const b = 1;\nexport const c = () => a();\n',
    });
    clean = check(join(dir, "clean"));
    broken = check(join(dir, "broken"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("passes on a tree that keeps the layers", async () => {
    const r = await clean;
    assert.equal(r.code, 0, r.out);
  });

  it("fails on a dynamic import() of runtime/ from engine/", async () => {
    const r = await broken;
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /layer-engine: src\/engine\/lab\.ts → src\/runtime\/docker\.ts/);
  });

  it("fails on a type-only import across the layers", async () => {
    assert.match((await broken).out, /layer-engine: src\/engine\/watch\.ts → src\/runtime\/docker\.ts/);
  });

  it("fails on a cycle between two files of one folder", async () => {
    assert.match((await broken).out, /no-circular: src\/plan\/(a|b)\.ts → /);
  });
});
