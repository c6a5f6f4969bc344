/**
 * Measuring a re-route from inside a lab: every chosen sender pings its targets every 10 ms
 * (`ping -D`, so every answer carries the kernel's clock, the same clock as this process's
 * Date.now()), across a cut, until stopped. From the answers: per flow the longest run of
 * unanswered probes, and when the flow was answered again after it, i.e. the time from the cut to
 * that pair reaching each other again. The probes run through the Docker engine's exec (one per
 * sender), not a `kinda exec` process each: they measure, the cut itself goes through the CLI.
 */
import { DockerRuntime } from "../../src/runtime/docker.js";

const runtime = new DockerRuntime();

/** The container of a lab's device (kinda's naming). */
export const containerOf = (lab: string, device: string) => `kinda-${lab}-${device}`;

/** Runs argv in a lab device; exit code and output. */
export async function labExec(lab: string, device: string, argv: string[]): Promise<{ code: number; out: string }> {
  const r = await runtime.exec(containerOf(lab, device), argv);
  return { code: r.exitCode, out: r.output };
}

/** One flow's probes across the cut. */
export interface FlowLoss {
  from: string;
  to: string;
  /** Probes with no answer between the first and the last answered one. */
  lost: number;
  /** The longest run of them (times 10 ms: how long the flow was broken). */
  longest: number;
  /** Unix seconds of the first answer after that run (undefined when nothing was lost). */
  backAt?: number;
  /** Seconds from the last answer before that run to the first after it: the outage as the flow saw it, whatever rate ping kept up under load. */
  outageSeconds?: number;
}

export interface Probes {
  /** Resolves once every flow has had an answer. */
  started: Promise<void>;
  /** Ends the pings and gives each flow's losses. */
  stop: () => Promise<FlowLoss[]>;
}

// the script in each sender: one ping per target into a file, a marker once all answered, a stop file ends them
const SCRIPT = [
  'dir=$1; shift; rm -rf "$dir"; mkdir -p "$dir"; pids=',
  'for t in "$@"; do ping -D -n -i 0.01 -W 1 -w 900 "$t" > "$dir/$t" 2>&1 & pids="$pids $!"; done',
  'for t in "$@"; do until grep -q icmp_seq= "$dir/$t"; do sleep 0.05; done; done; touch "$dir/started"',
  'while [ ! -e "$dir/stop" ]; do sleep 0.05; done',
  "kill -INT $pids; wait",
  'for t in "$@"; do echo "== $t"; cat "$dir/$t"; done; rm -rf "$dir"',
].join("\n");

/** Parses one ping's output (ping -D): the flow's losses. */
export function lossOf(from: string, to: string, text: string): FlowLoss {
  const answers = new Map<number, number>();
  for (const m of text.matchAll(/^\[(\d+\.\d+)\] .*icmp_seq=(\d+) /gm))
    if (!answers.has(Number(m[2]))) answers.set(Number(m[2]), Number(m[1]));
  const seqs = [...answers.keys()].sort((a, b) => a - b);
  if (!seqs.length) throw new Error(`ping ${from} -> ${to} got no answer at all:\n${text}`);
  let longest = 0;
  let backAt: number | undefined;
  let outageSeconds: number | undefined;
  for (let i = 1; i < seqs.length; i++) {
    const gap = seqs[i]! - seqs[i - 1]! - 1;
    if (gap > longest) {
      longest = gap;
      backAt = answers.get(seqs[i]!)!;
      outageSeconds = backAt - answers.get(seqs[i - 1]!)!;
    }
  }
  return {
    from,
    to,
    lost: seqs.at(-1)! - seqs[0]! + 1 - seqs.length,
    longest,
    ...(backAt !== undefined ? { backAt, outageSeconds: outageSeconds! } : {}),
  };
}

/** Starts pings every 10 ms from each sender to each of its targets (addresses, named by `names`). */
export function probe(lab: string, flows: ReadonlyMap<string, readonly string[]>, names: ReadonlyMap<string, string>): Probes {
  const dir = `/tmp/kinda-probe-${process.pid}`;
  const runs = [...flows].map(([from, to]) => ({ from, run: labExec(lab, from, ["sh", "-c", SCRIPT, "sh", dir, ...to]) }));
  const started = (async () => {
    for (const { from } of runs) {
      const t0 = Date.now();
      while ((await labExec(lab, from, ["test", "-e", `${dir}/started`])).code !== 0) {
        if (Date.now() - t0 > 120_000) throw new Error(`the probes from ${from} got no answer within 120 s`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();
  const stop = async (): Promise<FlowLoss[]> => {
    await Promise.all(runs.map(({ from }) => labExec(lab, from, ["touch", `${dir}/stop`])));
    const out: FlowLoss[] = [];
    for (const { from, run } of runs) {
      const text = (await run).out;
      for (const part of text.split(/^== /m).slice(1)) {
        const nl = part.indexOf("\n");
        const addr = part.slice(0, nl).trim();
        out.push(lossOf(from, names.get(addr) ?? addr, part.slice(nl + 1)));
      }
    }
    return out;
  };
  return { started, stop };
}

/** Every host pings every other, one exec per host in parallel: the pairs that got no answer. */
export async function unreachablePairs(lab: string, hosts: ReadonlyMap<string, string>): Promise<string[]> {
  const res = await Promise.all(
    [...hosts.keys()].map(async (h) => {
      const others = [...hosts].filter(([o]) => o !== h);
      const r = await labExec(lab, h, [
        "sh",
        "-c",
        'for a in "$@"; do ping -c1 -W1 "$a" >/dev/null 2>&1 || echo "miss $a"; done',
        "reach",
        ...others.map(([, a]) => a),
      ]);
      return [...r.out.matchAll(/^miss (\S+)/gm)].map((m) => `${h}->${others.find(([, a]) => a === m[1])?.[0] ?? m[1]}`);
    }),
  );
  return res.flat();
}

/**
 * Whether `device` routes over its interface on the link whose address is `address` (a route
 * learnt by `proto`, or any non-connected route for static): the link is in use again.
 */
export async function routesOver(lab: string, device: string, address: string, proto: "static" | "ospf" | "bgp"): Promise<boolean> {
  const r = await labExec(lab, device, [
    "sh",
    "-c",
    'dev=$(ip -o -4 addr show | awk -v a="$1" \'index($4, a "/") == 1 {print $2}\'); [ -n "$dev" ] && ip -o route show | grep -v "proto kernel" | grep -E "$2" | grep -q "dev $dev "',
    "routes",
    address,
    proto === "static" ? "." : `proto ${proto}`,
  ]);
  return r.code === 0;
}
