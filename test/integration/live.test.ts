/**
 * Experiments on labs that are up, through the real CLI, on the real kernel: a rate caps TCP and
 * clearing it restores; a cut link stops traffic while the devices keep their routes, and `up`
 * brings it back (static routes, FRR's OSPF, pods of a fixture cluster); captures are pcap that
 * tcpdump reads; bad input changes nothing.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { IMAGE_MAP, IMAGE_MAP_ARGS, ROOT, ensureTestEnv } from "../support/env.js";
import { FixtureProvider } from "../support/fixture.js";
import { assertNothingLeft, eventually, hostLinks, kinda, kindaOk, kindaSpawn, ping, stateDir, withLab } from "../support/kinda.js";
import { loadTopologyYaml } from "../../src/topology/yaml.js";
import { up as upTopology } from "../../src/app/up.js";

process.env["KINDA_STATE_DIR"] = stateDir;
const LAB = "lv";
let linksBefore: string[];

before(async () => {
  ensureTestEnv();
  linksBefore = hostLinks();
});

/** iperf3 from h1 to h2 for `seconds`; received bits per second. */
async function tcpRate(seconds = 4): Promise<number> {
  const out = await kindaOk("exec", "--lab", LAB, "h1", "--", "iperf3", "-c", "10.2.0.10", "-t", String(seconds), "-J");
  return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
}

/** The lab namespace's links and qdiscs, and the state's record of changes: what bad input must not touch. */
function snapshot(): string {
  const ip = execFileSync("ip", ["-n", `kinda-${LAB}`, "-br", "link"], { encoding: "utf8" });
  const tc = execFileSync("tc", ["-n", `kinda-${LAB}`, "qdisc", "show"], { encoding: "utf8" });
  const live = JSON.stringify(
    (JSON.parse(readFileSync(join(stateDir, "labs", LAB, "state.json"), "utf8")) as { live?: unknown }).live ?? null,
  );
  return `${ip}\n${tc}\n${live}`;
}

/** Starts `kinda capture ...`, waits until tcpdump listens, returns the child and its collected output. */
async function startCapture(args: string[], lab = LAB) {
  const child = kindaSpawn(["capture", lab, ...args]);
  const out: Buffer[] = [];
  let err = "";
  child.stdout!.on("data", (c: Buffer) => out.push(c));
  child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const done = new Promise<number | null>((r) => child.on("close", r));
  await eventually("tcpdump listens", 30, async () => err.includes("listening on"));
  return { done, out, err: () => err };
}

describe("run-time changes on a static-routing lab (h1 -lan1- r1 -core- r2 -lan2- h2)", () => {
  before(async () => {
    await kindaOk("up", join(ROOT, "examples", "labs", "two-routers"), "--name", LAB, ...IMAGE_MAP_ARGS);
    await eventually("h1 reaches h2", 60, () => ping(LAB, "h1", "10.2.0.10"));
    await kindaOk("exec", "--lab", LAB, "h2", "--", "iperf3", "-s", "-D");
  });
  after(async () => {
    await kindaOk("down", LAB);
    await assertNothingLeft(LAB, linksBefore);
  });

  it("a rate set at run time on r1--r2 caps TCP within 20 %; cleared, the rate goes back", async () => {
    const free = await tcpRate(2);
    await kindaOk("link", LAB, "r1--r2", "--rate", "10mbit");
    const capped = await tcpRate();
    console.log(`# iperf3 h1->h2: ${(free / 1e6).toFixed(1)} Mbit/s free, ${(capped / 1e6).toFixed(2)} Mbit/s at 10mbit`);
    assert.ok(Math.abs(capped - 10e6) <= 2e6, `TCP at ${(capped / 1e6).toFixed(2)} Mbit/s, not within 20 % of 10 Mbit/s`);
    assert.match(await kindaOk("status", LAB), /shaped r1--r2 r1 -> r2: rate 10mbit/);
    await kindaOk("link", LAB, "r1--r2", "--clear");
    const cleared = await tcpRate(2);
    assert.ok(cleared > 30e6, `after --clear TCP runs at ${(cleared / 1e6).toFixed(1)} Mbit/s, far above the cap`);
    assert.doesNotMatch(await kindaOk("status", LAB), /shaped/);
  });

  it("link down stops h1->h2 while r1 keeps its routes; up restores it", async () => {
    const routes = await kindaOk("exec", "--lab", LAB, "r1", "--", "ip", "route", "show", "10.2.0.0/24");
    assert.match(routes, /via 10\.0\.0\.2 dev eth1/);
    await kindaOk("link", LAB, "r1--r2", "down");
    assert.equal(await ping(LAB, "h1", "10.2.0.10"), false, "h1 still reaches h2 over a cut link");
    const during = await kindaOk("exec", "--lab", LAB, "r1", "--", "ip", "route", "show", "10.2.0.0/24");
    assert.match(during, /via 10\.0\.0\.2 dev eth1 linkdown/, "the static route survives the cut (only marked linkdown)");
    const link = await kindaOk("exec", "--lab", LAB, "r1", "--", "ip", "-br", "link", "show", "eth1");
    assert.match(link, /LOWERLAYERDOWN|NO-CARRIER/, "r1 sees its carrier drop");
    assert.match(await kindaOk("status", LAB), /cut links .*: r1--r2/);
    const rows = JSON.parse(await kindaOk("status", LAB, "--links", "--json")) as { endpoint: string; cut: boolean }[];
    assert.deepEqual(
      rows.filter((r) => r.cut).map((r) => r.endpoint),
      ["r1:eth1", "r2:eth0"],
    );
    await kindaOk("link", LAB, "r1--r2", "up");
    await eventually("h1 reaches h2 again", 30, () => ping(LAB, "h1", "10.2.0.10"));
    assert.doesNotMatch(await kindaOk("status", LAB), /cut links/);
  });

  it("capture during a ping writes a pcap that tcpdump reads, with those ICMP packets; -w - is pcap on stdout", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kinda-cap-"));
    const file = join(dir, "core.pcap");
    const c = await startCapture(["r1:eth1", "-w", file, "-c", "6", "icmp"]);
    await kindaOk("exec", "--lab", LAB, "h1", "--", "ping", "-c", "3", "-i", "0.2", "10.2.0.10");
    assert.equal(await c.done, 0, c.err());
    const text = execFileSync("tcpdump", ["-n", "-r", file], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    assert.equal(text.match(/10\.1\.0\.10 > 10\.2\.0\.10: ICMP echo request/g)?.length, 3, text);
    assert.equal(text.match(/10\.2\.0\.10 > 10\.1\.0\.10: ICMP echo reply/g)?.length, 3, text);

    const s = await startCapture(["core", "-w", "-", "-c", "2", "icmp"]);
    await kindaOk("exec", "--lab", LAB, "h1", "--", "ping", "-c", "1", "10.2.0.10");
    assert.equal(await s.done, 0, s.err());
    const bytes = Buffer.concat(s.out);
    assert.equal(bytes.readUInt32LE(0), 0xa1b2c3d4, "pcap magic number first on stdout");
    writeFileSync(join(dir, "stdout.pcap"), bytes);
    const again = execFileSync("tcpdump", ["-n", "-r", join(dir, "stdout.pcap")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    assert.equal(again.trim().split("\n").length, 2);
    assert.match(again, /ICMP echo request/);
  });

  it("a device and links added at run time carry traffic, show in status, go with remove and with down", async () => {
    await kindaOk("device", LAB, "h3", "add", "--image-map", `kathara/base=${IMAGE_MAP["kathara/base"]}`);
    await kindaOk("link", LAB, "h3--r2", "add", "--address", "h3=10.3.0.10/24", "--address", "r2=10.3.0.1/24");
    assert.equal(await ping(LAB, "h3", "10.3.0.1"), true, "h3 reaches r2 over the added link");
    await kindaOk("link", LAB, "h1--h2", "add", "--address", "h1=10.5.0.1/24", "--address", "h2=10.5.0.2/24");
    assert.equal(await ping(LAB, "h1", "10.5.0.2"), true, "h1 reaches h2 directly over the added link");
    const st = await kindaOk("status", LAB);
    assert.match(st, /h3 .*running.*eth0:h3--r2/);
    assert.match(st, /h1 .*eth0:lan1 eth1:h1--h2/);
    await kindaOk("link", LAB, "h1--h2", "down");
    assert.equal(await ping(LAB, "h1", "10.5.0.2"), false, "an added link is cut like any other");
    await kindaOk("link", LAB, "h1--h2", "remove");
    assert.match((await kinda("exec", "--lab", LAB, "h1", "--", "ip", "link", "show", "eth1")).stderr, /does not exist/);
    assert.doesNotMatch(execFileSync("ip", ["-n", `kinda-${LAB}`, "link", "show"], { encoding: "utf8" }), /altname h1--h2/);
    // h3 and its link stay up: `down` (after this suite) must remove them, checked by assertNothingLeft
  });

  it("bad input: an unknown endpoint, an unparsable rate, netem without the kernel module: the argument named, nothing changed", async () => {
    const netem = execFileSync("bash", ["-c", "unshare -n tc qdisc add dev lo root netem delay 1ms 2>/dev/null && echo yes || echo no"], {
      encoding: "utf8",
    }).trim();
    const before = snapshot();
    const cases: [string[], RegExp][] = [
      [["link", LAB, "r1:eth7", "down"], /ENDPOINT "r1:eth7": r1 has no linked interface eth7/],
      [["link", LAB, "r1--h2", "--rate", "1mbit"], /ENDPOINT "r1--h2": r1 and h2 share no link/],
      [["link", LAB, "wan", "down"], /ENDPOINT "wan": is neither/],
      [["link", LAB, "r1--r2", "--rate", "10mbps/s"], /--rate "10mbps\/s" is not a tc rate/],
      [["link", "nolab", "r1--r2", "down"], /LAB "nolab": no lab of that name is up/],
      [["capture", LAB, "r9:eth0"], /ENDPOINT "r9:eth0": lab lv has no device or node r9/],
    ];
    if (netem === "no")
      cases.push([["link", LAB, "r1--r2", "--delay", "10ms", "--loss", "1%"], /--delay, --loss: this kernel has no netem qdisc/]);
    for (const [args, re] of cases) {
      const r = await kinda(...args);
      assert.equal(r.code, 1, `kinda ${args.join(" ")} exited ${r.code}`);
      assert.match(r.stderr, re);
    }
    assert.equal(snapshot(), before, "bad input changed the lab");
    if (netem === "yes") {
      await kindaOk("link", LAB, "r1--r2", "--delay", "50ms");
      assert.match(await kindaOk("exec", "--lab", LAB, "h1", "--", "ping", "-c", "1", "10.2.0.10"), /time=(5\d|[6-9]\d|1\d\d)/);
      await kindaOk("link", LAB, "r1--r2", "--clear");
    }
  });
});

/** The lab namespace's veth ends by altname (`<device>.ethN`): their name and kernel index. */
function labEnds(lab: string): Map<string, string> {
  const links = JSON.parse(execFileSync("ip", ["-n", `kinda-${lab}`, "-j", "link", "show"], { encoding: "utf8" })) as {
    ifname: string;
    ifindex: number;
    altnames?: string[];
  }[];
  return new Map(links.flatMap((l) => (l.altnames ?? []).map((a): [string, string] => [a, `${l.ifname}#${l.ifindex}`])));
}

describe("run-time edits after a device in the middle is removed (two-routers: h1, r1, r2, h2)", () => {
  it("a device and a link added after r2's removal get names of their own: the new link carries pings, the old ones are untouched, down leaves nothing", async () => {
    const lab = "lvslot";
    await withLab(lab, join(ROOT, "examples", "labs", "two-routers"), IMAGE_MAP_ARGS, async () => {
      await eventually("h1 reaches h2", 60, () => ping(lab, "h1", "10.2.0.10"));
      const before = labEnds(lab);
      // r2 is third of four: h2's place in the lab's device list moves up from 4th to 3rd
      await kindaOk("device", lab, "r2", "remove");
      await kindaOk("device", lab, "h3", "add", "--image-map", `kathara/base=${IMAGE_MAP["kathara/base"]}`);
      // by places, h3 (4th) took v-3-0, the lab-side end of h2's eth0: ip answered "File exists"
      await kindaOk("link", lab, "h3--h2", "add", "--address", "h3=10.7.0.1/24", "--address", "h2=10.7.0.2/24");
      assert.equal(await ping(lab, "h3", "10.7.0.2"), true, "h3 reaches h2 over the link added after the removal");
      assert.equal(await ping(lab, "h1", "10.1.0.1"), true, "h1 still reaches r1 over lan1, a link from up");
      const after = labEnds(lab);
      for (const end of ["h1.eth0", "r1.eth0", "r1.eth1", "h2.eth0"])
        assert.equal(after.get(end), before.get(end), `${end}: the same kernel interface under the same name as before the edits`);
      for (const end of ["r2.eth0", "r2.eth1"]) assert.equal(after.get(end), undefined, `${end} went with r2`);
      const names = [...after.values()].map((v) => v.split("#")[0]);
      assert.ok(!before.has("h3.eth0") && after.has("h3.eth0") && after.has("h2.eth1"), "the new link's two ends are there");
      assert.equal(after.get("h3.eth0")!.split("#")[0], "v-4-0", "h3 has a slot no device had: 4, not its place 3");
      assert.equal(new Set(names).size, names.length);
      // the state's record and the kernel agree: each recorded lab-side end carries its device's altname
      const st = JSON.parse(readFileSync(join(stateDir, "labs", lab, "state.json"), "utf8")) as {
        devices: { name: string; interfaces: { name: string; hostIf: string }[] }[];
      };
      for (const d of st.devices)
        for (const i of d.interfaces) assert.equal(after.get(`${d.name}.${i.name}`)?.split("#")[0], i.hostIf, `${d.name}:${i.name}`);
      assert.match(await kindaOk("status", lab), /h2 .*eth0:lan2 eth1:h3--h2/);
    });
    // withLab ran `down` and checked no container, namespace, state or rule of the lab is left
    assert.deepEqual(hostLinks(), linksBefore, "no interface of the lab in the host namespace");
    assert.ok(!hostLinks().some((n) => /^v-\d+-\d+$/.test(n)));
  });
});

describe("a cut between the pods of a fixture cluster (YAML two-routers example)", () => {
  it("ra--rb and the worker's own link (rb--wk): down stops pod-to-pod ping, up restores it", async () => {
    const provider = new FixtureProvider("kfxl");
    const y = loadTopologyYaml(join(ROOT, "examples", "two-routers-static.yaml"));
    const h = await upTopology({ ...y.spec, name: "lvpods" }, { provider, imageMap: IMAGE_MAP, where: y.where });
    try {
      const podPing = () => provider.inPod("wk", 0, ["ping", "-c", "1", "-W", "2", provider.podIp("cp", 1)]).code === 0;
      assert.ok(podPing(), "pods talk before the cut");
      for (const endpoint of ["ra--rb", "rb--wk"]) {
        await kindaOk("link", "lvpods", endpoint, "down");
        assert.equal(podPing(), false, `pods still talk with ${endpoint} cut`);
        await kindaOk("link", "lvpods", endpoint, "up");
        await eventually(`pods talk again after ${endpoint} up`, 30, async () => podPing());
      }
      const rows = JSON.parse(await kindaOk("status", "lvpods", "--links", "--json")) as { endpoint: string; txPackets: number }[];
      assert.ok((rows.find((r) => r.endpoint === "wk:eth1")?.txPackets ?? 0) > 0, "the worker's link is counted");
      const cap = await startCapture(["wk:eth1", "-c", "2", "-w", "-", "icmp"], "lvpods");
      podPing();
      assert.equal(await cap.done, 0, cap.err());
      assert.equal(Buffer.concat(cap.out).readUInt32LE(0), 0xa1b2c3d4, "a node's link is captured too");
    } finally {
      await h.down();
      await provider.delete();
    }
    await assertNothingLeft("lvpods", linksBefore);
  });
});
