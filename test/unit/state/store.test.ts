/** The state store's guards and the record of what a cluster leaves in devices (no root needed). */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { DeviceFacts } from "../../../src/model/cluster.js";
import { fakeNodes, findStep } from "../../support/facts.js";
import { formatDeviceUndo, planCluster } from "../../../src/plan/cluster.js";
import { CorruptStateError, StateStore } from "../../../src/state/store.js";
import { labState } from "../../support/state.js";

describe("state store", () => {
  it("refuses names that are not lab names before touching the disk", () => {
    const root = mkdtempSync(join(tmpdir(), "kinda-store-"));
    const store = new StateStore(join(root, "state"));
    // labs live in <root>/state/labs/<name>: "../../keep" and "a/../../../keep" would be <root>/keep
    const keep = join(root, "keep");
    mkdirSync(keep, { recursive: true });
    writeFileSync(join(keep, "f"), "x");
    assert.equal(join(store.root, "labs", "../../keep"), keep, "the sentinel is where a path escape would land");
    for (const bad of ["../../keep", "a/../../../keep", "..", "", "UPPER", "x".repeat(41), "-lead"]) {
      assert.throws(() => store.remove(bad), /is not a lab name/, bad);
      assert.throws(() => store.read(bad), /is not a lab name/, bad);
    }
    assert.ok(existsSync(join(keep, "f")));
  });

  it("refuses a state file that is truncated, empty or not a lab's, naming its path; an absent one is no lab", () => {
    const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-store-")));
    assert.equal(store.read("gone"), undefined);
    store.write(labState("bad1"));
    const good = JSON.stringify(labState("bad1"), null, 2);
    const cases: [string, RegExp][] = [
      [good.slice(0, good.length / 2), /not JSON/],
      ["", /the file is empty/],
      ["[1,2]", /not a JSON object/],
      [JSON.stringify({ ...labState("bad1"), version: 2 }), /version is 2, not 1/],
      [JSON.stringify({ ...labState("other") }), /name is "other", not "bad1"/],
      [JSON.stringify({ ...labState("bad1"), devices: "r1" }), /devices is not a list/],
      [JSON.stringify({ ...labState("bad1"), cluster: { name: "c" } }), /cluster has no list of nodes/],
    ];
    const path = join(store.root, "labs", "bad1", "state.json");
    for (const [text, why] of cases) {
      writeFileSync(path, text);
      assert.throws(
        () => store.read("bad1"),
        (e: unknown) => {
          assert.ok(e instanceof CorruptStateError);
          assert.match(e.message, new RegExp(`^the state of lab bad1 \\(${path.replace(/[/.]/g, "\\$&")}\\) cannot be read: `));
          assert.match(e.message, why);
          assert.match(e.hint ?? "", /kinda down --force bad1/);
          return true;
        },
      );
      assert.equal(store.readIfValid("bad1"), undefined, "look-ups over all labs skip it");
      // and its name is not free: a new deploy may not take it over
      assert.throws(() => store.claim(labState("bad1")), /already exists/);
    }
    assert.deepEqual(store.list(), ["bad1"]);
  });

  it("claim gives a name to one deployer only", () => {
    const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-store-")));
    store.claim(labState("lab1"));
    assert.throws(
      () => store.claim(labState("lab1")),
      /a lab named lab1 already exists on this machine \(another process is deploying it\)/,
    );
    assert.equal(store.read("lab1")?.phase, "deploying");
    store.remove("lab1");
    store.claim(labState("lab1")); // free again once removed
  });

  it("tells a deployer its claim is lost: down from elsewhere (marked, or gone) or the name taken anew", () => {
    const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-store-")));
    const mine = labState("lab1");
    store.claim(mine);
    assert.equal(store.claimLost(mine), undefined);
    store.write({ ...store.read("lab1")!, phase: "tearing-down" }); // what `down` does first
    assert.equal(store.claimLost(mine), "down");
    assert.throws(() => store.update(mine), /lab lab1 was removed while this process was working on it/);
    store.remove("lab1");
    assert.equal(store.claimLost(mine), "down");
    store.claim(labState("lab1")); // another process's new lab of the same name
    assert.equal(store.claimLost(mine), "taken");
    assert.throws(() => store.update(mine), /was removed while this process was working on it/);
  });
});

describe("what a cluster leaves inside devices", () => {
  const nodes = fakeNodes(3);
  const devices: DeviceFacts[] = [
    { name: "r1", container: "kinda-l-r1", pid: 50, interfaces: ["lo", "eth0"] },
    { name: "r2", container: "kinda-l-r2", pid: 51, interfaces: ["lo", "eth0"] },
    { name: "r3", container: "kinda-l-r3", pid: 52, interfaces: ["lo", "eth0"] },
  ];

  it("lists device bridges, pod routes, NAT rules and the device ends of the nodes' veths", () => {
    const plan = planCluster({
      lab: "l",
      nodes,
      devices,
      links: [
        { node: "n0", device: "r1", deviceBridge: "br0", nodeAddress: "10.1.0.2/24", deviceAddress: "10.1.0.1/24" },
        { node: "n1", device: "r1", deviceBridge: "br0", nodeAddress: "10.1.0.3/24", deviceAddress: "10.1.0.1/24" },
        { node: "n2", device: "r2", nodeAddress: "10.1.2.2/24", deviceAddress: "10.1.2.1/24" },
      ],
      options: { internetVia: "r2", encapsulation: "none", podRoutes: [{ device: "r3", node: "n2", via: "10.9.0.2" }] },
    });
    assert.deepEqual(formatDeviceUndo(plan), [
      { device: "r1", undo: ["link delete br0", "link delete eth1", "link delete eth2"] },
      // (r2's uplink end goes with the host link; the NAT rule on it does not)
      { device: "r2", undo: ["iptables -t nat -D POSTROUTING -o eth2 -m comment --comment kinda:l -j MASQUERADE", "link delete eth1"] },
      // by its prefix: a re-route may have given it another next hop since
      { device: "r3", undo: ["route del 10.244.2.0/24"] },
    ]);
    // each inverse is the typed operation, not a line to parse back
    assert.deepEqual(plan.deviceUndo[2]!.undo, [{ op: "route-del", route: { dst: "10.244.2.0/24" } }]);
  });

  it("joins a bridge the device already has without making or removing it, and puts back the gateway's own default route", () => {
    const own: DeviceFacts[] = [
      { ...devices[0]!, interfaces: ["lo", "eth0", "br9"], bridges: ["br9"] },
      { ...devices[1]!, defaultRoute: { dst: "default", via: "172.17.0.1", dev: "eth0" } },
      devices[2]!,
    ];
    const plan = planCluster({
      lab: "l",
      nodes: fakeNodes(1),
      devices: own,
      links: [{ node: "n0", device: "r1", deviceBridge: "br9", nodeAddress: "10.1.0.2/24", deviceAddress: "10.1.0.1/24" }],
      options: { internetVia: "r2" },
    });
    const r1 = findStep(plan, (s) => s.label === "device r1")!;
    assert.ok(!r1.ip.some((l) => l.startsWith("link add br9")), "an existing bridge is not made again");
    assert.ok(r1.ip.includes("link set eth1 master br9"));
    assert.deepEqual(formatDeviceUndo(plan), [
      // the bridge stays; the address kinda put on it goes
      { device: "r1", undo: ["addr del 10.1.0.1/24 dev br9", "link delete eth1"] },
      {
        device: "r2",
        undo: [
          "route replace default via 172.17.0.1 dev eth0",
          "iptables -t nat -D POSTROUTING -o eth1 -m comment --comment kinda:l -j MASQUERADE",
        ],
      },
    ]);
  });
});
