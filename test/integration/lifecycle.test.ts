/** Labs side by side, down after SIGKILL, exec, status, dry-run. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { IMAGE_MAP_ARGS, ROOT, ensureTestEnv, fixtureLab } from "../support/env.js";
import {
  assertNothingLeft,
  containersOf,
  converge,
  docker,
  eventually,
  hostLinks,
  kinda,
  kindaOk,
  kindaSpawn,
  netnsNames,
  ping,
  stateDir,
  withLab,
} from "../support/kinda.js";

let linksBefore: string[];
before(() => {
  ensureTestEnv();
  linksBefore = hostLinks();
});

const twoRouters = join(ROOT, "examples", "labs", "two-routers");

describe("lifecycle", () => {
  it("two labs with the same device names run side by side; down of one leaves the other working", async () => {
    await Promise.all([
      kindaOk("up", twoRouters, "--name", "t-side-a", ...IMAGE_MAP_ARGS),
      kindaOk("up", twoRouters, "--name", "t-side-b", ...IMAGE_MAP_ARGS),
    ]);
    assert.ok(await ping("t-side-a", "h1", "10.2.0.10"));
    assert.ok(await ping("t-side-b", "h1", "10.2.0.10"));
    // without --lab the device name is ambiguous, and kinda says so
    const amb = await kinda("h1", "true");
    assert.notEqual(amb.code, 0);
    assert.match(
      amb.stderr,
      /device h1 exists in several labs \(t-side-a, t-side-b\)|device h1 exists in several labs \(t-side-b, t-side-a\)/,
    );
    await kindaOk("down", "t-side-a");
    await assertNothingLeft("t-side-a");
    assert.ok(await ping("t-side-b", "h1", "10.2.0.10"), "lab b still works");
    assert.ok(await ping("t-side-b", "h2", "10.1.0.10"));
    await kindaOk("down", "t-side-b");
    await assertNothingLeft("t-side-b", linksBefore);
  });

  it("down works after a deploy killed with SIGKILL halfway", async () => {
    const name = "t-killed";
    const child = kindaSpawn(["up", fixtureLab("slow-deploy"), "--name", name, ...IMAGE_MAP_ARGS]);
    child.stdout!.resume();
    child.stderr!.resume();
    await eventually("some containers of the lab exist", 60, async () => (await containersOf(name)).length >= 3);
    child.kill("SIGKILL");
    await new Promise((r) => child.on("close", r));
    const left = await containersOf(name);
    assert.ok(left.length > 0 && netnsNames().includes(`kinda-${name}`), "the killed deploy left a partial lab (the case under test)");
    await kindaOk("down", name);
    await assertNothingLeft(name, linksBefore);
    // and again: down is idempotent
    await kindaOk("down", name);
  });

  it("Ctrl+C (SIGINT) during a deploy removes what was created, with no down needed", async () => {
    const name = "t-interrupted";
    const child = kindaSpawn(["up", fixtureLab("slow-deploy"), "--name", name, ...IMAGE_MAP_ARGS]);
    let err = "";
    child.stdout!.resume();
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    await eventually("some containers of the lab exist", 60, async () => (await containersOf(name)).length >= 3);
    child.kill("SIGINT");
    const code = await new Promise((r) => child.on("close", r));
    assert.notEqual(code, 0);
    assert.match(err, /interrupted/);
    await assertNothingLeft(name, linksBefore);
  });

  it("a YAML topology and its TypeScript form print the same plan through the CLI", async () => {
    const y = await kindaOk("up", join(ROOT, "examples", "tree.yaml"), "--dry-run");
    const t = await kindaOk("up", join(ROOT, "examples", "tree.ts"), "--dry-run");
    assert.equal(t, y);
    assert.match(y, /kubernetes nodes: w1\(worker\) w2\(worker\) w3\(worker\) c1\(control-plane\)/);
  });

  it("exec passes the exit code through; the shorthand works; status --json describes the lab", async () => {
    const name = "t-exec";
    await kindaOk("up", twoRouters, "--name", name, ...IMAGE_MAP_ARGS);
    try {
      const r = await kinda("exec", "--lab", name, "r1", "--", "sh", "-c", "echo out; echo err >&2; exit 5");
      assert.equal(r.code, 5);
      assert.equal(r.stdout, "out\n");
      assert.equal(r.stderr, "err\n");
      const withLab = await kindaOk("--lab", name, "r2", "hostname");
      assert.equal(withLab.trim(), "r2");
      const short = await kindaOk("r2", "hostname");
      assert.equal(short.trim(), "r2");
      const st = JSON.parse(await kindaOk("status", name, "--json")) as {
        name: string;
        phase: string;
        netnsPresent: boolean;
        devices: { name: string; running: boolean; interfaces: { name: string; domain: string }[] }[];
      }[];
      assert.equal(st[0]?.phase, "up");
      assert.equal(st[0]?.netnsPresent, true);
      assert.deepEqual(
        st[0]?.devices.find((d) => d.name === "r1")?.interfaces.map((i) => `${i.name}:${i.domain}`),
        ["eth0:lan1", "eth1:core"],
      );
      // on a terminal (script(1) gives one), exec is interactive: the command gets a TTY too
      const cli = join(ROOT, "dist", "bin", "kinda.js");
      const tty = execFileSync("script", ["-qec", `${process.execPath} ${cli} exec --lab ${name} r1 -- tty`, "/dev/null"], {
        encoding: "utf8",
        env: { ...process.env, KINDA_STATE_DIR: stateDir },
      });
      assert.match(tty, /\/dev\/pts\/\d+/);
      const none = await kinda("exec", "--lab", name, "r7", "--", "true");
      assert.notEqual(none.code, 0);
      assert.match(none.stderr, /no device or Kubernetes node named r7 in lab t-exec/);
    } finally {
      await kinda("down", name);
    }
    await assertNothingLeft(name, linksBefore);
  });

  it("bridged puts the NAT interface last with the default route; mem, cpus, port, env reach the container", async () => {
    const d = mkdtempSync(join(tmpdir(), "kinda-it-bridged-"));
    writeFileSync(
      join(d, "lab.conf"),
      [
        'a[0]="X"',
        'a[bridged]="true"',
        'a[port]="18080:80"',
        'a[mem]="128m"',
        'a[cpus]="0.5"',
        'a[env]="GREETING=hi"',
        'b[0]="X"',
        'b[exec]="ip addr add 10.5.0.2/24 dev eth0"',
      ].join("\n") + "\n",
    );
    writeFileSync(join(d, "a.startup"), "ip addr add 10.5.0.1/24 dev eth0\n");
    const name = "t-bridged";
    await kindaOk("up", d, "--name", name, ...IMAGE_MAP_ARGS);
    const links = JSON.parse(await kindaOk("exec", "--lab", name, "a", "--", "ip", "-j", "-4", "addr")) as {
      ifname: string;
      addr_info: { local: string }[];
    }[];
    assert.deepEqual(
      links.map((l) => l.ifname),
      ["lo", "eth0", "eth1"],
    );
    assert.equal(links[1]?.addr_info[0]?.local, "10.5.0.1");
    assert.ok(links[2]?.addr_info[0]?.local, "eth1 has the NAT network's address");
    const route = await kindaOk("exec", "--lab", name, "a", "--", "ip", "route", "show", "default");
    assert.match(route, /default via \S+ dev eth1/);
    assert.ok(await ping(name, "b", "10.5.0.1"), "the lab segment works next to the NAT interface");
    assert.equal((await kindaOk("exec", "--lab", name, "a", "--", "printenv", "GREETING")).trim(), "hi");
    const info = await docker.getContainer("kinda-t-bridged-a").inspect();
    assert.equal(info.HostConfig.Memory, 128 * 1024 * 1024);
    assert.equal(info.HostConfig.NanoCpus, 5e8);
    assert.deepEqual(info.HostConfig.PortBindings?.["80/tcp"]?.[0]?.HostPort, "18080");
    const b = await docker.getContainer("kinda-t-bridged-b").inspect();
    assert.equal(b.HostConfig.NetworkMode, "none", "a device without bridged has no network but the lab's");
    await kindaOk("down", name);
    await assertNothingLeft(name, linksBefore);
  });

  it("--dry-run prints the plan and creates nothing", async () => {
    const out = await kindaOk("up", twoRouters, "--name", "t-dry", "--dry-run", ...IMAGE_MAP_ARGS);
    assert.match(out, /ip -n kinda-t-dry link add cd-0 type bridge/);
    assert.match(out, /device h1: container kinda-t-dry-h1/);
    await assertNothingLeft("t-dry", linksBefore);
  });

  it("a second up of a lab that exists is refused, and the first stays", async () => {
    const name = "t-twice";
    await kindaOk("up", twoRouters, "--name", name, ...IMAGE_MAP_ARGS);
    const r = await kinda("up", twoRouters, "--name", name, ...IMAGE_MAP_ARGS);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /a lab named t-twice already exists/);
    assert.equal((await containersOf(name)).length, 4);
    await kindaOk("down", twoRouters); // by path: the lab deployed from there
    await assertNothingLeft(name, linksBefore);
  });

  it("two concurrent ups of one name: one lab comes up, the other is refused and removes nothing of it", async () => {
    const name = "t-race";
    const [a, b] = await Promise.all([
      kinda("up", twoRouters, "--name", name, ...IMAGE_MAP_ARGS),
      kinda("up", twoRouters, "--name", name, ...IMAGE_MAP_ARGS),
    ]);
    assert.deepEqual([a.code, b.code].sort(), [0, 1], `${a.stderr}\n${b.stderr}`);
    assert.match((a.code ? a : b).stderr, /a lab named t-race already exists/);
    assert.equal((await containersOf(name)).length, 4);
    assert.equal((await kinda("exec", "--lab", name, "h1", "--", "ping", "-c", "1", "-W", "2", "10.2.0.10")).code, 0);
    await kindaOk("down", name);
    await assertNothingLeft(name, linksBefore);
  });

  it("a name that is not a lab name never reaches the disk (down ../x removes nothing)", async () => {
    const keep = join(stateDir, "keep-me");
    mkdirSync(keep, { recursive: true });
    writeFileSync(join(keep, "precious"), "x");
    for (const cmd of [["down"], ["status"], ["up", twoRouters, "--name"]]) {
      const r = await kinda(...cmd, "../keep-me");
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /"\.\.\/keep-me" is not a lab name|lab name "\.\.\/keep-me" must be/);
    }
    assert.ok(existsSync(join(keep, "precious")));
  });
});

describe("a test that fails", () => {
  it("leaves no lab behind: withLab takes it down when a convergence wait runs out", async () => {
    const name = "t-forced-failure";
    await assert.rejects(
      withLab(name, fixtureLab("features"), IMAGE_MAP_ARGS, async (deploySeconds) => {
        assert.ok(await ping(name, "pc1", "10.2.0.10"), "the lab is up and routes pc1 to pc2");
        // r2 has no route to 10.9.0.0/24: this wait is bound to fail, as a check of a lab that does not converge would
        await converge("a route that never comes", { protocolSeconds: 0, measuredSeconds: deploySeconds, factor: 0.5 }, () =>
          ping(name, "pc2", "10.9.0.1"),
        );
      }),
      /a route that never comes: not true within \d+ s/,
    );
    await assertNothingLeft(name, linksBefore);
  });
});
