/**
 * Where the real BMv2 behaves differently from a naive stand-in, and what kinda does about it
 * (docs/p4.md). The STAND-IN kinda-test/p4-standin (scripts/test-env/p4-standin/) reproduces each
 * behaviour, so each of these fails on kinda without the fix:
 *   - the CLI answers a mistyped command with "*** Unknown syntax" and exits 0: the deploy must fail, naming cli[N];
 *   - an empty CLI line repeats the previous command: kinda must not send one (an entry twice: DUPLICATE_ENTRY);
 *   - the switch captures its ports in both directions: what its own kernel sends enters the
 *     pipeline (a ping to its address would be answered twice): kinda keeps the kernel off the
 *     ports (no address, NOARP, IPv6 off), and the hosts know the gateway's MAC statically;
 *   - BMv2 logs nothing without --log-console or --log-file: kinda logs must show its events;
 *   - frames pass as they came: TCP with checksums left to offload does not arrive (the stand-in
 *     drops what would not verify): kinda turns offload off toward the switch;
 *   - a program that leaves egress_spec unset sends the frame out of port 0: port 0 is the
 *     switch's first link as kinda numbers them (docs/p4.md), here h1's (the stand-in did drop it).
 * h1 - s1 (lpm: true) - h2, routing static. About 40 s here.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import { BASE_IMAGE, IMAGE_MAP_ARGS, P4_IMAGE, ROOT } from "../support/env.js";
import { assertNothingLeft, kinda, kindaOk } from "../support/kinda.js";
import { STANDIN, beforeP4Tests, p4Env } from "../support/p4.js";

beforeP4Tests();
const dir = mkdtempSync(join(tmpdir(), "kinda-p4bmv2-"));
const T = "table_add MyIngress.ipv4_lpm MyIngress.ipv4_forward";
/** p4c's real output for BMv2's own repository (never copied in; docs/p4.md). */
const PROGRAMS = resolve(process.env["KINDA_P4_PROGRAMS_DIR"] ?? join(ROOT, "..", "shared", "p4-programs"));

function topology(
  name: string,
  cli: string[] = [],
  device: string[] = [`    program: ${join(p4Env.build, "ipv4_lpm.json")}`],
  lpm = true,
): string {
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
      ...device,
      ...(lpm ? ["    lpm: true"] : []),
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

/** Whether a BMv2 JSON has a pipeline (p4c's output has; the stand-in p4c's has none, so kinda cannot check lines against it). */
const hasPipeline = (file: string): boolean =>
  ((JSON.parse(readFileSync(file, "utf8")) as { pipelines?: unknown[] }).pipelines ?? []).length > 0;

const sh = (lab: string, dev: string, script: string) => kinda("exec", "--lab", lab, dev, "--", "sh", "-c", script);

/** Polls until `cond` holds (every 300 ms, up to `seconds`): waits for the condition, not for a time that holds on an idle machine only. */
async function waitFor<T>(what: string, probe: () => Promise<T>, cond: (v: T) => boolean, seconds = 90): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const v = await probe();
    if (cond(v)) return v;
    assert.ok(Date.now() < deadline, `${what}: not within ${seconds} s (last: ${JSON.stringify(v)})`);
    await new Promise((res) => setTimeout(res, 300));
  }
}

/**
 * A capture of what comes IN on a host's eth0 (tcpdump FILTER, a line a frame, into /tmp/NAME),
 * started in the background and returned once tcpdump says it is listening; `count` reads how
 * many frames it has seen so far. tcpdump ends with its `timeout` or with the lab.
 */
async function capture(lab: string, host: string, name: string, filter: string) {
  const f = `/tmp/${name}`;
  const r = await sh(
    lab,
    host,
    `rm -f ${f} ${f}.err; nohup timeout 600 tcpdump -l -n -Q in -i eth0 ${filter} >${f} 2>${f}.err </dev/null &`,
  );
  assert.equal(r.code, 0, r.stderr);
  await waitFor(
    `tcpdump in ${host} listening`,
    () => sh(lab, host, `cat ${f}.err`).then((x) => x.stdout),
    (o) => /listening on eth0/.test(o),
  );
  return {
    text: () => sh(lab, host, `cat ${f}`).then((x) => x.stdout),
    count: () => sh(lab, host, `wc -l <${f}`).then((x) => Number(x.stdout.trim())),
  };
}

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
    // BMv2 logs nothing without --log-console/--log-file: its own events at info are what kinda logs shows
    assert.match(logs, /Adding interface eth0 as port 0/, `kinda logs shows the switch's log: ${logs}`);
    assert.match(logs, /Thrift server was started/, logs);
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
    if (hasPipeline(join(p4Env.build, "ipv4_lpm.json"))) {
      // a real compile of the program: kinda refuses the line before anything is created, at its place
      assert.match(
        r.stderr,
        /p4bmv2t\.yaml:\d+:\d+: P4 switch s1: simple_switch_CLI has no command tabel_add: it would answer "\*\*\* Unknown syntax/,
        r.stderr,
      );
    } else {
      // the stand-in p4c's JSON has no pipeline to check against: the switch CLI's answer fails the deploy
      assert.match(
        r.stderr,
        /device s1 \[cli\[1\]\]: the switch CLI refused "tabel_add[^\n]*\n\s*\*\*\* Unknown syntax: tabel_add/,
        r.stderr,
      );
    }
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

  it("egress left unset (the table's default NoAction) sends the frame out of port 0, the switch's first link (h1's)", async () => {
    const lab = "p4bmv2z";
    labs.push(lab);
    await kindaOk("up", topology(lab, ["table_set_default MyIngress.ipv4_lpm NoAction"]), ...IMAGE_MAP_ARGS);
    // h2 sends toward a prefix that has no entry: the miss runs NoAction, egress_spec stays 0
    await kindaOk("exec", "--lab", lab, "h2", "--", "ip", "route", "add", "10.0.99.0/24", "via", "10.0.12.254");
    // what arrives at each host for 10.0.99.1 (recorded in the host while h2 pings)
    const [at1, at2] = await Promise.all(["h1", "h2"].map((h) => capture(lab, h, "z", "icmp and dst host 10.0.99.1")));
    const ping = await sh(lab, "h2", "ping -c 5 -i 0.3 -W 1 10.0.99.1");
    assert.notEqual(ping.code, 0, "nothing answers 10.0.99.1");
    // h2's 5 frames to the missing prefix arrive at h1: port 0 is links[0], h1's link
    await waitFor("h2's 5 echo requests to 10.0.99.1 seen at h1 (port 0)", at1!.count, (n) => n >= 5);
    assert.equal(await at1!.count(), 5, "each once");
    assert.equal(await at2!.count(), 0, "and not back at h2 (port 1)");
    // the prefixes kinda wrote still forward by their entries
    const ok = await sh(lab, "h1", "ping -c 2 -i 0.2 -W 2 10.0.12.1");
    assert.equal(ok.code, 0, ok.stdout);
    await kindaOk("down", lab);
    await assertNothingLeft(lab);
  });

  it("a .p4 program is compiled in the device by its image's p4c (as Kathara's P4 labs do); an image without p4c says so", async (t) => {
    const lab = "p4bmv2s";
    labs.push(lab);
    const source = join(ROOT, "examples", "p4", "ipv4_lpm.p4");
    if (process.env["KINDA_P4_BUILD_DIR"]) {
      // KINDA_P4_BUILD_DIR is for a P4 image with BMv2 but no p4c (support/p4.ts): nothing can compile
      // in its devices, so what is left to show is that kinda says so for that image too
      t.diagnostic(`${P4_IMAGE} has no p4c (KINDA_P4_BUILD_DIR is set): the compile in the device cannot run here`);
      const r = await kinda("up", topology(lab, [], [`    program: ${source}`]), ...IMAGE_MAP_ARGS);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(
        r.stderr,
        /device s1 \[program\]: compile the program in the device .* failed[^\n]*\n\s*this image has no p4c/,
        r.stderr,
      );
      await assertNothingLeft(lab);
      return;
    }
    await kindaOk("up", topology(lab, [], [`    program: ${source}`]), ...IMAGE_MAP_ARGS);
    const ping = await sh(lab, "h1", "ping -c 3 -i 0.2 -W 2 10.0.12.1");
    assert.equal(ping.code, 0, `h1 reaches h2 through the program p4c compiled in s1: ${ping.stdout}`);
    const built = await sh(lab, "s1", "ls /var/lib/kinda-p4");
    assert.match(built.stdout, /^ipv4_lpm\.json$/m, built.stdout);
    await kindaOk("down", lab);
    await assertNothingLeft(lab);

    const bare = "p4bmv2n";
    labs.push(bare);
    const r = await kinda("up", topology(bare, [], [`    program: ${source}`, `    image: ${BASE_IMAGE}`]), ...IMAGE_MAP_ARGS);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /device s1 \[program\]: compile the program in the device .* failed[^\n]*\n\s*this image has no p4c/, r.stderr);
    await assertNothingLeft(bare);
  });

  it("p4c's simple_router (real compiler output): kinda up warns that non-IPv4 frames leave egress unset, out of port 0 (h1's link)", async (t) => {
    const program = join(PROGRAMS, "targets_simple_router_simple_router.json");
    if (!existsSync(program)) {
      const why = `no ${program}: the compiled programs are read from KINDA_P4_PROGRAMS_DIR (default ../shared/p4-programs)`;
      assert.ok(process.env["CI"] !== "true", why);
      t.diagnostic(`did not run: ${why}`);
      return;
    }
    const lab = "p44w";
    labs.push(lab);
    // BMv2's commands.txt for simple_router, with this lab's ports (h1 port 0, h2 port 1) and kinda's fixed MACs
    const cli = [
      "table_set_default send_frame _drop",
      "table_set_default forward _drop",
      "table_set_default ipv4_lpm _drop",
      "table_add send_frame rewrite_mac 0 => 02:6b:00:00:00:02",
      "table_add send_frame rewrite_mac 1 => 02:6b:00:01:00:01",
      "table_add forward set_dmac 10.0.11.1 => 02:6b:00:00:00:01",
      "table_add forward set_dmac 10.0.12.1 => 02:6b:00:01:00:02",
      "table_add ipv4_lpm set_nhop 10.0.11.1/32 => 10.0.11.1 0",
      "table_add ipv4_lpm set_nhop 10.0.12.1/32 => 10.0.12.1 1",
    ];
    const r = await kinda("up", topology(lab, cli, [`    program: ${program}`], false), ...IMAGE_MAP_ARGS);
    assert.equal(r.code, 0, r.stderr);
    // the misses drop (the defaults above); what is left is simple_router's own: a frame that is not IPv4 meets no table
    assert.match(
      r.stdout + r.stderr,
      /warning: P4 switch s1: the program can leave egress_spec unset \(the ingress where _condition_0 is false\); BMv2 then sends the frame out of port 0, which is eth0 \(its first link\)/,
      r.stdout + r.stderr,
    );
    if (!STANDIN) {
      // only the real switch runs simple_router (the stand-in's lpm_forward is ipv4_lpm.p4 written by hand)
      const ping = await sh(lab, "h1", "ping -c 3 -i 0.2 -W 2 10.0.12.1");
      assert.equal(ping.code, 0, `h1 reaches h2 through simple_router: ${ping.stdout}`);
      // what the warning says: h2's ARP for a neighbour it does not have leaves by port 0, to h1
      const arp = await capture(lab, "h1", "a", "arp");
      await sh(lab, "h2", "ping -c 3 -i 0.3 -W 1 10.0.12.7");
      await waitFor("h2's ARP for 10.0.12.7 seen at h1 (port 0)", arp.text, (t) => /who-has 10\.0\.12\.7/.test(t));
    }
    await kindaOk("down", lab);
    await assertNothingLeft(lab);
  });
});
