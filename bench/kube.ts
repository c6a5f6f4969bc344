/**
 * Scenario kube-N (`npm run bench -- --only kube`): the Kubernetes runtime deploying N devices as
 * pods on a host cluster of real Kind nodes (1 control plane made schedulable + 2 workers, the
 * offline node image; the base stand-in image loaded with `kind load`), for each N of
 * KINDA_BENCH_KUBE_N (default "5,20") one after another on the same host cluster.
 * The lab: N devices in a ring (device i's eth0 and device i+1's eth1 share a collision domain,
 * so N domains, 2 VXLAN interfaces per pod), each with a start-up that sets its two addresses.
 * Measured per N: `up` (pods, ConfigMaps, links and start-ups through the exec API) and `down`,
 * seconds per device, the marginal seconds per device between two sizes (what one more device
 * costs, without the per-lab fixed part), the machine's busy CPU-seconds per device during `up` (split into the host node containers' cgroups
 * and kinda's own process: the part more host nodes share and the part one kinda does alone),
 * and the memory each host node holds per device pod (docker stats of the Kind node containers,
 * before and after). After each `up`, device 0 pings device 1 over their link (the lab works).
 * The host cluster (KINDA_BENCH_KUBE_HOST, default kinda-bench-kube) is deleted at the end,
 * whatever happened. Skipped, with a line saying why, without the node image.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { up } from "../src/app/up.js";
import { BASE_IMAGE, IMAGE_MAP } from "../test/support/env.js";
import { KIND, Kubectl, NODE_IMAGE, buildImages } from "../test/k8s/support.js";
import { kindRealMissing, memoryPerNodeMiB } from "./kind-real.js";

export interface KubeRow {
  scenario: string;
  devices: number;
  hostNodes: number;
  upSeconds: number;
  downSeconds: number;
  secondsPerDevice: number;
  cpuSecondsPerDevice: number;
  /** Memory the host nodes hold per device pod (sum over nodes of after - before, over N), MiB. */
  memoryPerDeviceMiB: number;
  /** Device pods per host node, by node. */
  podsPerNode: Record<string, number>;
  /** CPU-seconds the host node containers used during `up` (their cgroups), per device: the part more host nodes share. */
  hostCpuSecondsPerDevice: number;
  /** CPU-seconds kinda's own process used during `up` (process.cpuUsage), per device: the part one kinda does alone. */
  kindaCpuSecondsPerDevice: number;
}

export interface KubeBench {
  hostCreateSeconds: number;
  imageLoadSeconds: number;
  rows: KubeRow[];
}

export function kubeSizes(): number[] {
  return (process.env["KINDA_BENCH_KUBE_N"] ?? "5,20")
    .split(",")
    .map(Number)
    .filter((n) => Number.isInteger(n) && n >= 2);
}

/** N devices in a ring; device i: eth0 in domain ring{i} (10.77.i.1/30), eth1 in ring{i-1} (10.77.(i-1).2/30). */
function ringLab(dir: string, n: number): void {
  const conf: string[] = [];
  for (let i = 0; i < n; i++) {
    const prev = (i + n - 1) % n;
    conf.push(`r${i}[0]="ring${i}"`, `r${i}[1]="ring${prev}"`, `r${i}[image]="kathara/base"`);
    writeFileSync(join(dir, `r${i}.startup`), `ip address add 10.77.${i}.1/30 dev eth0\nip address add 10.77.${prev}.2/30 dev eth1\n`);
  }
  writeFileSync(join(dir, "lab.conf"), `${conf.join("\n")}\n`);
}

function busyCpuSeconds(): number {
  const line = execFileSync("head", ["-1", "/proc/stat"], { encoding: "utf8" });
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / 100;
}

/**
 * CPU-seconds used so far by the node containers of a Kind cluster: each container's cgroup
 * cpuacct.usage (cgroup v1, this machine; v2's cpu.stat usage_usec otherwise). Unlike the
 * machine-wide count it leaves out the other work of a shared machine.
 */
function hostNodeCpuSeconds(cluster: string): number {
  const ids = execFileSync(
    "/usr/bin/docker",
    ["ps", "--no-trunc", "--filter", `label=io.x-k8s.kind.cluster=${cluster}`, "--format", "{{.ID}}"],
    {
      encoding: "utf8",
    },
  )
    .trim()
    .split("\n")
    .filter(Boolean);
  let s = 0;
  for (const id of ids) {
    const v1 = `/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`;
    const v2 = `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`;
    if (existsSync(v1)) s += Number(readFileSync(v1, "utf8").trim()) / 1e9;
    else if (existsSync(v2)) s += Number(/usage_usec (\d+)/.exec(readFileSync(v2, "utf8"))?.[1] ?? 0) / 1e6;
  }
  return s;
}

const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);

export async function kubeScenario(sizes: number[]): Promise<KubeBench | undefined> {
  const missing = kindRealMissing();
  if (missing) {
    console.error(`bench: kube skipped: ${missing}`);
    return undefined;
  }
  const host = process.env["KINDA_BENCH_KUBE_HOST"] ?? "kinda-bench-kube";
  buildImages();
  const config = join(mkdtempSync(join(tmpdir(), "kinda-bench-kube-")), "kind.yaml");
  writeFileSync(
    config,
    "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n- role: worker\n- role: worker\n",
  );
  if (execFileSync(KIND, ["get", "clusters"], { encoding: "utf8" }).split("\n").includes(host))
    execFileSync(KIND, ["delete", "cluster", "--name", host], { stdio: "ignore" });
  const rows: KubeRow[] = [];
  let t = performance.now();
  try {
    execFileSync(KIND, ["create", "cluster", "--name", host, "--image", NODE_IMAGE, "--config", config, "--wait", "300s"], {
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 600_000,
    });
    const hostCreateSeconds = (performance.now() - t) / 1000;
    const kube = new Kubectl(host);
    kube.run(["taint", "nodes", `${host}-control-plane`, "node-role.kubernetes.io/control-plane:NoSchedule-"]);
    t = performance.now();
    execFileSync(KIND, ["load", "docker-image", "--name", host, BASE_IMAGE], { stdio: ["ignore", "ignore", "inherit"], timeout: 600_000 });
    const imageLoadSeconds = (performance.now() - t) / 1000;
    for (const n of sizes) {
      const dir = mkdtempSync(join(tmpdir(), `kinda-bench-kube-${n}-`));
      ringLab(dir, n);
      const name = `bench-kube-${n}`;
      try {
        const mem0 = memoryPerNodeMiB(host);
        const c0 = busyCpuSeconds();
        const h0 = hostNodeCpuSeconds(host);
        const k0 = process.cpuUsage();
        t = performance.now();
        const lab = await up(dir, { name, imageMap: IMAGE_MAP, runtimeKind: "kubernetes", kube: { kubeconfig: kube.kubeconfig } });
        const upSeconds = (performance.now() - t) / 1000;
        const cpu = busyCpuSeconds() - c0;
        const hostCpu = hostNodeCpuSeconds(host) - h0;
        const k1 = process.cpuUsage(k0);
        const kindaCpu = (k1.user + k1.system) / 1e6;
        const ns = `kinda-${name}`;
        // the lab works: r0 reaches r1 over ring0, whichever host nodes they are on
        const ping = kube.try("exec", "-n", ns, "r0", "-c", "device", "--", "ping", "-c", "1", "-W", "5", "10.77.0.2");
        if (ping.code !== 0) throw new Error(`bench kube-${n}: r0 does not reach r1 over ring0: ${ping.out}`);
        const nodes = kube
          .run(["get", "pods", "-n", ns, "-o", "jsonpath={range .items[*]}{.spec.nodeName}{'\\n'}{end}"])
          .trim()
          .split("\n");
        const podsPerNode: Record<string, number> = {};
        for (const x of nodes) podsPerNode[x] = (podsPerNode[x] ?? 0) + 1;
        const mem1 = memoryPerNodeMiB(host);
        t = performance.now();
        await lab.down();
        const downSeconds = (performance.now() - t) / 1000;
        rows.push({
          scenario: `kube-${n}`,
          devices: n,
          hostNodes: mem0.length,
          upSeconds,
          downSeconds,
          secondsPerDevice: upSeconds / n,
          cpuSecondsPerDevice: cpu / n,
          memoryPerDeviceMiB: (sum(mem1) - sum(mem0)) / n,
          podsPerNode,
          hostCpuSecondsPerDevice: hostCpu / n,
          kindaCpuSecondsPerDevice: kindaCpu / n,
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    return { hostCreateSeconds, imageLoadSeconds, rows };
  } finally {
    execFileSync(KIND, ["delete", "cluster", "--name", host], { stdio: "ignore", timeout: 300_000 });
    rmSync(join(config, ".."), { recursive: true, force: true });
  }
}

export function formatKube(b: KubeBench): string {
  const lines = [
    `kube: host cluster of ${b.rows[0]?.hostNodes ?? 3} Kind nodes made in ${b.hostCreateSeconds.toFixed(1)} s, base image loaded in ${b.imageLoadSeconds.toFixed(1)} s`,
    "scenario   devices    up s  down s  s/device  CPU-s/device  host-CPU-s/dev  kinda-CPU-s/dev  MiB/device  pods per host node",
  ];
  for (const r of b.rows)
    lines.push(
      `${r.scenario.padEnd(9)} ${String(r.devices).padStart(8)}  ${r.upSeconds.toFixed(1).padStart(6)}  ${r.downSeconds.toFixed(1).padStart(6)}  ${r.secondsPerDevice.toFixed(2).padStart(8)}  ${r.cpuSecondsPerDevice.toFixed(2).padStart(12)}  ${r.hostCpuSecondsPerDevice.toFixed(2).padStart(14)}  ${r.kindaCpuSecondsPerDevice.toFixed(2).padStart(15)}  ${r.memoryPerDeviceMiB.toFixed(1).padStart(10)}  ${Object.values(r.podsPerNode).join("/")}`,
    );
  const by = [...b.rows].sort((x, y) => x.devices - y.devices);
  if (by.length > 1) {
    const lo = by[0]!;
    const hi = by.at(-1)!;
    lines.push(
      `marginal cost of one more device (${lo.devices} -> ${hi.devices}): ${((hi.upSeconds - lo.upSeconds) / (hi.devices - lo.devices)).toFixed(2)} s of up`,
    );
  }
  return lines.join("\n");
}
