/**
 * The fabric of the pod-routing tests (test/k8s/kind-podroute.test.ts with real Kind,
 * test/routing/podroute-fixture.test.ts with fixture nodes): two leaves (la: the control
 * plane and w1; lb: w2) joined over two spines, encapsulation none. With `cheaperS1` the s2 links
 * cost 3 (static routing prefers s1); the generated protocols get no costs (ECMP over both).
 */
import assert from "node:assert/strict";
import type { TopologySpec } from "../../src/model/spec.js";
import { txTotal } from "./kinda.js";

export type PodRouteMode = "static" | "ospf" | "bgp";

export function podrouteSpec(name: string, routing: PodRouteMode, opts: { cheaperS1?: boolean } = {}): TopologySpec {
  const s2 = opts.cheaperS1 ? { cost: 3 } : {};
  return {
    name,
    routing,
    encapsulation: "none",
    devices: [
      { name: "s1", kind: "router" },
      { name: "s2", kind: "router" },
      { name: "la", kind: "router" },
      { name: "lb", kind: "router" },
      { name: "cp", kind: "control-plane" },
      { name: "w1", kind: "worker" },
      { name: "w2", kind: "worker" },
    ],
    links: [
      { name: "la--s1", endpoints: ["la", "s1"], addresses: ["10.77.0.1/30", "10.77.0.2/30"] },
      { name: "lb--s1", endpoints: ["lb", "s1"], addresses: ["10.77.0.5/30", "10.77.0.6/30"] },
      { name: "la--s2", endpoints: ["la", "s2"], addresses: ["10.77.0.9/30", "10.77.0.10/30"], ...s2 },
      { name: "lb--s2", endpoints: ["lb", "s2"], addresses: ["10.77.0.13/30", "10.77.0.14/30"], ...s2 },
      { endpoints: ["la", "cp"], addresses: ["10.77.1.1/24", "10.77.1.2/24"] },
      { endpoints: ["la", "w1"], addresses: ["10.77.2.1/24", "10.77.2.2/24"] },
      { endpoints: ["lb", "w2"], addresses: ["10.77.3.1/24", "10.77.3.2/24"] },
    ],
  };
}

/** la's address toward each spine: a route of la via it goes over that spine. */
export const SPINE_HOP: Record<string, string> = { s1: "10.77.0.2", s2: "10.77.0.10" };

/** Probes numbered 0.. (busybox) or 1.. (iputils): how many went unanswered and the longest run of them. */
export function pingLoss(out: string, fallbackSent: number): { sent: number; lost: number; longest: number } {
  const got = new Set([...out.matchAll(/(?:icmp_)?seq=(\d+)/g)].map((m) => Number(m[1])));
  const sent = Number(/(\d+) packets transmitted/.exec(out)?.[1] ?? fallbackSent);
  const first = /icmp_seq=/.test(out) ? 1 : 0;
  let longest = 0;
  for (let i = first, run = 0; i < first + sent; i++) longest = Math.max(longest, (run = got.has(i) ? 0 : run + 1));
  return { sent, lost: sent - [...got].filter((s) => s >= first && s < first + sent).length, longest };
}

/**
 * The spine that carries a flow: ECMP hashes a flow onto one spine each way, so the spine whose
 * packet counters grow by the flow's packets carries it (the protocols' hellos add a few).
 * `flow` sends `packets` packets (echo requests and replies together) and resolves when done.
 */
export async function spineCarrying(
  lab: string,
  flow: () => Promise<unknown>,
  packets: number,
): Promise<{ spine: "s1" | "s2"; carried: [number, number] }> {
  const tx = () => Promise.all(["s1", "s2"].map((d) => txTotal(lab, d)));
  const t1 = await tx();
  await flow();
  const t2 = await tx();
  const carried: [number, number] = [t2[0]! - t1[0]!, t2[1]! - t1[1]!];
  assert.ok(Math.max(...carried) >= packets / 2, `a spine carried the flow's ${packets} packets (s1 sent ${carried[0]}, s2 ${carried[1]})`);
  return { spine: carried[0] >= carried[1] ? "s1" : "s2", carried };
}
