/**
 * `kinda device LAB NAME add` of a device the lab's source defines: made as `up` makes it (links
 * into its collision domains, its folder, its start-up: a Kathara start-up file, a YAML device's
 * addresses, routes and startup), and a start-up that fails removes the device again, leaving the
 * lab as it was. Real Docker, real kernel, through the CLI.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { IMAGE_MAP_ARGS, ROOT, ensureTestEnv } from "../support/env.js";
import { containersOf, copyLab, eventually, kinda, kindaOk, ping, stateDir, withLab } from "../support/kinda.js";

process.env["KINDA_STATE_DIR"] = stateDir;

before(() => ensureTestEnv());

/** The lab namespace's links, the lab's containers and the state's devices and domains: what a rolled-back add must leave as it was. */
async function snapshot(lab: string): Promise<string> {
  const ip = execFileSync("ip", ["-n", `kinda-${lab}`, "-br", "link"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(/\s+/).slice(0, 2).join(" "))
    .sort()
    .join("\n");
  const names = (await containersOf(lab)).map((c) => c.Names[0]).sort();
  const st = JSON.parse(readFileSync(join(stateDir, "labs", lab, "state.json"), "utf8")) as {
    devices: { name: string }[];
    domains: unknown[];
    live?: unknown;
  };
  return JSON.stringify({ ip, names, devices: st.devices.map((d) => d.name), domains: st.domains, live: st.live ?? null });
}

describe("a device of the lab's source added at run time (Kathara lab, two-routers)", () => {
  it("gets its links, folder and start-up as at deploy; a failing start-up is rolled back", async () => {
    const dir = copyLab(join(ROOT, "examples", "labs", "two-routers"));
    await withLab("dadd", dir, IMAGE_MAP_ARGS, async () => {
      // h3 joins lan2 next to h2, with a start-up file and a folder, written after `up`
      appendFileSync(join(dir, "lab.conf"), 'h3[0]="lan2"\nh4[0]="lan4"\n');
      writeFileSync(join(dir, "h3.startup"), "ip addr add 10.2.0.11/24 dev eth0\nip route add default via 10.2.0.1\n");
      mkdirSync(join(dir, "h3", "etc"), { recursive: true });
      writeFileSync(join(dir, "h3", "etc", "kinda-h3.txt"), "from h3's folder\n");
      writeFileSync(join(dir, "h4.startup"), "ip addr add 10.4.0.10/24 dev eth0\necho h4 is about to fail\nexit 3\n");

      const out = await kindaOk("device", "dadd", "h3", "add");
      assert.match(out, /added device h3 from .*kinda-it-lab-.*eth0:lan2; start-up ok/);
      assert.equal(
        await ping("dadd", "h3", "10.1.0.10"),
        true,
        "h3 reaches h1 across both routers with the address and route of its start-up",
      );
      assert.equal(await kindaOk("exec", "--lab", "dadd", "h3", "--", "cat", "/etc/kinda-h3.txt"), "from h3's folder\n");
      assert.match(
        await kindaOk("exec", "--lab", "dadd", "h3", "--", "cat", "/var/log/startup.log"),
        /ip route add default via 10\.2\.0\.1/,
      );
      assert.match(await kindaOk("status", "dadd"), /h3 .*running.*eth0:lan2/);

      // h4's start-up fails: the error says so with its output, and nothing of h4 (its new lan4 bridge included) stays
      const before = await snapshot("dadd");
      const r = await kinda("device", "dadd", "h4", "add");
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /device h4: its start-up failed at h4\.startup \(exit 3\); the device was removed again/);
      assert.match(r.stderr, /h4 is about to fail/);
      assert.equal(await snapshot("dadd"), before, "the lab is as it was");
      assert.doesNotMatch(execFileSync("ip", ["-n", "kinda-dadd", "link"], { encoding: "utf8" }), /altname lan4/);

      // fixed, it goes in (and a new collision domain with it); remove takes it out again
      writeFileSync(join(dir, "h4.startup"), "ip addr add 10.4.0.10/24 dev eth0\n");
      assert.match(await kindaOk("device", "dadd", "h4", "add"), /eth0:lan4; start-up ok/);
      assert.match(execFileSync("ip", ["-n", "kinda-dadd", "link"], { encoding: "utf8" }), /altname lan4/);
      await kindaOk("device", "dadd", "h4", "remove");

      // h2 removed and added again gets a new slot (its lab-side end is no longer v-3-0, its place
      // in lab.conf); restarting it keeps that name, so link verbs still find its end afterwards
      await kindaOk("device", "dadd", "h2", "remove");
      await kindaOk("device", "dadd", "h2", "add");
      await kindaOk("restart", "dadd", "h2");
      const ends = execFileSync("ip", ["-n", "kinda-dadd", "-o", "link", "show"], { encoding: "utf8" });
      assert.match(ends, /: v-6-0@.*altname h2\.eth0/, ends);
      assert.equal(await ping("dadd", "h2", "10.2.0.1"), true, "the restarted h2 reaches r2");
      await kindaOk("link", "dadd", "h2:eth0", "down");
      assert.equal(await ping("dadd", "h2", "10.2.0.1"), false, "a cut of the restarted h2's link holds");
      await kindaOk("link", "dadd", "h2:eth0", "up");
      // h3 stays: `down` (withLab) must remove it, checked by assertNothingLeft
    });
  });
});

describe("a device of a YAML topology removed and added again at run time", () => {
  it("comes back with its static addresses, routes and startup", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kinda-it-yaml-"));
    const file = join(dir, "t.yaml");
    writeFileSync(
      file,
      `name: dyaml
routing: static
devices:
  - { name: r1, kind: router }
  - { name: h1, kind: host }
  - { name: h2, kind: host, startup: ["echo h2 was here > /tmp/kinda-mark"] }
links:
  - { endpoints: [r1, h1], addresses: [10.7.1.1/24, 10.7.1.2/24] }
  - { endpoints: [r1, h2], addresses: [10.7.2.1/24, 10.7.2.2/24] }
`,
    );
    await withLab("dyaml", file, IMAGE_MAP_ARGS, async () => {
      await eventually("h1 reaches h2", 30, () => ping("dyaml", "h1", "10.7.2.2"));
      await kindaOk("device", "dyaml", "h2", "remove");
      assert.equal(await ping("dyaml", "h1", "10.7.2.2"), false);
      assert.match(await kindaOk("device", "dyaml", "h2", "add"), /added device h2 from .*t\.yaml .*eth0:l1; start-up ok/);
      assert.equal(await ping("dyaml", "h2", "10.7.1.2"), true, "h2 has its address and its route to h1's subnet again");
      assert.equal(await kindaOk("exec", "--lab", "dyaml", "h2", "--", "cat", "/tmp/kinda-mark"), "h2 was here\n");
    });
  });
});
