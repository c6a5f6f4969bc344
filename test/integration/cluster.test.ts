/**
 * Kubernetes nodes (Kind-compatible fixture nodes) attached to an emulated network with kinda's
 * API, the seed's manual flow (examples/manual-cluster.ts): pod traffic between nodes crosses the
 * network, never the Kind bridge; API traffic optionally too; internet via a gateway device; tc.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { buildExample, LAB_DIR } from "../../examples/manual-cluster.js";
import { IMAGE_MAP_ARGS, ensureTestEnv } from "../support/env.js";
import { FixtureProvider } from "../support/fixture.js";
import { assertNothingLeft, eventually, hostLinks, kinda, kindaOk, stateDir } from "../support/kinda.js";
import { StateStore } from "../../src/state/store.js";
import type { ClusterBuilder } from "../../src/engine/cluster.js";

const LAB = "t-cluster";
const provider = new FixtureProvider("kfx1");
let cluster: ClusterBuilder;
let linksBefore: string[];
const OUTSIDE = "kinda-it-outside";

function counter(device: string, ifname: string, what: "tx_packets" | "rx_packets"): Promise<number> {
  return kindaOk("exec", "--lab", LAB, device, "--", "cat", `/sys/class/net/${ifname}/statistics/${what}`).then(Number);
}

/** Packets through a node's Kind-network interface (eth0), read in the node. */
function kindIfPackets(node: string): number {
  const pid = String(provider.fact(node).pid);
  const tx = execFileSync("nsenter", ["-t", pid, "-n", "cat", "/sys/class/net/eth0/statistics/tx_packets"], { encoding: "utf8" });
  return Number(tx);
}

/** iperf3 client, retried while the freshly started server is not listening yet. */
async function iperf(run: () => { code: number; out: string }): Promise<{ code: number; out: string }> {
  let r = run();
  for (let i = 0; i < 10 && r.code !== 0 && /refused|unable to connect/i.test(r.out); i++) {
    await new Promise((res) => setTimeout(res, 300));
    r = run();
  }
  return r;
}

/**
 * Sends `bytes` over TCP from a client to a byte-counting server (Node itself, run in the given
 * namespaces: argv prefixes such as `ip netns exec NS` or `nsenter -t PID -n`); returns the count
 * the server saw when the client closed.
 */
async function countedTransfer(serverNs: string[], clientNs: string[], target: string, port: number, bytes: number): Promise<number> {
  const server = spawn(
    serverNs[0]!,
    [
      ...serverNs.slice(1),
      process.execPath,
      "-e",
      `let n=0;const s=require('net').createServer(c=>{c.on('data',d=>n+=d.length);c.on('end',()=>{console.log(n);s.close()})});s.listen(${port})`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let received = "";
  server.stdout.on("data", (c: Buffer) => (received += c.toString()));
  const done = new Promise((r) => server.on("close", r));
  const send = `const c=require('net').connect(${port},'${target}',()=>{c.end(Buffer.alloc(${bytes},7))});c.on('error',e=>{console.error(e.message);process.exit(1)})`;
  let code = 1;
  let out = "";
  for (let i = 0; i < 20 && code !== 0; i++) {
    if (i) await new Promise((res) => setTimeout(res, 200));
    try {
      out = execFileSync(clientNs[0]!, [...clientNs.slice(1), process.execPath, "-e", send], { encoding: "utf8", stdio: "pipe" });
      code = 0;
    } catch (e) {
      out = String((e as { stderr?: string }).stderr ?? e);
    }
  }
  if (code !== 0) server.kill();
  assert.equal(code, 0, `the client could not send: ${out}`);
  await done;
  return Number(received.trim());
}

function podPing(node: string, k: number, ip: string, count = 1): boolean {
  return provider.inPod(node, k, ["ping", "-c", String(count), "-i", "0.01", "-W", "2", ip]).code === 0;
}

before(async () => {
  ensureTestEnv();
  linksBefore = hostLinks();
  // a test host playing "the outside", routed from the host side (never a real outside address)
  execFileSync("ip", ["netns", "add", OUTSIDE]);
  execFileSync("ip", ["link", "add", "kito-h", "type", "veth", "peer", "name", "eth0", "netns", OUTSIDE]);
  execFileSync("ip", ["addr", "add", "198.51.100.1/24", "dev", "kito-h"]);
  execFileSync("ip", ["link", "set", "kito-h", "up"]);
  execFileSync("ip", ["-n", OUTSIDE, "-batch", "-"], {
    input: "link set lo up\naddr add 198.51.100.2/24 dev eth0\nlink set eth0 up\nroute add default via 198.51.100.1\n",
  });
  await kindaOk("up", LAB_DIR, "--name", LAB, ...IMAGE_MAP_ARGS);
  process.env["KINDA_STATE_DIR"] = stateDir;
  cluster = buildExample(LAB, provider, { apiThroughNetwork: true });
  await cluster.build();
});

after(async () => {
  // normally done by the last test; here so that a failure halfway leaves nothing either
  await provider.delete().catch(() => undefined);
  await kinda("down", LAB);
  for (const argv of [
    ["link", "delete", "kito-h"],
    ["netns", "delete", OUTSIDE],
  ]) {
    try {
      execFileSync("ip", argv, { stdio: "ignore" });
    } catch {
      /* already gone */
    }
  }
});

describe("cluster attached to the emulated network (fixture nodes)", () => {
  it("kinda graph draws the running lab with its Kubernetes nodes and their links", async () => {
    const svg = await kindaOk("graph", LAB);
    for (const n of ["r1", "r2", "c1", "w1", "w2", "w3"]) assert.ok(svg.includes(`data-name="${n}"`), n);
    assert.equal((svg.match(/<line class="link"/g) ?? []).length, 5, "r1-r2 and four node links");
  });

  it("names resolve both ways; kinda runs commands on nodes", async () => {
    const w1 = provider.fact("w1").k8sName;
    assert.equal((await kindaOk("reverse", "w1")).trim(), w1);
    assert.equal((await kindaOk("who", w1)).trim(), "w1");
    assert.match(await kindaOk("w1", "ip", "-br", "addr", "show", "eth1"), /10\.0\.1\.2\/24/);
  });

  it("pods on different nodes reach each other across the network, not the Kind bridge", async () => {
    const target = provider.podIp("w3", 0);
    const kindBefore = kindIfPackets("w1");
    const coreBefore = await counter("r1", "eth0", "tx_packets");
    assert.ok(podPing("w1", 0, target, 200), "pod w1/0 pings pod w3/0");
    assert.ok(podPing("w2", 1, provider.podIp("c1", 1)), "pod w2/1 pings pod c1/1");
    assert.ok(podPing("w1", 0, provider.podIp("w2", 0)), "pods on w1 and w2 (same bridge in r1)");
    const coreAfter = await counter("r1", "eth0", "tx_packets");
    const kindAfter = kindIfPackets("w1");
    assert.ok(coreAfter - coreBefore >= 200, `r1's core link carried the pings (${coreAfter - coreBefore} packets)`);
    assert.ok(kindAfter - kindBefore < 20, `w1's Kind interface stayed quiet (${kindAfter - kindBefore} packets)`);
  });

  it("a TCP transfer larger than the MTU crosses the tunnel, every byte", async () => {
    const inPod = (node: string) => ["ip", "netns", "exec", provider.podNs(node, 0)];
    const received = await countedTransfer(inPod("w3"), inPod("w1"), provider.podIp("w3", 0), 5301, 4 * 1024 * 1024);
    assert.equal(received, 4 * 1024 * 1024, "every byte arrived");
  });

  it("cutting a link on the path breaks pod traffic; restoring it brings it back with kinda's routes as they were", async () => {
    const target = provider.podIp("w3", 1);
    const routes = () => kindaOk("exec", "--lab", LAB, "r1", "--", "ip", "-4", "route", "show");
    assert.ok(podPing("w1", 1, target));
    const before = (await routes()).replace(/ linkdown/g, "");
    await kindaOk("link", LAB, "r1:eth0", "down");
    assert.equal(podPing("w1", 1, target), false, "no path while r1's core link is cut");
    await kindaOk("link", LAB, "r1:eth0", "up");
    // nothing re-added by hand: the routes kinda installed (pod routes included) carry the traffic again
    await eventually("pod traffic restored", 20, async () => podPing("w1", 1, target));
    assert.equal((await routes()).replace(/ linkdown/g, ""), before, "r1's routes after the cut and restore are the ones before it");
  });

  it("with API-traffic routing on, TCP to another node's Kind address crosses the network", async () => {
    const w3 = provider.fact("w3");
    const inNode = (node: string) => ["nsenter", "-t", String(provider.fact(node).pid), "-n"];
    const before = await counter("r2", "eth0", "rx_packets");
    const received = await countedTransfer(inNode("w3"), inNode("w1"), w3.internalIp, 5302, 1024 * 1024);
    assert.equal(received, 1024 * 1024, "every byte arrived at w3's Kind address");
    const after = await counter("r2", "eth0", "rx_packets");
    assert.ok(after - before >= 100, `r2 saw the node-to-node TCP (${after - before} packets)`);
  });

  it("a pod reaches the outside through the gateway device, source-NATed", async () => {
    const cap = spawn("ip", ["netns", "exec", OUTSIDE, "tcpdump", "-n", "-l", "-c", "1", "-i", "eth0", "icmp[icmptype] == 8"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    let seen = "";
    cap.stdout.on("data", (c: Buffer) => (seen += c.toString()));
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(podPing("w3", 0, "198.51.100.2", 3), "pod on w3 reaches the outside test host");
    await new Promise((r) => cap.on("close", r));
    assert.match(seen, /IP 198\.51\.100\.1 > 198\.51\.100\.2: ICMP echo request/, `capture: ${seen}`);
  });

  it("the host reaches the nodes through its simple host connection to r2", () => {
    execFileSync("ping", ["-c", "1", "-W", "2", "10.0.1.2"]);
    execFileSync("ping", ["-c", "1", "-W", "2", "10.0.3.2"]);
  });

  it("a rate on a node link caps TCP throughput between pods within 20%", async () => {
    // w3's node link is shaped to 100mbit (examples/manual-cluster.ts)
    provider.inPod("c1", 0, ["iperf3", "-s", "-1", "-D", "-p", "5303"]);
    await new Promise((r) => setTimeout(r, 500));
    const r = await iperf(() => provider.inPod("w3", 0, ["iperf3", "-c", provider.podIp("c1", 0), "-p", "5303", "-t", "3", "-J"]));
    assert.equal(r.code, 0, r.out);
    const bps = (JSON.parse(r.out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
    const mbit = bps / 1e6;
    console.log(`# shaped throughput ${mbit.toFixed(1)} Mbit/s (rate 100mbit)`);
    assert.ok(mbit > 80 && mbit < 120, `measured ${mbit.toFixed(1)} Mbit/s`);
  });

  it("teardown removes the cluster, host links and rules, then the lab leaves nothing", async () => {
    await cluster.destroy();
    const st = new StateStore(stateDir).read(LAB);
    assert.equal(st?.cluster, undefined);
    const rules = execFileSync("iptables-save", { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.includes(`kinda:${LAB}`));
    assert.deepEqual(rules, []);
    // the lab stays up: what the cluster added inside devices is gone too
    assert.equal((await kinda("exec", "--lab", LAB, "r1", "--", "ip", "link", "show", "br0")).code, 1, "r1's node bridge is gone");
    const r2Rules = await kindaOk("exec", "--lab", LAB, "r2", "--", "iptables-save");
    assert.ok(!r2Rules.includes(`kinda:${LAB}`), "r2's gateway NAT rules are gone");
    await kindaOk("down", LAB);
    execFileSync("ip", ["link", "delete", "kito-h"]); // the test host's own link (deleting both ends now)
    execFileSync("ip", ["netns", "delete", OUTSIDE]);
    await assertNothingLeft(LAB, linksBefore);
    assert.equal((await kinda("w1", "true")).code, 1);
  });
});
