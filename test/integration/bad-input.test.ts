/** Bad input: a clear error naming the file and line (or device and field), and nothing created. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { IMAGE_MAP_ARGS, ROOT, ensureTestEnv, fixtureLab } from "../support/env.js";
import { HOST_PROGRAMS } from "../../src/core/host.js";
import { pathWithout as pathWithoutProgram } from "../support/path.js";
import { assertNothingLeft, containersOf, copyLab, hostLinks, kinda, kindaOk, kindaWith } from "../support/kinda.js";

let linksBefore: string[];
before(() => {
  ensureTestEnv();
  linksBefore = hostLinks();
});

async function rejected(name: string, dir: string, pattern: RegExp, extra: string[] = IMAGE_MAP_ARGS): Promise<void> {
  const r = await kinda("up", dir, "--name", name, ...extra);
  assert.notEqual(r.code, 0, `kinda up should fail:\n${r.stdout}`);
  assert.match(r.stderr, pattern);
  await assertNothingLeft(name, linksBefore);
}

describe("bad input creates nothing", { concurrency: true }, () => {
  it("a lab.conf syntax error names file and line", async () => {
    const d = copyLab(fixtureLab("features"));
    appendFileSync(join(d, "lab.conf"), "\nthis line is not lab.conf\n");
    const lines = execFileSync("wc", ["-l", join(d, "lab.conf")], { encoding: "utf8" });
    const n = Number(lines.trim().split(" ")[0]);
    await rejected("t-bad-syntax", d, new RegExp(`lab\\.conf:${n}: syntax error`));
  });

  it("an interface given twice names the line and the device", async () => {
    const d = copyLab(fixtureLab("features"));
    appendFileSync(join(d, "lab.conf"), '\npc1[0]="B"\n');
    await rejected("t-bad-iface", d, /lab\.conf:\d+: device pc1 \[eth0\]: interface eth0 of pc1 is given twice/);
  });

  it("a lab.dep naming an unknown device names lab.dep and its line", async () => {
    const d = copyLab(fixtureLab("features"));
    writeFileSync(join(d, "lab.dep"), "# deps\nr1: pc1\npc2: r9\n");
    await rejected("t-bad-dep", d, /lab\.dep:3: "r9" is not a device of this lab/);
  });

  it("an image that is not present names the device and field", async () => {
    const d = copyLab(fixtureLab("features"));
    await rejected(
      "t-bad-image",
      d,
      /device pc1 \[image\]: image kinda-test\/absent:1 \(mapped from kathara\/base\) is not present locally/,
      ["--image-map", "kathara/base=kinda-test/absent:1"],
    );
  });

  it("a device folder that cannot be copied names the file", async () => {
    const d = copyLab(fixtureLab("features"));
    execFileSync("mkfifo", [join(d, "r1", "etc", "a-fifo")]);
    await rejected("t-bad-folder", d, /r1\/etc\/a-fifo: device r1: cannot be copied into the device/);
  });
});

describe("a failing start-up script", () => {
  it("is reported per device with its output; the lab stays up", async () => {
    const d = copyLab(fixtureLab("features"));
    appendFileSync(join(d, "pc2.startup"), "\necho about to fail\nexit 7\n");
    const name = "t-bad-startup";
    const r = await kinda("up", d, "--name", name, ...IMAGE_MAP_ARGS);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /start-up FAILED on pc2 at pc2\.startup \(exit 7\)/);
    const st = JSON.parse(await kindaOk("status", name, "--json")) as {
      devices: { name: string; running: boolean; startup: string; startupLog?: string }[];
    }[];
    const devs = st[0]!.devices;
    assert.ok(
      devs.every((x) => x.running),
      "all devices still run",
    );
    assert.equal(devs.find((x) => x.name === "pc2")?.startup, "failed at pc2.startup (exit 7)");
    assert.equal(devs.find((x) => x.name === "pc1")?.startup, "ok");
    const log = execFileSync("cat", [devs.find((x) => x.name === "pc2")!.startupLog!], { encoding: "utf8" });
    assert.match(log, /about to fail/);
    assert.equal((await containersOf(name)).length, 5, "the lab stays up");
    await kindaOk("down", name);
    await assertNothingLeft(name, linksBefore);
  });
});

/** A PATH with every program kinda and its tests run, except `without`. */
const pathWithout = (without: string) => pathWithoutProgram(without, [...HOST_PROGRAMS.map((p) => p.name), "kind", "kubectl"]);

describe("a host program that is missing (ethtool)", () => {
  it("stops up of a topology with nodes before anything is created, naming it and its package; a lab without nodes deploys", async () => {
    const PATH = pathWithout("ethtool");
    const name = "t-no-ethtool";
    const r = await kindaWith({ PATH }, "up", join(ROOT, "examples", "two-routers-static.yaml"), "--name", name, ...IMAGE_MAP_ARGS);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /host programs that kinda runs are missing \(nothing was created\)/);
    assert.match(r.stderr, /- ethtool \(Debian package ethtool\): checksum offload/);
    assert.match(r.stderr, /hint: apt-get install ethtool/);
    await assertNothingLeft(name, linksBefore);
    // a lab without Kubernetes nodes does not run ethtool, so it is not refused
    await kindaWith({ PATH }, "up", join(ROOT, "examples", "labs", "two-routers"), "--name", name, ...IMAGE_MAP_ARGS).then((u) =>
      assert.equal(u.code, 0, u.stderr),
    );
    await kindaOk("down", name);
    await assertNothingLeft(name, linksBefore);
  });

  it("kinda doctor lists it as missing with its package and fails", async () => {
    const r = await kindaWith({ PATH: pathWithout("ethtool") }, "doctor", "--json");
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      checks: { group: string; name: string; status: string; debianPackage?: string }[];
    };
    assert.equal(report.ok, false);
    const ethtool = report.checks.find((c) => c.group === "program" && c.name === "ethtool");
    assert.deepEqual([ethtool?.status, ethtool?.debianPackage], ["fail", "ethtool"]);
    assert.equal(report.checks.find((c) => c.name === "ip")?.status, "ok");
    for (const f of ["veth", "bridge", "vxlan", "gre", "tbf", "htb", "netem", "openvswitch"])
      assert.ok(
        report.checks.some((c) => c.group === "kernel" && c.name === f),
        `kernel feature ${f} reported`,
      );
    assert.equal(report.checks.find((c) => c.name === "veth")?.status, "ok", "veth really created");
    const text = await kindaWith({ PATH: pathWithout("ethtool") }, "doctor");
    assert.match(text.stdout, /missing host programs: apt-get install ethtool/);
  });
});
