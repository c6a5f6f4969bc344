/**
 * SIGKILL of `kinda up` at each of its steps, with a real Kind cluster, then `kinda down`: nothing
 * of the lab may be left (issue 28.2). Long form only (each point past "creating nodes" makes a
 * real Kind cluster): `npm run -s faults:kill -- [--points 0,3,7] [--list] [--name LAB]`. On a shared machine,
 * run it when no other Kind cluster is being made.
 *
 * The points are the lines `kinda up` prints with KINDA_TRACE=1 and CI=1 (no spinner): each
 * step's start (`… creating 2 Kubernetes nodes (kind)`) and each engine step's end
 * (`trace ... r1 create`), one point per distinct step name, taken from a first, uninterrupted
 * run. For each point: `kinda up` again, SIGKILL (the process only, as a crash would: its `kind`
 * child runs on) as soon as that line appears, `kinda down`, then count what belongs to the lab:
 * kinda's containers (label kinda.lab), Kind's node containers of the cluster (label
 * io.x-k8s.kind.cluster), the lab's namespace, host links with the lab's prefix, iptables rules
 * with its comment, the cluster's entries in $KUBECONFIG, and the lab's state. All must be 0.
 * Writes DIR/kill-up.json and prints one line per point.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml, stringify } from "yaml";
import { hostLinkPrefix, ruleComment } from "../../src/core/names.js";
import { IMAGE_MAP_ARGS, ROOT, ensureTestEnv } from "../support/env.js";

const { values: args } = parseArgs({
  options: {
    points: { type: "string" },
    list: { type: "boolean" },
    out: { type: "string" },
    name: { type: "string" },
    // only the cluster half: from the step that makes the Kubernetes nodes on
    cluster: { type: "boolean" },
  },
});
const CACHE = process.env["KINDA_K8S_CACHE"] ?? "/var/cache/kinda-k8s";
const NODE_IMAGE = process.env["KINDA_K8S_NODE_IMAGE"] ?? "kinda-k8s/node:v1.34.4";
const CLI = join(ROOT, "src", "cli", "kinda.ts");
// --name (or KINDA_KILL_NAME) gives the lab and cluster another name, so that runs beside others' never meet
const LAB = args.name ?? process.env["KINDA_KILL_NAME"] ?? "faults-kill";
const CLUSTER = LAB;
const STATE = mkdtempSync(join(tmpdir(), "kinda-kill-state-"));
const KUBECONFIG = join(STATE, "kubeconfig");
const OUT = args.out ?? mkdtempSync(join(tmpdir(), "kinda-kill-"));
const ENV = {
  ...process.env,
  KINDA_STATE_DIR: STATE,
  KUBECONFIG,
  CI: "1",
  KINDA_TRACE: "1",
  PATH: `${CACHE}/bin:${process.env["PATH"]}`,
};

// the small static example, on 10.168.x (Docker may hand the kind network 192.168.x), as its own lab and cluster
const topo = parseYaml(readFileSync(join(ROOT, "examples", "two-routers-static.yaml"), "utf8").replace(/192\.168\./g, "10.168.")) as Record<
  string,
  unknown
>;
topo["name"] = LAB;
topo["cluster"] = { ...((topo["cluster"] as object | undefined) ?? {}), name: CLUSTER, image: NODE_IMAGE };
const FILE = join(STATE, "topology.yaml");
writeFileSync(FILE, stringify(topo));
const UP = ["--import", "tsx", CLI, "up", FILE, "--name", LAB, ...IMAGE_MAP_ARGS];

function sh(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", env: ENV, maxBuffer: 64 << 20 });
  return r.status === 0 ? r.stdout : "";
}

/**
 * The point a line of up's output is, or undefined: a step's start, an engine step by its name,
 * or a step of the cluster half (KINDA_TRACE's `trace-cluster` lines: Kind's own steps as it
 * starts each, ` • Preparing nodes 📦 ...`, and kinda's early attach).
 */
function pointOf(line: string): string | undefined {
  if (line.startsWith("… ")) return line.slice(2).trim();
  const t = /^trace \S+ \+\S+ (\S+) (.+)$/.exec(line);
  if (t) return `trace ${t[2]!.trim()}`;
  const k = /^trace-cluster (\S+) • (.+?)(?:\s*\.\.\.)?$/.exec(line);
  // a step that names a time (Kind's "Ready after 7s") is the same point in every run
  if (k) return `${k[1]} ${k[2]!.trim().replace(/\b\d+s\b/g, "Ns")}`;
  const a = /^trace-cluster (kinda .+)$/.exec(line);
  return a ? a[1]!.trim() : undefined;
}

interface Left {
  containers: number;
  kindNodes: number;
  netns: number;
  hostLinks: number;
  iptables: number;
  kubeconfig: number;
  state: number;
  hostRoutes: number;
  ipRules: number;
  nft: number;
  dockerNetworks: number;
  kindConfigs: number;
}

/** The host's routes (every table, both families) and policy rules that name the lab's addresses
 * (10.168.x, see topo above) or its host links, less those there before the run (others' labs). */
function hostNet(): { routes: string[]; rules: string[] } {
  const mine = (l: string) => l.includes("10.168.") || l.includes(`${hostLinkPrefix(LAB)}-`);
  const lines = (argv: string[]) => sh(argv).split("\n").filter(Boolean).filter(mine);
  return {
    routes: [...lines(["ip", "-o", "route", "show", "table", "all"]), ...lines(["ip", "-o", "-6", "route", "show", "table", "all"])],
    rules: [...lines(["ip", "rule", "show"]), ...lines(["ip", "-6", "rule", "show"])],
  };
}
const NET0 = hostNet();
const dockerNetworks = () => sh(["docker", "network", "ls", "-q"]).split("\n").filter(Boolean);
const NETWORKS0 = dockerNetworks();
const kindDirs = () => readdirSync(tmpdir()).filter((x) => x.startsWith("kinda-kind-"));
/** The kinda-kind-* folders there before the point's up (others' runs, or a crash of theirs). */
let KIND_DIRS0: string[] = [];
/**
 * The Kind configurations kinda wrote for this cluster that are still there (tmpdir/kinda-kind-*:
 * removed once `kind create` ends, kept by a crash): new since the point's up, with this topology's
 * node names and image (kind.yaml does not name the cluster; another run of this example at the
 * same moment would be counted too).
 */
function kindConfigs(): number {
  let n = 0;
  for (const d of kindDirs().filter((x) => !KIND_DIRS0.includes(x))) {
    try {
      const y = readFileSync(join(tmpdir(), d, "kind.yaml"), "utf8");
      if (y.includes("kinda.dev/name: cp") && y.includes("kinda.dev/name: wk") && y.includes(NODE_IMAGE)) n++;
    } catch {
      // another run's, gone meanwhile
    }
  }
  return n;
}

function left(): Left {
  const net = hostNet();
  const ids = (labels: string) =>
    sh(["docker", "ps", "-aq", "--filter", `label=${labels}`])
      .split("\n")
      .filter(Boolean).length;
  const links = (JSON.parse(sh(["ip", "-j", "link", "show"]) || "[]") as { ifname: string }[]).filter((l) =>
    l.ifname.startsWith(`${hostLinkPrefix(LAB)}-`),
  ).length;
  const rules = [sh(["iptables-save"]), sh(["ip6tables-save"])]
    .join("\n")
    .split("\n")
    .filter((l) => l.includes(ruleComment(LAB))).length;
  const kc = existsSync(KUBECONFIG)
    ? readFileSync(KUBECONFIG, "utf8")
        .split("\n")
        .filter((l) => l.includes(`kind-${CLUSTER}`)).length
    : 0;
  return {
    containers: ids(`kinda.lab=${LAB}`),
    kindNodes: ids(`io.x-k8s.kind.cluster=${CLUSTER}`),
    netns: sh(["ip", "netns", "list"])
      .split("\n")
      .filter((l) => l.split(" ")[0] === `kinda-${LAB}`).length,
    hostLinks: links,
    iptables: rules,
    kubeconfig: kc,
    state: existsSync(join(STATE, "labs", LAB)) ? 1 : 0,
    hostRoutes: net.routes.filter((l) => !NET0.routes.includes(l)).length,
    ipRules: net.rules.filter((l) => !NET0.rules.includes(l)).length,
    nft: sh(["nft", "list", "ruleset"])
      .split("\n")
      .filter((l) => l.includes(LAB) || l.includes(hostLinkPrefix(LAB))).length,
    dockerNetworks: dockerNetworks().filter((n) => !NETWORKS0.includes(n)).length,
    kindConfigs: kindConfigs(),
  };
}

/** Runs `kinda up`; with a point, SIGKILLs it when that line appears. Its output and exit. */
function runUp(point?: string): Promise<{ lines: string[]; killed: boolean; code: number | null; seconds: number }> {
  const t0 = Date.now();
  return new Promise((res) => {
    const child = spawn(process.execPath, UP, { env: ENV, stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    let killed = false;
    let buf = "";
    const onData = (c: Buffer) => {
      buf += c.toString();
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      for (const l of parts) {
        lines.push(l);
        if (point !== undefined && !killed && pointOf(l) === point) {
          killed = true;
          child.kill("SIGKILL");
        }
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("close", (code) => res({ lines, killed, code, seconds: (Date.now() - t0) / 1000 }));
  });
}

/** Pids of a `kind create cluster --name CLUSTER` still running (a killed up's child runs on). */
function kindCreating(): number[] {
  const want = `create\0cluster\0--name\0${CLUSTER}\0`;
  const pids: number[] = [];
  for (const p of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, "latin1").includes(want)) pids.push(Number(p));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Waits (at most s seconds) until no `kind create` of the cluster runs, so that what it makes late is counted. */
async function kindSettled(s: number): Promise<number[]> {
  const end = Date.now() + s * 1000;
  for (;;) {
    const pids = kindCreating();
    if (!pids.length || Date.now() > end) return pids;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function down(): { code: number | null; out: string; seconds: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", CLI, "down", LAB], { env: ENV, encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}`, seconds: (Date.now() - t0) / 1000 };
}

async function main(): Promise<number> {
  ensureTestEnv();
  const before = left();
  if (Object.values(before).some((n) => n !== 0))
    throw new Error(`lab ${LAB} or cluster ${CLUSTER} exists already: ${JSON.stringify(before)}`);
  console.log(`kill-up: a first run of kinda up ${FILE} to find its steps`);
  const ref = await runUp();
  const d0 = down();
  if (ref.code !== 0) throw new Error(`the uninterrupted up failed (${ref.code}):\n${ref.lines.join("\n")}`);
  const points = [...new Set(ref.lines.map(pointOf).filter((p): p is string => p !== undefined))];
  console.log(`kill-up: up took ${ref.seconds.toFixed(1)} s, down ${d0.seconds.toFixed(1)} s; ${points.length} points`);
  if (args.list) {
    points.forEach((p, i) => console.log(`  ${i}: ${p}`));
    return 0;
  }
  const clusterFrom = points.findIndex((p) => /^creating \d+ Kubernetes nodes/.test(p));
  const chosen = args.points
    ? args.points.split(",").map(Number)
    : points.map((_, i) => i).filter((i) => !args.cluster || (clusterFrom >= 0 && i >= clusterFrom));
  const results: {
    point: number;
    name: string;
    killed: boolean;
    upSeconds: number;
    down: number | null;
    kindAtDown: number;
    left: Left;
  }[] = [];
  let failed = 0;
  for (const i of chosen) {
    const name = points[i];
    if (name === undefined) throw new Error(`--points: no point ${i} (0-${points.length - 1})`);
    KIND_DIRS0 = kindDirs();
    const u = await runUp(name);
    const kindAtDown = kindCreating().length;
    const d = down();
    const kindAfter = await kindSettled(120);
    let l = left();
    // Kind's `kind create cluster` outlives the killed up: a node it makes after down is left
    const leftNow = Object.values(l).reduce((a, b) => a + b, 0);
    results.push({ point: i, name, killed: u.killed, upSeconds: u.seconds, down: d.code, kindAtDown, left: l });
    const ok = u.killed && d.code === 0 && leftNow === 0;
    if (!ok) failed++;
    console.log(
      `${ok ? "ok" : "FAIL"} ${i} "${name}": killed after ${u.seconds.toFixed(1)} s${u.killed ? "" : " (the point never came: up ended first)"}; ` +
        `down exit ${d.code} in ${d.seconds.toFixed(1)} s; left ${JSON.stringify(l)}` +
        (kindAtDown
          ? `; kind create was still running at down${kindAfter.length ? ` and after it (pids ${kindAfter.join(",")})` : ", ended by the time of the count"}`
          : ""),
    );
    if (d.code !== 0) console.log(`  down said: ${d.out.trim().split("\n").slice(-3).join(" | ")}`);
    // a kind create of this run's own killed up that ran on past the wait: ended by its pid before the next point
    for (const pid of kindAfter) process.kill(pid, "SIGKILL");
    if (leftNow) {
      // clean up for the next point, and say whether a second down does it
      const d2 = down();
      l = left();
      console.log(`  a second down: exit ${d2.code}, left ${JSON.stringify(l)}`);
      spawnSync(`${CACHE}/bin/kind`, ["delete", "cluster", "--name", CLUSTER], { env: ENV, stdio: "ignore" });
    }
  }
  writeFileSync(join(OUT, "kill-up.json"), JSON.stringify({ points, results }, null, 1) + "\n");
  rmSync(STATE, { recursive: true, force: true });
  console.log(`kill-up: ${chosen.length} points, ${chosen.length - failed} left nothing; ${join(OUT, "kill-up.json")}`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
