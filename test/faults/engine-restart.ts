/**
 * The Docker engine restarted during `kinda up` and during `kinda down` (issue 28.2), on a
 * PRIVATE dockerd this script starts (its own socket, data-root, exec-root and pidfile; no
 * bridge but one of its own, no iptables of its own), never the machine's shared engine, which others use:
 * `npm run -s faults:engine -- [--dir /var/tmp/kinda-engine] [--name LAB]`. Long form only
 * (about 5 minutes; not in CI).
 *
 * The base image is copied into the private engine from the shared one (docker save | load,
 * which only reads the shared engine). Then, on examples/labs/two-routers:
 *   during up: for each step of `kinda up` (the lines it prints with KINDA_TRACE=1 and CI=1, one
 *     per distinct step, from a first, uninterrupted run), `kinda up` again, and as soon as that
 *     line appears, the engine is stopped (SIGTERM; it stops the containers) and started again;
 *     up's exit and last words are kept; then `kinda down`;
 *   during down: the lab up, `kinda down`, the engine restarted as soon as down prints its first
 *     line, or its "removing N containers" step; down's exit; a second `down` when it failed.
 * After each: the lab's containers on the private engine (any state), its namespace, host links
 * with its prefix, iptables rules with its comment, its state folder. All must be 0.
 * Writes DIR/engine-restart.json and prints one line per case.
 *
 * `--cluster` (heavy: real Kind on the private engine): the same for the cluster half, on
 * examples/two-routers-static.yaml (moved to 10.168.x) with a real Kind cluster of its own name.
 * Kind's node image is copied into the private engine too (~1.2 GB, once; `--clean` removes the
 * private engine's data afterwards). Kind is pointed at the private engine by DOCKER_HOST; its
 * Docker network "kind" there is made first by this script with a subnet of its own
 * (`--subnet`, default 10.250.77.0/24, IPv4 only, bridge kf7kind), so that it never takes the
 * addresses or the IPv6 prefix of the shared engine's "kind" network; since the private engine
 * writes no iptables rules, two FORWARD rules (comment kinda-engine-restart) let that bridge's
 * traffic through the host's DROP policy, removed at the end. The points are the cluster half's
 * (Kind's steps and kinda's attach, as faults:kill --cluster); `--points 0,3` picks some of them
 * by index; down is restarted at its first line and at its Kind cluster removal. After each case
 * it counts also the cluster's node containers (private and shared engine), its kubeconfig
 * entries and host routes naming 10.168.x.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { hostLinkPrefix, ruleComment } from "../../src/core/names.js";
import { parse as parseYaml, stringify } from "yaml";
import { BASE_IMAGE, FRR_IMAGE, IMAGE_MAP_ARGS, ROOT } from "../support/env.js";

const { values: args } = parseArgs({
  options: {
    dir: { type: "string" },
    name: { type: "string" },
    cluster: { type: "boolean" },
    points: { type: "string" },
    subnet: { type: "string", default: "10.250.77.0/24" },
    clean: { type: "boolean" },
  },
});
const DIR = args.dir ?? "/var/tmp/kinda-engine-restart";
const LAB = args.name ?? "f4engine";
const CLUSTER_MODE = args.cluster === true;
const CACHE = process.env["KINDA_K8S_CACHE"] ?? "/var/cache/kinda-k8s";
const NODE_IMAGE = process.env["KINDA_K8S_NODE_IMAGE"] ?? "kinda-k8s/node:v1.34.4";
const KIND_BRIDGE = "kf7kind";
const FWD_COMMENT = "kinda-engine-restart";
const SOCK = join(DIR, "docker.sock");
const PIDFILE = join(DIR, "docker.pid");
const STATE = join(DIR, "state");
mkdirSync(DIR, { recursive: true });
const CLI = join(ROOT, "dist", "bin", "kinda.js");
const LABDIR = join(ROOT, "examples", "labs", "two-routers");
const KUBECONFIG = join(DIR, "kubeconfig");
const ENV = {
  ...process.env,
  DOCKER_HOST: `unix://${SOCK}`,
  KINDA_STATE_DIR: STATE,
  KUBECONFIG,
  CI: "1",
  KINDA_TRACE: "1",
  PATH: `${CACHE}/bin:${process.env["PATH"]}`,
};
const SHARED_ENV = { ...process.env };
delete SHARED_ENV["DOCKER_HOST"];

/**
 * The private engine's default bridge: a host bridge of its own (ENGINE_BRIDGE, 10.250.78.1/24), made
 * here and removed at the end. NEVER `--bridge=none`: dockerd started with it deletes the host's
 * docker0 (moby's removeDefaultBridgeInterface, "--bridge=none use case"), the shared engine's bridge;
 * on 2026-12-07 14:48 that made a set-up script restart the shared engine (every container stopped).
 */
const ENGINE_BRIDGE = "kf7eng0";
function ensureEngineBridge(): void {
  if (existsSync(`/sys/class/net/${ENGINE_BRIDGE}`)) return;
  for (const argv of [
    ["link", "add", ENGINE_BRIDGE, "type", "bridge"],
    ["addr", "add", "10.250.78.1/24", "dev", ENGINE_BRIDGE],
    ["link", "set", ENGINE_BRIDGE, "up"],
  ]) {
    const r = spawnSync("ip", argv, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`ip ${argv.join(" ")}: ${r.stderr}`);
  }
}

function dockerd(): ChildProcess {
  ensureEngineBridge();
  if (!existsSync("/sys/class/net/docker0")) throw new Error("no docker0 before the private engine starts");
  writeFileSync(
    join(DIR, "daemon.json"),
    // the machine's runc wrapper (scripts/test-env/setup.sh), as the shared engine has it
    JSON.stringify({
      runtimes: { "kinda-test-runc": { path: "/usr/local/lib/kinda-test/runc-drop-sys-resource" } },
      "default-runtime": "kinda-test-runc",
    }),
  );
  const argv = [
    "--config-file", join(DIR, "daemon.json"), "-H", `unix://${SOCK}`, "--data-root", join(DIR, "root"),
    "--exec-root", join(DIR, "exec"), "--pidfile", PIDFILE, "--bridge", ENGINE_BRIDGE, "--iptables=false", "--ip6tables=false",
    "--shutdown-timeout", "5",
  ]; // prettier-ignore
  const child = spawn("dockerd", argv, { detached: true, stdio: ["ignore", "ignore", "ignore"] });
  child.unref();
  return child;
}

function dockerOk(): boolean {
  return spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], { env: ENV, stdio: "ignore" }).status === 0;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function waitEngine(): Promise<void> {
  for (let i = 0; i < 120; i++) {
    if (dockerOk()) return;
    await sleep(500);
  }
  throw new Error(`the private dockerd did not answer on ${SOCK} within 60 s`);
}

function enginePid(): number | undefined {
  if (!existsSync(PIDFILE)) return undefined;
  const pid = Number(readFileSync(PIDFILE, "utf8").trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

async function stopEngine(): Promise<void> {
  const pid = enginePid();
  if (pid === undefined) return;
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 120; i++) {
    if (enginePid() === undefined) return;
    await sleep(250);
  }
  throw new Error(`the private dockerd (pid ${pid}) did not stop within 30 s`);
}

/** Stops the private engine and starts it again; the seconds it was away. */
async function restartEngine(): Promise<number> {
  const t0 = Date.now();
  await stopEngine();
  dockerd();
  await waitEngine();
  return (Date.now() - t0) / 1000;
}

function sh(argv: string[], env: NodeJS.ProcessEnv = ENV): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", env, maxBuffer: 64 << 20 });
  return r.status === 0 ? r.stdout : "";
}

interface Left {
  containers: number;
  netns: number;
  hostLinks: number;
  iptables: number;
  state: number;
  kindNodes?: number;
  kindNodesShared?: number;
  kubeconfig?: number;
  hostRoutes?: number;
}

/** Host routes (both families, every table) naming the cluster topology's 10.168.x, less those there before. */
const routes = () =>
  [sh(["ip", "-o", "route", "show", "table", "all"]), sh(["ip", "-o", "-6", "route", "show", "table", "all"])]
    .join("\n")
    .split("\n")
    .filter((l) => l.includes("10.168."));
const ROUTES0 = routes();

function left(): Left {
  const links = (JSON.parse(sh(["ip", "-j", "link", "show"]) || "[]") as { ifname: string }[]).filter((l) =>
    l.ifname.startsWith(`${hostLinkPrefix(LAB)}-`),
  ).length;
  return {
    containers: sh(["docker", "ps", "-aq", "--filter", `label=kinda.lab=${LAB}`])
      .split("\n")
      .filter(Boolean).length,
    netns: sh(["ip", "netns", "list"])
      .split("\n")
      .filter((l) => l.split(" ")[0] === `kinda-${LAB}`).length,
    hostLinks: links,
    iptables: [sh(["iptables-save"]), sh(["ip6tables-save"])]
      .join("\n")
      .split("\n")
      .filter((l) => l.includes(ruleComment(LAB))).length,
    state: existsSync(join(STATE, "labs", LAB)) ? 1 : 0,
    ...(CLUSTER_MODE
      ? {
          kindNodes: sh(["docker", "ps", "-aq", "--filter", `label=io.x-k8s.kind.cluster=${LAB}`])
            .split("\n")
            .filter(Boolean).length,
          kindNodesShared: sh(["docker", "ps", "-aq", "--filter", `label=io.x-k8s.kind.cluster=${LAB}`], SHARED_ENV)
            .split("\n")
            .filter(Boolean).length,
          kubeconfig: existsSync(KUBECONFIG)
            ? readFileSync(KUBECONFIG, "utf8")
                .split("\n")
                .filter((l) => l.includes(`kind-${LAB}`)).length
            : 0,
          hostRoutes: routes().filter((l) => !ROUTES0.includes(l)).length,
        }
      : {}),
  };
}

const total = (l: Left) => Object.values(l).reduce((a, b) => a + b, 0);

function pointOf(line: string): string | undefined {
  if (line.startsWith("… ")) return line.slice(2).trim();
  const t = /^trace \S+ \+\S+ (\S+) (.+)$/.exec(line);
  if (t) return `trace ${t[2]!.trim()}`;
  // the cluster half (KINDA_TRACE's trace-cluster lines: Kind's steps as it starts each, kinda's attach)
  const k = /^trace-cluster (\S+) • (.+?)(?:\s*\.\.\.)?$/.exec(line);
  if (k) return `${k[1]} ${k[2]!.trim().replace(/\b\d+s\b/g, "Ns")}`;
  const a = /^trace-cluster (kinda .+)$/.exec(line);
  return a ? a[1]!.trim() : undefined;
}

/** Runs kinda ARGS; with `at`, restarts the engine once when a line matches it. */
function run(
  argv: string[],
  at?: (line: string) => boolean,
): Promise<{ lines: string[]; code: number | null; seconds: number; restarted?: number; restartAt?: number }> {
  const t0 = Date.now();
  return new Promise((res) => {
    const child = spawn(process.execPath, [CLI, ...argv], { env: ENV, stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    let buf = "";
    let restart: Promise<number> | undefined;
    let restartAt: number | undefined;
    const onData = (c: Buffer) => {
      buf += c.toString();
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      for (const l of parts) {
        lines.push(l);
        if (at && !restart && at(l)) {
          restartAt = (Date.now() - t0) / 1000;
          restart = restartEngine();
        }
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("close", (code) => {
      if (buf) lines.push(buf);
      const seconds = (Date.now() - t0) / 1000;
      // the engine must be back before the next command, whichever ended first
      void (restart ?? Promise.resolve(-1)).then((r) =>
        res({ lines, code, seconds, ...(r >= 0 ? { restarted: r, restartAt: restartAt! } : {}) }),
      );
    });
  });
}

/** The cluster mode's topology: the small static example on 10.168.x, as its own lab and cluster. */
function clusterTopology(): string {
  const topo = parseYaml(
    readFileSync(join(ROOT, "examples", "two-routers-static.yaml"), "utf8").replace(/192\.168\./g, "10.168."),
  ) as Record<string, unknown>;
  topo["name"] = LAB;
  topo["cluster"] = { ...((topo["cluster"] as object | undefined) ?? {}), name: LAB, image: NODE_IMAGE };
  const file = join(DIR, "topology.yaml");
  writeFileSync(file, stringify(topo));
  return file;
}
const UP = ["up", CLUSTER_MODE ? clusterTopology() : LABDIR, "--name", LAB, ...IMAGE_MAP_ARGS];

/** The private engine's Docker network "kind" (see the header), made when missing. */
function ensureKindNetwork(): void {
  if (sh(["docker", "network", "ls", "-q", "--filter", "name=^kind$"]).trim()) return;
  const r = spawnSync(
    "docker",
    ["network", "create", "-d", "bridge", "--subnet", args.subnet!, "-o", `com.docker.network.bridge.name=${KIND_BRIDGE}`, "kind"],
    { env: ENV, encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`could not make the private engine's network "kind": ${r.stderr}`);
}

/** The host's FORWARD policy is DROP (the shared engine's): let the private kind bridge's traffic through, or take that back. */
function forwardRules(add: boolean): void {
  for (const dir of ["-i", "-o"]) {
    const rule = ["FORWARD", dir, KIND_BRIDGE, "-m", "comment", "--comment", FWD_COMMENT, "-j", "ACCEPT"];
    const present = spawnSync("iptables", ["-C", ...rule], { stdio: "ignore" }).status === 0;
    if (add && !present) spawnSync("iptables", ["-I", ...rule], { stdio: "inherit" });
    if (!add && present) spawnSync("iptables", ["-D", ...rule], { stdio: "inherit" });
  }
}
const lastWords = (lines: string[]) =>
  lines
    .filter((l) => /error|hint|✖|warning/.test(l))
    .slice(-3)
    .join(" | ");

interface Result {
  case: string;
  restartedAtSecond?: number;
  engineAwaySeconds?: number;
  firstExit: number | null;
  firstSaid: string;
  down: number | null;
  downSaid: string;
  secondDown?: number | null;
  left: Left;
}

async function main(): Promise<number> {
  if (enginePid() === undefined) dockerd();
  await waitEngine();
  for (const image of CLUSTER_MODE ? [BASE_IMAGE, FRR_IMAGE, NODE_IMAGE] : [BASE_IMAGE]) {
    if (sh(["docker", "images", "-q", image]).trim()) continue;
    console.log(`engine-restart: copying ${image} from the shared engine into the private one`);
    const r = spawnSync("sh", ["-c", `docker save "$1" | DOCKER_HOST="$2" docker load`, "sh", image, `unix://${SOCK}`], {
      env: SHARED_ENV,
      stdio: "inherit",
    });
    if (r.status !== 0) throw new Error(`could not copy ${image}`);
  }
  if (CLUSTER_MODE) {
    ensureKindNetwork();
    forwardRules(true);
  }
  try {
    return await cases();
  } finally {
    if (CLUSTER_MODE) forwardRules(false);
    await stopEngine();
    spawnSync("ip", ["link", "del", ENGINE_BRIDGE], { stdio: "ignore" });
    // the shared engine's bridge must still be there (see ENGINE_BRIDGE)
    if (!existsSync("/sys/class/net/docker0")) console.error("engine-restart: docker0 is gone (it was there at the start)");
    if (args.clean) rmSync(DIR, { recursive: true, force: true });
  }
}

/**
 * After a case that left the lab (counted as FAIL above), the way out that worked by hand, so that
 * the next cases start clean: the engine stopped (its bind mount of its data root shadows what it
 * left), the container root filesystems it left mounted under its data root unmounted, the engine
 * started again, a third `down`. Touches only the private engine's own folder.
 */
async function clearStuck(): Promise<void> {
  if (total(left()) === 0) return;
  await stopEngine();
  const root = join(DIR, "root") + "/";
  const stuck = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(root) && m.endsWith("/merged"));
  for (const m of stuck) spawnSync("umount", [m], { stdio: "ignore" });
  dockerd();
  await waitEngine();
  const d3 = await run(["down", LAB]);
  console.log(
    `  cleared: the engine stopped, ${stuck.length} root filesystem mount(s) it left unmounted, started again; a third down exit ${d3.code}; left ${JSON.stringify(left())}`,
  );
}

async function cases(): Promise<number> {
  if (total(left()) !== 0) throw new Error(`lab ${LAB} exists already: ${JSON.stringify(left())}`);
  const ref = await run(UP);
  if (ref.code !== 0) throw new Error(`the uninterrupted up failed:\n${ref.lines.join("\n")}`);
  const d0 = await run(["down", LAB]);
  const all = [...new Set(ref.lines.map(pointOf).filter((p): p is string => p !== undefined))];
  // the cluster half: from the step that makes the Kubernetes nodes on
  const clusterFrom = all.findIndex((p) => /Kubernetes nodes/.test(p));
  const half = CLUSTER_MODE ? (clusterFrom >= 0 ? all.slice(clusterFrom) : []) : all;
  const picked = args.points?.split(",").map(Number);
  const points = picked ? half.filter((_, i) => picked.includes(i)) : half;
  console.log(
    `engine-restart: up ${ref.seconds.toFixed(1)} s, down ${d0.seconds.toFixed(1)} s (exit ${d0.code}); ${all.length} points in up` +
      (CLUSTER_MODE ? `, ${half.length} in its cluster half: ${half.map((p, i) => `${i} ${p}`).join(" | ")}` : "") +
      `; down said: ${d0.lines.filter((l) => l.startsWith("… ")).join(" | ")}`,
  );
  if (CLUSTER_MODE && total(left()) !== 0) throw new Error(`the uninterrupted down left ${JSON.stringify(left())}`);
  const results: Result[] = [];
  let failed = 0;
  const report = (r: Result) => {
    results.push(r);
    const ok = total(r.left) === 0 && (r.down === 0 || r.secondDown === 0);
    if (!ok) failed++;
    console.log(
      `${ok ? "ok" : "FAIL"} ${r.case}: engine restarted at ${r.restartedAtSecond?.toFixed(1) ?? "-"} s (away ${r.engineAwaySeconds?.toFixed(1) ?? "-"} s); ` +
        `first exit ${r.firstExit}${r.firstSaid ? ` (${r.firstSaid})` : ""}; down exit ${r.down}${r.downSaid ? ` (${r.downSaid})` : ""}` +
        `${r.secondDown !== undefined ? `; a second down exit ${r.secondDown}` : ""}; left ${JSON.stringify(r.left)}`,
    );
  };
  for (const p of points) {
    if (CLUSTER_MODE) ensureKindNetwork();
    const u = await run(UP, (l) => pointOf(l) === p);
    const d = await run(["down", LAB]);
    const d2 = d.code !== 0 ? await run(["down", LAB]) : undefined;
    report({
      case: `during up, at "${p}"`,
      ...(u.restartAt !== undefined ? { restartedAtSecond: u.restartAt, engineAwaySeconds: u.restarted! } : {}),
      firstExit: u.code,
      firstSaid: lastWords(u.lines),
      down: d.code,
      downSaid: lastWords(d.lines),
      ...(d2 ? { secondDown: d2.code } : {}),
      left: left(),
    });
    await clearStuck();
  }
  const downCases: [string, (l: string) => boolean][] = [
    ["at down's first line", () => true],
    CLUSTER_MODE
      ? ["at down's Kind cluster removal", (l: string) => /^… .*(Kind|Kubernetes|cluster)/i.test(l)]
      : ["at down's container removal", (l: string) => /^… removing \d+ containers/.test(l)],
  ];
  for (const [name, at] of downCases) {
    if (CLUSTER_MODE) ensureKindNetwork();
    const u = await run(UP);
    if (u.code !== 0) throw new Error(`up before the down case failed:\n${u.lines.join("\n")}`);
    const d = await run(["down", LAB], at);
    const d2 = d.code !== 0 ? await run(["down", LAB]) : undefined;
    report({
      case: `during down, ${name}`,
      ...(d.restartAt !== undefined ? { restartedAtSecond: d.restartAt, engineAwaySeconds: d.restarted! } : {}),
      firstExit: d.code,
      firstSaid: lastWords(d.lines),
      down: d.code,
      downSaid: "",
      ...(d2 ? { secondDown: d2.code } : {}),
      left: left(),
    });
    await clearStuck();
  }
  writeFileSync(join(DIR, "engine-restart.json"), JSON.stringify({ points, results }, null, 1) + "\n");
  console.log(`engine-restart: ${results.length} cases, ${results.length - failed} left nothing; ${join(DIR, "engine-restart.json")}`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
