import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { formatIssue, TopologyError } from "../../../src/core/errors.js";
import { loadKatharaLab, parseLabConf, parseLabDep, parseMemory, parsePort, shellSplit } from "../../../src/topology/kathara.js";
import { ROOT, fixtureLab } from "../../support/env.js";

function labDir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), "kinda-unit-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(d, name, ".."), { recursive: true });
    writeFileSync(join(d, name), text);
  }
  return d;
}

function issuesOf(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof TopologyError) return e.message.split("\n").slice(1);
    throw e;
  }
  assert.fail("expected a TopologyError");
}

describe("lab.conf parser", () => {
  it("reads the project's labs as they are", () => {
    const expect: Record<string, { devices: number; domains: number }> = {
      [fixtureLab("features")]: { devices: 5, domains: 3 },
      [fixtureLab("slow-deploy")]: { devices: 8, domains: 1 },
      [join(ROOT, "examples", "labs", "two-routers")]: { devices: 4, domains: 3 },
      [join(ROOT, "examples", "labs", "cluster-net")]: { devices: 2, domains: 1 },
    };
    for (const [dir, e] of Object.entries(expect)) {
      const lab = loadKatharaLab(dir);
      assert.equal(lab.devices.length, e.devices, dir);
      const domains = new Set(lab.devices.flatMap((d) => d.interfaces.map((i) => i.domain)));
      assert.equal(domains.size, e.domains, dir);
      for (const d of lab.devices) d.interfaces.forEach((i, pos) => assert.equal(i.index, pos, `${dir} ${d.name} interfaces in order`));
    }
  });

  it("keeps MACs, images, booleans in any case, sysctls, folders, start-ups, lab.dep and metadata", () => {
    const lab = loadKatharaLab(fixtureLab("features"));
    const dev = (n: string) => lab.devices.find((d) => d.name === n)!;
    assert.equal(dev("pc1").interfaces[0]?.mac, "02:00:00:00:01:01");
    assert.equal(dev("r1").interfaces[1]?.mac, "02:00:00:00:00:b1");
    assert.equal(dev("r1").interfaces[0]?.mac, undefined);
    assert.equal(dev("pc1").ipv6, false, 'ipv6="False"');
    assert.equal(dev("r1").ipv6, true, 'ipv6="TRUE"');
    assert.equal(dev("pc1").image, "kathara/base");
    assert.ok(dev("pc2").startup?.endsWith("pc2.startup"));
    assert.equal(dev("r1").sysctls["net.ipv4.fib_multipath_hash_policy"], "1");
    assert.ok(dev("r1").folder?.endsWith("r1"));
    assert.equal(dev("r2").folder, undefined);
    assert.deepEqual(dev("pc3").dependsOn, ["r1"]);
    assert.equal(lab.metadata["LAB_VERSION"], "1.0");
  });

  it("reports a syntax error with file and line", () => {
    const r = parseLabConf('a[0]="A"\n\nthis is not valid\n', "/x/lab.conf");
    assert.equal(r.issues.length, 1);
    assert.equal(r.issues[0]?.line, 3);
    assert.equal(r.issues[0]?.file, "/x/lab.conf");
    assert.match(r.issues[0]!.message, /syntax error/);
  });

  it("rejects an interface given twice, naming both lines", () => {
    const r = parseLabConf('pc1[0]="A"\npc1[1]="B"\npc1[0]="C"\n');
    assert.equal(r.issues.length, 1);
    assert.equal(r.issues[0]?.line, 3);
    assert.match(r.issues[0]!.message, /eth0 of pc1 is given twice \(first at line 1\)/);
  });

  it("rejects gaps, bad MACs, dotted domains, reserved and upper-case names, empty values", () => {
    const r = parseLabConf(
      ['a[0]="A"', 'a[2]="B"', 'b[0]="A/00:11"', 'c[0]="A.B"', 'shared[0]="A"', 'Pc[0]="A"', 'd[image]=""', 'e[0]="A"', 'e[1]="A"'].join(
        "\n",
      ),
    );
    const msgs = r.issues.map((i) => `${i.line}: ${i.message}`).join("\n");
    assert.match(msgs, /eth1 of a is missing/);
    assert.match(msgs, /^3: MAC address/m);
    assert.match(msgs, /^4: collision domain name "A.B"/m);
    assert.match(msgs, /^5: "shared" is reserved/m);
    assert.match(msgs, /^6: invalid device name "Pc"/m);
    assert.match(msgs, /^7: empty value/m);
    assert.match(msgs, /^9: e is attached to collision domain A twice/m);
  });

  it("rejects collision domain names Linux cannot take (over 127 characters, lo), at file:line", () => {
    const long = "d".repeat(128);
    const r = parseLabConf([`a[0]="${"d".repeat(127)}"`, `a[1]="${long}"`, 'b[0]="lo"', 'c[0]="LO"'].join("\n"), "/l/lab.conf");
    assert.deepEqual(r.issues.map(formatIssue), [
      "/l/lab.conf:2: device a [eth1]: collision domain name dddddddddddddddd... is 128 characters long; at most 127 (it names a Linux interface)",
      '/l/lab.conf:3: device b [eth0]: collision domain name "lo" is reserved (the loopback interface); pick another name',
    ]);
  });

  it("rejects multicast and all-zero MACs; takes either case, kept in lower case", () => {
    const r = parseLabConf(
      ['a[0]="A/02:AB:CD:EF:00:01"', 'b[0]="A/01:00:5e:00:00:01"', 'c[0]="A/FF:FF:FF:FF:FF:FF"', 'd[0]="A/00:00:00:00:00:00"'].join("\n"),
      "/l/lab.conf",
    );
    assert.deepEqual(r.issues.map(formatIssue), [
      '/l/lab.conf:2: device b [eth0]: MAC address "01:00:5e:00:00:01" is a multicast address (the lowest bit of the first octet is set); use a unicast one',
      '/l/lab.conf:3: device c [eth0]: MAC address "FF:FF:FF:FF:FF:FF" is a multicast address (the lowest bit of the first octet is set); use a unicast one',
      '/l/lab.conf:4: device d [eth0]: MAC address "00:00:00:00:00:00" is all zeros, which no interface may have',
    ]);
    assert.equal(r.devices.find((d) => d.name === "a")?.interfaces[0]?.mac, "02:ab:cd:ef:00:01");
  });

  it("rejects volume paths Docker would cut or refuse, at file:line", () => {
    const r = parseLabConf(
      [
        'r[0]="A"',
        'r[volume]="data:x|/data"',
        'r[volume]="data|/da,ta"',
        'r[volume]="data|data"',
        'r[volume]="data|/shared/"',
        'r[volume]="data|/var/lib/kinda/x|ro"',
        'r[volume]="data|/"',
        'r[volume]="data|/data"',
        'r[volume]="other|/data/"',
      ].join("\n"),
      "/l/lab.conf",
    );
    assert.deepEqual(r.issues.map(formatIssue), [
      '/l/lab.conf:2: device r [volume]: volume host path "data:x" may not contain ":" or ","',
      '/l/lab.conf:3: device r [volume]: volume guest path "/da,ta" may not contain ":" or ","',
      '/l/lab.conf:4: device r [volume]: volume guest path "data" must be absolute (start with /)',
      '/l/lab.conf:5: device r [volume]: volume guest path "/shared/" is /shared, which kinda mounts itself',
      '/l/lab.conf:6: device r [volume]: volume guest path "/var/lib/kinda/x" is /var/lib/kinda, which kinda mounts itself',
      '/l/lab.conf:7: device r [volume]: volume guest path "/" is the root',
      '/l/lab.conf:9: device r [volume]: volume guest path "/data/" is mounted twice in r (first at line 8)',
    ]);
    assert.deepEqual(r.devices[0]?.volumes, [{ host: "data", guest: "/data", readOnly: false }]);
  });

  it("parses option values and warns about what it does not implement", () => {
    const r = parseLabConf(
      [
        'r[0]="A"',
        'r[mem]="256"',
        'r[cpus]="0.5"',
        'r[port]="8080:80/udp"',
        'r[exec]="echo one"',
        'r[exec]="echo two"',
        'r[env]="A=b=c"',
        'r[bridged]="yes"',
        'r[num_terms]="2"',
        'r[colour]="blue"',
        'r[image]="x"',
        "r[image]='y'   # second",
        'r[entrypoint]="/bin/sleep 1000"',
        'r[volume]="data|/data|ro"',
      ].join("\n"),
    );
    assert.deepEqual(r.issues, []);
    const d = r.devices[0]!;
    assert.equal(d.memoryBytes, 256 * 1024 * 1024);
    assert.equal(d.cpus, 0.5);
    assert.deepEqual(d.ports, [{ host: 8080, guest: 80, protocol: "udp" }]);
    assert.deepEqual(d.exec, ["echo one", "echo two"]);
    assert.equal(d.env["A"], "b=c");
    assert.equal(d.bridged, true);
    assert.equal(d.image, "y");
    assert.deepEqual(d.entrypoint, ["/bin/sleep", "1000"]);
    assert.deepEqual(d.volumes, [{ host: "data", guest: "/data", readOnly: true }]);
    const warnings = r.warnings.map((w) => `${w.place?.line}: ${w.message}`).join("\n");
    assert.match(warnings, /^9: num_terms/m);
    assert.match(warnings, /^10: unknown option "colour"/m);
    assert.match(warnings, /^12: r\[image\] set again/m);
  });

  it("rejects non-net sysctls and bad option values at their line", () => {
    const r = parseLabConf(['r[0]="A"', 'r[sysctl]="kernel.pid_max=1"', 'r[mem]="lots"', 'r[port]="x"', 'r[ipv6]="maybe"'].join("\n"));
    assert.deepEqual(
      r.issues.map((i) => [i.line, i.field]),
      [
        [2, "sysctl"],
        [3, "mem"],
        [4, "port"],
        [5, "ipv6"],
      ],
    );
  });

  it("small value parsers", () => {
    assert.equal(parseMemory("1g"), 1024 ** 3);
    assert.equal(parseMemory("512k"), 512 * 1024);
    assert.equal(parseMemory("x"), undefined);
    assert.deepEqual(parsePort("80"), { host: 3000, guest: 80, protocol: "tcp" });
    assert.equal(parsePort("70000"), undefined);
    assert.deepEqual(shellSplit(`a "b c" 'd e' f\\ g`), ["a", "b c", "d e", "f g"]);
    assert.equal(shellSplit(`"open`), undefined);
  });
});

describe("lab.dep parser", () => {
  const devs = () => parseLabConf('a[0]="A"\nb[0]="A"\nc[0]="A"\n').devices;
  it("adds dependencies", () => {
    const d = devs();
    assert.deepEqual(parseLabDep("# c waits\nc: a b\n", d), []);
    assert.deepEqual(d.find((x) => x.name === "c")?.dependsOn, ["a", "b"]);
  });
  it("names an unknown device and its line", () => {
    const issues = parseLabDep("c: a\n\nb: zz\n", devs(), "/l/lab.dep");
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.line, 3);
    assert.equal(issues[0]?.file, "/l/lab.dep");
    assert.match(issues[0]!.message, /"zz" is not a device of this lab/);
  });
  it("finds loops, also a: a", () => {
    assert.match(parseLabDep("a: b\nb: c\nc: a\n", devs())[0]!.message, /dependency loop: a -> b -> c -> a/);
    assert.match(parseLabDep("a: a\n", devs())[0]!.message, /loop/);
  });
  it("rejects malformed lines", () => {
    assert.equal(parseLabDep("a b c\n", devs())[0]?.line, 1);
  });
});

describe("lab directory loader", () => {
  it("collects every problem at once, with file names", () => {
    const d = labDir({ "lab.conf": 'a[0]="A"\nbad line\na[0]="B"\n', "lab.dep": "a: nope\n" });
    const issues = issuesOf(() => loadKatharaLab(d));
    assert.equal(issues.length, 2);
    assert.match(issues[0]!, /lab\.conf:2: syntax error/);
    assert.match(issues[1]!, /lab\.conf:3: device a \[eth0\]: interface eth0 of a is given twice/);
  });
  it("checks lab.dep once lab.conf is clean", () => {
    const d = labDir({ "lab.conf": 'a[0]="A"\n', "lab.dep": "a: nope\n" });
    assert.match(issuesOf(() => loadKatharaLab(d))[0]!, /lab\.dep:1: "nope" is not a device/);
  });
  it("requires volume host paths to exist (relative to the lab directory), at file:line", () => {
    const d = labDir({
      "lab.conf": 'r[0]="A"\nr[volume]="data|/data"\nr[volume]="missing|/m|ro"\nr[volume]="/nonexistent-kinda-x|/n"\n',
      "data/f": "",
    });
    assert.deepEqual(
      issuesOf(() => loadKatharaLab(d)),
      [
        `  - ${join(d, "lab.conf")}:3: device r [volume]: volume host path "missing" does not exist (looked for ${join(d, "missing")})`,
        `  - ${join(d, "lab.conf")}:4: device r [volume]: volume host path "/nonexistent-kinda-x" does not exist`,
      ],
    );
    const ok = labDir({ "lab.conf": 'r[0]="A"\nr[volume]="data|/data"\n', "data/f": "" });
    assert.deepEqual(loadKatharaLab(ok).devices[0]?.volumes, [{ host: "data", guest: "/data", readOnly: false }]);
  });
  it("says when there is no lab.conf", () => {
    assert.match(issuesOf(() => loadKatharaLab(labDir({ "x.txt": "" })))[0]!, /no lab\.conf/);
  });
});
