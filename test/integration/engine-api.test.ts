/**
 * The light Engine API client (runtime/engine-api.ts) against the real Docker engine: a command
 * given `input` reads it and its end, as with the Docker runtime. Before the fix the client
 * dropped `input`: a P4 switch's CLI, given a re-route's lines through it, read nothing, exited 0
 * and wrote no entry (test/integration/p4-reroute.test.ts found it).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, it } from "node:test";
import { EngineApi } from "../../src/runtime/engine-api.js";
import { BASE_IMAGE, ensureTestEnv } from "../support/env.js";

const NAME = "kinda-engapi-input";
const docker = (...a: string[]) => spawnSync("docker", a, { encoding: "utf8" });

before(() => {
  ensureTestEnv();
  docker("rm", "-f", NAME);
  const r = docker("run", "-d", "--name", NAME, "--label", "kinda.test=engine-api", BASE_IMAGE, "sleep", "300");
  assert.equal(r.status, 0, r.stderr);
});
after(() => {
  docker("rm", "-f", NAME);
  assert.notEqual(docker("inspect", NAME).status, 0, "the test container is gone");
});

it("exec with input: the command reads the lines and their end", async () => {
  const api = new EngineApi();
  const r = await api.exec(NAME, ["sh", "-c", "wc -l; echo done"], { input: "a\nb\nc\n" });
  assert.equal(r.exitCode, 0, r.output);
  assert.match(r.output, /^\s*3\s*\ndone\n$/, r.output);
  const echo = await api.exec(NAME, ["cat"], { input: "table_add t a 10.0.0.0/8 => 1\n" });
  assert.equal(echo.output, "table_add t a 10.0.0.0/8 => 1\n");
});
