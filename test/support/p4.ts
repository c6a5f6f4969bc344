/**
 * What the P4 integration tests share: the image (the STAND-IN kinda-test/p4-standin unless
 * KINDA_P4_IMAGE names a real one), compiling the example programs (examples/p4/ipv4_lpm.p4, nic_filter.p4) with that image's p4c, and
 * reading a switch port's counters.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { before } from "node:test";
import { P4_IMAGE, ROOT, ensureTestEnv } from "./env.js";
import { docker, hostLinks, kindaOk, stateDir } from "./kinda.js";

/** True when the P4 image is the stand-in (not BMv2): its CLI records entries, lpm_forward forwards by them. */
export const STANDIN = P4_IMAGE.includes("p4-standin");

/** Compiles examples/p4/NAME.p4 with the P4 image's p4c (the stand-in's writes stand-in JSON); returns the output folder. */
export async function compileExample(name = "ipv4_lpm"): Promise<string> {
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

/** A counter of an interface of a device (/sys/class/net/IF/statistics/WHAT). */
export const counter = (lab: string, device: string, ifname: string, what: "rx_packets" | "tx_packets") =>
  kindaOk("exec", "--lab", lab, device, "--", "cat", `/sys/class/net/${ifname}/statistics/${what}`).then(Number);

/** Set by `beforeP4Tests` once the test environment is ready: the host's links then, the compiled example. */
export const p4Env = { linksBefore: [] as string[], build: "" };

/** Registers the suite's before hook: test environment, the host's links, the example compiled. */
export function beforeP4Tests(): void {
  process.env["KINDA_STATE_DIR"] = stateDir;
  before(async () => {
    ensureTestEnv();
    p4Env.linksBefore = hostLinks();
    p4Env.build = await compileExample();
  });
}
