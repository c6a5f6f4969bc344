/** CLI verbs for experiments on a lab that is up: `kinda link`, `kinda capture`, `kinda top` (status --links). */
import { Option, type Command } from "commander";
import { KindaError } from "../core/errors.js";
import type { Shaping } from "../core/tc.js";

const SHAPING_OPTIONS: [keyof Shaping, string, string][] = [
  ["rate", "<rate>", "token-bucket rate (tbf), e.g. 10mbit"],
  ["burst", "<size>", "bucket size, e.g. 32kbit (default 32kbit)"],
  ["latency", "<time>", "longest queueing delay, e.g. 50ms (default 50ms)"],
  ["delay", "<time>", "netem: added delay, e.g. 20ms"],
  ["jitter", "<time>", "netem: delay variation, e.g. 5ms (with --delay)"],
  ["loss", "<percent>", "netem: random loss, e.g. 1%"],
  ["duplicate", "<percent>", "netem: duplicated packets, e.g. 1%"],
  ["reorder", "<percent>", "netem: packets sent at once, ahead of delayed ones, e.g. 25% (with --delay)"],
  ["corrupt", "<percent>", "netem: single-bit corruption, e.g. 0.1%"],
];

type LinkOpts = Partial<Record<keyof Shaping, string>> & {
  clear?: boolean;
  from?: string;
  json?: boolean;
  address: Record<string, string>;
  domain?: string;
};

function collectAddress(value: string, prev: Record<string, string>): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new KindaError(`--address expects DEVICE=CIDR (e.g. r1=10.9.0.1/24), got ${JSON.stringify(value)}`);
  return { ...prev, [value.slice(0, eq)]: value.slice(eq + 1) };
}

/** `add` and `remove` change which links exist; the rest change a link that exists. */
async function addOrRemove(lab: string, endpoint: string, state: string, o: LinkOpts): Promise<string> {
  const live = await import("../app/live.js");
  if (state === "add")
    return (await live.addLink(lab, endpoint, { addresses: o.address, ...(o.domain ? { domain: o.domain } : {}) })).summary;
  return (await live.removeLink(lab, endpoint)).summary;
}

function linkChange(state: string | undefined, o: LinkOpts) {
  const shape: Shaping = {};
  for (const [k] of SHAPING_OPTIONS) if (o[k] !== undefined) shape[k] = o[k];
  const shaped = Object.keys(shape).length > 0;
  const from = o.from !== undefined ? { from: o.from } : {};
  if (state !== undefined) {
    if (state !== "down" && state !== "up") throw new KindaError(`STATE ${JSON.stringify(state)}: expected down, up, add or remove`);
    if (shaped || o.clear) throw new KindaError(`${state}: cut/restore and shaping are separate changes; run them one after the other`);
    if (o.from !== undefined) throw new KindaError("--from picks a direction to shape; a cut takes the whole link");
    return { state } as const;
  }
  if (o.clear && shaped) throw new KindaError("--clear removes shaping; give either --clear or shaping options");
  if (o.clear) return { clear: true as const, ...from };
  if (!shaped) throw new KindaError("nothing to do: give down, up, --clear, or shaping options (--rate, --delay, ...)");
  return { shape, ...from };
}

async function watchLinks(lab: string, o: { json?: boolean; interval: number }): Promise<void> {
  const w = await import("../app/live.js");
  if (o.json) {
    console.log(JSON.stringify(await w.linkCounters(lab, { seconds: 1 }), null, 2));
    return;
  }
  if (!Number.isFinite(o.interval) || o.interval <= 0)
    throw new KindaError(`--interval ${o.interval}: expected a positive number of seconds`);
  const store = w.liveStore();
  const pids = new Map<string, number>();
  let prev: Awaited<ReturnType<typeof w.sampleLinks>> | undefined;
  let t = performance.now();
  for (;;) {
    const st = store.read(lab);
    if (!st) throw new KindaError(`LAB ${JSON.stringify(lab)}: no lab of that name is up`);
    const now = await w.sampleLinksNow(st, pids);
    const t2 = performance.now();
    const rows = w.withRates(now, prev, (t2 - t) / 1000);
    if (process.stdout.isTTY) process.stdout.write("\x1b[H\x1b[2J");
    console.log(w.formatLinks(lab, rows));
    prev = now;
    t = t2;
    await new Promise((r) => setTimeout(r, o.interval * 1000));
  }
}

export { watchLinks };

/** `kinda node LAB NAME add|remove` (app/node.ts). */
function nodeCommand(program: Command): void {
  program
    .command("node")
    .description(
      "add a Kubernetes worker to the cluster of a lab that is up (linked as the lab's source or --device/--address say), or remove one",
    )
    .argument("<lab>", "lab name")
    .argument("<name>", "node name (topology name)")
    .argument("<action>", "add or remove")
    .option("--device <device>", "add: the device to link the node to (when the source does not define the node)")
    .option("--address <cidr>", "add: the node's address on that link, e.g. 10.0.9.2/24")
    .option("--device-address <cidr>", "add: the device's address on that link, e.g. 10.0.9.1/24")
    .option("--no-drain", "remove: do not drain it first (a crash: its pods just vanish)")
    .action(
      async (
        lab: string,
        name: string,
        action: string,
        o: { device?: string; address?: string; deviceAddress?: string; drain: boolean },
      ) => {
        const n = await import("../app/node.js");
        const reporter = (await import("./render.js")).terminalReporter();
        const opts = {
          reporter,
          ...(o.device ? { device: o.device } : {}),
          ...(o.address ? { address: o.address } : {}),
          ...(o.deviceAddress ? { deviceAddress: o.deviceAddress } : {}),
        };
        if (action === "add") console.log(await n.addNode(lab, name, opts));
        else if (action === "remove") console.log(await n.removeNode(lab, name, { ...opts, drain: o.drain }));
        else throw new KindaError(`ACTION ${JSON.stringify(action)}: expected add or remove`);
      },
    );
}

function captureCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command("capture")
    .description("capture packets of a link from its host side (tcpdump in the lab namespace or the node's); pcap with -w")
    .argument("<lab>", "lab name")
    .argument("<endpoint>", "DEVICE:IFACE (r1:eth0), A--B (r1--w1), or a collision domain")
    .argument("[filter...]", "a tcpdump filter (e.g. icmp, or tcp port 80)")
    .option("-w, --write <file>", "write pcap to FILE, or - for standard output (kinda capture LAB r1:eth0 -w - | wireshark -k -i -)")
    .option("-c, --count <n>", "stop after N packets", (v) => Number(v))
    .action(async (lab: string, endpoint: string, filter: string[], o: { write?: string; count?: number }) => {
      if (o.write === "-" && process.stdout.isTTY)
        throw new KindaError("-w -: pcap is binary; pipe it (| wireshark -k -i -) or write a file");
      const { capture } = await import("../app/live.js");
      // Ctrl+C ends the capture (a local tcpdump gets it too; one in a pod is stopped through the signal)
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once("SIGINT", stop);
      try {
        setExit(
          await capture(lab, endpoint, {
            ...(o.write !== undefined ? { write: o.write } : {}),
            ...(o.count !== undefined ? { count: o.count } : {}),
            filter,
            signal: ac.signal,
          }),
        );
      } finally {
        process.off("SIGINT", stop);
      }
    });
}

export function addLiveCommands(program: Command, setExit: (code: number) => void): void {
  nodeCommand(program);
  const link = program
    .command("link")
    .description("change a link of a lab that is up: cut (down), restore (up), shape (--rate, netem options) or --clear")
    .argument("<lab>", "lab name")
    .argument("<endpoint>", "DEVICE:IFACE (r1:eth0), A--B (r1--w1), or a collision domain")
    .argument("[state]", "down (cut the cable; static routing re-routes around it), up, add (a new link A--B) or remove");
  for (const [k, arg, help] of SHAPING_OPTIONS) link.addOption(new Option(`--${k} ${arg}`, help));
  link
    .option("--from <device>", "shape only the direction that leaves this end (default: both)")
    .option("--clear", "remove the shaping")
    .option("--json", "print what was done as JSON")
    .option("--address <device=cidr>", "add: an address for one end (repeatable), e.g. r1=10.9.0.1/24", collectAddress, {})
    .option("--domain <name>", "add: name of the new collision domain (default A--B)")
    .action(async (lab: string, endpoint: string, state: string | undefined, o: LinkOpts) => {
      if (state === "add" || state === "remove") return console.log(await addOrRemove(lab, endpoint, state, o));
      const change = linkChange(state, o);
      const { changeLink } = await import("../app/live.js");
      const r = await changeLink(lab, endpoint, change);
      if (o.json) console.log(JSON.stringify({ summary: r.summary, ops: r.ops, ...(r.reroute ? { reroute: r.reroute } : {}) }, null, 2));
      else console.log(r.summary);
    });

  program
    .command("device")
    .description("add a device to a lab that is up (then link it with kinda link LAB NAME--OTHER add), or remove one")
    .argument("<lab>", "lab name")
    .argument("<name>", "device name")
    .argument("<action>", "add or remove")
    .option("--image <image>", "add: its image (default kathara/base)")
    .option(
      "--image-map <from=to>",
      "add: use image TO where FROM is asked for",
      (v: string, p: Record<string, string>) => {
        const eq = v.indexOf("=");
        if (eq <= 0) throw new KindaError(`--image-map expects FROM=TO, got ${JSON.stringify(v)}`);
        return { ...p, [v.slice(0, eq)]: v.slice(eq + 1) };
      },
      {},
    )
    .action(async (lab: string, name: string, action: string, o: { image?: string; imageMap: Record<string, string> }) => {
      const live = await import("../app/live.js");
      if (action === "add") console.log(await live.addDevice(lab, name, { ...(o.image ? { image: o.image } : {}), imageMap: o.imageMap }));
      else if (action === "remove") console.log(await live.removeDevice(lab, name));
      else throw new KindaError(`ACTION ${JSON.stringify(action)}: expected add or remove`);
    });

  captureCommand(program, setExit);

  program
    .command("top")
    .description("per-link packets, bytes, drops and rates of a lab that is up, refreshing (kinda status LAB --links)")
    .argument("<lab>", "lab name")
    .option("--json", "one sample over a second, as JSON")
    .option("--interval <seconds>", "refresh period", (v) => Number(v), 2)
    .action((lab: string, o: { json?: boolean; interval: number }) => watchLinks(lab, o));
}
