/**
 * Issue 25's test of the Kubernetes runtime: a host cluster of three real Kind nodes (one control
 * plane made schedulable, two workers; the offline node image), the device images loaded with
 * `kind load`, and the Kathara lab data-center-bgp (read from KINDA_CONFORMANCE_DIR, never copied
 * into the project; without it the test fails saying where it looked) deployed unmodified with
 * `kinda up --runtime kubernetes`.
 * It checks what a user would: devices on all three host nodes, every server reaches every other,
 * a link between pods on different host nodes is VXLAN between their pod IPs and carries the
 * pings, `kinda link ... down` cuts it and `up` restores it, `kinda capture` reads it, and `kinda
 * down` leaves the host cluster as it was (namespaces and pods). Run: npm run -s test:k8s -- test/k8s/kube-runtime.test.ts.
 *
 * Sandbox note: Kind nodes are privileged containers, which this machine's Docker runs only with
 * the test set-up's runc wrapper (scripts/test-env/runc-drop-sys-resource). Inside the nodes,
 * containerd runs runc directly, so device pods are not privileged: they get Kathara's capability
 * list (NET_ADMIN, NET_RAW, NET_BROADCAST, NET_BIND_SERVICE, SYS_ADMIN), which is all they need.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BASE_IMAGE, CONFORMANCE_DIR, FRR_IMAGE, conformanceLabs, IMAGE_MAP_ARGS, ensureTestEnv } from "../support/env.js";
import { eventually, kinda, kindaOk, kindaSpawn, reachesAll, stateDir } from "../support/kinda.js";
import { CACHE, KIND, Kubectl, NODE_IMAGE, buildImages } from "./support.js";

/** The host cluster's name: CI's kr-host, or another (KINDA_TEST_KR_HOST) so a run beside CI's does not touch its cluster. */
const HOST = process.env["KINDA_TEST_KR_HOST"] ?? "kr-host";
const LAB = "kr-dcbgp";
const NS = `kinda-${LAB}`;
const DIR = join(CONFORMANCE_DIR, "data-center-bgp");
const SERVERS = [
  "server_1_1_1",
  "server_1_1_2",
  "server_1_2_1",
  "server_1_2_2",
  "server_2_1_1",
  "server_2_1_2",
  "server_2_2_1",
  "server_2_2_2",
];

let kube: Kubectl;
/** The crossing link the second test found (a server and its leaf on different host nodes). */
let cross: { server: string; leaf: string } | undefined;
let kubeconfig: string;
const t0 = Date.now();
const took = (what: string, since: number) => console.log(`# ${what}: ${((Date.now() - since) / 1000).toFixed(1)} s`);

/** A server's address, from its own start-up file (`ip address add A/24 dev eth0`). */
function addressOf(server: string): string {
  const m = /ip address add ([\d.]+)\/\d+ dev eth0/.exec(readFileSync(join(DIR, `${server}.startup`), "utf8"));
  assert.ok(m, `${server}.startup gives its address`);
  return m[1]!;
}

/** What the host cluster holds outside kube-system's own churn: namespaces and pods, by name. */
function clusterContents(): { namespaces: string[]; pods: string[] } {
  const ns = kube.run(["get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}"]).trim().split(/\s+/).sort();
  const pods = kube
    .run(["get", "pods", "-A", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}"])
    .trim()
    .split(/\s+/)
    .sort();
  return { namespaces: ns, pods };
}

interface PodRow {
  device: string;
  pod: string;
  node: string;
  ip: string;
}

function labPods(): PodRow[] {
  const out = kube.run([
    "get",
    "pods",
    "-n",
    NS,
    "-o",
    "jsonpath={range .items[*]}{.metadata.annotations.kinda\\.device} {.metadata.name} {.spec.nodeName} {.status.podIP}{'\\n'}{end}",
  ]);
  return out
    .trim()
    .split("\n")
    .map((l) => {
      const [device, pod, node, ip] = l.split(" ") as [string, string, string, string];
      return { device, pod, node, ip };
    });
}

/** `kinda exec` in a device (the pod's exec API); output and exit code. */
async function inDevice(device: string, ...argv: string[]): Promise<{ code: number | null; out: string }> {
  const r = await kinda("exec", "--lab", LAB, device, "--", ...argv);
  return { code: r.code, out: r.stdout + r.stderr };
}

let before_: { namespaces: string[]; pods: string[] };

// the lab is read from ../shared: without it the file says it did not run, as the conformance
// suite does (conformanceLabs); under CI=true the absence fails in before()
const labs = conformanceLabs();
const SKIP = "missing" in labs && !["true", "1"].includes(process.env["CI"] ?? "") ? labs.missing : false;

describe("Kubernetes runtime: data-center-bgp on a three-node host cluster", { timeout: 1_500_000, skip: SKIP }, () => {
  before(async () => {
    assert.ok(existsSync(join(DIR, "lab.conf")), `the conformance lab data-center-bgp is at ${DIR} (set KINDA_CONFORMANCE_DIR)`);
    ensureTestEnv();
    buildImages();
    // a stale cluster of an interrupted run of this test (its own name only)
    const clusters = execFileSync(KIND, ["get", "clusters"], { encoding: "utf8" });
    if (clusters.split("\n").includes(HOST)) execFileSync(KIND, ["delete", "cluster", "--name", HOST], { stdio: "ignore" });
    const config = join(CACHE, `kind-config-${HOST}.yaml`);
    writeFileSync(
      config,
      "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n- role: worker\n- role: worker\n",
    );
    let t = Date.now();
    execFileSync(KIND, ["create", "cluster", "--name", HOST, "--image", NODE_IMAGE, "--config", config, "--wait", "300s"], {
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 600_000,
    });
    took("kind create cluster (3 nodes)", t);
    kube = new Kubectl(HOST);
    kubeconfig = kube.kubeconfig;
    // three host nodes for devices: the control plane takes pods too
    kube.run(["taint", "nodes", `${HOST}-control-plane`, "node-role.kubernetes.io/control-plane:NoSchedule-"]);
    t = Date.now();
    execFileSync(KIND, ["load", "docker-image", "--name", HOST, FRR_IMAGE, BASE_IMAGE], {
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 600_000,
    });
    took("kind load docker-image (2 images, 3 nodes)", t);
    before_ = clusterContents();
  });

  after(async () => {
    if (!kube) return;
    // whatever happened above: the lab (only if still recorded), then the host cluster this test made
    await kinda("down", LAB);
    await kinda("down", "kr-crash");
    execFileSync(KIND, ["delete", "cluster", "--name", HOST], { stdio: "ignore", timeout: 300_000 });
    took("whole test", t0);
  });

  it("deploys with devices on all three host nodes, every server reaching every other", async () => {
    const t = Date.now();
    const out = await kindaOk("up", DIR, "--name", LAB, ...IMAGE_MAP_ARGS, "--runtime", "kubernetes", "--kubeconfig", kubeconfig);
    took("kinda up --runtime kubernetes (18 pods)", t);
    assert.match(out, new RegExp(`lab ${LAB} is up: 18 devices`));
    const pods = labPods();
    assert.equal(pods.length, 18);
    const nodes = new Set(pods.map((p) => p.node));
    assert.deepEqual([...nodes].sort(), [`${HOST}-control-plane`, `${HOST}-worker`, `${HOST}-worker2`], "devices on all three host nodes");
    // the default spread: as even as it goes (18 over 3)
    for (const n of nodes) assert.equal(pods.filter((p) => p.node === n).length, 6, `6 devices on ${n}`);
    // status shows it from the state: runtime, namespace and each device's host node
    const status = JSON.parse(await kindaOk("status", LAB, "--json")) as {
      runtime?: { namespace: string };
      devices: { name: string; node?: string; running: boolean }[];
    }[];
    assert.equal(status[0]!.runtime?.namespace, NS);
    for (const p of pods) assert.equal(status[0]!.devices.find((d) => d.name === p.device)?.node, p.node);
    assert.ok(status[0]!.devices.every((d) => d.running));
    // Kathara's numbering inside devices: eth0..eth3 on a leaf, Kubernetes' own interface renamed
    const links = await inDevice("leaf_1_0_1", "ip", "-o", "link", "show");
    for (const i of ["eth0", "eth1", "eth2", "eth3", "kinda0"]) assert.match(links.out, new RegExp(`: ${i}[@:]`), `leaf_1_0_1 has ${i}`);
    const addrs = SERVERS.map(addressOf);
    const conv = Date.now();
    for (const s of SERVERS) {
      const others = addrs.filter((a) => a !== addressOf(s));
      await eventually(`${s} reaches the 7 other servers`, 300, () => reachesAll(LAB, s, others));
    }
    took("BGP convergence: every server reaches every other", conv);
  });

  it("a link between pods on different host nodes is VXLAN between their pod IPs, and carries the traffic", async () => {
    const pods = labPods();
    // server_1_1_1 and leaf_1_0_1 share collision domain C; pick the server whose leaf is elsewhere
    const pairs: [string, string][] = [
      ["server_1_1_1", "leaf_1_0_1"],
      ["server_1_1_2", "leaf_1_0_1"],
      ["server_1_2_1", "leaf_1_0_2"],
      ["server_1_2_2", "leaf_1_0_2"],
      ["server_2_1_1", "leaf_2_0_1"],
      ["server_2_1_2", "leaf_2_0_1"],
      ["server_2_2_1", "leaf_2_0_2"],
      ["server_2_2_2", "leaf_2_0_2"],
    ];
    const at = (d: string) => pods.find((p) => p.device === d)!;
    const found = pairs.find(([s, l]) => at(s).node !== at(l).node);
    assert.ok(found, "at least one server's link to its leaf crosses host nodes");
    const [server, leaf] = found;
    cross = { server, leaf };
    console.log(`# crossing link: ${server} on ${at(server).node} -- ${leaf} on ${at(leaf).node}`);
    // the device's eth0 rides on VXLAN: kx0's remote is the leaf pod's IP, on another host node
    const vx = await inDevice(server, "ip", "-d", "link", "show", "kx0");
    assert.match(vx.out, /vxlan id \d+/);
    const fdb = await inDevice(server, "bridge", "fdb", "show", "dev", "kx0");
    assert.match(fdb.out, new RegExp(`00:00:00:00:00:00 dst ${at(leaf).ip.replace(/\./g, "\\.")} `));
    // traffic crosses it: VXLAN packets from this pod's IP to the leaf's, on the pod's own interface
    const gw = addressOf(server).replace(/\.2$/, ".1");
    const [cap] = await Promise.all([
      inDevice(
        server,
        "timeout",
        "20",
        "tcpdump",
        "-n",
        "-i",
        "kinda0",
        "-c",
        "4",
        "udp",
        "port",
        "4789",
        "and",
        "dst",
        "host",
        at(leaf).ip,
      ),
      (async () => {
        await new Promise((r) => setTimeout(r, 3000));
        await inDevice(server, "ping", "-c", "5", "-i", "0.5", gw);
      })(),
    ]);
    assert.match(
      cap.out,
      new RegExp(`IP ${at(server).ip.replace(/\./g, "\\.")}\\.\\d+ > ${at(leaf).ip.replace(/\./g, "\\.")}\\.4789: VXLAN`),
    );
    assert.match(cap.out, /4 packets captured/);

    // kinda capture reads the link (tcpdump in the pod on kinda's end of eth0)
    const [capture] = await Promise.all([
      kinda("capture", LAB, `${server}:eth0`, "-c", "2", "--", "icmp"),
      (async () => {
        await new Promise((r) => setTimeout(r, 3000));
        await inDevice(server, "ping", "-c", "5", "-i", "0.5", gw);
      })(),
    ]);
    assert.equal(capture.code, 0, capture.stderr);
    assert.match(capture.stdout, new RegExp(`${addressOf(server).replace(/\./g, "\\.")} > ${gw.replace(/\./g, "\\.")}: ICMP echo request`));

    // link down cuts it: the server reaches neither its leaf nor any other server; up restores both
    const other = addressOf(SERVERS.find((s) => s !== server)!);
    assert.equal((await inDevice(server, "ping", "-c", "1", "-W", "2", gw)).code, 0);
    await kindaOk("link", LAB, `${server}:eth0`, "down");
    const carrier = await inDevice(server, "ip", "link", "show", "eth0");
    assert.match(carrier.out, /NO-CARRIER/, "the device sees its cable pulled");
    assert.match((await inDevice(server, "ip", "route", "show", "default")).out, /default via/, "and keeps its routes");
    assert.notEqual((await inDevice(server, "ping", "-c", "2", "-W", "2", gw)).code, 0, "no answer across the cut");
    assert.notEqual((await inDevice(server, "ping", "-c", "2", "-W", "2", other)).code, 0);
    await kindaOk("link", LAB, `${server}:eth0`, "up");
    await eventually(
      `${server} reaches its leaf again`,
      60,
      async () => (await inDevice(server, "ping", "-c", "1", "-W", "2", gw)).code === 0,
    );
    await eventually(
      `${server} reaches ${other} again`,
      180,
      async () => (await inDevice(server, "ping", "-c", "1", "-W", "2", other)).code === 0,
    );
  });

  it("status --links, top and graph of the running lab: counters read in the pods, host nodes in the picture", async () => {
    assert.ok(cross, "the crossing link was found");
    const { server } = cross;
    const t = Date.now();
    const rows = JSON.parse(await kindaOk("status", LAB, "--links", "--json")) as {
      endpoint: string;
      txPackets: number;
      rxPackets: number;
      cut: boolean;
      txBps?: number;
    }[];
    took("kinda status --links --json (two samples a second apart, 18 pods)", t);
    const pods = labPods();
    // data-center-bgp: 8 servers with 1 interface, 4 leaves with 4 (2 servers, 2 spines), 4 spines with 3, 2 tors with 2
    assert.ok(rows.length >= 30, `one row per interface (${rows.length})`);
    const row = rows.find((r) => r.endpoint === `${server}:eth0`);
    assert.ok(row, `a row for ${server}:eth0`);
    assert.ok(row.txPackets > 0 && row.rxPackets > 0, `${server}:eth0 counted its pings (tx ${row.txPackets}, rx ${row.rxPackets})`);
    assert.equal(row.cut, false);
    assert.ok(
      rows.every((r) => r.txBps !== undefined),
      "rates from the two samples",
    );
    // kinda top: the same table, refreshing; two samples give rates
    const top = kindaSpawn(["top", LAB, "--interval", "1"]);
    let out = "";
    top.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    top.stderr!.on("data", (c: Buffer) => (out += c.toString()));
    try {
      await eventually(
        "kinda top prints two tables",
        60,
        async () => (out.match(/links \(counters as the device sees them\)/g) ?? []).length >= 2,
      );
    } finally {
      top.kill("SIGINT");
    }
    assert.match(out, new RegExp(`${server}:eth0\\s+domain \\S+\\s+up\\s+\\d+`));
    assert.match(out, /bit\/s/);
    // the graph of the lab as it runs: 18 devices, each with the host node of its pod
    const dot = await kindaOk("graph", LAB, "-f", "dot");
    for (const p of pods)
      assert.match(dot, new RegExp(`"${p.device}" \\[[^\\]]*label="${p.device} @ ${p.node}"`), `${p.device} @ ${p.node}`);
  });

  it("restart DEVICE: its pod is made again with a new IP, the peers' VXLAN follows, it reaches them again", async () => {
    assert.ok(cross, "the crossing link was found");
    const { server, leaf } = cross;
    const before = labPods().find((p) => p.device === server)!;
    const t = Date.now();
    await kindaOk("restart", LAB, server);
    took(`kinda restart ${LAB} ${server}`, t);
    const after = labPods().find((p) => p.device === server)!;
    console.log(`# ${server}: ${before.node} ${before.ip} -> ${after.node} ${after.ip}`);
    assert.notEqual(after.ip, before.ip, "a new pod, a new IP (host-local IPAM hands out the next one)");
    const leafFdb = (await inDevice(leaf, "bridge", "fdb", "show")).out;
    assert.match(
      leafFdb,
      new RegExp(`00:00:00:00:00:00 dev kx\\d+ dst ${after.ip.replace(/\./g, "\\.")} `),
      "the leaf replicates to the new IP",
    );
    assert.doesNotMatch(leafFdb, new RegExp(`dst ${before.ip.replace(/\./g, "\\.")} `), "and nothing to the old one");
    const rules = (await inDevice(leaf, "ip", "rule", "show")).out;
    assert.match(rules, new RegExp(`to ${after.ip.replace(/\./g, "\\.")} lookup 4789`));
    assert.doesNotMatch(rules, new RegExp(`to ${before.ip.replace(/\./g, "\\.")} lookup`));
    const gw = addressOf(server).replace(/\.2$/, ".1");
    const other = addressOf(SERVERS.find((x) => x !== server)!);
    const back = await eventually(
      `${server} reaches its leaf after the restart`,
      60,
      async () => (await inDevice(server, "ping", "-c", "1", "-W", "2", gw)).code === 0,
    );
    await eventually(
      `${server} reaches ${other} after the restart`,
      120,
      async () => (await inDevice(server, "ping", "-c", "1", "-W", "2", other)).code === 0,
    );
    console.log(`# ${server} reached its leaf ${back.toFixed(1)} s after the restart returned`);
  });

  it("link add and remove between pods on different host nodes; device remove and add", async () => {
    const pods = labPods();
    const at = (d: string) => pods.find((p) => p.device === d)!;
    const a = SERVERS[0]!;
    const b = SERVERS.find((x) => at(x).node !== at(a).node)!;
    let t = Date.now();
    const added = await kindaOk("link", LAB, `${a}--${b}`, "add", "--address", `${a}=10.99.0.1/30`, "--address", `${b}=10.99.0.2/30`);
    took(`kinda link ${a}--${b} add`, t);
    assert.match(added, new RegExp(`added ${a}:eth1 -- ${b}:eth1`));
    assert.match((await inDevice(b, "bridge", "fdb", "show", "dev", "kx1")).out, new RegExp(`dst ${at(a).ip.replace(/\./g, "\\.")} `));
    await eventually(
      `${a} reaches ${b} over the new link`,
      30,
      async () => (await inDevice(a, "ping", "-c", "1", "-W", "2", "10.99.0.2")).code === 0,
    );
    t = Date.now();
    await kindaOk("link", LAB, `${a}--${b}`, "remove");
    took(`kinda link ${a}--${b} remove`, t);
    assert.notEqual((await inDevice(a, "ip", "link", "show", "eth1")).code, 0, `${a}'s eth1 is gone`);
    assert.notEqual((await inDevice(a, "ping", "-c", "1", "-W", "2", "10.99.0.2")).code, 0);
    // its old link still works
    assert.equal((await inDevice(a, "ping", "-c", "1", "-W", "2", addressOf(a).replace(/\.2$/, ".1"))).code, 0);

    // a device removed: its pod goes, its leaf replicates to it no more; added back from the source, it reaches the others
    const gone = SERVERS[SERVERS.length - 1]!;
    const ip = at(gone).ip;
    t = Date.now();
    await kindaOk("device", LAB, gone, "remove");
    took(`kinda device ${gone} remove`, t);
    assert.ok(!labPods().some((p) => p.device === gone), `${gone}'s pod is gone`);
    const leafOf = "leaf_2_0_2";
    assert.doesNotMatch((await inDevice(leafOf, "bridge", "fdb", "show")).out, new RegExp(`dst ${ip.replace(/\./g, "\\.")} `));
    t = Date.now();
    await kindaOk("device", LAB, gone, "add");
    took(`kinda device ${gone} add`, t);
    const again = labPods().find((p) => p.device === gone);
    assert.ok(again, `${gone} has a pod again`);
    const others = SERVERS.filter((x) => x !== gone).map(addressOf);
    await eventually(`${gone} reaches the 7 other servers again`, 120, () => reachesAll(LAB, gone, others));
  });

  it("restart LAB: down, then up on the same host cluster (recorded runtime); every pod new, every server reaching every other", async () => {
    const uids = () =>
      kube.run(["get", "pods", "-n", NS, "-o", "jsonpath={range .items[*]}{.metadata.uid}{'\\n'}{end}"]).trim().split("\n");
    const before = new Set(uids());
    assert.equal(before.size, 18);
    const t = Date.now();
    // no --runtime, no --kubeconfig: restart takes both from the lab's state
    const out = await kindaOk("restart", LAB);
    took(`kinda restart ${LAB} (whole lab, 18 pods)`, t);
    assert.match(out, new RegExp(`lab ${LAB} restarted: 18 devices`));
    const now = uids();
    assert.equal(now.length, 18, "18 pods again");
    assert.ok(!now.some((u) => before.has(u)), "every pod is a new one");
    assert.equal(new Set(labPods().map((p) => p.node)).size, 3, "on all three host nodes again");
    const status = JSON.parse(await kindaOk("status", LAB, "--json")) as { runtime?: { kind?: string; namespace: string } }[];
    assert.deepEqual([status[0]!.runtime?.kind, status[0]!.runtime?.namespace], ["kubernetes", NS], "still on the Kubernetes runtime");
    const addrs = SERVERS.map(addressOf);
    const conv = Date.now();
    for (const s of SERVERS) {
      const others = addrs.filter((a) => a !== addressOf(s));
      await eventually(`${s} reaches the 7 other servers after the restart`, 300, () => reachesAll(LAB, s, others));
    }
    took("BGP convergence after the restart", conv);
  });

  it("down removes exactly the lab: the host cluster is as it was", async () => {
    const t = Date.now();
    await kindaOk("down", LAB);
    took("kinda down", t);
    assert.equal(kube.try("get", "namespace", NS).code === 0, false, `namespace ${NS} is gone`);
    assert.deepEqual(clusterContents(), before_);
    assert.equal(existsSync(join(stateDir, "labs", LAB)), false, "no state left");
  });

  it("down after a crashed up: the state recorded the runtime, so down finds and deletes the namespace", async () => {
    const crash = "kr-crash";
    const child = kindaSpawn(["up", DIR, "--name", crash, ...IMAGE_MAP_ARGS, "--runtime", "kubernetes", "--kubeconfig", kubeconfig]);
    const exited = new Promise((r) => child.once("exit", r));
    // killed (no handler runs) once its namespace exists on the host cluster
    await eventually(`namespace kinda-${crash} is created`, 120, async () => kube.try("get", "namespace", `kinda-${crash}`).code === 0);
    child.kill("SIGKILL");
    await exited;
    const st = JSON.parse(readFileSync(join(stateDir, "labs", crash, "state.json"), "utf8")) as {
      runtime?: { kind: string; namespace: string };
    };
    assert.deepEqual([st.runtime?.kind, st.runtime?.namespace], ["kubernetes", `kinda-${crash}`], "the state recorded the runtime");
    const t = Date.now();
    await kindaOk("down", crash);
    took("kinda down after a crash", t);
    assert.notEqual(kube.try("get", "namespace", `kinda-${crash}`).code, 0, "its namespace is gone");
    assert.deepEqual(clusterContents(), before_, "the host cluster is as it was");
    assert.equal(existsSync(join(stateDir, "labs", crash)), false, "no state left");
  });
});
