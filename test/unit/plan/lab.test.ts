import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TopologyError } from "../../../src/core/errors.js";
import {
  deviceLinkBatch,
  devicePostLinkBatch,
  devicePreLinkBatch,
  formatPlan,
  labNamespaceBatch,
  planLab,
  startWaves,
} from "../../../src/plan/lab.js";
import { loadKatharaLab, parseLabConf } from "../../../src/topology/kathara.js";
import type { Lab } from "../../../src/model/lab.js";
import { fixtureLab } from "../../support/env.js";
import { renderIp } from "../../../src/plan/ops.js";

const opts = { name: "t1", sharedDir: "/state/t1/shared", stageRoot: "/state/t1/devices" };
function lab(conf: string): Lab {
  const p = parseLabConf(conf);
  assert.deepEqual(p.issues, []);
  return { metadata: p.metadata, devices: p.devices, warnings: p.warnings };
}

describe("planner", () => {
  it("names everything after the lab and keeps the host namespace out of it", () => {
    const plan = planLab(lab('pc1[0]="A/00:00:00:00:00:01"\npc1[1]="B"\npc2[0]="A"\n'), opts);
    assert.equal(plan.netns, "kinda-t1");
    assert.deepEqual(
      plan.devices.map((d) => d.container),
      ["kinda-t1-pc1", "kinda-t1-pc2"],
    );
    assert.deepEqual(labNamespaceBatch(plan).map(renderIp), [
      "link add cd-0 type bridge mcast_snooping 0",
      "link property add dev cd-0 altname A",
      "link set cd-0 up",
      "link add cd-1 type bridge mcast_snooping 0",
      "link property add dev cd-1 altname B",
      "link set cd-1 up",
    ]);
    const pc1 = plan.devices[0]!;
    assert.deepEqual(deviceLinkBatch(pc1, 4242).map(renderIp), [
      "link add v-0-0 master cd-0 up type veth peer name eth0 address 00:00:00:00:00:01 netns 4242",
      "link property add dev v-0-0 altname pc1.eth0",
      "link add v-0-1 master cd-1 up type veth peer name eth1 netns 4242",
      "link property add dev v-0-1 altname pc1.eth1",
    ]);
    assert.deepEqual(devicePreLinkBatch(pc1, "eth0").map(renderIp), []);
    assert.deepEqual(devicePostLinkBatch(pc1).map(renderIp), ["link set eth0 up", "link set eth1 up"]);
    assert.equal(pc1.network, "none");
    assert.deepEqual(pc1.labels, { "kinda.managed-by": "kinda", "kinda.lab": "t1", "kinda.device": "pc1" });
    assert.deepEqual(pc1.mounts, [
      { source: "/state/t1/shared", target: "/shared", readOnly: false },
      { source: "/state/t1/devices/pc1", target: "/var/lib/kinda", readOnly: true },
    ]);
  });

  it("maps images, defaults to kathara/base, uses Kathara's capabilities unless privileged", () => {
    const plan = planLab(lab('a[0]="A"\nb[0]="A"\nb[image]="kathara/frr"\nc[0]="A"\nc[privileged]="true"\n'), {
      ...opts,
      imageMap: { "kathara/base": "local/base" },
    });
    const [a, b, c] = plan.devices;
    assert.equal(a?.image, "local/base");
    assert.equal(a?.requestedImage, "kathara/base");
    assert.equal(b?.image, "kathara/frr");
    assert.deepEqual(a?.capAdd, ["NET_ADMIN", "NET_RAW", "NET_BROADCAST", "NET_BIND_SERVICE", "SYS_ADMIN"]);
    assert.equal(a?.privileged, false);
    assert.equal(c?.privileged, true);
  });

  it("turns IPv6 on by default, off when asked, forwarding on, user sysctls last", () => {
    const plan = planLab(lab('a[0]="A"\nb[0]="A"\nb[ipv6]="false"\nb[sysctl]="net.ipv4.ip_forward=0"\n'), opts);
    const [a, b] = plan.devices;
    assert.equal(a?.sysctls["net.ipv6.conf.all.disable_ipv6"], "0");
    assert.equal(a?.sysctls["net.ipv6.conf.default.disable_ipv6"], "0");
    assert.equal(a?.sysctls["net.ipv4.ip_forward"], "1");
    assert.equal(b?.sysctls["net.ipv6.conf.all.disable_ipv6"], "1");
    assert.equal(b?.sysctls["net.ipv4.ip_forward"], "0");
  });

  it("puts the NAT interface of a bridged device last", () => {
    const plan = planLab(lab('a[0]="A"\na[1]="B"\na[bridged]="true"\n'), opts);
    const a = plan.devices[0]!;
    assert.equal(a.network, "bridge");
    assert.deepEqual(devicePreLinkBatch(a, "eth0").map(renderIp), ["link set eth0 down", "link set eth0 name kinda-nat0"]);
    assert.deepEqual(devicePostLinkBatch(a, "172.17.0.1").map(renderIp).slice(-3), [
      "link set kinda-nat0 name eth2",
      "link set eth2 up",
      "route replace default via 172.17.0.1 dev eth2",
    ]);
  });

  it("orders start-up steps: shared, the device's own, then exec", () => {
    const l = lab('a[0]="A"\na[exec]="echo hi"\n');
    l.devices[0]!.startup = "/lab/a.startup";
    l.sharedStartup = "/lab/shared.startup";
    const a = planLab(l, opts).devices[0]!;
    assert.deepEqual(
      a.startup.map((s) => s.file),
      ["000-shared.startup", "001-a.startup", "002-exec-0"],
    );
  });

  it("computes start waves from lab.dep and rejects loops", () => {
    assert.deepEqual(
      startWaves([
        { name: "a", dependsOn: ["b"] },
        { name: "b", dependsOn: [] },
        { name: "c", dependsOn: [] },
        { name: "d", dependsOn: ["a", "c"] },
      ]),
      [["b", "c"], ["a"], ["d"]],
    );
    assert.throws(() => startWaves([{ name: "a", dependsOn: ["a"] }]), /loop/);
  });

  it("rejects a MAC used twice on one segment and a bad lab name", () => {
    assert.throws(
      () => planLab(lab('a[0]="A/00:00:00:00:00:01"\nb[0]="A/00:00:00:00:00:01"\n'), opts),
      (e: unknown) => {
        assert.ok(e instanceof TopologyError);
        assert.match(e.message, /device b \[eth0\]: MAC 00:00:00:00:00:01 is already used by a eth0/);
        return true;
      },
    );
    assert.throws(() => planLab(lab('a[0]="A"\n'), { ...opts, name: "Bad Name" }), /lab name/);
  });

  it("plans a lab with a shared segment and prints it", () => {
    const plan = planLab(loadKatharaLab(fixtureLab("features")), opts);
    assert.equal(plan.devices.length, 5);
    assert.equal(plan.domains.length, 3);
    const text = formatPlan(plan);
    assert.match(text, /ip -n kinda-t1 link add cd-0 type bridge/);
    assert.match(text, /device pc3: container kinda-t1-pc3/);
  });
});
