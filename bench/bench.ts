/**
 * `npm run bench [-- --json] [-- --only NAME]` (NAME: cluster, data-center-bgp, generated-50,
 * kind-real, kind-real-N): deploy and teardown times against the floor
 * measured in the same run (the same number of containers of the same images, created and
 * started with the same parallelism, no links). Targets: deploy <= 1.5x floor, teardown <= 0.5x
 * deploy. Also (bench/live.ts, `--only live`): run-time link changes against 100 ms, and `kinda
 * exec` against `docker exec` and 0.3 s. Needs root, the Docker engine and the stand-in images
 * (it runs the test-env set-up).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { deploy, teardown } from "../src/engine/lab.js";
import { defaultParallelism, limiter } from "../src/engine/pool.js";
import { loadKatharaLab } from "../src/topology/kathara.js";
import { planLab, type Plan } from "../src/plan/lab.js";
import { DockerRuntime } from "../src/runtime/docker.js";
import { StateStore } from "../src/state/store.js";
import { IMAGE_MAP, conformanceLabs, ensureTestEnv } from "../test/support/env.js";
import { FixtureProvider } from "../test/support/fixture.js";
import { applyClusterPlan } from "../src/engine/cluster-apply.js";
import { discoverDevices, destroyCluster } from "../src/engine/cluster.js";
import { planCluster } from "../src/plan/cluster.js";
import { DEFAULT_POD_CIDR } from "../src/core/defaults.js";
import type { NodeLink, NodeSpec } from "../src/model/cluster.js";
import { kindRealMissing, kindRealScenario, kindRealSizes, type KindRealRow } from "./kind-real.js";
import { formatLive, liveScenario, type LiveRow } from "./live.js";

interface Row {
  scenario: string;
  devices: number;
  floorSeconds: number;
  readySeconds: number;
  deploySeconds: number;
  teardownSeconds: number;
  readyOverFloor: number;
  deployOverFloor: number;
  teardownOverDeploy: number;
}

const runtime = new DockerRuntime();

/** Creates and starts the same containers as the plan would (images, labels), no links; removes them. */
async function floor(plan: Plan, parallelism: number): Promise<number> {
  const pool = limiter(parallelism);
  const t0 = performance.now();
  const ids = await Promise.all(
    plan.devices.map((d, i) =>
      pool(async () => {
        const id = await runtime.create({
          name: `kinda-bench-floor-${i}`,
          image: d.image,
          hostname: d.name,
          labels: { "kinda.bench": "floor" },
          env: [],
          sysctls: {},
          capAdd: d.capAdd,
          privileged: false,
          ports: [],
          network: "none",
          mounts: [],
          ulimits: [],
        });
        await runtime.start(id);
        return id;
      }),
    ),
  );
  const s = (performance.now() - t0) / 1000;
  await Promise.all(ids.map((id) => pool(() => runtime.remove(id))));
  return s;
}

/** 10 routers in a ring (point-to-point segments), each with a LAN segment shared by 4 hosts. */
function generatedLab(dir: string): void {
  const conf: string[] = [];
  for (let r = 0; r < 10; r++) {
    conf.push(`r${r}[0]="ring${r}"`, `r${r}[1]="ring${(r + 9) % 10}"`, `r${r}[2]="lan${r}"`, `r${r}[image]="kathara/base"`);
    writeFileSync(join(dir, `r${r}.startup`), `ip addr add 10.${r}.0.1/24 dev eth2\nip addr add 172.16.${r}.1/30 dev eth0\n`);
    for (let h = 0; h < 4; h++) {
      conf.push(`h${r}_${h}[0]="lan${r}"`);
      writeFileSync(join(dir, `h${r}_${h}.startup`), `ip addr add 10.${r}.0.${h + 10}/24 dev eth0\nip route add default via 10.${r}.0.1\n`);
    }
  }
  writeFileSync(join(dir, "lab.conf"), conf.join("\n") + "\n");
}

async function scenario(name: string, labDir: string, parallelism: number): Promise<Row> {
  const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-bench-state-")));
  const plan = planLab(loadKatharaLab(labDir), {
    name: `bench-${name}`,
    imageMap: IMAGE_MAP,
    sharedDir: store.sharedDir(`bench-${name}`),
    stageRoot: store.stageRoot(`bench-${name}`),
  });
  const floorSeconds = await floor(plan, parallelism);
  const d = await deploy(plan, { runtime, store, parallelism });
  const t = await teardown(plan.lab, { runtime, store, parallelism });
  rmSync(store.root, { recursive: true, force: true });
  return {
    scenario: name,
    devices: plan.devices.length,
    floorSeconds,
    readySeconds: d.readySeconds,
    deploySeconds: d.seconds,
    teardownSeconds: t.seconds,
    readyOverFloor: d.readySeconds / floorSeconds,
    deployOverFloor: d.seconds / floorSeconds,
    teardownOverDeploy: t.seconds / d.seconds,
  };
}

/** 10 routers on one shared core segment, static routes to each router's node subnet. */
function clusterNetLab(dir: string): void {
  const conf: string[] = [];
  for (let r = 0; r < 10; r++) {
    conf.push(`r${r}[0]="core"`);
    const routes = Array.from({ length: 10 }, (_, j) => j)
      .filter((j) => j !== r)
      .map((j) => `ip route add 10.${j}.0.0/24 via 10.255.0.${j + 1}`);
    writeFileSync(join(dir, `r${r}.startup`), [`ip addr add 10.255.0.${r + 1}/24 dev eth0`, ...routes].join("\n") + "\n");
  }
  writeFileSync(join(dir, "lab.conf"), conf.join("\n") + "\n");
}

interface ClusterRow {
  scenario: string;
  nodes: number;
  devices: number;
  vxlanPlumbingSeconds: number;
  vxlanPlanSize: number;
  grePlanSize: number;
}

/** 30 fixture nodes, 3 per router on a bridge inside it: seconds to plumb them (vxlan), plan sizes. */
async function clusterScenario(parallelism: number): Promise<ClusterRow> {
  const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-bench-state-")));
  const dir = mkdtempSync(join(tmpdir(), "kinda-bench-clab-"));
  clusterNetLab(dir);
  const lab = "bench-cluster";
  const plan = planLab(loadKatharaLab(dir), {
    name: lab,
    imageMap: IMAGE_MAP,
    sharedDir: store.sharedDir(lab),
    stageRoot: store.stageRoot(lab),
  });
  await deploy(plan, { runtime, store, parallelism });
  const provider = new FixtureProvider("kbench");
  try {
    const specs: NodeSpec[] = Array.from({ length: 30 }, (_, i) => ({ name: `n${i}`, role: i === 0 ? "control-plane" : "worker" }));
    const links: NodeLink[] = specs.map((n, i) => {
      const r = i % 10;
      const k = Math.floor(i / 10);
      return { node: n.name, device: `r${r}`, deviceBridge: "br0", nodeAddress: `10.${r}.0.${k + 10}/24`, deviceAddress: `10.${r}.0.1/24` };
    });
    await provider.create(specs, { podCidr: DEFAULT_POD_CIDR });
    const nodes = await provider.discover(specs);
    const t0 = performance.now();
    const devices = await discoverDevices(lab, runtime);
    const vx = planCluster({ lab, links, nodes, devices, options: { encapsulation: "vxlan" } });
    await applyClusterPlan(vx);
    const seconds = (performance.now() - t0) / 1000;
    const gre = planCluster({ lab, links, nodes, devices, options: { encapsulation: "gre" } });
    return {
      scenario: "cluster-30-nodes",
      nodes: 30,
      devices: 10,
      vxlanPlumbingSeconds: seconds,
      vxlanPlanSize: vx.size,
      grePlanSize: gre.size,
    };
  } finally {
    await provider.delete();
    await destroyCluster(lab, { runtime, store, provider }).catch(() => undefined);
    await teardown(lab, { runtime, store, parallelism });
    rmSync(store.root, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const json = process.argv.includes("--json");
  const onlyIdx = process.argv.indexOf("--only");
  const only = onlyIdx > 0 ? process.argv[onlyIdx + 1] : undefined;
  ensureTestEnv();
  const parallelism = defaultParallelism();
  const gen = mkdtempSync(join(tmpdir(), "kinda-bench-lab-"));
  generatedLab(gen);
  const rows: Row[] = [];
  let clusterRow: ClusterRow | undefined;
  const kindRows: KindRealRow[] = [];
  let liveRow: LiveRow | undefined;
  try {
    if (!only || only === "live") liveRow = await liveScenario(parallelism);
    if (!only || only === "cluster") clusterRow = await clusterScenario(parallelism);
    if (!only || only === "data-center-bgp") {
      const labs = conformanceLabs();
      if ("dir" in labs) rows.push(await scenario("data-center-bgp", resolve(labs.dir, "data-center-bgp"), parallelism));
      else console.error(`bench: data-center-bgp skipped: ${labs.missing.replace(/npm run -s test:conformance$/, "npm run bench")}`);
    }
    if (!only || only === "generated-50") rows.push(await scenario("generated-50", gen, parallelism));
    if (!only || only.startsWith("kind-real")) {
      const missing = kindRealMissing();
      const sizes = only && /^kind-real-\d+$/.test(only) ? [Number(only.slice(10))] : kindRealSizes();
      if (missing) console.error(`bench: kind-real-N skipped: ${missing}`);
      else for (const n of sizes) kindRows.push(await kindRealScenario(n));
    }
  } finally {
    rmSync(gen, { recursive: true, force: true });
  }
  if (json) {
    console.log(
      JSON.stringify(
        { parallelism, cpus: execFileSync("nproc").toString().trim(), rows, cluster: clusterRow, kind: kindRows, live: liveRow },
        null,
        2,
      ),
    );
    return;
  }
  console.log(
    `parallelism ${parallelism}; times in seconds; ready = all devices running with all interfaces; deploy = ready + start-up scripts finished`,
  );
  console.log("scenario          devices  floor  ready  deploy  teardown  ready/floor  deploy/floor  teardown/deploy");
  for (const r of rows) {
    console.log(
      `${r.scenario.padEnd(17)} ${String(r.devices).padStart(7)}  ${r.floorSeconds.toFixed(2).padStart(5)}  ${r.readySeconds.toFixed(2).padStart(5)}  ${r.deploySeconds.toFixed(2).padStart(6)}  ${r.teardownSeconds.toFixed(2).padStart(8)}  ${r.readyOverFloor.toFixed(2).padStart(11)}  ${r.deployOverFloor.toFixed(2).padStart(12)}  ${r.teardownOverDeploy.toFixed(2).padStart(15)}`,
    );
  }
  console.log("targets: deploy/floor <= 1.50, teardown/deploy <= 0.50");
  if (clusterRow) {
    console.log(
      `cluster: ${clusterRow.nodes} fixture nodes on ${clusterRow.devices} devices: vxlan plumbing ${clusterRow.vxlanPlumbingSeconds.toFixed(2)} s (${clusterRow.vxlanPlanSize} operations; target <= 3 s); gre plan ${clusterRow.grePlanSize} operations`,
    );
  }
  for (const k of kindRows) {
    console.log(
      `${k.scenario}: ${k.nodes} real nodes: Kind create ${k.createSeconds.toFixed(1)} s, attach ${k.attachSeconds.toFixed(2)} s ` +
        `(${k.attachPerNodeSeconds.toFixed(3)} s a node), all Ready ${k.readySeconds.toFixed(1)} s later, ${k.memoryPerNodeMiB.toFixed(0)} MiB a node`,
    );
  }
  if (liveRow) console.log(formatLive(liveRow));
}

await main();
