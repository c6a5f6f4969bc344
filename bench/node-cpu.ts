/**
 * CPU a Kind cluster's node containers use over a window, from the kernel's own accounting (the
 * container's cgroup: cgroup v1 cpuacct.usage, v2 cpu.stat usage_usec) read before and after,
 * not one `docker stats --no-stream` sample (a one-second look that swings with the load), and
 * by program: utime + stime of every process in the container's cgroup tree (/proc/PID/stat),
 * summed by command name (kubelet, containerd, kube-proxy, kindnetd, etcd, ...). Needs root (it
 * reads the host's /proc and /sys/fs/cgroup).
 *
 * By hand: `node --import tsx bench/node-cpu.ts CLUSTER [SECONDS]` (default 60) prints one line a
 * node and the programs using the most.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const TICKS = 100; // USER_HZ: /proc/PID/stat counts in 1/100 s on Linux

export interface NodeCpu {
  node: string;
  /** % of one core over the window. */
  percent: number;
  /** % of one core by command name, largest first. */
  byProgram: [string, number][];
}

/** The node containers of a Kind cluster: name and host PID of their init. */
function nodes(cluster: string): { name: string; pid: number }[] {
  const out = execFileSync("/usr/bin/docker", ["ps", "--filter", `label=io.x-k8s.kind.cluster=${cluster}`, "--format", "{{.Names}}"], {
    encoding: "utf8",
  });
  const names = out.trim().split("\n").filter(Boolean);
  if (!names.length) return [];
  const pids = execFileSync("/usr/bin/docker", ["inspect", "-f", "{{.State.Pid}}", ...names], { encoding: "utf8" })
    .trim()
    .split("\n");
  return names.map((name, i) => ({ name, pid: Number(pids[i]) }));
}

/** The container's CPU-accounting cgroup directory on the host and how to read its total (ns). */
export function cgroupOf(pid: number): { dir: string; usageNs: () => number } {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
  const v1 = lines.find((l) => /^\d+:([^:]*,)?cpuacct(,[^:]*)?:/.test(l));
  if (v1) {
    const ctrl = v1.split(":")[1]!;
    const base = existsSync(`/sys/fs/cgroup/${ctrl}`) ? `/sys/fs/cgroup/${ctrl}` : "/sys/fs/cgroup/cpuacct";
    const dir = join(
      base,
      v1
        .split(":")
        .slice(2)
        .join(":")
        .replace(/\/init\.scope$/, ""),
    );
    return { dir, usageNs: () => Number(readFileSync(join(dir, "cpuacct.usage"), "utf8")) };
  }
  const v2 = lines.find((l) => l.startsWith("0::"))!;
  const dir = join("/sys/fs/cgroup", v2.slice(3).replace(/\/init\.scope$/, ""));
  return {
    dir,
    usageNs: () => 1000 * Number(/usage_usec (\d+)/.exec(readFileSync(join(dir, "cpu.stat"), "utf8"))?.[1] ?? "NaN"),
  };
}

/** utime + stime (ticks) of each process under a cgroup directory, with its command name. */
function processTimes(dir: string): Map<number, { comm: string; ticks: number }> {
  const out = new Map<number, { comm: string; ticks: number }>();
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return; // gone meanwhile (a pod's cgroup)
    }
    for (const pid of (existsSync(join(d, "cgroup.procs")) ? readFileSync(join(d, "cgroup.procs"), "utf8") : "").split("\n")) {
      if (!pid) continue;
      try {
        const st = readFileSync(`/proc/${pid}/stat`, "utf8");
        const close = st.lastIndexOf(")");
        const comm = st.slice(st.indexOf("(") + 1, close);
        const f = st.slice(close + 2).split(" ");
        out.set(Number(pid), { comm, ticks: Number(f[11]) + Number(f[12]) });
      } catch {
        // the process ended meanwhile
      }
    }
    for (const e of entries) if (e.isDirectory()) walk(join(d, e.name));
  };
  walk(dir);
  return out;
}

/** CPU per node container of the cluster over `seconds`, in % of one core. */
export async function measureNodeCpu(cluster: string, seconds = 60): Promise<NodeCpu[]> {
  const ns = nodes(cluster).map((n) => ({ ...n, cg: cgroupOf(n.pid) }));
  const before = ns.map((n) => ({ total: n.cg.usageNs(), procs: processTimes(n.cg.dir) }));
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const wallNs = (performance.now() - t0) * 1e6;
  return ns.map((n, i) => {
    const total = n.cg.usageNs() - before[i]!.total;
    const by = new Map<string, number>();
    for (const [pid, p] of processTimes(n.cg.dir)) {
      const d = p.ticks - (before[i]!.procs.get(pid)?.ticks ?? 0);
      if (d > 0) by.set(p.comm, (by.get(p.comm) ?? 0) + d);
    }
    const pct = (ticks: number) => (100 * (ticks / TICKS) * 1e9) / wallNs;
    return {
      node: n.name,
      percent: (100 * total) / wallNs,
      byProgram: [...by].map(([c, t]): [string, number] => [c, pct(t)]).sort((a, b) => b[1] - a[1]),
    };
  });
}

/** One line per node, then the mean of the workers and the programs of an average worker. */
export function formatNodeCpu(rows: readonly NodeCpu[]): string {
  const workers = rows.filter((r) => !r.node.includes("control-plane"));
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
  const progs = new Map<string, number>();
  for (const w of workers) for (const [c, p] of w.byProgram) progs.set(c, (progs.get(c) ?? 0) + p / workers.length);
  const top = (l: Iterable<[string, number]>) =>
    [...l]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([c, p]) => `${c} ${p.toFixed(2)}`)
      .join(", ");
  return [
    ...rows.map((r) => `${r.node}: ${r.percent.toFixed(2)}% (${top(r.byProgram)})`),
    `all ${rows.length} nodes: ${mean(rows.map((r) => r.percent)).toFixed(2)}% of a core a node; workers ${mean(workers.map((w) => w.percent)).toFixed(2)}% (${top(progs)})`,
  ].join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [cluster, secs] = process.argv.slice(2);
  if (!cluster) throw new Error("usage: node --import tsx bench/node-cpu.ts CLUSTER [SECONDS]");
  const rows = await measureNodeCpu(cluster, Number(secs ?? 60));
  if (!rows.length) throw new Error(`no running node container of Kind cluster ${cluster}`);
  console.log(formatNodeCpu(rows));
}
