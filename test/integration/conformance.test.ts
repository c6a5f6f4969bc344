/**
 * The six conformance labs, deployed unmodified (images mapped to the local stand-ins), each
 * checked for what its README row says, then torn down with nothing left. They run side by side.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { IMAGE_MAP_ARGS, conformanceDir, ensureTestEnv } from "../support/env.js";
import { assertNothingLeft, eventually, hostLinks, kinda, kindaOk, ping, reachesAll } from "../support/kinda.js";

let linksBefore: string[];
before(() => {
  ensureTestEnv();
  linksBefore = hostLinks();
});

async function up(lab: string): Promise<string> {
  const name = `t-${lab.replace(/_/g, "-")}`.toLowerCase();
  await kindaOk("up", join(conformanceDir(), lab), "--name", name, ...IMAGE_MAP_ARGS);
  return name;
}

async function down(name: string): Promise<void> {
  await kindaOk("down", name);
  await assertNothingLeft(name);
}

/** IPv4 addresses of a device's interfaces, read inside the device. */
async function addrs(lab: string, device: string, prefix: string): Promise<string[]> {
  const out = await kindaOk("exec", "--lab", lab, device, "--", "ip", "-j", "-4", "addr");
  const j = JSON.parse(out) as { addr_info: { local: string }[] }[];
  return j.flatMap((i) => i.addr_info.map((a) => a.local)).filter((a) => a.startsWith(prefix));
}

describe("conformance labs", { concurrency: true }, () => {
  it("static-routing: routes work, and the commented-out route does not exist", async () => {
    const n = await up("static-routing");
    assert.ok(await ping(n, "pc1", "195.11.14.1"), "pc1 -> 195.11.14.1");
    assert.ok(await ping(n, "r1", "100.0.0.10"), "r1 -> 100.0.0.10");
    assert.ok(await ping(n, "pc2", "200.1.1.1"), "pc2 -> 200.1.1.1");
    assert.equal(await ping(n, "pc1", "200.1.1.7"), false, "pc1 must not reach 200.1.1.7");
    await down(n);
  });

  it("one-bridge: MACs from lab.conf; pcs reach each other through b1's bridge", async () => {
    const n = await up("one-bridge");
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
    await down(n);
  });

  it("ospf_frr-singlearea: every router reaches every other router's addresses within 90 s", async () => {
    const n = await up("ospf_frr-singlearea");
    const routers = ["bb0", "bb1", "bb2", "bb3", "bb4"];
    const own = new Map<string, string[]>();
    for (const r of routers) own.set(r, await addrs(n, r, "10.0."));
    const s = await eventually("OSPF convergence", 90, async () => {
      const ok = await Promise.all(
        routers.map((r) =>
          reachesAll(
            n,
            r,
            routers.filter((o) => o !== r).flatMap((o) => own.get(o) ?? []),
          ),
        ),
      );
      return ok.every(Boolean);
    });
    console.log(`# ospf converged in ${s.toFixed(0)} s`);
    await down(n);
  });

  it("rip: after systemctl start frr on r1..r4, RIP routes appear within 90 s", async () => {
    const n = await up("rip");
    for (const r of ["r1", "r2", "r3", "r4"]) await kindaOk("exec", "--lab", n, r, "--", "systemctl", "start", "frr");
    await eventually(
      "RIP convergence",
      90,
      async () => (await reachesAll(n, "r1", ["100.1.4.1", "100.1.3.1"])) && (await reachesAll(n, "r2", ["100.1.1.1"])),
    );
    await down(n);
  });

  it("bgp-simple-peering: the session reaches Established within 90 s", async () => {
    const n = await up("bgp-simple-peering");
    await eventually("BGP session", 90, async () => {
      const r = await kinda("exec", "--lab", n, "router1", "--", "vtysh", "-c", "show bgp summary json");
      if (r.code !== 0) return false;
      try {
        const j = JSON.parse(r.stdout) as { ipv4Unicast?: { peers?: Record<string, { state?: string }> } };
        return j.ipv4Unicast?.peers?.["193.10.11.2"]?.state === "Established";
      } catch {
        return false;
      }
    });
    await down(n);
  });

  it("data-center-bgp: each of the 8 servers reaches the other 7 within 120 s", async () => {
    const n = await up("data-center-bgp");
    const servers = ["1_1_1", "1_1_2", "1_2_1", "1_2_2", "2_1_1", "2_1_2", "2_2_1", "2_2_2"].map((s) => `server_${s}`);
    const own = new Map<string, string[]>();
    for (const s of servers) own.set(s, await addrs(n, s, "20"));
    assert.equal([...own.values()].flat().length, 8);
    const t = await eventually("fat-tree BGP convergence", 120, async () => {
      const ok = await Promise.all(
        servers.map((s) =>
          reachesAll(
            n,
            s,
            servers.filter((o) => o !== s).flatMap((o) => own.get(o) ?? []),
          ),
        ),
      );
      return ok.every(Boolean);
    });
    console.log(`# data-center-bgp converged in ${t.toFixed(0)} s`);
    await down(n);
  });
});

describe("after the conformance labs", () => {
  it("the host namespace has the links it had before", () => {
    assert.deepEqual(hostLinks(), linksBefore);
  });
});
