/**
 * Running as root safely (issue 11), the parts that need no root: what a lab directory may point
 * at, what is refused up front with its place, how the state is written, how a path names a lab.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { dryRun, graphFor, resolveLabName, status } from "../../../src/app/api.js";
import { TopologyError } from "../../../src/core/errors.js";
import { findCycle, loadKatharaLab, parseLabConf, parseLabDep, sysctlExists } from "../../../src/topology/kathara.js";
import { parseTopologyYaml } from "../../../src/topology/yaml.js";
import { compileSpec } from "../../../src/topology/compile.js";
import { numberSteps, planLab, startWaves, type StartupStep } from "../../../src/plan/lab.js";
import type { ContainerInfo, Runtime } from "../../../src/model/container.js";
import { StateStore, type LabState } from "../../../src/state/store.js";
import { deleteArgv, rulesWithComment, saveWords } from "../../../src/net/iptables.js";
import { ROOT } from "../../support/env.js";
import { labState } from "../../support/state.js";

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `kinda-safety-${prefix}-`));
}

function lab(files: Record<string, string>): string {
  const d = join(tmp("lab"), "lab");
  mkdirSync(d);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(d, name, ".."), { recursive: true });
    writeFileSync(join(d, name), text);
  }
  return d;
}

function issuesOf(f: () => unknown): TopologyError["issues"] {
  try {
    f();
  } catch (e) {
    if (e instanceof TopologyError) return e.issues;
    throw e;
  }
  assert.fail("expected a TopologyError");
}

function state(name: string, source?: string): LabState {
  return labState(name, { phase: "up", ...(source ? { source } : {}) });
}

describe("symbolic links in a lab directory", () => {
  const outside = tmp("private");
  writeFileSync(join(outside, "secret"), "the private text\n", { mode: 0o600 });

  it("a device folder, a start-up file and shared/ leading outside are refused at parse, with file and line", () => {
    const d = lab({ "lab.conf": '# a lab\na[0]="A"\nb[0]="A"\n' });
    symlinkSync(outside, join(d, "a"));
    symlinkSync(join(outside, "secret"), join(d, "b.startup"));
    symlinkSync(outside, join(d, "shared"));
    const issues = issuesOf(() => loadKatharaLab(d));
    const byWhat = (re: RegExp) => issues.find((i) => re.test(i.message));
    const folder = byWhat(/^a is a symbolic link to/);
    assert.deepEqual([folder?.file, folder?.line, folder?.device], [join(d, "lab.conf"), 2, "a"]);
    const startup = byWhat(/^b\.startup is a symbolic link to/);
    assert.deepEqual([startup?.file, startup?.line, startup?.device], [join(d, "lab.conf"), 3, "b"]);
    assert.ok(byWhat(/^shared is a symbolic link to .* outside the lab directory/), JSON.stringify(issues));
    assert.ok(!issues.some((i) => i.message.includes("the private text")), "nothing of the private file is shown");
  });

  it("lab.conf and lab.dep leading outside are refused before they are read", () => {
    const d = lab({});
    writeFileSync(join(outside, "lab.conf"), 'a[0]="A"\n');
    symlinkSync(join(outside, "lab.conf"), join(d, "lab.conf"));
    const issues = issuesOf(() => loadKatharaLab(d));
    assert.equal(issues.length, 1);
    assert.match(issues[0]!.message, /^lab\.conf is a symbolic link to .* outside the lab directory/);
  });

  it("links that stay inside the lab are followed; dry-run shows the real paths and every bind mount", async () => {
    const d = lab({ "lab.conf": 'a[0]="A"\na[volume]="data|/data|ro"\n', "common/etc/x": "x\n", "real-shared/f": "f\n", "data/y": "y" });
    symlinkSync("common", join(d, "a"));
    symlinkSync("real-shared", join(d, "shared"));
    const l = loadKatharaLab(d);
    assert.equal(l.devices[0]!.folder, join(d, "common"));
    assert.equal(l.sharedFolder, join(d, "real-shared"));
    const text = await dryRun(d, { store: new StateStore("/state") });
    assert.match(text, new RegExp(`bind ${join(d, "real-shared")} at /shared \\(read-write\\)`));
    assert.match(text, /bind \/state\/labs\/lab\/devices\/a at \/var\/lib\/kinda \(read-only\)/);
    assert.match(text, new RegExp(`bind ${join(d, "data")} at /data \\(read-only\\)`));
    assert.match(text, new RegExp(`copy ${join(d, "common")}/ over /`));
  });

  it("a lab directory whose path holds ':' plans structured mounts (no Docker bind string to cut)", () => {
    const d = join(tmp("colon"), "a:b");
    mkdirSync(join(d, "shared"), { recursive: true });
    writeFileSync(join(d, "lab.conf"), 'a[0]="A"\n');
    const p = planLab(loadKatharaLab(d), { name: "colon", sharedDir: "/s", stageRoot: "/st" });
    assert.deepEqual(p.devices[0]!.mounts[0], { source: join(d, "shared"), target: "/shared", readOnly: false });
  });
});

describe("user errors refused before anything is created, with their place", () => {
  const cases: [string, string, RegExp][] = [
    ["a soft ulimit above the hard one", 'a[0]="A"\na[ulimit]="nofile=10:5"\n', /the soft limit 10 is above the hard limit 5/],
    ["an unknown ulimit", 'a[0]="A"\na[ulimit]="bogus=1"\n', /ulimit bogus is not a resource limit/],
    ["a sysctl this kernel lacks", 'a[0]="A"\na[sysctl]="net.no.such.key=1"\n', /this kernel has no sysctl net\.no\.such\.key/],
    ["a malformed sysctl name", 'a[0]="A"\na[sysctl]="net..x=1"\n', /sysctl name "net\.\.x" is not of the form/],
    ["a start-up timeout that is not a number", 'a[0]="A"\na[startup_timeout]="soon"\n', /startup_timeout "soon" is not a positive number/],
  ];
  for (const [what, conf, re] of cases) {
    it(`lab.conf: ${what}`, () => {
      const d = lab({ "lab.conf": conf });
      const issues = issuesOf(() => loadKatharaLab(d));
      assert.equal(issues.length, 1, JSON.stringify(issues));
      assert.match(issues[0]!.message, re);
      assert.deepEqual([issues[0]!.file, issues[0]!.line, issues[0]!.device], [join(d, "lab.conf"), 2, "a"]);
    });
  }

  it("per-interface sysctls are checked against the kernel's defaults (the interface does not exist yet)", () => {
    assert.equal(sysctlExists("net.ipv4.conf.eth1.rp_filter"), existsSync("/proc/sys/net/ipv4/conf/default/rp_filter"));
    assert.equal(sysctlExists("net.ipv4.no_such_thing"), false);
  });

  it("a start-up timeout is read per device", () => {
    const p = parseLabConf('a[0]="A"\na[startup_timeout]="2.5"\n');
    assert.deepEqual(p.issues, []);
    const plan = planLab({ metadata: {}, devices: p.devices, warnings: [] }, { name: "t", sharedDir: "/s", stageRoot: "/st" });
    assert.equal(plan.devices[0]!.startupTimeoutMs, 2500);
  });

  it("YAML: tc values that are not tc words are refused at their line and column", () => {
    const text = [
      "name: t",
      "devices:",
      "  - { name: r1, kind: router }",
      "  - { name: w1, kind: worker }",
      "links:",
      "  - endpoints: [r1, w1]",
      "    addresses: [10.0.1.1/24, 10.0.1.2/24]",
      "    tc: { rate: 10mbit, burst: '1k; qdisc del dev eth0 root', latency: 50ms }",
    ].join("\n");
    const issues = issuesOf(() => parseTopologyYaml(text, "t.yaml"));
    assert.equal(issues.length, 1, JSON.stringify(issues));
    assert.deepEqual([issues[0]!.file, issues[0]!.line], ["t.yaml", 8]);
    assert.match(issues[0]!.message, /links\.0\.tc\.burst: must match pattern/);
  });

  it("the TypeScript API checks tc values too (no schema there)", () => {
    const issues = issuesOf(() =>
      compileSpec({
        name: "t",
        devices: [
          { name: "r1", kind: "router" },
          { name: "w1", kind: "worker" },
        ],
        links: [{ endpoints: ["r1", "w1"], addresses: ["10.0.1.1/24", "10.0.1.2/24"], tc: { rate: "10mbit", burst: "1k; x" } }],
      }),
    );
    assert.ok(
      issues.some((i) => /burst "1k; x" is not a tc size/.test(i.message) && i.field === "links.0.tc.burst"),
      JSON.stringify(issues),
    );
  });

  it("--parallelism 0.5 is refused by the command line with no stack", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "up", ROOT, "--parallelism", "0.5"], {
      encoding: "utf8",
      cwd: ROOT,
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--parallelism <n>' argument '0\.5' is invalid\. expected a whole number of 1 or more/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
  });

  it("an unexpected error shows no stack unless KINDA_DEBUG=1", () => {
    const d = tmp("unreadable");
    // a lab directory that is a file inside a file: ENOTDIR, which kinda does not anticipate
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "status"], {
        encoding: "utf8",
        cwd: ROOT,
        env: { ...process.env, KINDA_STATE_DIR: join(d, "file"), DOCKER_HOST: "unix:///nonexistent.sock", ...env },
      });
    writeFileSync(join(d, "file"), "");
    writeFileSync(join(d, "labs"), "");
    const plain = run({});
    assert.notEqual(plain.status, 0);
    assert.doesNotMatch(plain.stderr, /\n\s+at /);
    const debug = run({ KINDA_DEBUG: "1" });
    assert.match(debug.stderr, /\n\s+at /);
  });
});

describe("the state store", () => {
  it("makes its root and every lab folder private to root (0700), logs 0600, and writes without temp files left", () => {
    const root = join(tmp("store"), "kinda");
    const store = new StateStore(root);
    store.claim(state("l1"));
    assert.equal(statSync(root).mode & 0o777, 0o700);
    assert.equal(statSync(join(root, "labs")).mode & 0o777, 0o700);
    assert.equal(statSync(store.labDir("l1")).mode & 0o777, 0o700);
    assert.equal(statSync(join(store.labDir("l1"), "state.json")).mode & 0o777, 0o600);
    const log = store.writeLog("l1", "a", "output\n");
    assert.equal(statSync(log).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(store.labDir("l1")).sort(), ["logs", "state.json"]);
  });

  it("tightens an existing root that others could reach", () => {
    const root = tmp("loose");
    mkdirSync(join(root, "labs"), { mode: 0o755 });
    new StateStore(root).claim(state("l2"));
    assert.equal(statSync(root).mode & 0o777, 0o700);
  });

  it("update() refuses to bring back a lab that `down` removed meanwhile", () => {
    const store = new StateStore(tmp("update"));
    const s = state("l3");
    store.claim(s);
    s.phase = "up";
    store.update(s);
    store.remove("l3");
    assert.throws(() => store.update(s), /lab l3 was removed while this process was working on it/);
    assert.equal(store.read("l3"), undefined);
    store.claim(state("l3")); // another process's lab of the same name
    assert.throws(() => store.update(s), /was removed/);
  });
});

describe("which lab a command means", () => {
  it("down PATH matches only a lab whose recorded source is that path", () => {
    const store = new StateStore(tmp("resolve"));
    const p1 = join(tmp("p1"), "lab");
    const p2 = join(tmp("p2"), "lab");
    mkdirSync(p1);
    mkdirSync(p2);
    store.write(state("lab", p1));
    assert.equal(resolveLabName(p1, store), "lab");
    assert.throws(() => resolveLabName(p2, store), /no lab on this machine was deployed from .*p2.*\/lab/);
    assert.equal(resolveLabName("lab", store), "lab");
  });

  it("a foreign container labelled kinda.lab=../x does not break status", async () => {
    const store = new StateStore(tmp("status"));
    store.write(state("good"));
    const foreign: ContainerInfo = {
      id: "1",
      name: "x",
      labels: { "kinda.lab": "../x", "kinda.managed-by": "kinda" },
      running: true,
      pid: 0,
      image: "i",
    };
    const runtime = { list: async () => [foreign] } as unknown as Runtime;
    const labs = await status(undefined, { runtime, store });
    assert.deepEqual(
      labs.map((l) => l.name),
      ["good"],
    );
  });

  it('a .ts topology outside a "type": "module" package is read (CommonJS default export)', async () => {
    const d = tmp("cjs"); // no package.json up to /: tsx loads the file as CommonJS
    writeFileSync(join(d, "topo.ts"), 'export default { name: "cjs1", devices: [{ name: "r1", kind: "router" as const }], links: [] };\n');
    assert.match(await dryRun(join(d, "topo.ts"), { store: new StateStore(tmp("cjs-state")) }), /^lab cjs1$/m);
  });

  it("kinda graph takes a YAML path", async () => {
    const g = await graphFor(join(ROOT, "examples", "tree.yaml"), new StateStore(tmp("graph")));
    assert.ok(g.nodes.some((n) => n.id === "gateway"));
  });
});

describe("iptables rules are removed by position, read as data", () => {
  // what iptables 1.8.9 saved for a rule a device wrote to smuggle options in, and one of kinda's
  const save = [
    "*nat",
    ":POSTROUTING ACCEPT [0:0]",
    '-A POSTROUTING -s 10.9.9.0/24 -m comment --comment "kinda:x\\" --modprobe=/tmp/evil -A \\"y" -j ACCEPT',
    '-A POSTROUTING -s 10.9.8.0/24 -m comment --comment "kinda:x" -j ACCEPT',
    '-A POSTROUTING -s 10.9.7.0/24 -m comment --comment "kinda:x" -j MASQUERADE',
    "COMMIT",
    "*filter",
    '-A FORWARD -m comment --comment "kinda:x" -j ACCEPT',
    "COMMIT",
  ].join("\n");

  it("a quoted comment is one word, escapes and all", () => {
    assert.deepEqual(saveWords('-A P -m comment --comment "a\\" --modprobe=/x \\"b" -j ACCEPT'), [
      "-A",
      "P",
      "-m",
      "comment",
      "--comment",
      'a" --modprobe=/x "b',
      "-j",
      "ACCEPT",
    ]);
  });

  it("only rules with exactly kinda's comment, last first per chain, deleted by number: no saved word reaches iptables", () => {
    const rules = rulesWithComment(save, "kinda:x");
    assert.deepEqual(rules, [
      { table: "filter", chain: "FORWARD", number: 1 },
      { table: "nat", chain: "POSTROUTING", number: 3 },
      { table: "nat", chain: "POSTROUTING", number: 2 },
    ]);
    assert.deepEqual(deleteArgv(rules[1]!), ["--wait", "-t", "nat", "-D", "POSTROUTING", "3"]);
  });
});

describe("internet uplinks", () => {
  it("are allocated collision-free, recorded, the same for the same lab, and freed with the lab", () => {
    const store = new StateStore(tmp("uplink"));
    for (const n of ["a", "b"]) store.claim(state(n));
    const a = store.claimUplink("a");
    const b = store.claimUplink("b");
    assert.notEqual(a, b);
    assert.match(a, /^100\.127\.\d+\.\d+\/30$/);
    assert.equal(store.claimUplink("a"), a);
    store.remove("a");
    store.claim(state("c"));
    assert.equal(store.claimUplink("c"), a, "a's range is free again");
  });

  it("take back a slot whose lab is gone without a down", () => {
    const root = tmp("uplink-stale");
    const store = new StateStore(root);
    store.claim(state("a"));
    const a = store.claimUplink("a");
    rmSync(store.labDir("a"), { recursive: true }); // the state vanished, the slot file stayed
    store.claim(state("b"));
    assert.equal(store.claimUplink("b"), a);
  });
});

describe("plans of any size", () => {
  it("a lab.dep chain of 20,000 links plans in waves, one device each, without deep recursion", () => {
    const n = 20_000;
    const conf = Array.from({ length: n }, (_, i) => `d${i}[0]="A"`).join("\n");
    const dep = Array.from({ length: n - 1 }, (_, i) => `d${i + 1}: d${i}`).join("\n");
    const p = parseLabConf(conf);
    assert.deepEqual(parseLabDep(dep, p.devices), []);
    assert.equal(findCycle(p.devices), undefined);
    const waves = startWaves(p.devices);
    assert.equal(waves.length, n);
    assert.deepEqual(waves[n - 1], [`d${n - 1}`]);
  });

  it("a loop is still found, and named", () => {
    assert.throws(
      () =>
        startWaves([
          { name: "a", dependsOn: ["b"] },
          { name: "b", dependsOn: ["a"] },
          { name: "c", dependsOn: [] },
        ]),
      /dependency loop among a, b/,
    );
  });

  it("step files sort in run order past 999", () => {
    const steps: StartupStep[] = Array.from({ length: 1200 }, (_, i) => ({ label: `exec-${i}`, file: "", from: { text: "" } }));
    numberSteps(steps);
    const sorted = [...steps.map((s) => s.file)].sort();
    assert.deepEqual(
      sorted,
      steps.map((s) => s.file),
    );
    assert.equal(steps[0]!.file, "0000-exec-0");
    const few: StartupStep[] = [{ label: "a", file: "", from: { text: "" } }];
    numberSteps(few);
    assert.equal(few[0]!.file, "000-a");
  });
});
