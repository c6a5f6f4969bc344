/** Compiling the example P4 programs with the test P4 image's p4c (the stand-in's writes stand-in JSON). */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { P4_IMAGE, ROOT } from "./env.js";
import { docker } from "./kinda.js";

/** Compiles examples/p4/NAME.p4; returns the folder with NAME.json and NAME.p4info.txt. */
export async function compileExampleP4(name: string): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), "kinda-p4-build-"));
  const log = new PassThrough();
  let text = "";
  log.on("data", (c: Buffer) => (text += c.toString()));
  const [res] = (await docker.run(
    P4_IMAGE,
    ["p4c", "--target", "bmv2", "--arch", "v1model", "-o", "/out", "--p4runtime-files", `/out/${name}.p4info.txt`, `/src/${name}.p4`],
    log,
    { HostConfig: { AutoRemove: true, NetworkMode: "none", Binds: [`${join(ROOT, "examples", "p4")}:/src:ro`, `${out}:/out`] } },
  )) as [{ StatusCode: number }];
  assert.equal(res.StatusCode, 0, `p4c failed: ${text}`);
  return out;
}
