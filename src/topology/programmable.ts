/**
 * Programmable devices: P4 switches (BMv2) and Open vSwitch. From a device's topology fields and
 * its data interfaces to what kinda runs in it (services: argv arrays, nothing built from input
 * into a shell string), what it mounts and publishes, and how its errors are named. Pure, except
 * `programFileProblem`, which reads the user's program file.
 *
 * Port order (BMv2 `-i N@IF`, OpenFlow port numbers): a device's data interfaces in the order of
 * the topology's links list, first its links to network devices (eth0, eth1, ...), then its links
 * to Kubernetes nodes and the load balancer (interfaces after those, and after the NAT interface
 * a P4 switch has for its published ports). BMv2 port N is the N-th of them; OpenFlow port N+1.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { readP4Program, type P4Program } from "../core/p4json.js";
import { OVS_DEFAULT_IMAGE, P4_DEFAULT_IMAGE, P4_THRIFT_PORT, STAGE_MOUNT } from "../core/defaults.js";
import { cliLines } from "../core/p4cli.js";
import { NIC_INNER, NIC_OUTER } from "../core/names.js";
import type { NodeNic } from "../model/cluster.js";
import type { DeviceRole, ServiceStep, VolumeSpec } from "../model/lab.js";
import type { DeviceSpec, NicSpec } from "../model/spec.js";

/** Where a P4 switch's program and P4Info are mounted (read-only) inside the device. */
export const P4_MOUNT = "/kinda-p4";
export const P4_PROGRAM = `${P4_MOUNT}/program.json`;
export const P4_INFO = `${P4_MOUNT}/p4info.txt`;
/** A `.p4` program's folder (its includes with it), mounted read-only; compiled into P4_BUILD in the device. */
export const P4_SOURCE_DIR = `${P4_MOUNT}/src`;
/** Outside STAGE_MOUNT (read-only): where p4c writes in the device. */
export const P4_BUILD = "/var/lib/kinda-p4";

/** Whether a program is P4 source, compiled in the device by its image's p4c (as Kathara's P4 labs do). */
export const isP4Source = (program: string | undefined): boolean => program !== undefined && program.endsWith(".p4");

/** Where the switch loads its program from: the mounted JSON, or what p4c wrote in the device. */
export function p4ProgramPath(program: string | undefined): string {
  return isP4Source(program) ? `${P4_BUILD}/${basename(program!).replace(/\.p4$/, "")}.json` : P4_PROGRAM;
}

/**
 * Compiles the mounted `.p4` with the image's p4c (fixed text; source and output folder come in
 * as positional parameters). An image without p4c gets a sentence saying so, not "not found".
 */
const COMPILE =
  'command -v p4c >/dev/null || { echo "this image has no p4c: give program: the BMv2 JSON p4c wrote instead of the .p4 file"; exit 127; }; ' +
  'mkdir -p "$2" && p4c --target bmv2 --arch v1model -o "$2" --p4runtime-files "$2/p4info.txt" "$1"';
/** simple_switch's Thrift port and simple_switch_grpc's P4Runtime port inside the device. */
export const THRIFT_PORT = P4_THRIFT_PORT;
export const GRPC_PORT = 9559;
export const P4_LOG = "/var/log/kinda/p4-switch.log";
export const OVS_BRIDGE = "br0";
/** A smart NIC's Open vSwitch bridge (in the node's namespace, where a br0 may be someone else's). */
export const NIC_BRIDGE = "br-nic";
export const OVS_LOG = "/var/log/openvswitch/ovs-vswitchd.log";
/** Seconds to wait for BMv2's Thrift server (the program is loaded first) before giving up. */
export const P4_READY_SECONDS = 60;

type Add = (path: (string | number)[], message: string) => void;

const P4_FIELDS = ["program", "p4info", "grpcPort", "thriftPort", "cli", "lpm", "logLevel"] as const;
/** A P4 table or action name: simple_switch_CLI takes it as one word. */
const P4_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;
const OVS_FIELDS = ["controller", "flows"] as const;
/** ovs-vsctl set-controller targets: tcp:IP[:PORT], ssl:IP[:PORT], or the passive ptcp:/pssl: forms. */
const CONTROLLER = /^(tcp|ssl|ptcp|pssl):[0-9A-Za-z.:[\]-]*$/;

/** Field checks of p4-switch and ovs-switch devices (and that other kinds do not use their fields). */
export function validateProgrammable(d: DeviceSpec, i: number, add: Add): void {
  const present = (fields: readonly (keyof DeviceSpec)[]) => fields.filter((f) => d[f] !== undefined);
  const p4 = present(P4_FIELDS);
  const ovs = present(OVS_FIELDS);
  if (d.kind !== "p4-switch" && p4.length) {
    const why = d.kind === "switch" ? " (a switch without a program runs as a plain router)" : "";
    add(
      ["devices", i, p4[0]!],
      `${p4.join(", ")} ${p4.length > 1 ? "belong" : "belongs"} to P4 switches (kind: p4-switch), not to a ${d.kind}${why}`,
    );
  }
  if (d.kind !== "ovs-switch" && ovs.length)
    add(
      ["devices", i, ovs[0]!],
      `${ovs.join(", ")} ${ovs.length > 1 ? "belong" : "belongs"} to Open vSwitch devices (kind: ovs-switch), not to a ${d.kind}`,
    );
  if (d.kind === "p4-switch") {
    if (d.program === undefined)
      add(
        ["devices", i],
        "a P4 switch needs program: its compiled program (BMv2 JSON, from p4c --target bmv2) or a .p4 file its image compiles",
      );
    if (d.grpcPort !== undefined && d.grpcPort === d.thriftPort)
      add(["devices", i, "thriftPort"], `thriftPort ${d.thriftPort} is also the grpcPort; each needs its own host port`);
    (d.cli ?? []).forEach((c, k) => {
      if (/[\r\n]/.test(c)) add(["devices", i, "cli", k], "a switch CLI command is one line");
    });
    if (typeof d.lpm === "object")
      for (const f of ["table", "action"] as const) {
        const v = d.lpm[f];
        if (v !== undefined && !P4_NAME.test(v))
          add(["devices", i, "lpm", f], `${JSON.stringify(v)} is not a P4 ${f} name (e.g. MyIngress.ipv4_lpm)`);
      }
  }
  if (d.kind === "ovs-switch") {
    if (d.controller !== undefined && !CONTROLLER.test(d.controller))
      add(["devices", i, "controller"], `${JSON.stringify(d.controller)} is not an OpenFlow controller address (tcp:IP:PORT, ssl:IP:PORT)`);
    (d.flows ?? []).forEach((f, k) => {
      if (/[\r\n]/.test(f)) add(["devices", i, "flows", k], "a flow is one line");
    });
  }
}

/** Why `path` cannot be a BMv2 program (undefined when it can): missing, unreadable, not BMv2 JSON. */
export function programFileProblem(path: string): string | undefined {
  const r = readProgramFile(path);
  return "problem" in r ? r.problem : undefined;
}

/** How to get the BMv2 JSON of a P4 program (for messages): p4c's command line, and where p4c comes from. */
export function p4cHint(json: string): string {
  const base = json.replace(/\.json$/, "");
  const dir = dirname(json);
  const src = join(dirname(dir), `${basename(base)}.p4`);
  return (
    `compile the program first: p4c --target bmv2 --arch v1model -o ${dir} --p4runtime-files ${base}.p4info.txt ${existsSync(src) ? src : "PROGRAM.p4"} ` +
    `(p4c is in the kathara/p4 image, which also runs BMv2: docker run --rm -v "$PWD:$PWD" -w "$PWD" kathara/p4 p4c ...; ` +
    `or from the p4c packages or source of p4lang; or give program: the .p4 file itself, compiled in the device by its image's p4c)`
  );
}

/** The program read and checked: BMv2 JSON (its tables and actions), or why it cannot be. */
export function readProgramFile(path: string): { problem: string } | { program: P4Program | undefined } {
  let text: string;
  try {
    if (!statSync(path).isFile()) return { problem: `${path} is not a file` };
    // P4 source: compiled in the device, so there is no JSON to check lines against here (the CLI's answers are still read per line)
    if (isP4Source(path)) return { program: undefined };
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && isP4Source(path)) return { problem: `${path} does not exist` };
    return { problem: code === "ENOENT" ? `${path} does not exist; ${p4cHint(path)}` : `${path} cannot be read: ${(e as Error).message}` };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return {
      problem: `${path} is not JSON (a P4 switch takes the BMv2 JSON that p4c --target bmv2 writes, or a .p4 file to compile in the device)`,
    };
  }
  const o = doc as Record<string, unknown>;
  const missing = ["header_types", "parsers", "deparsers", "pipelines", "actions"].filter((k) => !Array.isArray(o?.[k]));
  if (typeof doc !== "object" || doc === null || Array.isArray(doc) || missing.length)
    return { problem: `${path} is not BMv2 JSON (no ${missing.join(", ") || "object"}); compile the program with p4c --target bmv2` };
  // no pipeline: nothing to check lines against (not p4c's output, e.g. the test image's stand-in p4c)
  if (!(o["pipelines"] as unknown[]).length) return { program: undefined };
  try {
    return { program: readP4Program(doc) };
  } catch (e) {
    return { problem: `${path} is not BMv2 JSON: ${(e as Error).message}` };
  }
}

/**
 * BMv2's log level when a switch names none. Without --log-console or --log-file BMv2 logs
 * nothing; with either alone it logs at debug, lines for every step of every packet (slow). At
 * info it logs its own events (ports added, Thrift started, errors) and no per-packet lines.
 * --log-console, not --log-file: the console logger flushes every line, into P4_LOG with the
 * switch's other output (what `kinda logs` shows); --log-file appends ".txt" to the name and
 * flushes only with --log-flush.
 */
export const P4_LOG_LEVEL = "info";

/** The switch's command line: program loaded, every data interface a port, Thrift and gRPC on their ports, logging. */
export function p4SwitchArgv(d: Partial<DeviceSpec>, ports: readonly string[], program = P4_PROGRAM): string[] {
  const grpc = d.grpcPort !== undefined;
  const argv = [grpc ? "simple_switch_grpc" : "simple_switch", "--device-id", "0"];
  ports.forEach((p, n) => argv.push("-i", `${n}@${p}`));
  argv.push("--thrift-port", String(THRIFT_PORT), "--log-console", "--log-level", d.logLevel ?? P4_LOG_LEVEL, program);
  if (grpc) argv.push("--", "--grpc-server-addr", `0.0.0.0:${GRPC_PORT}`);
  return argv;
}

/**
 * Started in the background with its output in P4_LOG: the script is fixed text, the switch's
 * argv (made by kinda, see p4SwitchArgv) comes in as positional parameters. An image without the
 * switch (a BMv2 built without gRPC has no simple_switch_grpc, seen on one built by hand) fails
 * here at once with a sentence saying so, not after the readiness wait's 60 s with "nohup:
 * failed to run command" in the log.
 */
const BACKGROUND =
  'command -v "$1" >/dev/null || { case "$1" in ' +
  '*_grpc) echo "this image has no $1: grpcPort asks for BMv2 built with P4Runtime; give an image that has simple_switch_grpc, or leave grpcPort out to run simple_switch";; ' +
  '*) echo "this image has no $1: a p4-switch needs an image with BMv2 (simple_switch and simple_switch_CLI)";; esac; exit 127; }; ' +
  `mkdir -p ${P4_LOG.replace(/\/[^/]+$/, "")} && nohup "$@" >>${P4_LOG} 2>&1 </dev/null &`;
/**
 * BMv2 captures each port in both directions (libpcap, no direction set), so what the switch's
 * own kernel sends there enters the pipeline: no ARP on the ports (NOARP: no requests, no
 * answers), no address, checksum offload off; IPv6 is off through the namespace's default (sysctls
 * at creation: /proc/sys is read-only in the container). Fixed
 * text; the ports come in as positional parameters.
 */
const PORTS_OFF =
  'for p; do ip link set "$p" arp off && ip addr flush dev "$p" && { ethtool -K "$p" rx off tx off >/dev/null || exit 1; } || exit 1; done';
/** Reads the staged CLI commands into simple_switch_CLI (fixed text; the file is kinda's). */
export const P4_CLI_FILE = `${STAGE_MOUNT}/p4-cli.txt`;
const CLI_FROM_FILE = `simple_switch_CLI --thrift-port ${THRIFT_PORT} <${P4_CLI_FILE}`;

/** A line for simple_switch_CLI and the field it comes from (e.g. "cli[3]", "lpm"). */
export interface P4Line {
  text: string;
  field: string;
}

/** A `cli` list as the lines sent: blank lines and comments left out (see core/p4cli.ts), each named by its index. */
export function p4CliLines(cli: readonly string[], field = "cli"): P4Line[] {
  return cliLines(cli.map((text, k) => ({ text: text.trim(), field: `${field}[${k}]` })));
}

/** What runs in a P4 switch: start BMv2, wait until it answers, apply the table entries. */
export function p4Services(
  d: Pick<DeviceSpec, "grpcPort" | "cli" | "logLevel" | "program">,
  ports: readonly string[],
  onNodeLinks: boolean,
  cli: readonly P4Line[] = p4CliLines(d.cli ?? []),
  portsOff = true,
): ServiceStep[] {
  const after = onNodeLinks ? "cluster" : "network";
  const steps: ServiceStep[] = [];
  if (portsOff)
    steps.push({
      what: "keep the kernel off the switch's ports (no ARP, no IPv6, checksum offload off)",
      argv: ["sh", "-c", PORTS_OFF, "kinda-p4", ...ports],
      field: "program",
      after,
    });
  if (isP4Source(d.program))
    steps.push({
      what: "compile the program in the device (its image's p4c)",
      argv: ["sh", "-c", COMPILE, "kinda-p4", `${P4_SOURCE_DIR}/${basename(d.program!)}`, P4_BUILD],
      field: "program",
      after,
    });
  // no JSON on the host for a .p4: the lines are checked against what p4c wrote, before the switch starts
  if (isP4Source(d.program) && cli.length)
    steps.push({
      what: "check the cli lines against the compiled program",
      argv: ["cat", p4ProgramPath(d.program)],
      field: "program",
      checkCli: [...cli],
      after,
    });
  steps.push(
    {
      what: "start the switch",
      argv: ["sh", "-c", BACKGROUND, "kinda-p4", ...p4SwitchArgv(d, ports, p4ProgramPath(d.program))],
      field: "program",
      after,
    },
    {
      what: "wait until the switch answers on its Thrift port",
      argv: ["sh", "-c", `echo | simple_switch_CLI --thrift-port ${THRIFT_PORT}`],
      field: "program",
      retrySeconds: P4_READY_SECONDS,
      failOn: "Could not connect",
      log: P4_LOG,
      after,
    },
  );
  if (cli.length)
    steps.push({
      what: "apply the switch CLI commands (table entries)",
      argv: ["sh", "-c", CLI_FROM_FILE],
      field: "cli",
      cli: [...cli],
      after,
    });
  return steps;
}

/** The staged file with the CLI commands (one per line), for the device's stage folder. */
export function p4CliText(cli: readonly P4Line[]): string | undefined {
  return cli.length ? cli.map((l) => l.text).join("\n") + "\n" : undefined;
}

export function p4Volumes(d: Pick<DeviceSpec, "program" | "p4info">): VolumeSpec[] {
  const v: VolumeSpec[] = isP4Source(d.program)
    ? [{ host: dirname(d.program!), guest: P4_SOURCE_DIR, readOnly: true }]
    : [{ host: d.program!, guest: P4_PROGRAM, readOnly: true }];
  if (d.p4info) v.push({ host: d.p4info, guest: P4_INFO, readOnly: true });
  return v;
}

export function p4Role(d: DeviceSpec): DeviceRole {
  return {
    kind: "p4-switch",
    logFile: P4_LOG,
    portNames: { thrift: THRIFT_PORT, ...(d.grpcPort !== undefined ? { grpc: GRPC_PORT } : {}) },
  };
}

const OVS_DB = "/etc/openvswitch/conf.db";
const OVS_SOCK = "/var/run/openvswitch/db.sock";

/**
 * What runs in an Open vSwitch device: ovsdb-server and ovs-vswitchd, a bridge with the userspace
 * datapath (no kernel module needed) over the data interfaces (OpenFlow port N+1 = port N of the
 * order above), the controller or NORMAL forwarding, then each flow with ovs-ofctl add-flow.
 */
export function ovsServices(
  d: Pick<DeviceSpec, "controller" | "flows">,
  ports: readonly string[],
  o: { bridge: string; up: boolean } = { bridge: OVS_BRIDGE, up: true },
): ServiceStep[] {
  const br = o.bridge;
  const s = (what: string, argv: string[], field?: string): ServiceStep => ({ what, argv, ...(field ? { field } : {}) });
  const steps: ServiceStep[] = [
    s("prepare Open vSwitch's folders", ["mkdir", "-p", "/var/run/openvswitch", "/var/log/openvswitch", "/etc/openvswitch"]),
    s("create the Open vSwitch database", [
      "sh",
      "-c",
      `[ -f ${OVS_DB} ] || ovsdb-tool create ${OVS_DB} /usr/share/openvswitch/vswitch.ovsschema`,
    ]),
    s("start ovsdb-server", [
      "ovsdb-server",
      OVS_DB,
      `--remote=punix:${OVS_SOCK}`,
      "--pidfile",
      "--detach",
      "--log-file=/var/log/openvswitch/ovsdb-server.log",
    ]),
    s("initialise the database", ["ovs-vsctl", "--no-wait", "init"]),
    s("start ovs-vswitchd", ["ovs-vswitchd", "--pidfile", "--detach", `--log-file=${OVS_LOG}`]),
    s("create the bridge (userspace datapath)", [
      "ovs-vsctl",
      "add-br",
      br,
      "--",
      "set",
      "bridge",
      br,
      "datapath_type=netdev",
      `fail_mode=${d.controller ? "secure" : "standalone"}`,
    ]),
  ];
  ports.forEach((p, n) =>
    steps.push(s(`add port ${p}`, ["ovs-vsctl", "add-port", br, p, "--", "set", "interface", p, `ofport_request=${n + 1}`])),
  );
  // a NIC's bridge port stays down: the node's kernel has its own interface on the link
  if (o.up) steps.push({ what: "bring the bridge up", op: { op: "link-set", name: br, up: true } });
  if (d.controller) steps.push(s("set the OpenFlow controller", ["ovs-vsctl", "set-controller", br, d.controller], "controller"));
  (d.flows ?? []).forEach((f, k) => steps.push(s("add flow", ["ovs-ofctl", "add-flow", br, f], `flows[${k}]`)));
  return steps;
}

export function ovsRole(): DeviceRole {
  return { kind: "ovs-switch", logFile: OVS_LOG };
}

const NIC_P4_FIELDS = ["program", "p4info", "cli", "grpc"] as const;
const NIC_OVS_FIELDS = ["controller", "flows"] as const;

/** Field checks of a link's `nic` (path: the nic's own, e.g. ["links", 3, "nic"]). */
export function validateNic(nic: NicSpec, path: (string | number)[], add: Add): void {
  if (nic.kind !== "ovs" && nic.kind !== "p4") {
    add([...path, "kind"], `${JSON.stringify(nic.kind)} is not a NIC kind (ovs: Open vSwitch, p4: BMv2)`);
    return;
  }
  const foreign = (nic.kind === "ovs" ? NIC_P4_FIELDS : NIC_OVS_FIELDS).filter((f) => nic[f] !== undefined);
  if (foreign.length)
    add(
      [...path, foreign[0]!],
      `${foreign.join(", ")} ${foreign.length > 1 ? "belong" : "belongs"} to ${nic.kind === "ovs" ? "P4 NICs (kind: p4)" : "Open vSwitch NICs (kind: ovs)"}, not to a NIC of kind ${nic.kind}`,
    );
  if (nic.kind === "p4" && nic.program === undefined)
    add(path, "a P4 NIC needs program: its compiled program (BMv2 JSON, from p4c --target bmv2)");
  if (nic.controller !== undefined && !CONTROLLER.test(nic.controller))
    add([...path, "controller"], `${JSON.stringify(nic.controller)} is not an OpenFlow controller address (tcp:IP:PORT, ssl:IP:PORT)`);
  for (const f of ["flows", "cli"] as const)
    (nic[f] ?? []).forEach((c, k) => {
      if (/[\r\n]/.test(c)) add([...path, f, k], `a ${f === "flows" ? "flow" : "switch CLI command"} is one line`);
    });
}

/**
 * A link's `nic` as the cluster builder runs it: the same data planes as the devices' (ovsServices,
 * p4Services) over the NIC's two ports, port 0 (OpenFlow 1) the outer interface toward the
 * device, port 1 (OpenFlow 2) the inner one toward the node. `field` prefixes the services'
 * fields, so a failure names the link (e.g. "links[3].nic").
 */
export function compileNic(nic: NicSpec, field = "nic"): NodeNic {
  const ports = [NIC_OUTER, NIC_INNER];
  const named = (steps: ServiceStep[]) =>
    steps.map((s) => ({
      ...s,
      field: s.field ? `${field}.${s.field}` : field,
      ...(s.cli ? { cli: s.cli.map((l) => ({ ...l, field: `${field}.${l.field}` })) } : {}),
      ...(s.checkCli ? { checkCli: s.checkCli.map((l) => ({ ...l, field: `${field}.${l.field}` })) } : {}),
    }));
  if (nic.kind === "ovs")
    return {
      kind: "ovs",
      image: nic.image ?? OVS_DEFAULT_IMAGE,
      services: named(ovsServices(nic, ports, { bridge: NIC_BRIDGE, up: false })),
      volumes: [],
      hostDevices: ["/dev/net/tun"],
      stageFiles: [],
      logFile: OVS_LOG,
      bridge: NIC_BRIDGE,
    };
  const p4 = {
    ...(nic.grpc ? { grpcPort: GRPC_PORT } : {}),
    ...(nic.cli ? { cli: nic.cli } : {}),
    ...(nic.program ? { program: nic.program } : {}),
  };
  const cli = p4CliText(p4CliLines(nic.cli ?? []));
  return {
    kind: "p4",
    image: nic.image ?? P4_DEFAULT_IMAGE,
    // the node's plan keeps its kernel off the NIC's ports (nic-port, offload-off: plan/cluster/links.ts)
    services: named(p4Services(p4, ports, false, p4CliLines(nic.cli ?? []), false)),
    volumes: p4Volumes(nic),
    hostDevices: [],
    stageFiles: cli ? [{ name: "p4-cli.txt", text: cli }] : [],
    logFile: P4_LOG,
  };
}
