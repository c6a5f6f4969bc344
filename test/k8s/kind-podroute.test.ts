/**
 * Native pod routing (encapsulation none) follows a cut, with a real Kind cluster: two leaves
 * (la: the control plane and w1; lb: w2) joined over two spines, s1 the cheaper path (cost 1
 * against s2's 3). A pod on each worker pings the other. Cutting la--s1 (the path in use) moves
 * the devices' routes to the pods' ranges onto s2 (they are in the routing record since the
 * cluster attached): the pods reach each other again within a few probes. Restoring brings s1
 * back. With la--s1 cut again, removing w2 takes its pod routes out of every device, although the
 * re-route gave them another next hop than the cluster's plan did (the undo deletes by prefix).
 * About 4 minutes here, most of it Kind; `npm run test:k8s:podroute` (heavy: three Kind nodes).
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { up } from "../../src/app/up.js";
import type { TopologySpec } from "../../src/model/spec.js";
import { StateStore } from "../../src/state/store.js";
import { IMAGE_MAP, POD_IMAGE, ensureTestEnv } from "../support/env.js";
import { kinda, kindaOk, stateDir } from "../support/kinda.js";
import { buildImages, execInPodOnNode, KIND, Kubectl, NODE_IMAGE } from "./support.js";

const LAB = "pr4-pods";
const CLUSTER = "pr4-pods";

const spec: TopologySpec = {
  name: LAB,
  routing: "static",
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
    { name: "la--s2", endpoints: ["la", "s2"], addresses: ["10.77.0.9/30", "10.77.0.10/30"], cost: 3 },
    { name: "lb--s2", endpoints: ["lb", "s2"], addresses: ["10.77.0.13/30", "10.77.0.14/30"], cost: 3 },
    { endpoints: ["la", "cp"], addresses: ["10.77.1.1/24", "10.77.1.2/24"] },
    { endpoints: ["la", "w1"], addresses: ["10.77.2.1/24", "10.77.2.2/24"] },
    { endpoints: ["lb", "w2"], addresses: ["10.77.3.1/24", "10.77.3.2/24"] },
  ],
};

let kube: Kubectl;
const store = new StateStore(stateDir);
const nodeContainer = (n: string) => store.read(LAB)!.cluster!.nodes.find((x) => x.name === n)!.container;
const podCidrs = (n: string) => store.read(LAB)!.routing!.pods?.[n] ?? [];
let ip2 = "";

/** A device's route to `dst` as `ip route show` prints it ("" when it has none). */
async function routeIn(device: string, dst: string): Promise<string> {
  return (await kindaOk("exec", "--lab", LAB, device, "--", "ip", "route", "show", dst)).trim();
}

/** One ping from w1's pod to w2's, through w1's runtime (not the API server, which a cut may cut off). */
const probe = () => execInPodOnNode(nodeContainer("w1"), "p1", ["ping", "-c", "1", "-W", "1", ip2]).code === 0;

/**
 * A ping from w1's pod to w2's every 100 ms, started in the background: stop() reads busybox's
 * `seq=N` replies and says how many went unanswered, and the longest run of them (the outage).
 */
function continuousPing(count: number): { stop: () => Promise<{ sent: number; lost: number; longest: number }> } {
  const ps = spawnSync("/usr/bin/docker", ["exec", nodeContainer("w1"), "crictl", "ps", "-q", "--label", "io.kubernetes.pod.name=p1"], {
    encoding: "utf8",
  });
  const id = ps.stdout.trim().split("\n")[0]!;
  const child = spawn("/usr/bin/docker", [
    "exec",
    nodeContainer("w1"),
    "crictl",
    "exec",
    id,
    "ping",
    "-i",
    "0.1",
    "-c",
    String(count),
    ip2,
  ]);
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  const done = new Promise<void>((r) => child.on("close", () => r()));
  return {
    stop: async () => {
      await done;
      const got = new Set([...out.matchAll(/seq=(\d+)/g)].map((m) => Number(m[1])));
      const sent = Number(/(\d+) packets transmitted/.exec(out)?.[1] ?? count);
      let longest = 0;
      for (let i = 0, run = 0; i < sent; i++) longest = Math.max(longest, (run = got.has(i) ? 0 : run + 1));
      return { sent, lost: sent - got.size, longest };
    },
  };
}

/** Probes once a second until one is answered: how many went unanswered first (at most `max`). */
function lostBeforeAnswer(max: number): number {
  for (let i = 0; i < max; i++) if (probe()) return i;
  return max;
}

describe("encapsulation none: pod routes follow a cut (real Kind)", { timeout: 1_200_000 }, () => {
  before(async () => {
    ensureTestEnv();
    buildImages();
    // from a file: `kinda node` reads the cluster's links from the lab's source (JSON is YAML)
    const file = join(mkdtempSync(join(tmpdir(), "pr4-")), `${LAB}.yaml`);
    writeFileSync(file, JSON.stringify(spec, null, 2));
    await up(file, { name: LAB, clusterName: CLUSTER, nodeImage: NODE_IMAGE, imageMap: IMAGE_MAP });
    kube = new Kubectl(CLUSTER);
    execFileSync(KIND, ["load", "docker-image", POD_IMAGE, "--name", CLUSTER], { stdio: "ignore" });
    for (const [pod, node] of [
      ["p1", "w1"],
      ["p2", "w2"],
    ] as const)
      kube.run(
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: pod, namespace: "default" },
          spec: {
            nodeSelector: { "kinda.dev/name": node },
            containers: [{ name: "c", image: POD_IMAGE, imagePullPolicy: "Never", command: ["sleep", "infinity"] }],
          },
        }),
      );
    kube.run(["wait", "--for=condition=Ready", "pod/p1", "pod/p2", "--timeout=180s"]);
    ip2 = kube.run(["get", "pod", "p2", "-o", "jsonpath={.status.podIP}"]).trim();
  });
  after(async () => {
    await kinda("down", LAB);
  });

  it("the cluster's pod ranges are in the routing record; the pods reach each other over s1", async () => {
    const w2 = podCidrs("w2");
    assert.equal(w2.length, 1, `w2's pod range is recorded: ${JSON.stringify(store.read(LAB)!.routing!.pods)}`);
    assert.match(await routeIn("la", w2[0]!), /via 10\.77\.0\.2 /, "la routes w2's pods over s1");
    assert.ok(probe(), "p1 reaches p2 before the cut");
  });

  it("la--s1 cut: the pods reach each other again within a few probes, over s2; restored: over s1 again", async () => {
    const w2 = podCidrs("w2")[0]!;
    const w1 = podCidrs("w1")[0]!;
    // pings every 100 ms through the whole cut: the outage is measured, bounded by the `kinda link` process (the re-route is inside it)
    const ping = continuousPing(600);
    await new Promise((r) => setTimeout(r, 2000));
    const t0 = performance.now();
    const out = await kindaOk("link", LAB, "la--s1", "down");
    const cutSeconds = (performance.now() - t0) / 1000;
    assert.match(out, /re-routed/);
    const lost = lostBeforeAnswer(10);
    const cont = await ping.stop();
    console.log(
      `# pr4: la--s1 cut: \`kinda link\` took ${cutSeconds.toFixed(1)} s; pings every 100 ms across it: ${cont.lost} of ${cont.sent} unanswered, longest outage ${cont.longest} probes (~${(cont.longest / 10).toFixed(1)} s); ${lost} one-shot probes unanswered after kinda link returned`,
    );
    assert.ok(cont.sent - cont.lost > 0 && cont.longest < cont.sent, "the pods talk before and after the cut");
    assert.ok(
      cont.longest / 10 <= cutSeconds + 2,
      `the outage (${cont.longest} probes of 100 ms) is within the \`kinda link\` process (${cutSeconds.toFixed(1)} s) plus 2 s`,
    );
    assert.ok(lost < 5, `p1 reaches p2 within a few probes of the cut (${lost} unanswered)`);
    assert.match(await routeIn("la", w2), /via 10\.77\.0\.10 /, "la routes w2's pods over s2");
    assert.match(await routeIn("lb", w1), /via 10\.77\.0\.14 /, "lb routes w1's pods over s2");
    await kindaOk("link", LAB, "la--s1", "up");
    assert.ok(lostBeforeAnswer(10) < 5, "p1 reaches p2 after the restore");
    assert.match(await routeIn("la", w2), /via 10\.77\.0\.2 /, "la routes w2's pods over s1 again");
  });

  it("a node removed while its pod routes are re-routed: its pod range leaves every device and the record", async () => {
    const w2 = podCidrs("w2")[0]!;
    await kindaOk("link", LAB, "la--s1", "down");
    assert.match(await routeIn("la", w2), /via 10\.77\.0\.10 /, "re-routed over s2, not the plan's s1");
    await kindaOk("node", LAB, "w2", "remove", "--no-drain");
    for (const d of ["la", "lb", "s1", "s2"]) assert.equal(await routeIn(d, w2), "", `${d} has no route to w2's pods`);
    assert.equal(store.read(LAB)!.routing!.pods?.["w2"], undefined);
    await kindaOk("link", LAB, "la--s1", "up");
    assert.equal(await routeIn("la", w2), "", "a re-route does not bring it back");
  });
});
