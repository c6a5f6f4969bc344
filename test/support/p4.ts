/**
 * What the P4 integration tests share: the image (the STAND-IN kinda-test/p4-standin unless
 * KINDA_P4_IMAGE names a real one), compiling the example programs (examples/p4/ipv4_lpm.p4, nic_filter.p4) with that image's p4c, and
 * reading a switch port's counters.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { before } from "node:test";
import { P4_IMAGE, ROOT, ensureTestEnv } from "./env.js";
import { docker, hostLinks, kindaOk, stateDir } from "./kinda.js";
import type { FixtureProvider } from "./fixture.js";

/** True when the P4 image is the stand-in (not BMv2): its CLI records entries, lpm_forward forwards by them. */
export const STANDIN = P4_IMAGE.includes("p4-standin");

/**
 * Compiles examples/p4/NAME.p4 with the P4 image's p4c (the stand-in's writes stand-in JSON); returns the output folder.
 * With KINDA_P4_BUILD_DIR (for an image that has BMv2 but no p4c, e.g. one built by hand), the
 * examples compiled elsewhere are read from there instead (NAME.json and NAME.p4info.txt).
 */
export async function compileExample(name = "ipv4_lpm"): Promise<string> {
  const given = process.env["KINDA_P4_BUILD_DIR"];
  if (given) {
    assert.ok(
      existsSync(join(given, `${name}.json`)),
      `KINDA_P4_BUILD_DIR=${given} has no ${name}.json (p4c's output for examples/p4/${name}.p4)`,
    );
    return given;
  }
  const out = mkdtempSync(join(tmpdir(), "kinda-p4-build-"));
  const log = new PassThrough();
  let text = "";
  log.on("data", (c: Buffer) => (text += c.toString()));
  // removed after it is waited for: with AutoRemove a p4c that exits at once (the stand-in's) can be
  // gone before the wait asks for it (HTTP 404, seen under load)
  const [res, container] = (await docker.run(
    P4_IMAGE,
    ["p4c", "--target", "bmv2", "--arch", "v1model", "-o", "/out", "--p4runtime-files", `/out/${name}.p4info.txt`, `/src/${name}.p4`],
    log,
    { HostConfig: { NetworkMode: "none", Binds: [`${join(ROOT, "examples", "p4")}:/src:ro`, `${out}:/out`] } },
  )) as [{ StatusCode: number }, { remove: (o: { force: boolean }) => Promise<unknown> }];
  await container.remove({ force: true });
  assert.equal(res.StatusCode, 0, `p4c failed: ${text}`);
  return out;
}

/** A counter of an interface of a device (/sys/class/net/IF/statistics/WHAT). */
export const counter = (lab: string, device: string, ifname: string, what: "rx_packets" | "tx_packets") =>
  kindaOk("exec", "--lab", lab, device, "--", "cat", `/sys/class/net/${ifname}/statistics/${what}`).then(Number);

/** Whether the P4 image has a command on its PATH (a BMv2 built by hand without gRPC has no simple_switch_grpc). */
export async function imageHas(command: string): Promise<boolean> {
  const [res, container] = (await docker.run(P4_IMAGE, ["sh", "-c", 'command -v "$1"', "sh", command], new PassThrough(), {
    HostConfig: { NetworkMode: "none" },
  })) as [{ StatusCode: number }, { remove: (o: { force: boolean }) => Promise<unknown> }];
  await container.remove({ force: true });
  return res.StatusCode === 0;
}

/**
 * Set by `beforeP4Tests` once the test environment is ready: the host's links then, the compiled
 * example, whether the image has simple_switch_grpc (the stand-in has; BMv2 built without gRPC not).
 */
export const p4Env = { linksBefore: [] as string[], build: "", grpc: true };

/** Registers the suite's before hook: test environment, the host's links, the example compiled. */
export function beforeP4Tests(): void {
  process.env["KINDA_STATE_DIR"] = stateDir;
  before(async () => {
    ensureTestEnv();
    p4Env.linksBefore = hostLinks();
    p4Env.build = await compileExample();
    p4Env.grpc = await imageHas("simple_switch_grpc");
  });
}

/** Packet counters of some ports, and then their change since. */
export async function portCounters(lab: string, ports: [string, string, "rx_packets" | "tx_packets"][]): Promise<() => Promise<number[]>> {
  const before = await Promise.all(ports.map(([d, i, w]) => counter(lab, d, i, w)));
  return async () => (await Promise.all(ports.map(([d, i, w]) => counter(lab, d, i, w)))).map((n, k) => n - before[k]!);
}

/**
 * Pods across the seed's tree with P4 switches r1, r2 (examples/p4-tree.yaml): w1 -> w2 (both
 * behind r1) leaves r1 only on w2's port, not toward the gateway (forwarded by prefix, not
 * flooded); w1 -> c1 crosses r1, the gateway's kernel routes and r2 to c1's port, not w3's; w3
 * reaches w2.
 */
export async function treeTraffic(lab: string, provider: FixtureProvider): Promise<void> {
  const sameSwitch = await portCounters(lab, [
    ["r1", "eth2", "rx_packets"],
    ["r1", "eth3", "tx_packets"],
    ["r1", "eth0", "tx_packets"],
  ]);
  let r = provider.inPod("w1", 0, ["ping", "-c", "40", "-i", "0.02", "-W", "2", provider.podIp("w2", 0)]);
  assert.equal(r.code, 0, r.out);
  const [in1, out3, toGw] = await sameSwitch();
  assert.ok(in1! >= 40 && out3! >= 40, `w1's packets in on r1 port 1 (${in1}) and out on port 2 (${out3})`);
  assert.ok(toGw! < 40, `and not toward the gateway (${toGw} on port 0): forwarded by prefix, not flooded`);

  // r1 (port 1 -> 0), the gateway's kernel routes, r2 (port 0 -> 2 = eth3)
  const acrossTree = await portCounters(lab, [
    ["r1", "eth0", "tx_packets"],
    ["gateway", "eth2", "tx_packets"],
    ["r2", "eth3", "tx_packets"],
    ["r2", "eth2", "tx_packets"],
  ]);
  r = provider.inPod("w1", 0, ["ping", "-c", "40", "-i", "0.02", "-W", "2", provider.podIp("c1", 0)]);
  assert.equal(r.code, 0, r.out);
  const [up, gw, down, w3] = await acrossTree();
  assert.ok(up! >= 40 && gw! >= 40 && down! >= 40, `r1 port 0: ${up}, gateway to r2: ${gw}, r2 port 2 (c1): ${down}`);
  assert.ok(w3! < 40, `r2 did not send them to w3 (${w3})`);
  r = provider.inPod("w3", 1, ["ping", "-c", "5", "-i", "0.1", "-W", "2", provider.podIp("w2", 1)]);
  assert.equal(r.code, 0, r.out);
}
