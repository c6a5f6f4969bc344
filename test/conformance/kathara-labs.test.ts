/**
 * The Kathara-Labs conformance suite: the six labs, deployed unmodified (images mapped to the
 * local stand-ins), each checked for what its README row says, then torn down with nothing left,
 * also when a check fails; and the seed's fat tree on data-center-bgp. The labs are not part of
 * the project: they are read from KINDA_CONFORMANCE_DIR (default ../shared/conformance/kathara-labs).
 * Without them the suite says in one line that it did not run; under CI=true that is a failure.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { dataCenterBgpCluster } from "../../examples/data-center-bgp-cluster.js";
import { loadKatharaLab } from "../../src/topology/kathara.js";
import { IMAGE_MAP, IMAGE_MAP_ARGS, conformanceLabs, ensureTestEnv } from "../support/env.js";
import { FixtureProvider, nodeReaches } from "../support/fixture.js";
import {
  assertNothingLeft,
  converge,
  hostLinks,
  kinda,
  kindaOk,
  ping,
  reachesAll,
  stateDir,
  txPackets,
  withLab,
} from "../support/kinda.js";

const labs = conformanceLabs();
if ("missing" in labs) {
  describe("Kathara-Labs conformance suite", () => {
    if (["true", "1"].includes(process.env["CI"] ?? "")) it("needs the conformance labs (CI=true)", () => assert.fail(labs.missing));
    else it("did not run", { skip: labs.missing }, () => undefined);
  });
} else suite(labs.dir);

/** Seconds the protocols' own timers need at least (machine-independent; the rest of each bound is measured). */
const OSPF_DEAD_INTERVAL = 40;
const RIP_TWO_UPDATES = 60;
const BGP_CONNECT_RETRY = 120;

function suite(dir: string): void {
  process.env["KINDA_STATE_DIR"] = stateDir; // the fat tree deploys through the API, next to the CLI's labs
  let linksBefore: string[];
  before(() => {
    ensureTestEnv();
    linksBefore = hostLinks();
  });

  /** Deploys conformance lab `lab` as t-LAB, runs `check`, and removes it whatever happens. */
  const onLab = (lab: string, check: (name: string, deploySeconds: number) => Promise<void>) => {
    const name = `t-${lab.replace(/_/g, "-")}`.toLowerCase();
    return withLab(name, join(dir, lab), IMAGE_MAP_ARGS, (s) => check(name, s));
  };

  /** IPv4 addresses of a device's interfaces, read inside the device. */
  async function addrs(lab: string, device: string, prefix: string): Promise<string[]> {
    const out = await kindaOk("exec", "--lab", lab, device, "--", "ip", "-j", "-4", "addr");
    const j = JSON.parse(out) as { addr_info: { local: string }[] }[];
    return j.flatMap((i) => i.addr_info.map((a) => a.local)).filter((a) => a.startsWith(prefix));
  }

  /** Each device reaches every other device's own addresses. */
  async function allReachAll(lab: string, own: Map<string, string[]>): Promise<boolean> {
    const names = [...own.keys()];
    const ok = await Promise.all(
      names.map((d) =>
        reachesAll(
          lab,
          d,
          names.filter((o) => o !== d).flatMap((o) => own.get(o) ?? []),
        ),
      ),
    );
    return ok.every(Boolean);
  }

  it("reads every conformance lab as it is", () => {
    const expect: Record<string, { devices: number; domains: number }> = {
      "static-routing": { devices: 4, domains: 3 },
      "one-bridge": { devices: 5, domains: 4 },
      "ospf_frr-singlearea": { devices: 5, domains: 0 },
      rip: { devices: 5, domains: 0 },
      "bgp-simple-peering": { devices: 2, domains: 3 },
      "data-center-bgp": { devices: 18, domains: 24 },
    };
    for (const [name, e] of Object.entries(expect)) {
      const lab = loadKatharaLab(join(dir, name));
      assert.equal(lab.devices.length, e.devices, name);
      const domains = new Set(lab.devices.flatMap((d) => d.interfaces.map((i) => i.domain)));
      if (e.domains) assert.equal(domains.size, e.domains, name);
      for (const d of lab.devices) d.interfaces.forEach((i, pos) => assert.equal(i.index, pos, `${name} ${d.name} interfaces in order`));
    }
    const dc = loadKatharaLab(join(dir, "data-center-bgp"));
    const tof = dc.devices.find((d) => d.name === "tof_1_2_1")!;
    assert.equal(tof.sysctls["net.ipv4.fib_multipath_hash_policy"], "1");
    assert.equal(dc.metadata["LAB_VERSION"], "3.0");
  });

  describe("conformance labs", { concurrency: true }, () => {
    it("static-routing: routes work, and the commented-out route does not exist", () =>
      onLab("static-routing", async (n) => {
        assert.ok(await ping(n, "pc1", "195.11.14.1"), "pc1 -> 195.11.14.1");
        assert.ok(await ping(n, "r1", "100.0.0.10"), "r1 -> 100.0.0.10");
        assert.ok(await ping(n, "pc2", "200.1.1.1"), "pc2 -> 200.1.1.1");
        assert.equal(await ping(n, "pc1", "200.1.1.7"), false, "pc1 must not reach 200.1.1.7");
      }));

    it("one-bridge: MACs from lab.conf; pcs reach each other through b1's bridge", () =>
      onLab("one-bridge", async (n) => {
        for (let i = 1; i <= 4; i++) {
          const out = await kindaOk("exec", "--lab", n, `pc${i}`, "--", "cat", "/sys/class/net/eth0/address");
          assert.equal(out.trim(), `00:00:00:00:00:0${i}`);
          await kindaOk("exec", "--lab", n, `pc${i}`, "--", "ip", "addr", "add", `10.9.0.${i}/24`, "dev", "eth0");
        }
        const b1 = await kindaOk("exec", "--lab", n, "b1", "--", "cat", "/sys/class/net/eth1/address");
        assert.equal(b1.trim(), "00:00:00:00:00:b2");
        for (let i = 1; i <= 4; i++) {
          const others = [1, 2, 3, 4].filter((j) => j !== i).map((j) => `10.9.0.${j}`);
          assert.ok(await reachesAll(n, `pc${i}`, others), `pc${i} reaches ${others.join(" ")}`);
        }
      }));

    it("ospf_frr-singlearea: every router reaches every other router's addresses", () =>
      onLab("ospf_frr-singlearea", async (n, deploy) => {
        const own = new Map<string, string[]>();
        for (const r of ["bb0", "bb1", "bb2", "bb3", "bb4"]) own.set(r, await addrs(n, r, "10.0."));
        const s = await converge("OSPF convergence", { protocolSeconds: OSPF_DEAD_INTERVAL, measuredSeconds: deploy }, () =>
          allReachAll(n, own),
        );
        console.log(`# ospf converged in ${s.toFixed(0)} s (deploy ${deploy.toFixed(1)} s)`);
      }));

    it("rip: after systemctl start frr on r1..r4, RIP routes appear", () =>
      onLab("rip", async (n, deploy) => {
        for (const r of ["r1", "r2", "r3", "r4"]) await kindaOk("exec", "--lab", n, r, "--", "systemctl", "start", "frr");
        await converge(
          "RIP convergence",
          { protocolSeconds: RIP_TWO_UPDATES, measuredSeconds: deploy },
          async () => (await reachesAll(n, "r1", ["100.1.4.1", "100.1.3.1"])) && (await reachesAll(n, "r2", ["100.1.1.1"])),
        );
      }));

    it("bgp-simple-peering: the session reaches Established", () =>
      onLab("bgp-simple-peering", async (n, deploy) => {
        await converge("BGP session", { protocolSeconds: BGP_CONNECT_RETRY, measuredSeconds: deploy }, async () => {
          const r = await kinda("exec", "--lab", n, "router1", "--", "vtysh", "-c", "show bgp summary json");
          if (r.code !== 0) return false;
          try {
            const j = JSON.parse(r.stdout) as { ipv4Unicast?: { peers?: Record<string, { state?: string }> } };
            return j.ipv4Unicast?.peers?.["193.10.11.2"]?.state === "Established";
          } catch {
            return false;
          }
        });
      }));

    it("data-center-bgp: each of the 8 servers reaches the other 7", () =>
      onLab("data-center-bgp", async (n, deploy) => {
        const own = new Map<string, string[]>();
        for (const s of ["1_1_1", "1_1_2", "1_2_1", "1_2_2", "2_1_1", "2_1_2", "2_2_1", "2_2_2"])
          own.set(`server_${s}`, await addrs(n, `server_${s}`, "20"));
        assert.equal([...own.values()].flat().length, 8);
        const t = await converge("fat-tree BGP convergence", { protocolSeconds: BGP_CONNECT_RETRY, measuredSeconds: deploy }, () =>
          allReachAll(n, own),
        );
        console.log(`# data-center-bgp converged in ${t.toFixed(0)} s (deploy ${deploy.toFixed(1)} s)`);
      }));
  });

  describe("the seed's fat tree: data-center-bgp with its servers replaced by Kubernetes nodes", () => {
    it("nodes take the servers' places; BGP routes them; pods reach each other across the fabric", async () => {
      const provider = new FixtureProvider("kfxf");
      const t0 = Date.now();
      const t = await dataCenterBgpCluster(join(dir, "data-center-bgp"), { name: "t-fat-tree", provider, imageMap: IMAGE_MAP });
      const deploy = (Date.now() - t0) / 1000;
      try {
        const addrs = t.servers.map((s) => s.address.split("/")[0]!);
        const s = await converge(
          "BGP carries every node's subnet",
          { protocolSeconds: BGP_CONNECT_RETRY, measuredSeconds: deploy, factor: 10 },
          async () =>
            t.servers.every((srv, i) =>
              nodeReaches(
                provider,
                srv.name,
                addrs.filter((_, j) => j !== i),
              ),
            ),
        );
        console.log(`# fat tree converged for the nodes in ${s.toFixed(0)} s (deploy with nodes ${deploy.toFixed(1)} s)`);
        const tofTx = async () =>
          (
            await Promise.all(
              ["tof_1_2_1", "tof_1_2_2"].flatMap((d) => ["eth0", "eth1", "eth2", "eth3"].map((i) => txPackets("t-fat-tree", d, i))),
            )
          ).reduce((a, b) => a + b, 0);
        const before = await tofTx();
        const r = provider.inPod("server_1_1_1", 0, ["ping", "-c", "50", "-i", "0.01", "-W", "2", provider.podIp("server_2_2_2", 1)]);
        assert.equal(r.code, 0, r.out);
        const after = await tofTx();
        assert.ok(after - before >= 100, `the top-of-fabric routers carried pod traffic between the pods (${after - before} packets)`);
      } finally {
        await t.down();
        await provider.delete();
      }
      await assertNothingLeft("t-fat-tree", linksBefore);
    });
  });

  describe("after the conformance labs", () => {
    it("the host namespace has the links it had before", () => {
      assert.deepEqual(hostLinks(), linksBefore);
    });
  });
}
