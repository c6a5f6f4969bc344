/**
 * Bench of run-time experiments on a small lab that is up (examples/labs/two-routers):
 * - a link change (rate, clear, cut, restore of r1--r2) through the API, one process round trip
 *   each: median milliseconds against the 100 ms target;
 * - the same change as a `kinda link` process;
 * - `kinda exec LAB h1 -- true` against `docker exec CONTAINER true` (Debian's client): the
 *   CLI's own cost on top of Docker's, and its absolute time against the 0.3 s target.
 * The CLI is the bin users run (the bundle, dist/bin/kinda.js); the same commands through the
 * unbundled build (dist/src/cli/main.js) and a bare `node -e 0` are measured beside it, so the
 * bundle's gain and Node's own start-up (the floor of any Node CLI) show in the same run.
 *
 * Lab name: `${KINDA_BENCH_PREFIX:-bench}-live` (as bench/reroute.ts), so two bench runs on one
 * machine can be told apart.
 *
 * KINDA_BENCH_LIVE_BASE=PATH (a bin built from another commit, e.g. main's dist/bin copied to
 * dist/base-bin so that it finds node_modules): its `kinda exec` and `kinda link` are measured in
 * the same loops, interleaved, so a before/after comparison sees the same load.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { changeLink, type LinkChange } from "../src/app/live.js";
import { deploy, teardown } from "../src/engine/lab.js";
import { planLab } from "../src/plan/lab.js";
import { DockerRuntime } from "../src/runtime/docker.js";
import { StateStore } from "../src/state/store.js";
import { hostKernel as kernel } from "../src/net/kernel.js";
import { loadKatharaLab } from "../src/topology/kathara.js";
import { IMAGE_MAP, ROOT } from "../test/support/env.js";

export interface LiveRow {
  scenario: "live-two-routers";
  /** Median of every API change (rate, clear, down, up). */
  changeMs: number;
  changeOverTarget: number;
  /** Median of `kinda link` processes (node start-up included), the bin (bundle). */
  cliChangeMs: number;
  /** The same through the unbundled build (dist/src/cli/main.js). */
  cliChangeUnbundledMs: number;
  execUnbundledMs: number;
  /** A bare `node -e 0`: Node's own start-up, the floor of any Node command. */
  nodeMs: number;
  execMs: number;
  dockerExecMs: number;
  execOverDockerExec: number;
  execOverTarget: number;
  /** KINDA_BENCH_LIVE_BASE's bin, measured in the same loops (absent without it). */
  base?: { bin: string; cliChangeMs: number; execMs: number; execOverDockerExec: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function timedSpawn(argv: string[], env: NodeJS.ProcessEnv): number {
  const t = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { env, stdio: ["ignore", "ignore", "pipe"] });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr.toString()}`);
  return ms;
}

export async function liveScenario(parallelism: number): Promise<LiveRow> {
  const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-bench-live-")));
  const runtime = new DockerRuntime();
  const lab = `${process.env["KINDA_BENCH_PREFIX"] ?? "bench"}-live`;
  const plan = planLab(loadKatharaLab(join(ROOT, "examples", "labs", "two-routers")), {
    name: lab,
    imageMap: IMAGE_MAP,
    sharedDir: store.sharedDir(lab),
    stageRoot: store.stageRoot(lab),
  });
  await deploy(plan, { runtime, store, kernel, parallelism });
  try {
    const changes: LinkChange[] = [{ shape: { rate: "10mbit" } }, { clear: true }, { state: "down" }, { state: "up" }];
    const api: number[] = [];
    for (let i = 0; i < 5; i++)
      for (const c of changes) {
        const t = performance.now();
        await changeLink(lab, "r1--r2", c, { store });
        api.push(performance.now() - t);
      }
    const env = { ...process.env, KINDA_STATE_DIR: store.root };
    const cli = join(ROOT, "dist", "bin", "kinda.js");
    const unbundled = join(ROOT, "dist", "src", "cli", "main.js");
    const node = process.execPath;
    const cliChange: number[] = [];
    const cliChangeUnbundled: number[] = [];
    const baseBin = process.env["KINDA_BENCH_LIVE_BASE"] || undefined;
    const baseChange: number[] = [];
    const baseExec: number[] = [];
    for (let i = 0; i < 4; i++)
      for (const args of [["--rate", "10mbit"], ["--clear"]]) {
        cliChange.push(timedSpawn([node, cli, "link", lab, "r1--r2", ...args], env));
        cliChangeUnbundled.push(timedSpawn([node, unbundled, "link", lab, "r1--r2", ...args], env));
        if (baseBin) baseChange.push(timedSpawn([node, baseBin, "link", lab, "r1--r2", ...args], env));
      }
    const exec: number[] = [];
    const execUnbundled: number[] = [];
    const dexec: number[] = [];
    const bare: number[] = [];
    const docker = execFileSync("sh", ["-c", "command -v /usr/bin/docker || command -v docker"], { encoding: "utf8" }).trim();
    // interleaved, so that the load of a shared machine falls on every row alike
    for (let i = 0; i < 9; i++) {
      exec.push(timedSpawn([node, cli, "exec", "--lab", lab, "h1", "--", "true"], env));
      dexec.push(timedSpawn([docker, "exec", `kinda-${lab}-h1`, "true"], env));
      execUnbundled.push(timedSpawn([node, unbundled, "exec", "--lab", lab, "h1", "--", "true"], env));
      bare.push(timedSpawn([node, "-e", "0"], env));
      if (baseBin) baseExec.push(timedSpawn([node, baseBin, "exec", "--lab", lab, "h1", "--", "true"], env));
    }
    const changeMs = median(api);
    const execMs = median(exec);
    const dockerExecMs = median(dexec);
    return {
      scenario: "live-two-routers",
      changeMs,
      changeOverTarget: changeMs / 100,
      cliChangeMs: median(cliChange),
      cliChangeUnbundledMs: median(cliChangeUnbundled),
      execUnbundledMs: median(execUnbundled),
      nodeMs: median(bare),
      execMs,
      dockerExecMs,
      execOverDockerExec: execMs / dockerExecMs,
      execOverTarget: execMs / 300,
      ...(baseBin
        ? {
            base: {
              bin: baseBin,
              cliChangeMs: median(baseChange),
              execMs: median(baseExec),
              execOverDockerExec: median(baseExec) / dockerExecMs,
            },
          }
        : {}),
    };
  } finally {
    await teardown(lab, { runtime, store, kernel, parallelism });
    rmSync(store.root, { recursive: true, force: true });
  }
}

export function formatLive(r: LiveRow): string {
  return [
    `live (two-routers lab): a link change ${r.changeMs.toFixed(1)} ms through the API (median of rate/clear/down/up; /100 ms target = ${r.changeOverTarget.toFixed(2)}), ${r.cliChangeMs.toFixed(0)} ms as a kinda link process (target 150; unbundled build ${r.cliChangeUnbundledMs.toFixed(0)} ms)`,
    `exec: kinda exec ${r.execMs.toFixed(0)} ms vs docker exec ${r.dockerExecMs.toFixed(0)} ms (ratio ${r.execOverDockerExec.toFixed(2)}, target <= 1.30; /300 ms target = ${r.execOverTarget.toFixed(2)}; unbundled build ${r.execUnbundledMs.toFixed(0)} ms)`,
    `node start-up alone (node -e 0): ${r.nodeMs.toFixed(0)} ms, the floor under any Node command in this run; kinda exec above it: ${(r.execMs - r.nodeMs).toFixed(0)} ms, docker exec in all: ${r.dockerExecMs.toFixed(0)} ms`,
    ...(r.base
      ? [
          `base bin ${r.base.bin} in the same loops: kinda exec ${r.base.execMs.toFixed(0)} ms (ratio ${r.base.execOverDockerExec.toFixed(2)}), kinda link ${r.base.cliChangeMs.toFixed(0)} ms`,
        ]
      : []),
  ].join("\n");
}
