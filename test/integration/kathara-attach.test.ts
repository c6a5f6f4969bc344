/**
 * A cluster attached to a lab that Kathara started (made here the way Kathara makes one:
 * test/support/kathara-fixture.ts), with Kind-compatible fixture nodes: kinda finds the lab by
 * Kathara's labels, links one node to a device and one into a collision domain (Kathara's `kt-`
 * bridge in the host namespace), traffic crosses Kathara's network, and `kinda down` removes only
 * what kinda added: Kathara's containers, networks and bridges stay as they were.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { down } from "../../src/app/api.js";
import { attachToKathara, parseAttachSpec } from "../../src/app/kathara.js";
import { createProviderRegistry } from "../../src/app/root.js";
import { StateStore } from "../../src/state/store.js";
import { ensureTestEnv } from "../support/env.js";
import { FixtureProvider } from "../support/fixture.js";
import { KatharaFixture } from "../support/kathara-fixture.js";
import { hostLinks, kinda, kindaOk, stateDir } from "../support/kinda.js";

const dir = mkdtempSync(join(tmpdir(), "kinda-it-kathara-lab-"));
writeFileSync(join(dir, "lab.conf"), 'r1[0]="A"\nr1[1]="B"\nh1[0]="A"\n');
const lab = new KatharaFixture(dir, [
  { name: "r1", domains: ["A", "B"], setup: ["ip addr add 10.21.1.1/24 dev eth0", "ip addr add 10.21.2.1/24 dev eth1"] },
  { name: "h1", domains: ["A"], setup: ["ip addr add 10.21.1.2/24 dev eth0", "ip route add default via 10.21.1.1"] },
]);
const provider = new FixtureProvider("kfxk");
const NAME = "t-kathara-attach";
const store = new StateStore(stateDir);
/** `kinda down` as the CLI does it, with the fixture provider known (the CLI knows only Kind). */
const kindaDown = () => down(NAME, { store, providers: createProviderRegistry().register("fixture", () => provider) });
let linksBefore: string[];

before(async () => {
  ensureTestEnv();
  await provider.delete(); // a run killed halfway may have left its fixture nodes
  await lab.up();
  linksBefore = hostLinks(); // Kathara's bridges included: they must still be there at the end
});

after(async () => {
  await kindaDown().catch(() => undefined);
  await lab.down();
});

function attachSpec() {
  return parseAttachSpec(
    [
      "encapsulation: vxlan",
      "nodes: [{name: c1, role: control-plane}, {name: w1}]",
      "links:",
      "  - {node: c1, device: r1, nodeAddress: 10.21.3.2/24, deviceAddress: 10.21.3.1/24, defaultRoute: true}",
      "  - {node: w1, domain: A, nodeAddress: 10.21.1.3/24, gateway: 10.21.1.1, defaultRoute: true}",
    ].join("\n"),
    "attach.yaml",
  );
}

/** A device of Kathara's lab pings once, at once (no retry: a stale neighbour entry loses it). */
async function devicePing(device: string, addr: string): Promise<boolean> {
  const pid = await lab.pid(device);
  try {
    execFileSync("nsenter", ["-t", String(pid), "-n", "ping", "-c1", "-W1", addr], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The MAC a device's neighbour table holds for an address (and its state), or undefined. */
async function neighbour(device: string, addr: string): Promise<{ lladdr?: string; state?: string[] } | undefined> {
  const pid = await lab.pid(device);
  const out = execFileSync("nsenter", ["-t", String(pid), "-n", "ip", "-j", "neigh", "show", "to", addr], { encoding: "utf8" });
  return (JSON.parse(out || "[]") as { lladdr?: string; state?: string[] }[])[0];
}

/** A node's MAC on its link. */
function nodeMac(node: string, dev = "eth1"): string {
  const out = execFileSync("nsenter", ["-t", String(provider.fact(node).pid), "-n", "ip", "-j", "link", "show", "dev", dev], {
    encoding: "utf8",
  });
  return (JSON.parse(out) as { address: string }[])[0]!.address;
}

let w1MacFirst = "";

function nodePing(node: string, addr: string): boolean {
  try {
    execFileSync("nsenter", ["-t", String(provider.fact(node).pid), "-n", "ping", "-c1", "-W2", addr], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("a cluster on a lab Kathara started", () => {
  it("kinda list shows the Kathara lab by its hash", async () => {
    const out = await kindaOk("list", "--json");
    const l = (JSON.parse(out) as { name: string; manager: string; devices: number }[]).find((x) => x.name === lab.hash);
    assert.equal(l?.manager, "kathara");
    assert.equal(l?.devices, 2);
  });

  it("attaches a node to a device and one into a collision domain; traffic crosses Kathara's network", async () => {
    const r = await attachToKathara(dir, attachSpec(), { name: NAME, provider, store });
    assert.equal(r.lab, NAME);
    // w1 sits on Kathara's segment A next to h1 and r1; c1 is behind r1
    assert.ok(nodePing("w1", "10.21.1.2"), "w1 -> h1 on Kathara's collision domain A");
    assert.ok(nodePing("w1", "10.21.3.2"), "w1 -> c1 through Kathara's r1");
    w1MacFirst = nodeMac("w1");
    assert.equal((await neighbour("h1", "10.21.1.3"))?.lladdr, w1MacFirst, "h1 learnt w1's MAC");
    const bridge = lab.bridges.get("A")!;
    const ports = execFileSync("ip", ["-j", "link", "show", "master", bridge], { encoding: "utf8" });
    assert.ok(
      (JSON.parse(ports) as { ifname: string }[]).some((p) => /^kh[0-9a-f]{9}-d\d+$/.test(p.ifname)),
      `w1's veth is a port of ${bridge}`,
    );
    assert.deepEqual((await lab.interfaces("r1")).sort(), ["eth0", "eth1", "eth2"], "r1 got one interface for c1");
  });

  it("kinda down removes only what kinda added; Kathara's lab stays as it was", async () => {
    await kindaDown();
    assert.deepEqual(await lab.running(), ["h1", "r1"], "Kathara's containers still run");
    assert.deepEqual((await lab.interfaces("r1")).sort(), ["eth0", "eth1"], "r1's link to c1 is gone, its own remain");
    for (const b of lab.bridges.values()) execFileSync("ip", ["link", "show", "dev", b], { stdio: "ignore" });
    assert.deepEqual(hostLinks(), linksBefore, "host links as before (Kathara's bridges included)");
    const st = await kinda("status", NAME);
    assert.notEqual(st.code, 0, "kinda no longer knows the lab");
  });

  it("attached again, the node in the domain has the MAC Kathara's devices still hold for it: they reach it from the first ping", async () => {
    // h1 and r1 keep w1's entry after the down (a neighbour entry outlives its peer); with a new
    // MAC on the second w1 their first pings went to the old one for 5-8 s until re-resolved
    assert.equal((await neighbour("h1", "10.21.1.3"))?.lladdr, w1MacFirst, "h1 still holds the first w1's MAC");
    await attachToKathara(dir, attachSpec(), { name: NAME, provider, store });
    const t0 = performance.now();
    assert.ok(await devicePing("h1", "10.21.1.3"), "h1 -> the second w1, the first ping");
    assert.ok(await devicePing("r1", "10.21.1.3"), "r1 -> the second w1, the first ping");
    console.log(`# h1 and r1 reached the re-attached w1 in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(nodeMac("w1"), w1MacFirst, "the second w1 has the first one's MAC on its link");
    await kindaDown();
    assert.deepEqual(hostLinks(), linksBefore, "host links as before");
  });
});
