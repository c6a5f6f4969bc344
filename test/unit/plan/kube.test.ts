import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TopologyError } from "../../../src/core/errors.js";
import { planLab } from "../../../src/plan/lab.js";
import {
  configMapManifest,
  dnsLabel,
  domainPeers,
  freeVni,
  kubeInterface,
  parseUnderlay,
  peerMoveOps,
  podInterfaceOps,
  recordedVni,
  planKubeLab,
  podFdbOps,
  podLinkOps,
  resolveKubeEndpoint,
  sysctlArgv,
} from "../../../src/plan/kube.js";
import { renderFdb, renderInvocations, renderIp } from "../../../src/plan/ops.js";
import { parseLabConf } from "../../../src/topology/kathara.js";
import type { Lab } from "../../../src/model/lab.js";

const opts = { name: "kt", sharedDir: "/state/kt/shared", stageRoot: "/state/kt/devices" };
function lab(conf: string): Lab {
  const p = parseLabConf(conf);
  assert.deepEqual(p.issues, []);
  return { metadata: p.metadata, devices: p.devices, warnings: p.warnings, flavor: "kathara" };
}
// a LAN of three (A) and a point-to-point link (B)
const conf = 'r1[0]="A/00:00:00:00:00:01"\nr1[1]="B"\nr2[0]="A"\nr3[0]="A"\nr3[1]="B"\n';

describe("Kubernetes runtime plan", () => {
  it("gives each collision domain a VNI and each device a pod, spread unless pinned", () => {
    const k = planKubeLab(planLab(lab(conf), opts), { placement: { r2: "kind-worker" } });
    assert.equal(k.namespace, "kinda-kt");
    assert.deepEqual(k.domains, [
      { name: "A", vni: 1 },
      { name: "B", vni: 2 },
    ]);
    assert.deepEqual(
      k.devices.map((d) => d.pod),
      ["r1", "r2", "r3"],
    );
    const spec = (d: (typeof k.devices)[number]) => d.manifest["spec"] as Record<string, unknown>;
    const r1 = spec(k.devices[0]!);
    assert.equal((r1["topologySpreadConstraints"] as unknown[]).length, 1);
    assert.equal(r1["nodeSelector"], undefined);
    const r2 = spec(k.devices[1]!);
    assert.deepEqual(r2["nodeSelector"], { "kubernetes.io/hostname": "kind-worker" });
    assert.equal(r2["topologySpreadConstraints"], undefined);
    // not privileged: Kathara's capability list (a privileged container needs what some hosts lack)
    const c = (r1["containers"] as Record<string, unknown>[])[0]!;
    assert.deepEqual(c["securityContext"], {
      privileged: false,
      capabilities: { add: ["NET_ADMIN", "NET_RAW", "NET_BROADCAST", "NET_BIND_SERVICE", "SYS_ADMIN"] },
    });
    // no host paths: the files come from a ConfigMap through an init step, into an emptyDir
    const vols = r1["volumes"] as Record<string, unknown>[];
    assert.ok(vols.every((v) => !("hostPath" in v)));
    assert.deepEqual(vols[0], { name: "files", configMap: { name: "r1-files" } });
  });

  it("makes ethN a veth onto a bridge with the domain's VXLAN, peers listed for head-end replication", () => {
    const k = planKubeLab(planLab(lab(conf), opts));
    const ips = new Map([
      ["r1", "10.244.0.5"],
      ["r2", "10.244.1.7"],
      ["r3", "10.244.2.9"],
    ]);
    const peers = domainPeers(k, ips);
    const r1 = k.devices[0]!;
    const lines = podLinkOps(r1, { ip: "10.244.0.5", gateway: "10.244.0.1", mtu: 1500 }, peers).map(renderIp);
    assert.deepEqual(lines.slice(0, 3), ["link set eth0 down", "link set eth0 name kinda0", "link set kinda0 up"]);
    assert.ok(lines.includes("route replace default via 10.244.0.1 dev kinda0 onlink table 4789"));
    assert.ok(lines.includes("rule add to 10.244.1.7/32 lookup 4789 pref 100"));
    assert.ok(lines.includes("rule add to 10.244.2.9/32 lookup 4789 pref 100"));
    assert.ok(lines.includes("link add kx0 type vxlan id 1 local 10.244.0.5 dstport 4789 dev kinda0"));
    assert.ok(lines.includes("link add eth0 address 00:00:00:00:00:01 mtu 1450 type veth peer name kv0 mtu 1450"));
    assert.ok(lines.includes("link add kx1 type vxlan id 2 local 10.244.0.5 dstport 4789 dev kinda0"));
    // the LAN of three: both others; the link: only r3
    assert.deepEqual(podFdbOps(r1, peers).map(renderFdb), [
      "fdb append 00:00:00:00:00:00 dev kx0 dst 10.244.1.7",
      "fdb append 00:00:00:00:00:00 dev kx0 dst 10.244.2.9",
      "fdb append 00:00:00:00:00:00 dev kx1 dst 10.244.2.9",
    ]);
  });

  it("refuses what needs the host, naming the device and field, before anything is created", () => {
    const l = lab('pc[0]="A"\npc[port]="8080:80"\n');
    assert.throws(
      () => planKubeLab(planLab(l, opts)),
      (e: unknown) => e instanceof TopologyError && e.issues.some((i) => i.device === "pc" && i.field === "port"),
    );
    assert.throws(
      () => planKubeLab(planLab(lab(conf), opts), { namespace: "Not_A_Name" }),
      (e: unknown) => e instanceof TopologyError && e.issues.some((i) => i.field === "namespace"),
    );
    assert.throws(
      () => planKubeLab(planLab(lab(conf), opts), { placement: { r9: "n" } }),
      (e: unknown) => e instanceof TopologyError && e.issues.some((i) => i.message.includes("no device r9")),
    );
  });

  it("resolves endpoints to kinda's ends in the pods: cut is the peer end down, capture on it", () => {
    const k = planKubeLab(planLab(lab(conf), opts));
    const st = {
      name: "kt",
      domains: k.domains,
      devices: k.devices.map((d) => ({ name: d.device, container: d.pod, interfaces: d.interfaces })),
    };
    const t = resolveKubeEndpoint(st, "r1:eth1");
    assert.deepEqual(t.cut, [{ at: { ns: { container: "r1" }, dev: "kv1" }, how: "carrier" }]);
    assert.deepEqual(t.capture, { ns: { container: "r1" }, dev: "kv1" });
    const p = resolveKubeEndpoint(st, "r2--r3");
    assert.equal(p.domain, "A");
    assert.deepEqual(
      p.directions.map((d) => `${d.from}>${d.to}@${(d.at.ns as { container: string }).container}:${d.at.dev}`),
      ["r2>r3@r3:kv0", "r3>r2@r2:kv0"],
    );
    assert.throws(() => resolveKubeEndpoint(st, "r1--r3"), /share 2 collision domains/);
    assert.equal(resolveKubeEndpoint(st, "A").cut.length, 3);
    assert.throws(() => resolveKubeEndpoint(st, "r1:eth7"), /r1 has no linked interface eth7/);
  });

  it("parses the pod's gateway and MTU, names DNS labels, checks ConfigMap size, orders sysctls", () => {
    assert.deepEqual(
      parseUnderlay('[{"dst":"default","gateway":"10.244.1.1","dev":"eth0","flags":["onlink"]}]', '[{"ifname":"eth0","mtu":1500}]'),
      { gateway: "10.244.1.1", mtu: 1500 },
    );
    assert.throws(() => parseUnderlay("[]", '[{"mtu":1500}]'), /no default route/);
    assert.equal(dnsLabel("Router_1.a"), "router-1-a");
    assert.throws(() => configMapManifest("x", {}, Buffer.alloc(1_000_001)), /at most 1000000/);
    const argv = sysctlArgv({ "net.ipv4.conf.default.rp_filter": "0", "net.ipv6.conf.all.disable_ipv6": "0" });
    assert.deepEqual(argv.slice(4), ["net.ipv6.conf.all.disable_ipv6", "0", "net.ipv4.conf.default.rp_filter", "0"]);
  });

  it("a device that moves (a pod made again), comes or goes: its peers' replication entries, learnt MACs and rule follow", () => {
    const learnt = [
      { mac: "00:00:00:00:00:00", ifname: "kx0", dst: "10.244.1.5" },
      { mac: "aa:bb:cc:00:00:01", ifname: "kx0", dst: "10.244.1.5" },
      { mac: "aa:bb:cc:00:00:02", ifname: "kx0", dst: "10.244.2.9" },
      { mac: "aa:bb:cc:00:00:03", ifname: "kx3", dst: "10.244.1.5" },
    ];
    // as the pod's bridge and ip read them: the renderer's batches, -force
    const lines = (ops: ReturnType<typeof peerMoveOps>) => {
      const inv = renderInvocations(ops, { force: true });
      for (const i of inv) assert.deepEqual(i.argv, [i.tool, "-force", "-batch", "-"]);
      return { bridge: inv.find((i) => i.tool === "bridge")?.lines ?? [], ip: inv.find((i) => i.tool === "ip")?.lines ?? [] };
    };
    const moved = lines(peerMoveOps(["kx0"], learnt, { oldIp: "10.244.1.5", newIp: "10.244.2.7" }));
    assert.deepEqual(moved.bridge, [
      "fdb del 00:00:00:00:00:00 dev kx0 dst 10.244.1.5",
      "fdb del aa:bb:cc:00:00:01 dev kx0 dst 10.244.1.5",
      "fdb append 00:00:00:00:00:00 dev kx0 dst 10.244.2.7",
    ]);
    assert.deepEqual(moved.ip, ["rule del to 10.244.1.5/32 lookup 4789 pref 100", "rule add to 10.244.2.7/32 lookup 4789 pref 100"]);
    // a link removed between two that share another domain: the rule stays
    const gone = lines(peerMoveOps(["kx0"], [], { oldIp: "10.244.1.5", keepRule: true }));
    assert.deepEqual(gone, { bridge: ["fdb del 00:00:00:00:00:00 dev kx0 dst 10.244.1.5"], ip: [] });
    const comes = lines(peerMoveOps(["kx1", "kx2"], [], { newIp: "10.244.0.4" }));
    assert.deepEqual(comes.bridge, [
      "fdb append 00:00:00:00:00:00 dev kx1 dst 10.244.0.4",
      "fdb append 00:00:00:00:00:00 dev kx2 dst 10.244.0.4",
    ]);
  });

  it("VNIs of a running lab: as recorded, else the domain's place at up; a new one is above all", () => {
    const doms = [{ name: "A" }, { name: "B", vni: 7 }, { name: "C" }];
    assert.equal(recordedVni(doms, "A"), 1);
    assert.equal(recordedVni(doms, "B"), 7);
    assert.equal(recordedVni(doms, "C"), 3);
    assert.equal(freeVni(doms), 8);
    assert.throws(() => recordedVni(doms, "Z"), /collision domain Z is not in the lab/);
    const ops = podInterfaceOps(kubeInterface("eth4", "r1--r2", 8), "10.244.1.5", 1450).map(renderIp);
    assert.deepEqual(ops.slice(0, 3), [
      "link add kb4 type bridge mcast_snooping 0",
      "link add kx4 type vxlan id 8 local 10.244.1.5 dstport 4789 dev kinda0",
      "link set kx4 mtu 1450 master kb4",
    ]);
    assert.ok(ops.includes("link set eth4 up"));
  });
});
