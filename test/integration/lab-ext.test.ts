/**
 * lab.ext (Kathara's links to host interfaces): a host interface, and a VLAN sub-interface kinda
 * makes on another, joined to collision domains; a device reaches addresses on the host ends of
 * veth pairs the test made; `down` gives the interface back to the host and deletes the VLAN one.
 * A missing host interface is an error at its lab.ext line, with nothing created.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { IMAGE_MAP_ARGS, ensureTestEnv } from "../support/env.js";
import { assertNothingLeft, hostLinks, kinda, kindaOk, ping } from "../support/kinda.js";

const ip = (...a: string[]) => execFileSync("ip", a, { stdio: "pipe" });
const exists = (dev: string) => {
  try {
    ip("link", "show", "dev", dev);
    return true;
  } catch {
    return false;
  }
};

function lab(ext: string): string {
  const dir = mkdtempSync(join(tmpdir(), "kinda-it-labext-"));
  writeFileSync(join(dir, "lab.conf"), 'pc[0]="A"\npc[1]="B"\n');
  writeFileSync(join(dir, "pc.startup"), "ip address add 10.23.1.1/24 dev eth0\nip address add 10.23.2.1/24 dev eth1\n");
  writeFileSync(join(dir, "lab.ext"), ext);
  return dir;
}

let linksBefore: string[];
before(() => {
  ensureTestEnv();
  ip("link", "add", "k15e0a", "type", "veth", "peer", "name", "k15e0b");
  ip("link", "add", "k15e1a", "type", "veth", "peer", "name", "k15e1b");
  ip("link", "add", "link", "k15e1b", "name", "k15e1b.15", "type", "vlan", "id", "15");
  ip("addr", "add", "10.23.1.100/24", "dev", "k15e0b");
  ip("addr", "add", "10.23.2.100/24", "dev", "k15e1b.15");
  for (const d of ["k15e0b", "k15e1a", "k15e1b", "k15e1b.15"]) ip("link", "set", d, "up");
  linksBefore = hostLinks();
});

after(async () => {
  await kinda("down", "t-labext");
  for (const d of ["k15e0a", "k15e1a"]) if (exists(d)) ip("link", "delete", d);
});

describe("lab.ext", () => {
  it("joins a host interface and a VLAN sub-interface to collision domains; down gives them back", async () => {
    await kindaOk("up", lab("# Kathara's format\nA k15e0a\nB k15e1a.15\n"), "--name", "t-labext", ...IMAGE_MAP_ARGS);
    assert.ok(!exists("k15e0a"), "k15e0a moved into the lab's namespace");
    assert.ok(await ping("t-labext", "pc", "10.23.1.100"), "pc -> host end of k15e0a on domain A");
    assert.ok(await ping("t-labext", "pc", "10.23.2.100"), "pc -> host end of VLAN 15 on domain B");
    await kindaOk("down", "t-labext");
    await assertNothingLeft("t-labext");
    assert.ok(exists("k15e0a"), "k15e0a is back in the host namespace");
    assert.ok(!exists("k15e1a.15"), "the VLAN interface kinda made is gone");
    assert.deepEqual(hostLinks(), linksBefore);
  });

  it("a host interface that does not exist is an error at its lab.ext line; nothing is created", async () => {
    const r = await kinda("up", lab("A k15e0a\nB nosuch15if\n"), "--name", "t-labext", ...IMAGE_MAP_ARGS);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /lab\.ext:2: host interface nosuch15if does not exist/);
    assert.ok(exists("k15e0a"), "k15e0a untouched");
    await assertNothingLeft("t-labext");
  });
});
