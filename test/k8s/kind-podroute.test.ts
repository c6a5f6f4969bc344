/**
 * Native pod routing (encapsulation none) follows a cut, with a real Kind cluster (1 control plane
 * + 2 workers), under each routing mode: two leaves (la: the control plane and w1; lb: w2) joined
 * over two spines (test/support/podroute.ts). A pod on each worker; w1's pings w2's.
 * - static (s1 the cheaper path: cost 1 against s2's 3): cutting la--s1 (the path in use) moves
 *   the devices' routes to the pods' ranges onto s2 (they are in the routing record since the
 *   cluster attached): the pods reach each other again within a few probes. Restoring brings s1
 *   back. With la--s1 cut again, removing w2 takes its pod routes out of every device, although
 *   the re-route gave them another next hop than the cluster's plan did (the undo deletes by prefix).
 * - ospf, bgp (generated FRR routers, ECMP over both spines): once Kubernetes assigned the pod
 *   ranges, the node's leaf routes them toward the node and FRR announces them, so the far leaf
 *   learns them over both spines. The spine the pods' pings hash onto (read from the spines'
 *   packet counters) loses its link to la, then gets it back, while the pods ping every 100 ms:
 *   the pods keep talking, the loss is printed, la's route leaves the cut spine and comes back.
 * One Kind cluster per mode (kinda deletes the cluster with its lab and cannot adopt one it did
 * not create), one after another. `npm run test:k8s:podroute` (heavy); KINDA_PODROUTE_MODES
 * picks modes (default static,ospf,bgp), KINDA_PODROUTE_PREFIX the lab and cluster names.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { up } from "../../src/app/up.js";
import { StateStore } from "../../src/state/store.js";
import { IMAGE_MAP, POD_IMAGE, ensureTestEnv } from "../support/env.js";
import { eventually, kinda, kindaOk, stateDir } from "../support/kinda.js";
import { SPINE_HOP, pingLoss, podrouteSpec, spineCarrying, type PodRouteMode } from "../support/podroute.js";
import { buildImages, execInPodOnNode, KIND, Kubectl, NODE_IMAGE } from "./support.js";

const PREFIX = process.env["KINDA_PODROUTE_PREFIX"] ?? "pr4";
const MODES = (process.env["KINDA_PODROUTE_MODES"] ?? "static,ospf,bgp").split(",").filter(Boolean) as PodRouteMode[];
for (const m of MODES)
  if (!["static", "ospf", "bgp"].includes(m)) throw new Error(`KINDA_PODROUTE_MODES: unknown mode ${m} (static, ospf, bgp)`);
const store = new StateStore(stateDir);
const t0File = performance.now();

type Loss = { sent: number; lost: number; longest: number };

/** One lab of the fabric with its Kind cluster, and a pod on each worker (p1 on w1, p2 on w2). */
class PodLab {
  readonly lab: string;
  kube!: Kubectl;
  ip2 = "";
  constructor(readonly mode: PodRouteMode) {
    this.lab = `${PREFIX}-${mode}`;
  }
  nodeContainer(n: string): string {
    return store.read(this.lab)!.cluster!.nodes.find((x) => x.name === n)!.container;
  }
  podCidrs(n: string): string[] {
    return store.read(this.lab)!.routing!.pods?.[n] ?? [];
  }

  async up(): Promise<void> {
    const t = performance.now();
    // from a file: `kinda node` reads the cluster's links from the lab's source (JSON is YAML)
    const file = join(mkdtempSync(join(tmpdir(), "pr4-")), `${this.lab}.yaml`);
    writeFileSync(file, JSON.stringify(podrouteSpec(this.lab, this.mode, { cheaperS1: this.mode === "static" }), null, 2));
    await up(file, { name: this.lab, clusterName: this.lab, nodeImage: NODE_IMAGE, imageMap: IMAGE_MAP });
    this.kube = new Kubectl(this.lab);
    execFileSync(KIND, ["load", "docker-image", POD_IMAGE, "--name", this.lab], { stdio: "ignore" });
    for (const [pod, node] of [
      ["p1", "w1"],
      ["p2", "w2"],
    ] as const)
      this.kube.run(
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
    this.kube.run(["wait", "--for=condition=Ready", "pod/p1", "pod/p2", "--timeout=180s"]);
    this.ip2 = this.kube.run(["get", "pod", "p2", "-o", "jsonpath={.status.podIP}"]).trim();
    console.log(`# ${this.lab}: lab, Kind cluster and pods up in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }

  /** A device's route to `dst` as `ip route show` prints it ("" when it has none). */
  async routeIn(device: string, dst: string): Promise<string> {
    return (await kindaOk("exec", "--lab", this.lab, device, "--", "ip", "route", "show", dst)).trim();
  }

  /** One ping from w1's pod to w2's, through w1's runtime (not the API server, which a cut may cut off). */
  probe(): boolean {
    return execInPodOnNode(this.nodeContainer("w1"), "p1", ["ping", "-c", "1", "-W", "1", this.ip2]).code === 0;
  }

  /** Probes once a second until one is answered: how many went unanswered first (at most `max`). */
  lostBeforeAnswer(max: number): number {
    for (let i = 0; i < max; i++) if (this.probe()) return i;
    return max;
  }

  private p1Container(): string {
    const ps = spawnSync(
      "/usr/bin/docker",
      ["exec", this.nodeContainer("w1"), "crictl", "ps", "-q", "--label", "io.kubernetes.pod.name=p1"],
      {
        encoding: "utf8",
      },
    );
    return ps.stdout.trim().split("\n")[0]!;
  }

  /**
   * A ping from w1's pod to w2's every 100 ms, started in the background: with a count it ends by
   * itself; without, it runs until stop() (busybox prints its summary on SIGINT). stop() reads
   * the `seq=N` replies: how many went unanswered, and the longest run of them (the outage).
   */
  continuousPing(count?: number, interval = "0.1"): { stop: () => Promise<Loss> } {
    const id = this.p1Container();
    const ping = `ping -i ${interval} ${count ? `-c ${count} ` : ""}${this.ip2}`;
    // the pod's own shell runs ping and stops it when the stop file appears (a signal to `docker exec` stays outside the pod)
    const script = count ? ping : `rm -f /pr4-stop; ${ping} & p=$!; while [ ! -e /pr4-stop ]; do sleep 0.2; done; kill -INT $p; wait $p`;
    const child = spawn("/usr/bin/docker", ["exec", this.nodeContainer("w1"), "crictl", "exec", id, "sh", "-c", script]);
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    const done = new Promise<void>((r) => child.on("close", () => r()));
    return {
      stop: async () => {
        if (!count) spawnSync("/usr/bin/docker", ["exec", this.nodeContainer("w1"), "crictl", "exec", id, "sh", "-c", ": > /pr4-stop"]);
        await done;
        return pingLoss(out, count ?? 0);
      },
    };
  }
}

let prepared = false;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const mode of MODES) {
  describe(`encapsulation none, routing: ${mode}: pod routes follow a cut (real Kind)`, { timeout: 1_200_000 }, () => {
    const L = new PodLab(mode);
    before(async () => {
      if (!prepared) {
        // once for the file: checking the cached images takes ~30 s here
        ensureTestEnv();
        buildImages();
        prepared = true;
      }
      await L.up();
    });
    after(async () => {
      const t = performance.now();
      await kinda("down", L.lab);
      console.log(
        `# ${L.lab}: down in ${((performance.now() - t) / 1000).toFixed(1)} s; file so far ${((performance.now() - t0File) / 1000).toFixed(0)} s`,
      );
    });

    if (mode === "static") {
      it("the cluster's pod ranges are in the routing record; the pods reach each other over s1", async () => {
        const w2 = L.podCidrs("w2");
        assert.equal(w2.length, 1, `w2's pod range is recorded: ${JSON.stringify(store.read(L.lab)!.routing!.pods)}`);
        assert.match(await L.routeIn("la", w2[0]!), /via 10\.77\.0\.2 /, "la routes w2's pods over s1");
        assert.ok(L.probe(), "p1 reaches p2 before the cut");
      });

      it("la--s1 cut: the pods reach each other again within a few probes, over s2; restored: over s1 again", async () => {
        const w2 = L.podCidrs("w2")[0]!;
        const w1 = L.podCidrs("w1")[0]!;
        // pings every 100 ms through the whole cut: the outage is measured, bounded by the `kinda link` process (the re-route is inside it)
        const ping = L.continuousPing(600);
        await sleep(2000);
        const t0 = performance.now();
        const out = await kindaOk("link", L.lab, "la--s1", "down");
        const cutSeconds = (performance.now() - t0) / 1000;
        assert.match(out, /re-routed/);
        const lost = L.lostBeforeAnswer(10);
        const cont = await ping.stop();
        console.log(
          `# ${L.lab}: la--s1 cut: \`kinda link\` took ${cutSeconds.toFixed(1)} s; pings every 100 ms across it: ${cont.lost} of ${cont.sent} unanswered, longest outage ${cont.longest} probes (~${(cont.longest / 10).toFixed(1)} s); ${lost} one-shot probes unanswered after kinda link returned`,
        );
        assert.ok(cont.sent - cont.lost > 0 && cont.longest < cont.sent, "the pods talk before and after the cut");
        assert.ok(
          cont.longest / 10 <= cutSeconds + 2,
          `the outage (${cont.longest} probes of 100 ms) is within the \`kinda link\` process (${cutSeconds.toFixed(1)} s) plus 2 s`,
        );
        assert.ok(lost < 5, `p1 reaches p2 within a few probes of the cut (${lost} unanswered)`);
        assert.match(await L.routeIn("la", w2), /via 10\.77\.0\.10 /, "la routes w2's pods over s2");
        assert.match(await L.routeIn("lb", w1), /via 10\.77\.0\.14 /, "lb routes w1's pods over s2");
        await kindaOk("link", L.lab, "la--s1", "up");
        assert.ok(L.lostBeforeAnswer(10) < 5, "p1 reaches p2 after the restore");
        assert.match(await L.routeIn("la", w2), /via 10\.77\.0\.2 /, "la routes w2's pods over s1 again");
      });

      it("a node removed while its pod routes are re-routed: its pod range leaves every device and the record", async () => {
        const w2 = L.podCidrs("w2")[0]!;
        await kindaOk("link", L.lab, "la--s1", "down");
        assert.match(await L.routeIn("la", w2), /via 10\.77\.0\.10 /, "re-routed over s2, not the plan's s1");
        await kindaOk("node", L.lab, "w2", "remove", "--no-drain");
        for (const d of ["la", "lb", "s1", "s2"]) assert.equal(await L.routeIn(d, w2), "", `${d} has no route to w2's pods`);
        assert.equal(store.read(L.lab)!.routing!.pods?.["w2"], undefined);
        await kindaOk("link", L.lab, "la--s1", "up");
        assert.equal(await L.routeIn("la", w2), "", "a re-route does not bring it back");
      });
      return;
    }

    const ecmp = (r: string) => (r.match(/nexthop via/g)?.length ?? 0) === 2;

    it(`the leaves announce the pod ranges Kubernetes assigned (${mode}): each leaf learns the other's over both spines; the pods reach each other`, async () => {
      const w1 = L.podCidrs("w1");
      const w2 = L.podCidrs("w2");
      assert.ok(w1.length === 1 && w2.length === 1, `the pod ranges are recorded: ${JSON.stringify(store.read(L.lab)!.routing!.pods)}`);
      // the node's own leaf routes its pods toward it (kinda, once the cluster assigned them); FRR announces that route
      assert.match(await L.routeIn("la", w1[0]!), /via 10\.77\.2\.2 /, "la routes w1's pods to w1");
      assert.match(await L.routeIn("lb", w2[0]!), /via 10\.77\.3\.2 /, "lb routes w2's pods to w2");
      const s = await eventually(`the leaves learn each other's pod ranges from ${mode} over both spines`, 120, async () => {
        const [a, b] = [await L.routeIn("la", w2[0]!), await L.routeIn("lb", w1[0]!)];
        return a.includes(`proto ${mode}`) && b.includes(`proto ${mode}`) && ecmp(a) && ecmp(b);
      });
      console.log(`# ${L.lab}: each leaf routes the other's pods over both spines (${s.toFixed(1)} s after the pods were ready)`);
      assert.ok(L.lostBeforeAnswer(10) < 5, "p1 reaches p2");
    });

    it("the spine link the pods' pings cross is cut, then restored: the pods keep talking (loss measured); la's route leaves the cut spine and comes back", async () => {
      // ECMP hashes the pings onto one spine (each way): find it by its packet counters (the nodes' own traffic
      // crosses the spines too: 400 packets in 4 s outweigh it), and cut la's link to it
      const { spine, carried } = await spineCarrying(L.lab, () => L.continuousPing(200, "0.02").stop(), 400);
      const cable = `la--${spine}`;
      const w2 = L.podCidrs("w2")[0]!;
      const ping = L.continuousPing();
      await sleep(2000);
      const t0 = performance.now();
      await kindaOk("link", L.lab, cable, "down");
      const cutSeconds = (performance.now() - t0) / 1000;
      const moved = await eventually(`la routes w2's pods off ${spine}`, 60, async () => {
        const r = await L.routeIn("la", w2);
        return r !== "" && !r.includes("nexthop") && !r.includes(`${SPINE_HOP[spine]} `);
      });
      await sleep(3000);
      await kindaOk("link", L.lab, cable, "up");
      const back = await eventually(`la routes w2's pods over both spines after ${cable} is back`, 120, async () =>
        ecmp(await L.routeIn("la", w2)),
      );
      await sleep(2000);
      const cont = await ping.stop();
      console.log(
        `# ${L.lab}: the pings crossed ${spine} (s1 sent ${carried[0]} packets, s2 ${carried[1]} for 200 pings); ${cable} cut (\`kinda link\` ${cutSeconds.toFixed(1)} s, la's route off ${spine} within ${moved.toFixed(1)} s after it) and restored (both spines again within ${back.toFixed(1)} s): pings every 100 ms across both: ${cont.lost} of ${cont.sent} unanswered, longest outage ${cont.longest} probes (~${(cont.longest / 10).toFixed(1)} s)`,
      );
      assert.ok(cont.sent >= 50, `the pings ran through the cut and the restore (${cont.sent} sent)`);
      // FRR sees the carrier go at once (point-to-point links); its dead/hold timers (3 s) bound the rest
      assert.ok(
        cont.longest <= 50,
        `the pods keep talking across the cut and the restore (longest outage ${cont.longest} probes of 100 ms)`,
      );
      const a = await L.continuousPing(20).stop();
      assert.ok(a.lost <= 1, `the pods talk after ${cable} is back (${a.lost} of ${a.sent} unanswered)`);
    });
  });
}
