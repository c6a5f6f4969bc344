/**
 * A Kathara lab directory is set up as Kathara 3.8 sets it up (DockerMachine.create/start,
 * Machine.pack_data): these check the plan and the staged files; the integration tests check the
 * result inside real devices.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Issue } from "../../../src/core/errors.js";
import { collectDeviceFiles, shutdownPath, writeStage } from "../../../src/engine/stage.js";
import { externalHostBatch, externalLabBatch, externalUndoBatch, planLab } from "../../../src/plan/lab.js";
import { loadKatharaLab, parseLabConf, parseLabExt } from "../../../src/topology/kathara.js";
import { renderIp } from "../../../src/plan/ops.js";

const opts = { name: "t", sharedDir: "/s", stageRoot: "/st" };

function katharaLab(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "kinda-kfid-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return { dir, lab: loadKatharaLab(dir) };
}

describe("Kathara fidelity: plan", () => {
  it("a device without the ipv6 option has IPv6 off, as Kathara's default (enable_ipv6 false)", () => {
    const { lab } = katharaLab({ "lab.conf": 'a[0]="A"\nb[0]="A"\nb[ipv6]="true"\n' });
    const [a, b] = planLab(lab, opts).devices;
    assert.deepEqual(a!.sysctls, {
      "net.ipv4.conf.all.rp_filter": "0",
      "net.ipv4.conf.default.rp_filter": "0",
      "net.ipv4.conf.lo.rp_filter": "0",
      "net.ipv4.ip_forward": "1",
      "net.ipv4.icmp_ratelimit": "0",
      "net.ipv6.conf.default.disable_ipv6": "1",
      "net.ipv6.conf.all.disable_ipv6": "1",
      "net.ipv6.conf.default.forwarding": "0",
      "net.ipv6.conf.all.forwarding": "0",
    });
    // with IPv6: forwarding, accept_ra and the ICMPv6 rate limit on `all` only, as Kathara
    assert.equal(b!.sysctls["net.ipv6.conf.all.forwarding"], "1");
    assert.equal(b!.sysctls["net.ipv6.conf.all.accept_ra"], "0");
    assert.equal(b!.sysctls["net.ipv6.icmp.ratelimit"], "0");
    assert.equal(b!.sysctls["net.ipv6.conf.all.disable_ipv6"], "0");
    assert.equal(b!.sysctls["net.ipv6.conf.default.accept_ra"], undefined);
  });

  it("the lab's own sysctl wins over Kathara's defaults", () => {
    const { lab } = katharaLab({ "lab.conf": 'a[0]="A"\na[sysctl]="net.ipv4.ip_forward=0"\n' });
    assert.equal(planLab(lab, opts).devices[0]!.sysctls["net.ipv4.ip_forward"], "0");
  });

  it("mounts the device's /hostlab (writable) besides /shared; kinda's own labs keep IPv6 on and no /hostlab", () => {
    const { lab } = katharaLab({ "lab.conf": 'a[0]="A"\n' });
    const a = planLab(lab, opts).devices[0]!;
    assert.ok(
      a.mounts.some((m) => m.source === "/st/a/hostlab" && m.target === "/hostlab" && !m.readOnly),
      JSON.stringify(a.mounts),
    );
    const p = parseLabConf('a[0]="A"\n');
    const own = planLab({ metadata: {}, devices: p.devices, warnings: [] }, opts).devices[0]!;
    assert.ok(!own.mounts.some((m) => m.target === "/hostlab"));
    assert.equal(own.sysctls["net.ipv6.conf.all.disable_ipv6"], "0");
  });

  it("a volume onto /hostlab is rejected at its line (kinda mounts it)", () => {
    const dir = mkdtempSync(join(tmpdir(), "kinda-kfid-"));
    writeFileSync(join(dir, "lab.conf"), `a[0]="A"\na[volume]="${dir}|/hostlab/x"\n`);
    assert.throws(() => loadKatharaLab(dir), /lab\.conf:2/);
  });
});

describe("Kathara fidelity: staged files", () => {
  it("stages /hostlab as Kathara packs it: the device folder under its name and the four scripts", () => {
    const { lab } = katharaLab({
      "lab.conf": 'r1[0]="A"\nr1[exec]="echo x"\n',
      "r1.startup": "ip link\r\n",
      "r1.shutdown": "echo bye\n",
      "shared.startup": "echo shared\n",
      "r1/etc/frr/daemons": "bgpd=yes\n",
    });
    const r1 = planLab(lab, opts).devices[0]!;
    const issues: Issue[] = [];
    const files = collectDeviceFiles(r1, issues);
    assert.deepEqual(issues, []);
    const names = files.map((f) => f.name).sort();
    for (const n of ["hostlab/r1/etc/frr/daemons", "hostlab/r1.startup", "hostlab/r1.shutdown", "hostlab/shared.startup"])
      assert.ok(names.includes(n), `${n} in ${names.join(" ")}`);
    assert.ok(names.some((n) => /^steps\/\d+-exec-0$/.test(n)));
    const out = mkdtempSync(join(tmpdir(), "kinda-kfid-out-"));
    writeStage(out, files);
    assert.equal(readFileSync(join(out, "hostlab/r1.startup"), "utf8"), "ip link\n");
    assert.deepEqual(
      r1.shutdown.map((s) => shutdownPath(s)),
      ["/hostlab/r1.shutdown"],
    );
  });
});

describe("lab.ext", () => {
  it("parses CD IFACE[.VLAN] as Kathara's ExtParser; malformed lines and bad VLANs name their line", () => {
    const ok = parseLabExt("# host links\nA enp9s0\n\nB enp9s0.20\n", "lab.ext");
    assert.deepEqual(ok.issues, []);
    assert.deepEqual(
      ok.links.map((l) => [l.domain, l.iface, l.vlan]),
      [
        ["A", "enp9s0", undefined],
        ["B", "enp9s0", 20],
      ],
    );
    const bad = parseLabExt("A\nB eth0.0\nC eth0.5000\nD a-very-long-ifname.100\nE eth1\nF eth1\n", "lab.ext");
    assert.deepEqual(
      bad.issues.map((i) => i.line),
      [1, 2, 3, 4, 6],
    );
  });

  it("plans the interface's move into the lab namespace, its bridge port, and the inverse", () => {
    const { dir } = katharaLab({ "lab.conf": 'a[0]="A"\n', "lab.ext": "A veth9\nX veth8.15\n" });
    const plan = planLab(loadKatharaLab(dir), opts);
    assert.deepEqual(
      plan.domains.map((d) => d.name),
      ["A", "X"],
      "a domain only lab.ext names gets its bridge too",
    );
    assert.deepEqual(externalHostBatch(plan).map(renderIp), [
      "link set veth9 netns kinda-t",
      "link add link veth8 name veth8.15 type vlan id 15",
      "link set veth8.15 netns kinda-t",
    ]);
    assert.deepEqual(externalLabBatch(plan).map(renderIp), ["link set veth9 master cd-0 up", "link set veth8.15 master cd-1 up"]);
    assert.deepEqual(externalUndoBatch(plan.external).map(renderIp), [
      "link set veth9 nomaster",
      "link set veth9 netns 1",
      "link delete veth8.15",
    ]);
  });
});
