#!/usr/bin/env node
/** The `kinda` command line. */
import { Argument, Command, InvalidArgumentError, Option } from "commander";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LabStatus } from "../app/api.js";
import { KindaError } from "../core/errors.js";
import { KNOWN_COMMANDS, expandShorthand } from "./argv.js";
import { report } from "./report.js";

// Modules load when a verb needs them (dynamic import): `kinda DEVICE CMD` must not pay for
// dockerode, the topology compiler, the Kubernetes client or the picture renderer.
const api = () => import("../app/api.js");
const terminalReporter = async () => (await import("./render.js")).terminalReporter();

function collectMap(value: string, prev: Record<string, string>): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0 || eq === value.length - 1) throw new KindaError(`--image-map expects FROM=TO, got ${JSON.stringify(value)}`);
  return { ...prev, [value.slice(0, eq)]: value.slice(eq + 1) };
}

/** --parallelism: a whole number of 1 or more (0.5 or "x" would stall or break the pool). */
export function parseParallelism(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("expected a whole number of 1 or more");
  return n;
}

/** --var NAME=VALUE (repeatable; VALUE may be empty or contain '='). */
function collectVar(value: string, prev: Record<string, string>): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new KindaError(`--var expects NAME=VALUE, got ${JSON.stringify(value)}`);
  return { ...prev, [value.slice(0, eq)]: value.slice(eq + 1) };
}

const VAR_HELP = "set a variable of a YAML topology's vars: (repeatable)";

/** This package's version: the nearest package.json named kinda above this file (dist/src/cli/ or the bundle in dist/bin/). */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version: string };
      if (pkg.name === "kinda") return pkg.version;
    } catch {
      // no (readable) package.json here: look further up
    }
    const up = dirname(dir);
    if (up === dir) return "unknown";
    dir = up;
  }
}

function printStatus(labs: LabStatus[]): void {
  if (labs.length === 0) {
    console.log("no lab is up");
    return;
  }
  for (const l of labs) {
    const running = l.devices.filter((d) => d.running).length;
    const on = l.runtime
      ? `, on Kubernetes (namespace ${l.runtime.namespace}${l.runtime.context ? `, context ${l.runtime.context}` : ""})`
      : "";
    console.log(`lab ${l.name}: ${l.phase}, ${running}/${l.devices.length} devices running${on}${l.source ? `, from ${l.source}` : ""}`);
    // a state file kinda cannot read: what is wrong and the way out
    if (l.phase === "unreadable") for (const w of l.warnings) console.log(`  ${w}`);
    const w = Math.max(6, ...l.devices.map((d) => d.name.length));
    for (const d of l.devices) {
      const ifs = d.interfaces.map((i) => `${i.name}:${i.domain}`).join(" ");
      const kind = `${d.kind ? `${d.kind}  ` : ""}${d.node ? `node ${d.node}  ` : ""}`;
      console.log(
        `  ${d.name.padEnd(w)}  ${(d.running ? "running" : "stopped").padEnd(7)}  ${kind}${d.image}  startup=${d.startup}  ${ifs}`,
      );
      if (d.published?.length) console.log(`  ${"".padEnd(w)}  ${d.published.map((p) => `${p.name} ${p.address}`).join(", ")}`);
      if (d.startup.startsWith("failed") && d.startupLog) console.log(`  ${"".padEnd(w)}  log: ${d.startupLog}`);
    }
    const c = l.cluster;
    if (c) {
      console.log(`  cluster ${c.name} (${c.provider}, ${c.encapsulation}, ${c.phase}):`);
      for (const n of c.nodes) console.log(`  ${n.name.padEnd(w)}  ${n.role.padEnd(13)}  ${n.k8sName}`);
    }
    for (const x of l.nics ?? [])
      console.log(
        `  ${x.name.padEnd(w)}  ${(x.running ? "running" : "stopped").padEnd(7)}  nic ${x.kind}  ${x.image}  between ${x.node} and ${x.device ?? "its segment"}${x.bridge ? `, bridge ${x.bridge}` : ""}`,
      );
    const cuts = [...new Set(l.live?.cuts.map((x) => x.endpoint))];
    if (cuts.length) console.log(`  cut links (kinda link ${l.name} ENDPOINT up): ${cuts.join(", ")}`);
    for (const s of l.live?.shaping ?? [])
      console.log(
        `  shaped ${s.endpoint} ${s.direction}: ${Object.entries(s.shaping)
          .map(([k, v]) => `${k} ${v}`)
          .join(" ")}`,
      );
  }
}

interface UpFlags {
  name?: string;
  imageMap: Record<string, string>;
  nodeImage?: string;
  encapsulation?: "vxlan" | "gre" | "none";
  dryRun?: boolean;
  parallelism?: number;
  var: Record<string, string>;
  runtime?: "docker" | "kubernetes";
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  place: Record<string, string>;
}

/** --place DEVICE=NODE (repeatable). */
function collectPlace(value: string, prev: Record<string, string>): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0 || eq === value.length - 1) throw new KindaError(`--place expects DEVICE=NODE, got ${JSON.stringify(value)}`);
  return { ...prev, [value.slice(0, eq)]: value.slice(eq + 1) };
}

/** The runtime flags of `up` as its options (runtimeKind, kube). */
function runtimeChoice(o: UpFlags) {
  const kube = {
    ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
    ...(o.context ? { context: o.context } : {}),
    ...(o.namespace ? { namespace: o.namespace } : {}),
    ...(Object.keys(o.place).length ? { placement: o.place } : {}),
  };
  return { ...(o.runtime ? { runtimeKind: o.runtime } : {}), ...(Object.keys(kube).length ? { kube } : {}) };
}

/** up's options of the Kubernetes runtime. */
function runtimeOptions(c: Command): Command {
  return c
    .addOption(
      new Option(
        "--runtime <kind>",
        "where the devices run: this machine's Docker engine, or pods on a host Kubernetes cluster (overrides the topology's runtime:)",
      ).choices(["docker", "kubernetes"]),
    )
    .option("--kubeconfig <file>", "kubeconfig of the host cluster (--runtime kubernetes; default: $KUBECONFIG or ~/.kube/config)")
    .option("--context <name>", "context in that kubeconfig (--runtime kubernetes)")
    .option("--namespace <name>", "namespace kinda creates for the lab and deletes at down (--runtime kubernetes; default kinda-LAB)")
    .option(
      "--place <device=node>",
      "pin DEVICE's pod to host node NODE (--runtime kubernetes; repeatable; the rest are spread)",
      collectPlace,
      {},
    );
}

/** What a command sets for the process to exit with. */
interface Outcome {
  exitCode: number;
}

function upCommand(program: Command, out: Outcome): void {
  runtimeOptions(program.command("up"))
    .description("deploy a lab: a Kathara lab directory, a YAML topology, or a TypeScript topology module")
    .argument("<path>", "lab directory (with lab.conf), FILE.yaml, or SCRIPT.ts (default export: the topology)")
    .option("-n, --name <name>", "lab name (default: the directory's name)")
    .option("--image-map <from=to>", "use image TO wherever the lab asks for FROM (repeatable)", collectMap, {})
    .option("--node-image <image>", "Kind node image for the Kubernetes nodes (overrides the topology's cluster.image)")
    .addOption(
      new Option("--encapsulation <mode>", "pod traffic between nodes (overrides the topology's)").choices(["vxlan", "gre", "none"]),
    )
    .option("--dry-run", "print the plan; create nothing")
    .option("--parallelism <n>", "container operations in flight (a whole number, 1 or more)", parseParallelism)
    .option("--var <name=value>", VAR_HELP, collectVar, {})
    .action(async (path: string, o: UpFlags) => {
      const overrides = {
        ...runtimeChoice(o),
        ...(o.name ? { name: o.name } : {}),
        ...(o.nodeImage ? { nodeImage: o.nodeImage } : {}),
        ...(o.encapsulation ? { encapsulation: o.encapsulation } : {}),
        vars: o.var,
      };
      if (o.dryRun) {
        const { dryRun } = await api();
        console.log(await dryRun(path, { ...overrides, imageMap: o.imageMap }));
        return;
      }
      const ac = new AbortController();
      // 1st Ctrl+C: stop (start-up scripts are killed) and remove what was created; 2nd: say it is
      // still doing that; 3rd: quit at once, leaving the rest to `kinda down`
      let presses = 0;
      const onSig = () => {
        presses++;
        if (presses === 1) {
          process.stderr.write("\ninterrupted: stopping and removing what was created\n");
          ac.abort();
        } else if (presses === 2) {
          process.stderr.write("\nstill removing what was created; Ctrl+C once more quits at once (then run kinda down)\n");
        } else {
          process.stderr.write(`\nquitting; remove what is left with: kinda down ${o.name ?? path}\n`);
          process.exit(130);
        }
      };
      process.on("SIGINT", onSig);
      process.on("SIGTERM", onSig);
      const reporter = await terminalReporter();
      const { up } = await api();
      const { network: r } = await up(path, {
        ...overrides,
        imageMap: o.imageMap,
        reporter,
        signal: ac.signal,
        ...(o.parallelism ? { parallelism: o.parallelism } : {}),
      });
      process.off("SIGINT", onSig);
      process.off("SIGTERM", onSig);
      const name = r.state.name;
      console.log(`lab ${name} is up: ${r.state.devices.length} devices in ${r.seconds.toFixed(1)} s`);
      if (r.failedDevices.length) {
        for (const d of r.failedDevices) {
          const s = r.state.devices.find((x) => x.name === d)?.startup;
          const why = s?.timedOut ? `stopped after ${s.timedOut} s, its start-up timeout` : `exit ${s?.exitCode}`;
          console.log(`start-up FAILED on ${d} at ${s?.failedStep} (${why}); output: ${s?.log}`);
        }
        out.exitCode = 3;
      }
      const dev = r.state.devices[0]?.name ?? "DEVICE";
      console.log(`  status:   kinda status ${name}`);
      console.log(`  a shell:  kinda exec --lab ${name} ${dev}     (or: kinda ${dev})`);
      console.log(`  a command: kinda exec --lab ${name} ${dev} -- ip -br addr`);
      console.log(`  remove:   kinda down ${name}`);
    });
}

function labCommands(program: Command, out: Outcome): void {
  program
    .command("down")
    .description("tear a lab down (also after a crashed deploy); idempotent")
    .argument("<name|path>", "lab name, or the directory it was deployed from")
    .option(
      "--force",
      "if its cluster cannot be removed (provider unknown here, or removal keeps failing), remove the network anyway and forget the cluster; " +
        "if its state file cannot be read, remove the lab by kinda's labels and names (containers, namespace, host links and rules) and the file",
    )
    .action(async (arg: string, o: { force?: boolean }) => {
      const { down } = await api();
      const r = await down(arg, { reporter: await terminalReporter(), ...(o.force ? { forgetCluster: true } : {}) });
      console.log(`removed lab ${arg}: ${r.containers} containers, its namespace and state (${r.seconds.toFixed(1)} s)`);
    });

  program
    .command("status")
    .description("labs that are up, their devices and start-up results")
    .argument("[name|path]", "one lab")
    .option("--json", "machine-readable output")
    .option("--links", "per-link packets, bytes, drops and rates (refreshing; with --json: one sample over a second)")
    .option("--interval <seconds>", "refresh period of --links", (v) => Number(v), 2)
    .action(async (arg: string | undefined, o: { json?: boolean; links?: boolean; interval: number }) => {
      if (o.links) {
        if (!arg) throw new KindaError("--links needs a LAB");
        return (await import("./live.js")).watchLinks(arg, o);
      }
      const { status } = await api();
      const labs = await status(arg);
      if (o.json) console.log(JSON.stringify(labs, null, 2));
      else printStatus(labs);
    });

  program
    .command("exec")
    .description("run a command in a device (interactive shell by default; exit code passed through)")
    .argument("<device>", "device name")
    .argument("[cmd...]", "command and arguments (after --)")
    .addOption(new Option("--lab <name>", "lab of the device, when several labs have it").env("KINDA_LAB"))
    .option("-i, --stdin", "pass standard input to the command (when not on a terminal)")
    .action(async (device: string, cmd: string[], o: { lab?: string; stdin?: boolean }) => {
      const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
      const { execIn } = await import("../app/exec.js");
      const r = await execIn(device, cmd, {
        ...(o.lab ? { lab: o.lab } : {}),
        interactive,
        stdin: !interactive && Boolean(o.stdin),
        stdout: process.stdout,
        stderr: process.stderr,
      });
      out.exitCode = r.exitCode;
    });

  program
    .command("logs")
    .description("a device's log: the data plane of a P4 or Open vSwitch device, else its start-up output")
    .argument("<lab>", "lab name")
    .argument("<device>", "device name")
    .option("-f, --follow", "keep printing as the log grows (programmable devices)")
    .action(async (lab: string, device: string, o: { follow?: boolean }) => {
      const { logsOf } = await api();
      const r = await logsOf(lab, device, { follow: Boolean(o.follow), stdout: process.stdout, stderr: process.stderr });
      out.exitCode = r.exitCode;
    });

  const labOption = () => new Option("--lab <name>", "lab of the cluster, when several are up").env("KINDA_LAB");
  program
    .command("who")
    .description("the topology name of a Kubernetes node (e.g. kinda who kinda-worker2)")
    .argument("<k8s-node>", "Kubernetes node name")
    .addOption(labOption())
    .action(async (k8s: string, o: { lab?: string }) => console.log((await import("../app/exec.js")).whoIs(k8s, o.lab)));
  program
    .command("reverse")
    .description("the Kubernetes node name of a topology node (kubectl label node $(kinda reverse w1) ...)")
    .argument("<name>", "topology name")
    .addOption(labOption())
    .action(async (name: string, o: { lab?: string }) => console.log((await import("../app/exec.js")).reverseName(name, o.lab)));
}

function graphCommand(program: Command): void {
  program
    .command("graph")
    .description("a picture of a topology: a lab that is up (with its cluster), a lab directory, FILE.yaml or SCRIPT.ts")
    .argument("<name|path>", "lab name or topology path")
    .addOption(new Option("-f, --format <format>", "output format").choices(["svg", "png", "mermaid", "dot"]).default("svg"))
    .option("-o, --output <file>", "write to a file (default: standard output)")
    .option("--var <name=value>", VAR_HELP, collectVar, {})
    .action(async (arg: string, o: { format: "svg" | "png" | "mermaid" | "dot"; output?: string; var: Record<string, string> }) => {
      const { graphFor } = await import("../app/api.js");
      const g = await graphFor(arg, undefined, o.var);
      const { toSvg, toPng, toMermaid, toDot } = await import("../app/graph.js");
      const data = o.format === "png" ? await toPng(g) : o.format === "mermaid" ? toMermaid(g) : o.format === "dot" ? toDot(g) : toSvg(g);
      if (o.output) {
        const { writeFileSync } = await import("node:fs");
        writeFileSync(o.output, data);
        console.error(`wrote ${o.output} (${g.nodes.length} devices, ${g.edges.length} links)`);
      } else if (o.format === "png" && process.stdout.isTTY) {
        throw new KindaError("PNG is binary: pass -o FILE.png or redirect standard output");
      } else process.stdout.write(data);
    });
}

function doctorCommand(program: Command, out: Outcome): void {
  program
    .command("doctor")
    .alias("check")
    .description(
      "what this machine has of what kinda needs: Docker, host programs, kernel features, kind, limits, disk (alias: check, as Kathara's)",
    )
    .option("--json", "machine-readable output")
    .option("--fix", "first raise the kernel limits Kind needs for several nodes (inotify), saying so (root)")
    .action(async (o: { json?: boolean; fix?: boolean }) => {
      const { doctor, fixSysctls, formatDoctor } = await import("../app/doctor.js");
      if (o.fix) fixSysctls((l) => console.error(`kinda: ${l}`));
      const r = await doctor();
      console.log(o.json ? JSON.stringify(r, null, 2) : formatDoctor(r));
      if (!r.ok) out.exitCode = 1;
    });
}

function expandCommand(program: Command): void {
  program
    .command("expand")
    .description(
      "print the plain topology a YAML file stands for: vars substituted, generate: expanded into devices and links; with routing: ospf|bgp, the FRR files kinda writes for each router (as comments)",
    )
    .argument("<file>", "FILE.yaml")
    .option("--var <name=value>", VAR_HELP, collectVar, {})
    .action(async (file: string, o: { var: Record<string, string> }) => {
      const { expandTopology } = await import("../app/topology.js");
      process.stdout.write(expandTopology(file, { vars: o.var }));
    });
}

function p4EntriesCommand(program: Command): void {
  program
    .command("p4-entries")
    .description(
      "print the simple_switch_CLI lines kinda applies to P4 switches: the LPM entries it writes from the static routes (lpm), then their cli",
    )
    .argument("<path>", "FILE.yaml or SCRIPT.ts")
    .argument("[device]", "one P4 switch: its lines only (e.g. | simple_switch_CLI)")
    .option("--var <name=value>", VAR_HELP, collectVar, {})
    .action(async (path: string, device: string | undefined, o: { var: Record<string, string> }) => {
      const { p4EntriesFor } = await import("../app/p4.js");
      // for one switch its lines only (what the CLI reads); where pods go at attach time on stderr
      process.stdout.write(await p4EntriesFor(path, device, o.var, (l) => process.stderr.write(`${l}\n`)));
    });
}

function completionCommand(program: Command): void {
  program
    .command("completion")
    .description("print a shell completion script (bash: source <(kinda completion bash); zsh: kinda completion zsh > ${fpath[1]}/_kinda)")
    .addArgument(new Argument("<shell>", "shell").choices(["bash", "zsh"]))
    .action(async (shell: "bash" | "zsh") => {
      const { completionScript } = await import("./completion.js");
      process.stdout.write(completionScript(program, shell));
    });
}

async function main(argv: string[]): Promise<number> {
  const out: Outcome = { exitCode: 0 };
  const program = new Command();
  program
    .name("kinda")
    .description(
      "Emulated networks of containers (Kathara labs as they are), with Kubernetes nodes inside them.\nShorthand: kinda DEVICE [CMD...] runs CMD (default: a shell) in a device.",
    )
    .version(version())
    .showHelpAfterError()
    .configureOutput({ outputError: (s, write) => write(s) });

  const setExit = (code: number) => (out.exitCode = code);
  const groups: [string[], () => void | Promise<void>][] = [
    [["up"], () => upCommand(program, out)],
    [["down", "status", "exec", "logs", "who", "reverse"], () => labCommands(program, out)],
    [["graph"], () => graphCommand(program)],
    [["doctor", "check"], () => doctorCommand(program, out)],
    [["expand"], () => expandCommand(program)],
    [["p4-entries"], () => p4EntriesCommand(program)],
    [["link", "device", "capture", "top", "node"], async () => (await import("./live.js")).addLiveCommands(program, setExit)],
    [["restart", "list", "wipe", "connect"], async () => (await import("./verbs.js")).addVerbs(program, setExit)],
    [["attach"], async () => (await import("./verbs.js")).addAttach(program)],
    [["completion"], () => completionCommand(program)],
    [["ui", "metrics"], async () => (await import("./ui.js")).addUiCommands(program)],
  ];
  // a known verb registers its own command only (commander then parses it as ever); help, no
  // verb or an unknown word registers them all, so that help and errors list every command
  const words = expandShorthand(argv);
  const verb = words[2];
  // completion lists every command, so it registers them all too
  const only = verb !== undefined && verb !== "help" && verb !== "completion" && KNOWN_COMMANDS.has(verb) ? verb : undefined;
  for (const [names, add] of groups) if (!only || names.includes(only)) await add();
  await program.parseAsync(words);
  return out.exitCode;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.exitCode = report(e);
  },
);
