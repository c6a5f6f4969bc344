/**
 * Removing a cluster gives a lab that stays up back as it was: a bridge the device had before is
 * joined and kept, the gateway's own default route comes back; an interface that is not a bridge
 * is refused before anything is created; `down` of a lab whose cluster provider this process does
 * not know keeps what it needs to try again, and `down --force` forgets that cluster.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ClusterBuilder } from "../../src/app/library.js";
import { StateStore } from "../../src/state/store.js";
import { IMAGE_MAP_ARGS, ensureTestEnv } from "../support/env.js";
import { FIXTURE_LABEL, FixtureProvider } from "../support/fixture.js";
import { assertNothingLeft, docker, hostLinks, kinda, kindaOk, stateDir } from "../support/kinda.js";

const LAB = "t-cl-undo";
const provider = new FixtureProvider("kfxundo");
let linksBefore: string[];
let labDir: string;

function builder(deviceBridge: string): ClusterBuilder {
  const b = new ClusterBuilder(LAB, provider, { encapsulation: "vxlan" });
  b.addNode("c1", "control-plane");
  b.connect({ node: "c1", device: "gw", deviceBridge, nodeAddress: "10.0.7.2/24", deviceAddress: "10.0.7.1/24", defaultRoute: true });
  b.enableInternetAccessVia("gw");
  return b;
}

const gw = (...cmd: string[]) => kindaOk("exec", "--lab", LAB, "gw", "--", ...cmd);

before(async () => {
  ensureTestEnv();
  linksBefore = hostLinks();
  labDir = mkdtempSync(join(tmpdir(), "kinda-undo-lab-"));
  writeFileSync(join(labDir, "lab.conf"), 'gw[0]="A"\ngw[image]="kathara/base"\n');
  // the device's own state before any cluster: an address, a default route, a bridge of its own
  writeFileSync(
    join(labDir, "gw.startup"),
    "ip addr add 192.0.2.1/24 dev eth0\nip route add default via 192.0.2.9\nip link add brx type bridge\nip link set brx up\n",
  );
  await kindaOk("up", labDir, "--name", LAB, ...IMAGE_MAP_ARGS);
  process.env["KINDA_STATE_DIR"] = stateDir;
});

after(async () => {
  await provider.delete().catch(() => undefined);
  await kinda("down", "--force", LAB);
});

describe("what removing a cluster gives back", () => {
  it("refuses to make an interface that is not a bridge a node's bridge, before creating anything", async () => {
    await assert.rejects(builder("eth0").build(), /links\[0\]\.deviceBridge.*eth0 exists in device gw and is not a Linux bridge/);
    const nodes = await docker.listContainers({ all: true, filters: { label: [`${FIXTURE_LABEL}=1`, `io.x-k8s.kind.cluster=kfxundo`] } });
    assert.equal(nodes.length, 0, "no node was created");
    assert.equal(new StateStore(stateDir).read(LAB)?.cluster, undefined);
  });

  it("joins the device's bridge, then leaves it and the device's default route as they were", async () => {
    const b = builder("brx");
    await b.build();
    assert.match(await gw("ip", "-br", "link", "show", "master", "brx"), /^eth1@/m, "the node's veth is a port of brx");
    assert.match(await gw("ip", "-4", "-br", "addr", "show", "brx"), /10\.0\.7\.1\/24/);
    assert.doesNotMatch(await gw("ip", "route", "show", "default"), /192\.0\.2\.9/, "the uplink is the default route now");
    assert.match(
      await gw("iptables", "-t", "nat", "-S", "POSTROUTING"),
      new RegExp(`-o eth2 .*kinda:${LAB}"? -j MASQUERADE`),
      "the uplink's NAT rule",
    );
    await b.destroy();
    assert.doesNotMatch(await gw("iptables", "-t", "nat", "-S", "POSTROUTING"), /kinda:/, "the NAT rule is gone");
    assert.match(await gw("ip", "-d", "link", "show", "brx"), /bridge/, "brx stays");
    assert.doesNotMatch(await gw("ip", "-4", "addr", "show", "brx"), /10\.0\.7\.1/, "kinda's address on brx is gone");
    assert.match(await gw("ip", "route", "show", "default"), /^default via 192\.0\.2\.9 dev eth0/m, "the device's default route is back");
  });

  it("down keeps a cluster it cannot remove in the state; down --force forgets it and leaves nothing", async () => {
    await builder("brx").build();
    // the CLI process knows no "fixture" provider: it cannot remove these nodes
    const r = await kinda("down", LAB);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no provider "fixture" is known/);
    assert.match(r.stderr, /kinda down --force/);
    const st = JSON.parse(readFileSync(join(stateDir, "labs", LAB, "state.json"), "utf8")) as { phase: string; cluster?: unknown };
    assert.equal(st.phase, "tearing-down");
    assert.ok(st.cluster, "the cluster stays recorded for another try");
    const forced = await kinda("down", "--force", LAB);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr + forced.stdout, /forgetting cluster kfxundo/);
    await provider.delete(); // the nodes kinda could not remove are the test's to remove
    await assertNothingLeft(LAB, linksBefore);
  });
});
