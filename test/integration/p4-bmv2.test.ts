/**
 * Where the real BMv2 behaves differently from a naive stand-in, and what kinda does about it
 * (docs/p4.md). The STAND-IN kinda-test/p4-standin (scripts/test-env/p4-standin/) reproduces each
 * behaviour, so each of these fails on kinda without the fix:
 *   - the CLI answers a mistyped command with "*** Unknown syntax" and exits 0: the deploy must fail, naming cli[N];
 *   - an empty CLI line repeats the previous command: kinda must not send one (an entry twice: DUPLICATE_ENTRY);
 *   - the switch captures its ports in both directions: what its own kernel sends enters the
 *     pipeline (a ping to its address would be answered twice): kinda keeps the kernel off the
 *     ports (no address, NOARP, IPv6 off), and the hosts know the gateway's MAC statically;
 *   - frames pass as they came: TCP with checksums left to offload does not arrive (the stand-in
 *     drops what would not verify): kinda turns offload off toward the switch.
 * h1 - s1 (lpm: true) - h2, routing static. About 40 s here.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { IMAGE_MAP_ARGS, P4_IMAGE } from "../support/env.js";
import { assertNothingLeft, kinda, kindaOk } from "../support/kinda.js";
import { STANDIN, beforeP4Tests, p4Env } from "../support/p4.js";

beforeP4Tests();
const dir = mkdtempSync(join(tmpdir(), "kinda-p4bmv2-"));
const T = "table_add MyIngress.ipv4_lpm MyIngress.ipv4_forward";

function topology(name: string, cli: string[] = []): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `name: ${name}`,
      "routing: static",
      "devices:",
      "  - { name: h1, kind: host }",
      `  - name: s1`,
      "    kind: p4-switch",
      `    program: ${join(p4Env.build, "ipv4_lpm.json")}`,
      "    lpm: true",
      ...(cli.length ? ["    cli:", ...cli.map((c) => `      - ${JSON.stringify(c)}`)] : []),
      "  - { name: h2, kind: host }",
      "links:",
      "  - { endpoints: [h1, s1], addresses: [10.0.11.1/24, 10.0.11.254/24] }",
      "  - { endpoints: [s1, h2], addresses: [10.0.12.254/24, 10.0.12.1/24] }",
      "",
    ].join("\n"),
  );
  return file;
}

const sh = (lab: string, dev: string, script: string) => kinda("exec", "--lab", lab, dev, "--", "sh", "-c", script);

describe(`a P4 switch as the real BMv2 behaves (image ${P4_IMAGE}${STANDIN ? ": a stand-in, not BMv2" : ""})`, () => {
  const labs: string[] = [];
  after(async () => {
    for (const l of labs) await kinda("down", l);
  });

  it("the kernel stays off the switch's ports; hosts reach each other through it, TCP too; nothing answers twice", async () => {
    const lab = "p4bmv2k";
    labs.push(lab);
    await kindaOk("up", topology(lab), ...IMAGE_MAP_ARGS);
    for (const p of ["eth0", "eth1"]) {
      const a = await sh(lab, "s1", `ip -o addr show dev ${p}; cat /proc/sys/net/ipv6/conf/${p}/disable_ipv6; ip -o link show dev ${p}`);
      assert.doesNotMatch(a.stdout, /inet6? /, `${p} has no address: ${a.stdout}`);
      assert.match(a.stdout, /^1$/m, `IPv6 off on ${p}`);
      assert.match(a.stdout, /NOARP/, `no ARP on ${p}`);
    }
    const ping = await sh(lab, "h1", "ping -c 5 -i 0.2 -W 2 10.0.12.1");
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    assert.doesNotMatch(ping.stdout, /DUP!/, "each echo answered once");
    // the switch's address is a gateway only: before, its kernel answered and the switch forwarded that answer again
    const gw = await sh(lab, "h1", "ping -c 3 -i 0.2 -W 1 10.0.11.254");
    assert.doesNotMatch(gw.stdout, /DUP!/, gw.stdout);
    // TCP through the switch: 300 kB from h1 to h2
    await sh(lab, "h2", "rm -f /tmp/got; (timeout 20 nc -l -p 5001 >/tmp/got &) ; sleep 0.5");
    const send = await sh(lab, "h1", "head -c 300000 /dev/zero | timeout 15 nc -q 1 -w 5 10.0.12.1 5001");
    const got = await sh(lab, "h2", "sleep 1; wc -c </tmp/got");
    assert.equal(got.stdout.trim(), "300000", `h2 got ${got.stdout.trim()} bytes over TCP (send: ${send.code} ${send.stderr})`);
    if (STANDIN) {
      const bad = await sh(lab, "s1", "cat /run/kinda-p4-standin/bad-checksums");
      assert.equal(bad.stdout.trim(), "0", "no frame with a checksum left to offload reached the switch");
    }
    const logs = await kindaOk("logs", lab, "s1");
    assert.ok(logs.trim().length > 0, "kinda logs shows the switch's log");
    await kindaOk("down", lab);
    await assertNothingLeft(lab);
  });

  it("a mistyped cli line (the CLI says Unknown syntax, exit 0) fails the deploy at that line; nothing is left", async () => {
    const lab = "p4bmv2t";
    labs.push(lab);
    const r = await kinda(
      "up",
      topology(lab, [`${T} 10.0.99.0/24 => 02:6b:00:00:00:01 0`, `tabel_add MyIngress.ipv4_lpm x 10.0.98.0/24 =>`]),
      ...IMAGE_MAP_ARGS,
    );
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(
      r.stderr,
      /device s1 \[cli\[1\]\]: the switch CLI refused "tabel_add[^\n]*\n\s*\*\*\* Unknown syntax: tabel_add/,
      r.stderr,
    );
    await assertNothingLeft(lab);
  });

  it("a blank cli line is not sent (the CLI would repeat the previous command: an entry twice)", async () => {
    const lab = "p4bmv2b";
    labs.push(lab);
    const cli = [`${T} 10.0.99.0/24 => 02:6b:00:00:00:01 0`, "", `${T} 10.0.98.0/24 => 02:6b:00:00:00:01 0`];
    const r = await kinda("up", topology(lab, cli), ...IMAGE_MAP_ARGS);
    assert.equal(r.code, 0, r.stderr);
    if (STANDIN) {
      const got = await kindaOk("exec", "--lab", lab, "s1", "--", "cat", "/var/log/kinda-p4-standin/cli");
      const mine = got.split("\n").filter((l) => /10\.0\.9[89]\.0/.test(l));
      assert.deepEqual(mine, [cli[0], cli[2]], got);
    }
    await kindaOk("down", lab);
  });
});
