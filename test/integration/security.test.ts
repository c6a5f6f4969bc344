/**
 * Running as root safely (issue 11), on a real Docker engine and kernel, as root, with the
 * unprivileged user `nobody` where a second local user matters. Each case is a row of the issue:
 * what a hostile or careless lab author, or a second user, tried, and what must hold now.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { IMAGE_MAP_ARGS, ROOT, BASE_IMAGE, ensureTestEnv } from "../support/env.js";
import { removeRules } from "../../src/engine/cluster-apply.js";
import { assertNothingLeft, containersOf, docker, eventually, hostLinks, type CliResult } from "../support/kinda.js";
import { hostKernel } from "../../src/net/kernel.js";

const CLI = join(ROOT, "dist", "src", "cli", "main.js");
// a state root that others can reach to begin with (as /var/lib often is): kinda must close it
const stateDir = join(mkdtempSync(join(tmpdir(), "kinda-it-sec-")), "state");
mkdirSync(stateDir, { mode: 0o755 });
chmodSync(join(stateDir, ".."), 0o755);

function spawnKinda(args: string[]) {
  return spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, KINDA_STATE_DIR: stateDir, CI: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function k(...args: string[]): Promise<CliResult> {
  return new Promise((res) => {
    const child = spawnKinda(args);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("close", (code) => res({ code, stdout, stderr }));
  });
}

async function ok(...args: string[]): Promise<string> {
  const r = await k(...args);
  assert.equal(r.code, 0, `kinda ${args.join(" ")} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A lab directory (0700, as a private checkout is) with the given files. */
function lab(files: Record<string, string>, parent = mkdtempSync(join(tmpdir(), "kinda-it-seclab-"))): string {
  const d = join(parent, "lab");
  mkdirSync(d, { mode: 0o700 });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(d, name, ".."), { recursive: true });
    writeFileSync(join(d, name), text);
  }
  return d;
}

/** Runs argv as user nobody; its output and exit code. */
function asNobody(argv: string[]): { code: number | null; out: string } {
  // runuser switches every credential before exec; setpriv keeps root's capabilities until the
  // exec itself, whose path look-up then passes folders nobody could not enter (tried: it can)
  const r = spawnSync("runuser", ["-u", "nobody", "--", ...argv], { encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

let linksBefore: string[];
before(() => {
  ensureTestEnv();
  linksBefore = hostLinks();
});
after(async () => {
  // a failed case must not leave its lab behind
  for (const name of ["t-sec-setuid", "t-sec-shared", "t-sec-private", "t-sec-hang", "t-sec-ctrlc", "t-sec-race", "t-sec-colon", "lab"])
    if ((await containersOf(name)).length) await k("down", name);
  for (const c of await docker.listContainers({ all: true, filters: { label: ["kinda.lab=t-sec-foreign"] } }))
    await docker.getContainer(c.Id).remove({ force: true });
});

describe("no local user gains root or reads private files through kinda", () => {
  it("a setuid file and a 0777 folder in a device folder: staged without setuid or write-for-others, unreachable for nobody", async () => {
    const d = lab({ "lab.conf": 'a[0]="A"\n' });
    mkdirSync(join(d, "a", "usr", "local", "bin"), { recursive: true });
    copyFileSync("/usr/bin/id", join(d, "a", "usr", "local", "bin", "x"));
    chmodSync(join(d, "a", "usr", "local", "bin", "x"), 0o4755);
    mkdirSync(join(d, "a", "open"));
    chmodSync(join(d, "a", "open"), 0o777);
    // what the row saw: a setuid copy of id prints euid=0 for nobody (the check itself works)
    const probe = join(mkdtempSync(join(tmpdir(), "kinda-it-probe-")), "id");
    chmodSync(join(probe, ".."), 0o755);
    copyFileSync("/usr/bin/id", probe);
    chmodSync(probe, 0o4755);
    assert.match(asNobody([probe]).out, /euid=0\(root\)/, "the probe shows what a setuid root file gives nobody");

    const name = "t-sec-setuid";
    await ok("up", d, "--name", name, ...IMAGE_MAP_ARGS);
    try {
      // a Kathara lab's device folder is staged as its /hostlab/a (Kathara's layout, copied over / at start)
      const folder = join(stateDir, "labs", name, "devices", "a", "hostlab", "a");
      const staged = join(folder, "usr", "local", "bin", "x");
      assert.equal(statSync(staged).mode & 0o7777, 0o755, "no setuid bit on the staged copy");
      assert.equal(statSync(join(folder, "open")).mode & 0o777, 0o775);
      assert.equal(statSync(stateDir).mode & 0o777, 0o700, "the state root is root's only");
      const run = asNobody([staged]);
      assert.notEqual(run.code, 0, run.out);
      assert.doesNotMatch(run.out, /euid=0/);
      assert.match(run.out, /Permission denied/);
      // inside the device the copy is not setuid either
      const mode = await ok("exec", "--lab", name, "a", "--", "stat", "-c", "%a", "/usr/local/bin/x");
      assert.equal(mode.trim(), "755");
    } finally {
      await ok("down", name);
    }
    await assertNothingLeft(name, linksBefore);
  });

  it("a setuid file a device writes to /shared does not run as root for nobody", async () => {
    const d = lab({ "lab.conf": 'a[0]="A"\n' });
    const name = "t-sec-shared";
    await ok("up", d, "--name", name, ...IMAGE_MAP_ARGS);
    try {
      await ok("exec", "--lab", name, "a", "--", "sh", "-c", "cp /usr/bin/id /shared/x && chmod 4755 /shared/x");
      const onHost = join(stateDir, "labs", name, "shared", "x");
      assert.equal(statSync(onHost).mode & 0o7777, 0o4755, "the device did write a setuid file");
      const run = asNobody([onHost]);
      assert.doesNotMatch(run.out, /euid=0/);
      assert.match(run.out, /Permission denied/);
    } finally {
      await ok("down", name);
    }
    await assertNothingLeft(name, linksBefore);
  });

  it("a private start-up script stays private when staged, and so does its log", async () => {
    const d = lab({ "lab.conf": 'a[0]="A"\n' });
    writeFileSync(join(d, "a.startup"), "echo the private start-up ran\n", { mode: 0o600 });
    const name = "t-sec-private";
    await ok("up", d, "--name", name, ...IMAGE_MAP_ARGS);
    try {
      const staged = join(stateDir, "labs", name, "devices", "a", "hostlab", "a.startup"); // /hostlab/a.startup, as Kathara
      // private stays private: no bit for group or others (Kathara's /hostlab copy is the owner's to run)
      assert.equal(statSync(staged).mode & 0o077, 0, `staged mode ${(statSync(staged).mode & 0o777).toString(8)}`);
      const log = join(stateDir, "labs", name, "logs", "a.startup.log");
      assert.equal(statSync(log).mode & 0o777, 0o600);
      assert.match(readFileSync(log, "utf8"), /the private start-up ran/);
      assert.notEqual(asNobody(["cat", log]).code, 0);
    } finally {
      await ok("down", name);
    }
  });

  it("symbolic links out of the lab (device folder, start-up, shared/) are refused at parse; nothing is created", async () => {
    const priv = mkdtempSync(join(tmpdir(), "kinda-it-private-"));
    writeFileSync(join(priv, "secret"), "private text\n", { mode: 0o600 });
    const d = lab({ "lab.conf": 'a[0]="A"\nb[0]="A"\n' });
    symlinkSync(priv, join(d, "a"));
    symlinkSync(join(priv, "secret"), join(d, "b.startup"));
    symlinkSync(priv, join(d, "shared"));
    const name = "t-sec-symlink";
    for (const extra of [["--dry-run"], []]) {
      const r = await k("up", d, "--name", name, ...IMAGE_MAP_ARGS, ...extra);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`${d}/lab\\.conf:1: device a: a is a symbolic link to ${priv}, outside the lab directory`));
      assert.match(r.stderr, new RegExp(`${d}/lab\\.conf:2: device b: b\\.startup is a symbolic link to`));
      assert.match(r.stderr, /shared is a symbolic link to/);
      assert.doesNotMatch(r.stderr, /private text|\n\s+at /);
    }
    assert.equal((await containersOf(name)).length, 0);
  });
});

describe("one lab's command never removes another", () => {
  it("down PATH of a directory never deployed removes nothing", async () => {
    const p1 = lab({ "lab.conf": 'a[0]="A"\n' });
    const p2 = lab({ "lab.conf": 'a[0]="A"\n' });
    await ok("up", p1, ...IMAGE_MAP_ARGS); // named "lab" after its folder, like p2 would be
    try {
      const r = await k("down", p2);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`no lab on this machine was deployed from ${p2}`));
      assert.equal((await containersOf("lab")).length, 1, "p1's lab is still there");
      await ok("down", p1);
    } finally {
      await k("down", "lab");
    }
    await assertNothingLeft("lab", linksBefore);
  });

  it("a foreign container labelled kinda.lab=../x does not break kinda status", async () => {
    const d = lab({ "lab.conf": 'a[0]="A"\n' });
    const name = "t-sec-foreign";
    await ok("up", d, "--name", name, ...IMAGE_MAP_ARGS);
    const c = await docker.createContainer({
      Image: BASE_IMAGE,
      name: "kinda-it-foreign",
      Labels: { "kinda.lab": "../x", "kinda.managed-by": "kinda" },
    });
    try {
      const out = await ok("status");
      assert.match(out, new RegExp(`lab ${name}: up`));
      assert.doesNotMatch(out, /\.\.\/x/);
    } finally {
      await c.remove({ force: true });
      await ok("down", name);
    }
  });
});

describe("start-up scripts cannot hold kinda", () => {
  it("one that never ends is stopped at its timeout; one that floods output has it capped in its log; the lab stays up", async () => {
    const d = lab({
      "lab.conf": [
        'a[0]="A"',
        'a[exec]="sleep 100000"',
        'a[startup_timeout]="3"',
        'b[0]="A"',
        'b[exec]="yes"',
        'b[startup_timeout]="6"',
      ].join("\n"),
    });
    const name = "t-sec-hang";
    const r = await k("up", d, "--name", name, ...IMAGE_MAP_ARGS);
    try {
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stdout, /start-up FAILED on a at exec-0 \(stopped after 3 s, its start-up timeout\)/);
      assert.match(r.stdout, /start-up FAILED on b at exec-0 \(stopped after 6 s, its start-up timeout\)/);
      const logB = join(stateDir, "labs", name, "logs", "b.startup.log");
      const size = statSync(logB).size;
      assert.ok(size <= 16 * 1024 * 1024 + 4096, `log of b is capped (${size} bytes)`);
      assert.match(readFileSync(logB, "utf8").slice(-400), /more bytes of output were dropped|exec-0: stopped/);
      const ps = await ok("exec", "--lab", name, "a", "--", "sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null | grep -c '^sleep$' || true");
      assert.equal(ps.trim(), "0", "the endless start-up was killed, with its child");
    } finally {
      await ok("down", name);
    }
    await assertNothingLeft(name, linksBefore);
  });

  it("Ctrl+C during a start-up that never ends stops it and rolls back at once", async () => {
    const d = lab({ "lab.conf": 'a[0]="A"\na[exec]="sleep 100000"\n' });
    const name = "t-sec-ctrlc";
    const child = spawnKinda(["up", d, "--name", name, ...IMAGE_MAP_ARGS]);
    let err = "";
    child.stdout.resume();
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const closed = new Promise((r) => child.on("close", r));
    await eventually("the start-up runs", 120, async () => /starting 1 devices/.test(err) && (await containersOf(name)).length === 1);
    await new Promise((r) => setTimeout(r, 2000));
    child.kill("SIGINT");
    const code = await closed;
    assert.notEqual(code, 0);
    assert.match(err, /interrupted: stopping and removing what was created/);
    await assertNothingLeft(name, linksBefore);
    assert.equal(JSON.stringify(spawnSync("ls", [join(stateDir, "labs")], { encoding: "utf8" }).stdout).includes(name), false);
  });

  it("down during up: up does not report the lab as up", async () => {
    const d = lab({ "lab.conf": 'a[0]="A"\na[exec]="sleep 8"\n' });
    const name = "t-sec-race";
    const child = spawnKinda(["up", d, "--name", name, ...IMAGE_MAP_ARGS]);
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const closed = new Promise((r) => child.on("close", r));
    await eventually("the container exists", 120, async () => (await containersOf(name)).length === 1);
    await ok("down", name);
    const code = await closed;
    assert.notEqual(code, 0, out);
    assert.doesNotMatch(out, /is up/);
    assert.match(err, /was removed while this process was working on it/);
    await assertNothingLeft(name, linksBefore);
  });
});

describe("the iptables undo reads rules as data", () => {
  it("removes kinda's rules by position; a rule whose comment smuggles options stays and adds none", async () => {
    const ns = "kinda-it-i11-rules";
    const inNs = (...argv: string[]) => spawnSync("ip", ["netns", "exec", ns, ...argv], { encoding: "utf8" });
    spawnSync("ip", ["netns", "add", ns]);
    try {
      const add = (table: string, chain: string, src: string, comment: string) =>
        assert.equal(
          inNs("iptables", "-t", table, "-A", chain, "-s", src, "-m", "comment", "--comment", comment, "-j", "ACCEPT").status,
          0,
        );
      add("nat", "POSTROUTING", "10.9.1.0/24", "kinda:t-sec-ipt");
      add("nat", "POSTROUTING", "10.9.2.0/24", 'kinda:t-sec-ipt" --modprobe=/nonexistent/evil -A "x');
      add("nat", "POSTROUTING", "10.9.3.0/24", "kinda:t-sec-ipt");
      add("filter", "FORWARD", "10.9.4.0/24", "kinda:t-sec-ipt");
      add("filter", "FORWARD", "10.9.5.0/24", "someone-else");
      const removed = await removeRules({ name: ns }, "t-sec-ipt", hostKernel);
      assert.equal(removed, 3);
      const left = inNs("iptables-save")
        .stdout.split("\n")
        .filter((l) => l.startsWith("-A"));
      assert.equal(left.length, 2, left.join("\n"));
      assert.ok(left.some((l) => l.includes("10.9.2.0/24") && l.includes("--modprobe")));
      assert.ok(left.some((l) => l.includes("someone-else")));
    } finally {
      spawnSync("ip", ["netns", "delete", ns]);
    }
  });
});

describe("user errors are refused before anything is created, with their place", () => {
  it("ulimit, sysctl and a start-up timeout that cannot work: file:line, no stack, nothing created", async () => {
    const d = lab({ "lab.conf": 'a[0]="A"\na[ulimit]="nofile=10:5"\na[sysctl]="net.no.such.key=1"\n' });
    const name = "t-sec-bad";
    const r = await k("up", d, "--name", name, ...IMAGE_MAP_ARGS);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /lab\.conf:2: device a \[ulimit\]: ulimit nofile: the soft limit 10 is above the hard limit 5/);
    assert.match(r.stderr, /lab\.conf:3: device a \[sysctl\]: this kernel has no sysctl net\.no\.such\.key/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    await assertNothingLeft(name, linksBefore);
  });

  it("a lab directory whose path holds ':' deploys (mounts are structured, not 'host:guest' strings)", async () => {
    const parent = join(mkdtempSync(join(tmpdir(), "kinda-it-colon-")), "a:b");
    mkdirSync(parent);
    const d = lab({ "lab.conf": 'a[0]="A"\n', "shared/hello": "hi\n" }, parent);
    const name = "t-sec-colon";
    await ok("up", d, "--name", name, ...IMAGE_MAP_ARGS);
    try {
      assert.equal((await ok("exec", "--lab", name, "a", "--", "cat", "/shared/hello")).trim(), "hi");
    } finally {
      await ok("down", name);
    }
  });

  it("a staged path too long for Linux: refused with the device and path, no state left, the next up works", async () => {
    const d = lab({ "lab.conf": 'a[0]="A"\n' });
    let p = join(d, "a");
    const budget = 4095 - join(stateDir, "labs", "t-sec-long", "devices", "a", "root").length + join(d, "a").length;
    while (p.length + 201 < budget) p = join(p, "x".repeat(200));
    p = join(p, "y".repeat(Math.max(1, budget - p.length + 10)).slice(0, 200));
    mkdirSync(p, { recursive: true });
    writeFileSync(join(p, "f"), "x");
    const name = "t-sec-long";
    const r = await k("up", d, "--name", name, ...IMAGE_MAP_ARGS);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /device a: path too long to stage/);
    assert.doesNotMatch(r.stderr, /ENAMETOOLONG|\n\s+at /);
    await assertNothingLeft(name, linksBefore);
    const again = await k("up", d, "--name", name, ...IMAGE_MAP_ARGS);
    assert.doesNotMatch(again.stderr, /already exists/);
  });
});
