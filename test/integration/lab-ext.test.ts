/**
 * lab.ext (Kathara's links to host interfaces): a host interface (one end of a veth pair the test
 * made) joined to a collision domain; a device reaches the address on the pair's host end; `down`
 * gives the interface back to the host. A missing host interface is an error at its lab.ext line,
 * with nothing created. VLAN sub-interfaces (`IFACE.VLAN`) are planned and undone as unit-tested
 * operations only: this machine's kernel has no 802.1Q support ("Unknown device type").
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
  writeFileSync(join(dir, "lab.conf"), 'pc[0]="A"\n');
  writeFileSync(join(dir, "pc.startup"), "ip address add 10.23.1.1/24 dev eth0\n");
  writeFileSync(join(dir, "lab.ext"), ext);
  return dir;
}

let linksBefore: string[];
before(() => {
  ensureTestEnv();
  ip("link", "add", "k15e0a", "type", "veth", "peer", "name", "k15e0b");
  ip("addr", "add", "10.23.1.100/24", "dev", "k15e0b");
  ip("link", "set", "k15e0b", "up");
  linksBefore = hostLinks();
});

after(async () => {
  await kinda("down", "t-labext");
  if (exists("k15e0a")) ip("link", "delete", "k15e0a");
});

describe("lab.ext", () => {
  it("joins a host interface to a collision domain; down gives it back", async () => {
    await kindaOk("up", lab("# Kathara's format\nA k15e0a\n"), "--name", "t-labext", ...IMAGE_MAP_ARGS);
    assert.ok(!exists("k15e0a"), "k15e0a moved into the lab's namespace");
    assert.ok(await ping("t-labext", "pc", "10.23.1.100"), "pc -> host end of k15e0a on domain A");
    await kindaOk("down", "t-labext");
    await assertNothingLeft("t-labext");
    assert.ok(exists("k15e0a"), "k15e0a is back in the host namespace");
    assert.deepEqual(hostLinks(), linksBefore);
  });

  it("a host interface that does not exist is an error at its lab.ext line; nothing is created", async () => {
    const r = await kinda("up", lab("A k15e0a\nA nosuch15if\n"), "--name", "t-labext", ...IMAGE_MAP_ARGS);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /lab\.ext:2: host interface nosuch15if does not exist/);
    assert.ok(exists("k15e0a"), "k15e0a untouched");
    await assertNothingLeft("t-labext");
  });
});
