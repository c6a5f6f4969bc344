/**
 * The Docker engine restarted during `kinda up` and during `kinda down` (issue 28.2), on a
 * PRIVATE dockerd this script starts (its own socket, data-root, exec-root and pidfile; no
 * bridge, no iptables of its own), never the machine's shared engine, which others use:
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
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { hostLinkPrefix, ruleComment } from "../../src/core/names.js";
import { BASE_IMAGE, IMAGE_MAP_ARGS, ROOT } from "../support/env.js";

const { values: args } = parseArgs({ options: { dir: { type: "string" }, name: { type: "string" } } });
const DIR = args.dir ?? "/var/tmp/kinda-engine-restart";
const LAB = args.name ?? "f4engine";
const SOCK = join(DIR, "docker.sock");
const PIDFILE = join(DIR, "docker.pid");
const STATE = join(DIR, "state");
mkdirSync(DIR, { recursive: true });
const CLI = join(ROOT, "dist", "bin", "kinda.js");
const LABDIR = join(ROOT, "examples", "labs", "two-routers");
const ENV = { ...process.env, DOCKER_HOST: `unix://${SOCK}`, KINDA_STATE_DIR: STATE, CI: "1", KINDA_TRACE: "1" };
const SHARED_ENV = { ...process.env };
delete SHARED_ENV["DOCKER_HOST"];

function dockerd(): ChildProcess {
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
    "--exec-root", join(DIR, "exec"), "--pidfile", PIDFILE, "--bridge=none", "--iptables=false", "--ip6tables=false",
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

function sh(argv: string[], env = ENV): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", env, maxBuffer: 64 << 20 });
  return r.status === 0 ? r.stdout : "";
}

interface Left {
  containers: number;
  netns: number;
  hostLinks: number;
  iptables: number;
  state: number;
}

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
  };
}

const total = (l: Left) => Object.values(l).reduce((a, b) => a + b, 0);

function pointOf(line: string): string | undefined {
  if (line.startsWith("… ")) return line.slice(2).trim();
  const t = /^trace \S+ \+\S+ (\S+) (.+)$/.exec(line);
  return t ? `trace ${t[2]!.trim()}` : undefined;
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

const UP = ["up", LABDIR, "--name", LAB, ...IMAGE_MAP_ARGS];
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
  if (!sh(["docker", "images", "-q", BASE_IMAGE]).trim()) {
    console.log(`engine-restart: copying ${BASE_IMAGE} from the shared engine into the private one`);
    const r = spawnSync("sh", ["-c", `docker save "$1" | DOCKER_HOST="$2" docker load`, "sh", BASE_IMAGE, `unix://${SOCK}`], {
      env: SHARED_ENV,
      stdio: "inherit",
    });
    if (r.status !== 0) throw new Error("could not copy the base image");
  }
  if (total(left()) !== 0) throw new Error(`lab ${LAB} exists already: ${JSON.stringify(left())}`);
  const ref = await run(UP);
  if (ref.code !== 0) throw new Error(`the uninterrupted up failed:\n${ref.lines.join("\n")}`);
  const d0 = await run(["down", LAB]);
  const points = [...new Set(ref.lines.map(pointOf).filter((p): p is string => p !== undefined))];
  console.log(
    `engine-restart: up ${ref.seconds.toFixed(1)} s, down ${d0.seconds.toFixed(1)} s (exit ${d0.code}); ${points.length} points in up`,
  );
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
  }
  for (const [name, at] of [
    ["at down's first line", () => true],
    ["at down's container removal", (l: string) => /^… removing \d+ containers/.test(l)],
  ] as const) {
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
  }
  await stopEngine();
  writeFileSync(join(DIR, "engine-restart.json"), JSON.stringify({ points, results }, null, 1) + "\n");
  console.log(`engine-restart: ${results.length} cases, ${results.length - failed} left nothing; ${join(DIR, "engine-restart.json")}`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
