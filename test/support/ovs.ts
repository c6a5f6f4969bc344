/**
 * The Open vSwitch experiment the programmable-device tests share (an OVS device on the path, an
 * OVS smart NIC on a node): pods reach each other; an OpenFlow rule dropping one pod's address
 * stops exactly that traffic, its packet counter equals the packets sent; deleting it restores.
 */
import assert from "node:assert/strict";
import type { FixtureProvider } from "./fixture.js";
import { kindaOk } from "./kinda.js";

/** Pings from a pod; returns how many replies came back (a duplicate reply fails: nothing may copy packets). */
export function podPings(provider: FixtureProvider, node: string, k: number, ip: string, count: number): number {
  const r = provider.inPod(node, k, ["ping", "-c", String(count), "-i", "0.05", "-W", "1", ip]);
  assert.doesNotMatch(r.out, /DUP!/, `duplicate replies: a packet was delivered twice\n${r.out}`);
  return repliesOf(r.out);
}

/** How many replies a ping's summary counts (iputils: "3 received", busybox: "3 packets received"). */
export function repliesOf(out: string): number {
  const m = / (\d+) (?:packets )?received/.exec(out);
  return m ? Number(m[1]) : 0;
}

/** Where the OVS runs: `kinda exec --lab LAB DEVICE`, its bridge. */
export interface OvsAt {
  lab: string;
  device: string;
  bridge: string;
}

/** n_packets of the flows in the bridge whose text includes `match`. */
export async function flowPackets(at: OvsAt, match: string): Promise<number[]> {
  const out = await kindaOk("exec", "--lab", at.lab, at.device, "--", "ovs-ofctl", "dump-flows", at.bridge);
  return out
    .split("\n")
    .filter((l) => l.includes(match))
    .map((l) => Number(/n_packets=(\d+)/.exec(l)?.[1] ?? NaN));
}

/** Pings from one of two source pods (0, 1); resolves to the number of replies. */
export type Pinger = (from: 0 | 1, ip: string, count: number) => Promise<number>;

/** From w1's pods (fixture nodes) to c1's: the experiment's pods. */
export function fixturePods(provider: FixtureProvider): { ping: Pinger; target: string; other: string } {
  return {
    ping: (from, ip, count) => Promise.resolve(podPings(provider, "w1", from, ip, count)),
    target: provider.podIp("c1", 0),
    other: provider.podIp("c1", 1),
  };
}

/**
 * From two source pods to two target pods: both answer; a drop rule for the first target stops
 * exactly that (the other still answers, from either source) and counts every packet sent;
 * deleting it restores.
 */
export async function dropOnePodExperiment(at: OvsAt, pods: { ping: Pinger; target: string; other: string }): Promise<void> {
  const { ping, target, other } = pods;
  assert.equal(await ping(0, target, 3), 3, `the first target pod answers through ${at.device}`);
  assert.equal(await ping(0, other, 3), 3, "and the second");

  // the datapath's cached flows (megaflows) of the pings so far push their packet counts to the
  // rules they are translated with when the revalidator next runs, which after add-flow may be the
  // new rule (seen: 25 = 20 + 5 earlier packets); purging them first pushes those counts to the
  // rules that forwarded the packets, so the drop rule counts only what it dropped
  await kindaOk("exec", "--lab", at.lab, at.device, "--", "ovs-appctl", "revalidator/purge");
  const flow = `priority=100,ip,nw_dst=${target}`;
  await kindaOk("exec", "--lab", at.lab, at.device, "--", "ovs-ofctl", "add-flow", at.bridge, `${flow},actions=drop`);
  const sent = 20;
  assert.equal(await ping(0, target, sent), 0, "no reply from the dropped pod");
  assert.equal(await ping(1, other, 5), 5, "the other pod still answers (from another pod too)");
  assert.equal(await ping(0, other, 5), 5, "and from the same pod");
  assert.deepEqual(await flowPackets(at, `nw_dst=${target}`), [sent], "the drop flow counted every packet sent, no more");

  await kindaOk("exec", "--lab", at.lab, at.device, "--", "ovs-ofctl", "del-flows", "--strict", at.bridge, flow);
  assert.equal(await ping(0, target, 3), 3, "deleting the rule restores the traffic");
}
