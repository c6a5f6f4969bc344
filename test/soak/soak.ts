/**
 * The soak: `npm run soak -- --cycles N [--cluster-every K] [--minutes M] [--out DIR]`.
 *
 * One long-lived process (this one) drives kinda through its library, as a program embedding it
 * would, N times over:
 *   lab cycle (every cycle): up examples/labs/two-routers, exec (h1 pings h2 through r1 and r2),
 *     link cut (the ping must fail) and restore (it must pass), shape (tbf) and clear, capture
 *     (tcpdump of two packets on r1's lan1 side while h1 pings), restart of a device (h2 made
 *     again; the ping passes again), down;
 *   cluster cycle (every K-th cycle): examples/two-routers-static.yaml with two Kind-compatible
 *     fixture nodes (test/support/fixture.ts: real containers, not Kind), a pod-to-pod ping
 *     across the routers, the worker's node link cut (nftables in the node) and restored, down.
 * After every cycle it counts what belongs to the soak's own labs, by kinda's names and labels
 * only (other labs run on this machine at the same time): containers (label kinda.lab, and the
 * fixture nodes' names), network namespaces (kinda-LAB, the fixture's pod namespaces), host
 * veths and bridges (the labs' host-link prefix), host iptables/ip6tables rules (the labs'
 * comment), host nft rules (kinda's cut table or the labs' names), host conntrack entries of the
 * fixture nodes' addresses, and state directories (the soak's own KINDA_STATE_DIR); and of this
 * process: open file descriptors, RSS and heap (after a forced GC).
 * Every count must be back to its value before the first cycle after every cycle; at the end the
 * descriptors, RSS and heap must not have grown past small bounds (below). It writes DIR/soak.json
 * (every sample), DIR/soak.svg and DIR/soak.png (the resource curves) and exits 1 on any growth or
 * failed step, naming it.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { renderSvg, type Series } from "./plot.js";

const { values: args } = parseArgs({
  options: {
    cycles: { type: "string", default: "3" },
    "cluster-every": { type: "string", default: "10" },
    minutes: { type: "string" },
    out: { type: "string" },
  },
});
const CYCLES = Number(args.cycles);
const CLUSTER_EVERY = Number(args["cluster-every"]);
const DEADLINE = args.minutes ? Date.now() + Number(args.minutes) * 60_000 : Infinity;
if (!Number.isInteger(CYCLES) || CYCLES < 1) throw new Error(`--cycles ${args.cycles}: a positive whole number`);
if (!Number.isInteger(CLUSTER_EVERY) || CLUSTER_EVERY < 0) throw new Error(`--cluster-every ${args["cluster-every"]}: 0 (never) or more`);

// the soak's own state root, before kinda's modules read it
const STATE = mkdtempSync(join(tmpdir(), "kinda-soak-state-"));
process.env["KINDA_STATE_DIR"] = STATE;
const OUT = resolve(args.out ?? mkdtempSync(join(tmpdir(), "kinda-soak-")));
mkdirSync(OUT, { recursive: true });

const { up, down, execIn, status } = await import("../../src/app/api.js");
const { changeLink, captureArgv } = await import("../../src/app/live.js");
const { restartDevice } = await import("../../src/app/verbs.js");
const { up: upTopology } = await import("../../src/app/up.js");
const { loadTopologyYaml } = await import("../../src/topology/yaml.js");
const { StateStore } = await import("../../src/state/store.js");
const { hostLinkPrefix, ruleComment } = await import("../../src/core/names.js");
const { DockerRuntime } = await import("../../src/runtime/docker.js");
const { ensureTestEnv, IMAGE_MAP, ROOT } = await import("../support/env.js");
const { FixtureProvider } = await import("../support/fixture.js");

ensureTestEnv();
const tag = randomBytes(2).toString("hex");
const LAB = `soak${tag}`;
const CLAB = `soakc${tag}`;
const FIXTURE = `kfxs${tag}`;
const store = new StateStore(STATE);
const runtime = new DockerRuntime();
const docker = runtime.docker;
const LAB_DIR = join(ROOT, "examples", "labs", "two-routers");
const CLUSTER_YAML = join(ROOT, "examples", "two-routers-static.yaml");
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc (npm run soak does)");

function sh(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", maxBuffer: 64 << 20 });
  return r.status === 0 ? r.stdout : "";
}

/**
 * Conntrack entries that are the soak's own: made while its fixture nodes held their addresses on
 * the Kind network. A `conntrack -E` watcher runs through each cluster cycle (from before up to
 * after the nodes are gone) and keeps the ids of the entries it saw made for those addresses.
 * The count after a cycle is of entries still present with one of those ids: an address Docker
 * hands to another container afterwards (another engineer's node) makes entries that are not ours.
 */
const ownedConntrack = new Map<string, string>(); // id -> the entry as first seen
/** How many conntrack entries each cluster cycle's nodes made (a count of 0 everywhere would check nothing). */
const conntrackMade: number[] = [];
/** The last cluster cycle's fixture node addresses. */
const nodeAddresses = new Set<string>();

function watchConntrack(): { stop(): Promise<string[]> } {
  const p = spawn("conntrack", ["-E", "-e", "NEW", "-o", "id"], { stdio: ["ignore", "pipe", "ignore"] });
  let buf = "";
  const lines: string[] = [];
  p.stdout.on("data", (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split("\n");
    buf = parts.pop() ?? "";
    lines.push(...parts);
  });
  const closed = new Promise<void>((res) => p.on("close", () => res()));
  return {
    async stop(): Promise<string[]> {
      // a moment for the last events of the nodes' removal
      await new Promise((r) => setTimeout(r, 500));
      p.kill();
      await closed;
      return lines;
    },
  };
}

function mentions(line: string, addrs: Iterable<string>): boolean {
  for (const a of addrs) if (new RegExp(`=${a.replace(/\./g, "\\.")}\\s`).test(line)) return true;
  return false;
}

/** The soak's own conntrack entries still present (their lines, for the report). */
function ownConntrackLeft(): string[] {
  if (!ownedConntrack.size) return [];
  return sh(["conntrack", "-L", "-o", "id"])
    .split("\n")
    .filter((l) => ownedConntrack.has(/\bid=(\d+)\s*$/.exec(l)?.[1] ?? ""));
}

interface Sample {
  cycle: number;
  kind: "baseline" | "lab" | "lab+cluster";
  seconds: number;
  containers: number;
  netns: number;
  veths: number;
  bridges: number;
  iptables: number;
  nft: number;
  conntrack: number;
  stateDirs: number;
  fds: number;
  rssMiB: number;
  heapMiB: number;
}

const OBJECTS = ["containers", "netns", "veths", "bridges", "iptables", "nft", "conntrack", "stateDirs"] as const;

async function sample(cycle: number, kind: Sample["kind"], seconds: number): Promise<Sample> {
  const labs = [LAB, CLAB];
  const mine = await docker.listContainers({ all: true });
  const containers = mine.filter(
    (c) => labs.includes(c.Labels["kinda.lab"] ?? "") || c.Names.some((n) => n.startsWith(`/${FIXTURE}-`)),
  ).length;
  const ns = sh(["ip", "netns", "list"])
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => labs.some((l) => n === `kinda-${l}`) || n.startsWith(`kfx-${FIXTURE}-`)).length;
  const links = JSON.parse(sh(["ip", "-j", "-d", "link", "show"]) || "[]") as { ifname: string; linkinfo?: { info_kind?: string } }[];
  const ours = links.filter((l) => labs.some((lab) => l.ifname.startsWith(`${hostLinkPrefix(lab)}-`)));
  const veths = ours.filter((l) => l.linkinfo?.info_kind === "veth").length;
  const bridges = ours.filter((l) => l.linkinfo?.info_kind === "bridge").length;
  const rules = [sh(["iptables-save"]), sh(["ip6tables-save"])]
    .join("\n")
    .split("\n")
    .filter((l) => labs.some((lab) => l.includes(ruleComment(lab)) || l.includes(`kinda-${lab}`))).length;
  const nft = sh(["nft", "list", "ruleset"])
    .split("\n")
    .filter((l) => l.includes("kinda_cut") || labs.some((lab) => l.includes(lab))).length;
  // the soak's own entries (by the ids its fixture nodes made, see ownedConntrack), not every entry
  // naming their addresses: Docker hands a freed address of the kind network to the next container
  // (another run's Kind node), whose entries outlive it and are not the soak's (12:25 here: 1-2 at
  // cycles 29-33 while a real-Kind run made and removed its nodes; 0 of them were the soak's)
  const ct = ownConntrackLeft().length;
  const stateDirs = existsSync(join(STATE, "labs")) ? readdirSync(join(STATE, "labs")).length : 0;
  gc!();
  const mem = process.memoryUsage();
  return {
    cycle,
    kind,
    seconds,
    containers,
    netns: ns,
    veths,
    bridges,
    iptables: rules,
    nft,
    conntrack: ct,
    stateDirs,
    fds: readdirSync("/proc/self/fd").length,
    rssMiB: mem.rss / 2 ** 20,
    heapMiB: mem.heapUsed / 2 ** 20,
  };
}

async function pingOk(lab: string, from: string, to: string): Promise<boolean> {
  const r = await execIn(from, ["ping", "-c1", "-W2", to], { lab, store });
  return r.exitCode === 0;
}

/** Waits a bounded time for a ping to pass (a restarted device's start-up, a restored link). */
async function pingsWithin(lab: string, from: string, to: string, seconds: number): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    if (await pingOk(lab, from, to)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`${lab}: ${from} does not reach ${to} within ${seconds} s`);
}

/** Seconds per step of the last cycle (printed with it: where a cycle's time goes). */
const steps: [string, number][] = [];
let stepT = Date.now();
function mark(name: string): void {
  steps.push([name, (Date.now() - stepT) / 1000]);
  stepT = Date.now();
}

async function labCycle(): Promise<void> {
  steps.length = 0;
  stepT = Date.now();
  await up(LAB_DIR, { name: LAB, imageMap: IMAGE_MAP, store, runtime });
  mark("up");
  const H2 = "10.2.0.10";
  await pingsWithin(LAB, "h1", H2, 30);
  mark("exec");
  await changeLink(LAB, "r1--r2", { state: "down" }, { store, runtime });
  const cut = await execIn("h1", ["ping", "-c1", "-W1", H2], { lab: LAB, store });
  assert.notEqual(cut.exitCode, 0, "h1 still reaches h2 with r1--r2 cut");
  await changeLink(LAB, "r1--r2", { state: "up" }, { store, runtime });
  await pingsWithin(LAB, "h1", H2, 30);
  mark("cut+restore");
  await changeLink(LAB, "r1--r2", { shape: { rate: "10mbit", burst: "32kbit", latency: "50ms" } }, { store, runtime });
  const shaped = await status(LAB, { store, runtime });
  assert.ok(JSON.stringify(shaped).includes("10mbit"), "status shows the shaping");
  await changeLink(LAB, "r1--r2", { clear: true }, { store, runtime });
  mark("shape+clear");
  // capture: two packets of h1's pings on r1's lan1 side, as a pcap file
  const pcap = join(OUT, "capture.pcap");
  const argv = await captureArgv(LAB, "r1:eth0", { store, write: pcap, count: 2, filter: ["icmp"] });
  const cap = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  let capErr = "";
  cap.stderr.on("data", (c: Buffer) => (capErr += c.toString()));
  const capped = new Promise<number | null>((res) => cap.on("close", res));
  const timer = setTimeout(() => cap.kill(), 30_000);
  await new Promise((r) => setTimeout(r, 300)); // tcpdump opens the interface
  await execIn("h1", ["ping", "-c", "4", "-i", "0.2", H2], { lab: LAB, store });
  const code = await capped;
  clearTimeout(timer);
  assert.equal(code, 0, `capture: ${capErr}`);
  assert.ok(existsSync(pcap), "the capture wrote its pcap");
  rmSync(pcap);
  mark("capture");
  await restartDevice(LAB, "h2", { store, runtime });
  await pingsWithin(LAB, "h1", H2, 30);
  mark("restart");
  await down(LAB, { store, runtime });
  mark("down");
}

async function clusterCycle(): Promise<void> {
  const provider = new FixtureProvider(FIXTURE);
  const y = loadTopologyYaml(CLUSTER_YAML);
  // the example's 192.168.x subnets can fall inside the Docker network "kind" (Docker hands out
  // 192.168.0.0/20 and up once its 172.x pools have been used by earlier networks): kinda then
  // rightly refuses the topology, so the soak moves them to 10.168.x, which no default pool uses
  const spec = JSON.parse(JSON.stringify(y.spec).replace(/192\.168\./g, "10.168.")) as typeof y.spec;
  stepT = Date.now();
  const ct = watchConntrack();
  nodeAddresses.clear();
  const h = await upTopology({ ...spec, name: CLAB }, { provider, imageMap: IMAGE_MAP, where: y.where, store, runtime });
  try {
    for (const n of ["cp", "wk"]) {
      const info = await runtime.inspect(provider.fact(n).container);
      for (const a of Object.values(info?.networks ?? {})) nodeAddresses.add(a);
    }
    const r = provider.inPod("wk", 0, ["ping", "-c", "2", "-W", "2", provider.podIp("cp", 1)]);
    assert.equal(r.code, 0, `pod to pod through ra and rb: ${r.out}`);
    await changeLink(CLAB, "rb--wk", { state: "down" }, { store, runtime });
    const cut = provider.inPod("wk", 0, ["ping", "-c", "1", "-W", "1", provider.podIp("cp", 1)]);
    assert.notEqual(cut.code, 0, "pods still reach each other with rb--wk cut");
    await changeLink(CLAB, "rb--wk", { state: "up" }, { store, runtime });
    const back = provider.inPod("wk", 0, ["ping", "-c", "2", "-W", "2", provider.podIp("cp", 1)]);
    assert.equal(back.code, 0, `after the restore: ${back.out}`);
  } finally {
    mark("cluster");
    await h.down();
    await provider.delete();
    let made = 0;
    for (const l of await ct.stop()) {
      const id = /\bid=(\d+)\s*$/.exec(l)?.[1];
      if (id && mentions(l, nodeAddresses)) {
        ownedConntrack.set(id, l);
        made++;
      }
    }
    conntrackMade.push(made);
    mark("cluster down");
  }
}

function writeOutputs(samples: Sample[]): void {
  writeFileSync(join(OUT, "soak.json"), JSON.stringify(samples, null, 1) + "\n");
  const pick = (k: keyof Sample): number[] => samples.map((s) => Number(s[k]));
  const series: Series[] = [
    { name: "RSS (MiB)", values: pick("rssMiB"), color: "#c0392b" },
    { name: "heap after GC (MiB)", values: pick("heapMiB"), color: "#8e44ad" },
    { name: "open fds", values: pick("fds"), color: "#2471a3" },
    { name: "cycle seconds", values: pick("seconds"), color: "#7f8c8d" },
    ...OBJECTS.map((k, i) => ({
      name: `${k} left`,
      values: pick(k),
      color: ["#27ae60", "#16a085", "#d35400", "#f39c12", "#2c3e50", "#e84393", "#00838f", "#6d4c41"][i]!,
    })),
  ];
  const svg = renderSvg(
    `kinda soak: ${samples.length - 1} cycles (${samples.filter((s) => s.kind === "lab+cluster").length} with the fixture cluster)`,
    series,
  );
  writeFileSync(join(OUT, "soak.svg"), svg);
}

async function main(): Promise<number> {
  const samples: Sample[] = [await sample(0, "baseline", 0)];
  const base = samples[0]!;
  const failures: string[] = [];
  let done = 0;
  const t00 = Date.now();
  for (let c = 1; c <= CYCLES && Date.now() < DEADLINE; c++) {
    const t0 = Date.now();
    const withCluster = CLUSTER_EVERY > 0 && (c === 1 || c % CLUSTER_EVERY === 0);
    try {
      await labCycle();
      if (withCluster) await clusterCycle();
    } catch (e) {
      failures.push(`cycle ${c}: ${(e as Error).message}`);
      await down(LAB, { store, runtime, forgetCluster: true }).catch(() => undefined);
      await down(CLAB, { store, runtime, forgetCluster: true }).catch(() => undefined);
    }
    const s = await sample(c, withCluster ? "lab+cluster" : "lab", (Date.now() - t0) / 1000);
    samples.push(s);
    done = c;
    for (const k of OBJECTS) if (s[k] !== base[k]) failures.push(`cycle ${c}: ${k} ${base[k]} -> ${s[k]} (left behind)`);
    console.log(
      `cycle ${c}/${CYCLES} ${s.kind} ${s.seconds.toFixed(1)} s: ${OBJECTS.map((k) => `${k}=${s[k]}`).join(" ")} fds=${s.fds} rss=${s.rssMiB.toFixed(1)}MiB heap=${s.heapMiB.toFixed(1)}MiB (${steps.map(([n, t]) => `${n} ${t.toFixed(1)}`).join(", ")})`,
    );
    if (failures.length >= 5) break;
    if (c % 25 === 0) writeOutputs(samples);
  }
  // growth of the process: against the sample after warm-up (the first cycles load code and caches)
  const warm = samples[Math.min(samples.length - 1, Math.max(1, Math.floor(done / 10)))]!;
  const last = samples[samples.length - 1]!;
  const limits = { fds: 8, rssMiB: 64, heapMiB: 16 };
  for (const k of ["fds", "rssMiB", "heapMiB"] as const)
    if (last[k] - warm[k] > limits[k])
      failures.push(
        `${k} grew from ${warm[k].toFixed(1)} (cycle ${warm.cycle}) to ${last[k].toFixed(1)} (cycle ${last.cycle}): more than ${limits[k]}`,
      );
  writeOutputs(samples);
  const png = await renderPng(join(OUT, "soak.svg"), join(OUT, "soak.png"));
  const minutes = ((Date.now() - t00) / 60_000).toFixed(1);
  console.log(
    `soak: ${done} cycles (${samples.filter((s) => s.kind === "lab+cluster").length} with the fixture cluster) in ${minutes} min; ` +
      `fds ${warm.fds} -> ${last.fds}, RSS ${warm.rssMiB.toFixed(1)} -> ${last.rssMiB.toFixed(1)} MiB, heap ${warm.heapMiB.toFixed(1)} -> ${last.heapMiB.toFixed(1)} MiB; ` +
      `samples ${join(OUT, "soak.json")}, plot ${png}`,
  );
  console.log(
    `soak: conntrack entries made for the fixture nodes per cluster cycle: ${conntrackMade.join(", ") || "none"} (${ownedConntrack.size} in all); left after the cycles: ${ownConntrackLeft().length}`,
  );
  rmSync(STATE, { recursive: true, force: true });
  if (failures.length) {
    console.error(`soak FAILED:\n  ${failures.join("\n  ")}`);
    return 1;
  }
  console.log(`soak: nothing grew (${OBJECTS.join(", ")} back to their baseline after every cycle)`);
  return 0;
}

async function renderPng(svgPath: string, pngPath: string): Promise<string> {
  const { Resvg } = await import("@resvg/resvg-js");
  const { readFileSync } = await import("node:fs");
  const png = new Resvg(readFileSync(svgPath, "utf8"), { background: "white", font: { loadSystemFonts: true } }).render().asPng();
  writeFileSync(pngPath, png);
  return pngPath;
}

process.exitCode = await main();
