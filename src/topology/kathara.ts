/**
 * Kathara lab directories (lab.conf, lab.dep, <device>.startup, <device>/, shared.*), read as
 * they are. Parsing is pure (text in, model out); `loadKatharaLab` adds the file-system look-ups.
 * Every problem is collected with its file and line, and reported at once.
 */
import { existsSync, lstatSync, readFileSync, realpathSync, statSync } from "node:fs";
import { basename, join, posix, relative, resolve, sep } from "node:path";
import { TopologyError, type Issue, type Place } from "../core/errors.js";
import { macProblem } from "../core/addr.js";
import { HOSTLAB_MOUNT, STAGE_MOUNT } from "../core/defaults.js";
import {
  newDevice,
  type Device,
  type ExternalLink,
  type Lab,
  type LabShaping,
  type LabWarning,
  type PortSpec,
  type VolumeSpec,
} from "../model/lab.js";

const METADATA_KEYS = new Set(["LAB_NAME", "LAB_DESCRIPTION", "LAB_VERSION", "LAB_AUTHOR", "LAB_EMAIL", "LAB_WEB"]);
const RESERVED_NAMES = new Set(["shared", "_test"]);
const DEVICE_NAME = /^[a-z0-9_]{1,30}$/;
const DOMAIN_NAME = /^\w+$/;
/**
 * A collision domain's name becomes the altname of its bridge in the lab namespace: at most 127
 * bytes (ALTIFNAMSIZ - 1), and not the name of the interface every namespace already has. The
 * other names there (cd-N, v-N-M, kn-N, <device>.ethN) contain "-" or ".", which \w excludes.
 */
const DOMAIN_NAME_MAX = 127;
const RESERVED_DOMAINS = new Set(["lo"]);
/** Guest paths kinda mounts itself (a second mount there fails at container creation). */
const RESERVED_GUEST_PATHS = ["/", "/shared", HOSTLAB_MOUNT, STAGE_MOUNT];

/** Where a guest path mounts: "/data/", "/data//" and "/x/../data" are all "/data". */
function mountTarget(guest: string): string {
  return posix.normalize(guest).replace(/(.)\/+$/, "$1");
}
const ASSIGNMENT = /^([^[\]=\s]+)\[([^\]]*)\]=(.*)$/;
const METADATA = /^(LAB_[A-Z_]+)=(.*)$/;

const TRUE_WORDS = new Set(["true", "yes", "on", "1"]);
const FALSE_WORDS = new Set(["false", "no", "off", "0"]);

/** Options kinda accepts and what it does with them. */
export const KNOWN_OPTIONS = new Set([
  "image",
  "mem",
  "cpus",
  "port",
  "bridged",
  "exec",
  "sysctl",
  "env",
  "ulimit",
  "ipv6",
  "shell",
  "privileged",
  "entrypoint",
  "args",
  "volume",
  "num_terms",
  "startup_timeout",
]);

export interface ParsedLabConf {
  metadata: Record<string, string>;
  devices: Device[];
  issues: Issue[];
  warnings: LabWarning[];
  /** Where each volume was given (for the host-path checks of `loadKatharaLab`). */
  volumePlaces: Map<VolumeSpec, Place>;
  /** Where each sysctl was given, by device and key (for the checks of `loadKatharaLab`). */
  sysctlPlaces: Map<string, Place>;
}

/** Resource limits Docker knows (a name it does not know fails only when the container is made). */
const ULIMITS = new Set([
  "core",
  "cpu",
  "data",
  "fsize",
  "locks",
  "memlock",
  "msgqueue",
  "nice",
  "nofile",
  "nproc",
  "rss",
  "rtprio",
  "rttime",
  "sigpending",
  "stack",
]);
const SYSCTL_KEY = /^net(\.[A-Za-z0-9_-]+)+$/;

/**
 * Is a net.* sysctl one this kernel has? Checked in the host's /proc/sys (a new network namespace
 * has the same per-namespace keys); the interface part of a per-interface key is read as
 * "default", since the device's interfaces do not exist yet.
 */
export function sysctlExists(key: string, procSys = "/proc/sys"): boolean {
  const parts = key.split(".");
  if (parts.length >= 4 && ["conf", "neigh"].includes(parts[2] ?? "")) parts[3] = "default";
  return existsSync(join(procSys, ...parts));
}

/** Splits `"value"  # comment`, `'value'` or `value` into the value; undefined when malformed. */
function unquote(raw: string): { value: string } | { error: string } {
  const first = raw[0];
  if (first === '"' || first === "'") {
    const end = raw.indexOf(first, 1);
    if (end < 0) return { error: `unterminated ${first} quote` };
    const rest = raw.slice(end + 1);
    if (rest.trim() !== "" && !/^\s+#/.test(rest)) {
      return { error: `unexpected text after the closing quote: ${JSON.stringify(rest.trim())}` };
    }
    const value = raw.slice(1, end);
    if (value.includes('"') || value.includes("'")) return { error: "a value may not contain a quote" };
    return { value };
  }
  const value = raw.trimEnd();
  if (value.includes('"') || value.includes("'")) return { error: "a value may not contain a quote" };
  return { value };
}

function parseBool(v: string): boolean | undefined {
  const w = v.toLowerCase();
  if (TRUE_WORDS.has(w)) return true;
  if (FALSE_WORDS.has(w)) return false;
  return undefined;
}

const MEM = /^(\d+)([bkmg]?)$/i;
export function parseMemory(v: string): number | undefined {
  const m = MEM.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? "").toLowerCase() || "m";
  const mult = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit] ?? 1024 ** 2;
  return n * mult;
}

const PORT = /^(?:(\d{1,5}):)?(\d{1,5})(?:\/(tcp|udp|sctp))?$/i;
export function parsePort(v: string): PortSpec | undefined {
  const m = PORT.exec(v.trim());
  if (!m) return undefined;
  const host = m[1] === undefined ? 3000 : Number(m[1]);
  const guest = Number(m[2]);
  if (host < 1 || host > 65535 || guest < 1 || guest > 65535) return undefined;
  return { host, guest, protocol: (m[3] ?? "tcp").toLowerCase() as PortSpec["protocol"] };
}

/** Splits a command line the way a POSIX shell splits words (quotes, backslash), no expansion. */
export function shellSplit(s: string): string[] | undefined {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) return undefined;
  if (inWord) out.push(cur);
  return out;
}

/** `device[N]="DOMAIN[/MAC]"`: one interface of a device. */
function parseInterface(
  dev: Device,
  index: number,
  value: string,
  dplace: Place,
  seen: Map<number, Place>,
  bad: (message: string, extra?: Partial<Place>) => void,
): void {
  const name = dev.name;
  const slash = value.indexOf("/");
  const domain = slash < 0 ? value : value.slice(0, slash);
  const mac = slash < 0 ? undefined : value.slice(slash + 1);
  const ifPlace = { device: name, field: `eth${index}` };
  if (!DOMAIN_NAME.test(domain)) {
    return void bad(`collision domain name ${JSON.stringify(domain)} may only contain letters, digits and _`, ifPlace);
  }
  if (domain.length > DOMAIN_NAME_MAX) {
    return void bad(
      `collision domain name ${domain.slice(0, 16)}... is ${domain.length} characters long; at most ${DOMAIN_NAME_MAX} (it names a Linux interface)`,
      ifPlace,
    );
  }
  if (RESERVED_DOMAINS.has(domain)) {
    return void bad(`collision domain name ${JSON.stringify(domain)} is reserved (the loopback interface); pick another name`, ifPlace);
  }
  const macIssue = mac === undefined ? undefined : macProblem(mac);
  if (macIssue) return void bad(`MAC address ${JSON.stringify(mac)} ${macIssue}`, ifPlace);
  const prev = seen.get(index);
  if (prev) {
    return void bad(`interface eth${index} of ${name} is given twice (first at line ${prev.line})`, { device: name, field: `eth${index}` });
  }
  const sameDomain = dev.interfaces.find((x) => x.domain === domain);
  if (sameDomain) {
    return void bad(`${name} is attached to collision domain ${domain} twice (eth${sameDomain.index} and eth${index})`, {
      device: name,
      field: `eth${index}`,
    });
  }
  seen.set(index, dplace);
  dev.interfaces.push({ index, domain, ...(mac ? { mac: mac.toLowerCase() } : {}), place: dplace });
  return;
}

/** What parsing one `device[option]=value` line needs from the parser. */
interface OptionLine {
  dev: Device;
  opt: string;
  value: string;
  optPlace: Place;
  badOpt: (message: string) => void;
  /** Records the option's place, with a warning when it replaces an earlier value. */
  overwrite: () => void;
  warnings: LabWarning[];
  volumePlaces: Map<VolumeSpec, Place>;
  sysctlPlaces: Map<string, Place>;
}

/** `device[volume]="host|guest[|ro|rw]"`: a bind mount, checked against kinda's own mounts and the device's others. */
function parseVolume(o: OptionLine): void {
  const { dev, opt, value, optPlace, badOpt, volumePlaces } = o;
  const name = dev.name;
  const parts = value.split("|");
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) {
    return void badOpt(`volume must be host|guest[|ro|rw], found ${JSON.stringify(value)}`);
  }
  const [host, guest] = parts as [string, string];
  const mode = parts[2] ?? "rw";
  if (mode !== "ro" && mode !== "rw") return void badOpt(`volume mode must be ro or rw, found ${JSON.stringify(mode)}`);
  // ":" and "," separate the fields of a Docker bind; in a path they would cut it short
  for (const [what, path] of [
    ["host", host],
    ["guest", guest],
  ] as const) {
    if (/[:,]/.test(path)) return void badOpt(`volume ${what} path ${JSON.stringify(path)} may not contain ":" or ","`);
  }
  if (!guest.startsWith("/")) return void badOpt(`volume guest path ${JSON.stringify(guest)} must be absolute (start with /)`);
  const target = mountTarget(guest);
  const reserved = RESERVED_GUEST_PATHS.find(
    (r) => target === r || ((r === STAGE_MOUNT || r === HOSTLAB_MOUNT) && target.startsWith(`${r}/`)),
  );
  if (reserved)
    return void badOpt(
      `volume guest path ${JSON.stringify(guest)} is ${reserved === "/" ? "the root" : `${reserved}, which kinda mounts itself`}`,
    );
  const twice = dev.volumes.find((v) => mountTarget(v.guest) === target);
  if (twice) {
    return void badOpt(
      `volume guest path ${JSON.stringify(guest)} is mounted twice in ${name} (first at line ${volumePlaces.get(twice)?.line})`,
    );
  }
  const volume: VolumeSpec = { host, guest, readOnly: mode === "ro" };
  dev.volumes.push(volume);
  volumePlaces.set(volume, optPlace);
  dev.optionPlaces[opt] = optPlace;
  return;
}

/** `device[ulimit]="name=soft[:hard]"`: a later one of the same name replaces the earlier. */
function parseUlimit(o: OptionLine): void {
  const { dev, opt, value, optPlace, badOpt } = o;
  const um = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(value);
  if (!um) return void badOpt(`ulimit must be name=soft[:hard], found ${JSON.stringify(value)}`);
  const soft = Number(um[2]);
  const hard = um[3] === undefined ? soft : Number(um[3]);
  if (!ULIMITS.has(um[1] as string)) return void badOpt(`ulimit ${um[1]} is not a resource limit (one of ${[...ULIMITS].join(", ")})`);
  // -1 is "unlimited"
  if (soft < -1 || hard < -1 || !Number.isSafeInteger(soft) || !Number.isSafeInteger(hard))
    return void badOpt(`ulimit ${um[1]} values must be whole numbers of 0 or more, or -1 for unlimited`);
  if (hard !== -1 && (soft === -1 || soft > hard))
    return void badOpt(`ulimit ${um[1]}: the soft limit ${soft} is above the hard limit ${hard}`);
  dev.ulimits = dev.ulimits.filter((u) => u.name !== um[1]);
  dev.ulimits.push({ name: um[1] as string, soft, hard });
  dev.optionPlaces[opt] = optPlace;
  return;
}

/** `device[sysctl]="net.KEY=value"` and `device[env]="KEY=value"`. */
function parseKeyValue(o: OptionLine): void {
  const { dev, opt, value, optPlace, badOpt, sysctlPlaces } = o;
  const name = dev.name;
  const eq = value.indexOf("=");
  if (eq <= 0) return void badOpt(`${opt} must be KEY=value, found ${JSON.stringify(value)}`);
  const key = value.slice(0, eq).trim();
  const v = value.slice(eq + 1).trim();
  if (opt === "sysctl") {
    if (!key.startsWith("net.")) return void badOpt(`only net.* sysctls can be set per device, found ${key}`);
    if (!SYSCTL_KEY.test(key))
      return void badOpt(`sysctl name ${JSON.stringify(key)} is not of the form net.a.b (letters, digits, _ and -)`);
    dev.sysctls[key] = v;
    sysctlPlaces.set(`${name}\0${key}`, optPlace);
  } else {
    dev.env[key] = v;
  }
  dev.optionPlaces[opt] = optPlace;
  return;
}

/** Applies one known option to its device, or reports why its value is bad. */
function applyOption(o: OptionLine): void {
  const { dev, opt, value, optPlace, badOpt, overwrite, warnings } = o;
  const name = dev.name;
  switch (opt) {
    case "image":
      overwrite();
      dev.image = value;
      return;
    case "mem": {
      const b = parseMemory(value);
      if (b === undefined) return void badOpt(`memory ${JSON.stringify(value)} is not a number with an optional unit b, k, m or g`);
      overwrite();
      dev.memoryBytes = b;
      return;
    }
    case "cpus": {
      const c = Number(value);
      if (!Number.isFinite(c) || c <= 0) return void badOpt(`cpus ${JSON.stringify(value)} is not a positive number`);
      overwrite();
      dev.cpus = c;
      return;
    }
    case "port": {
      const p = parsePort(value);
      if (!p) return void badOpt(`port ${JSON.stringify(value)} is not [host:]guest[/tcp|udp|sctp]`);
      dev.ports.push(p);
      dev.optionPlaces[opt] = optPlace;
      return;
    }
    case "bridged":
    case "ipv6":
    case "privileged": {
      const b = parseBool(value);
      if (b === undefined) return void badOpt(`${opt} must be true/false, yes/no, on/off or 1/0, found ${JSON.stringify(value)}`);
      overwrite();
      if (opt === "bridged") dev.bridged = b;
      else if (opt === "ipv6") dev.ipv6 = b;
      else dev.privileged = b;
      return;
    }
    case "exec":
      dev.exec.push(value);
      dev.optionPlaces[opt] = optPlace;
      return;
    case "sysctl":
    case "env":
      return parseKeyValue(o);
    case "ulimit":
      return parseUlimit(o);
    case "volume":
      return parseVolume(o);
    case "shell":
      overwrite();
      dev.shell = value;
      return;
    case "entrypoint":
    case "args": {
      const words = shellSplit(value);
      if (!words || words.length === 0) return void badOpt(`${opt} could not be split into words: ${JSON.stringify(value)}`);
      overwrite();
      if (opt === "entrypoint") dev.entrypoint = words;
      else dev.args = words;
      return;
    }
    case "startup_timeout": {
      const t = Number(value);
      if (!/^\d+(\.\d+)?$/.test(value) || !(t > 0))
        return void badOpt(`startup_timeout ${JSON.stringify(value)} is not a positive number of seconds`);
      overwrite();
      dev.startupTimeout = t;
      return;
    }
    case "num_terms":
      warnings.push({
        place: optPlace,
        message: `num_terms (terminal windows) has no meaning in kinda and is ignored; use \`kinda exec ${name}\``,
      });
      return;
  }
}

/** Interfaces: contiguous from eth0, kept in index order. */
function interfaceGapIssues(devices: Iterable<Device>, issues: Issue[]): void {
  for (const dev of devices) {
    dev.interfaces.sort((a, b) => a.index - b.index);
    dev.interfaces.forEach((ifc, pos) => {
      if (ifc.index !== pos && !dev.interfaces.some((x) => x.index === pos)) {
        issues.push({
          ...(ifc.place ?? {}),
          device: dev.name,
          field: `eth${pos}`,
          message: `interface eth${pos} of ${dev.name} is missing: interfaces must be numbered from eth0 without gaps (eth${ifc.index} is given)`,
        });
      }
    });
  }
}

/** Parses lab.conf text. Pure: `file` is only used in messages. */
export function parseLabConf(text: string, file = "lab.conf"): ParsedLabConf {
  const issues: Issue[] = [];
  const warnings: LabWarning[] = [];
  const metadata: Record<string, string> = {};
  const devices = new Map<string, Device>();
  // interface index -> place, per device, to catch duplicates
  const ifaceSeen = new Map<string, Map<number, Place>>();
  const volumePlaces = new Map<VolumeSpec, Place>();
  const sysctlPlaces = new Map<string, Place>();

  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  lines.forEach((rawLine, i) => {
    const lineNo = i + 1;
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) return;
    const place: Place = { file, line: lineNo };
    const bad = (message: string, extra: Partial<Place> = {}) => issues.push({ ...place, ...extra, message });

    const meta = METADATA.exec(line);
    if (meta && !line.includes("[")) {
      const key = meta[1] as string;
      if (!METADATA_KEYS.has(key)) return bad(`unknown metadata key ${key} (expected one of ${[...METADATA_KEYS].join(", ")})`);
      const v = unquote(meta[2] as string);
      if ("error" in v) return bad(`${key}: ${v.error}`);
      metadata[key] = v.value;
      return;
    }
    const m = ASSIGNMENT.exec(line);
    if (!m) return bad(`syntax error: expected device[option]=value, a LAB_* line or a # comment, found: ${line}`);
    const [, name, arg, rawValue] = m as unknown as [string, string, string, string];
    if (!DEVICE_NAME.test(name)) {
      return bad(`invalid device name ${JSON.stringify(name)}: use lower-case letters, digits and _ (at most 30)`);
    }
    if (RESERVED_NAMES.has(name)) return bad(`"${name}" is reserved and cannot be a device name`);
    if (rawValue.trim() === "") return bad(`empty value for ${name}[${arg}]`);
    if (/^\s/.test(rawValue)) return bad(`no space is allowed after "=" in ${name}[${arg}]=...`);
    const uq = unquote(rawValue);
    if ("error" in uq) return bad(`${name}[${arg}]: ${uq.error}`);
    const value = uq.value;
    if (value === "") return bad(`empty value for ${name}[${arg}]`);

    let dev = devices.get(name);
    if (!dev) {
      dev = newDevice(name, place);
      devices.set(name, dev);
    }
    const dplace: Place = { ...place, device: name };

    if (/^\d+$/.test(arg)) {
      const seen = ifaceSeen.get(name) ?? new Map<number, Place>();
      ifaceSeen.set(name, seen);
      return parseInterface(dev, Number(arg), value, dplace, seen, bad);
    }

    const opt = arg;
    const optPlace: Place = { ...dplace, field: opt };
    const badOpt = (message: string) => issues.push({ ...optPlace, message });
    const overwrite = () => {
      if (dev.optionPlaces[opt]) {
        warnings.push({
          place: optPlace,
          message: `${name}[${opt}] set again; the value at line ${lineNo} replaces the one at line ${dev.optionPlaces[opt]?.line}`,
        });
      }
      dev.optionPlaces[opt] = optPlace;
    };
    if (!KNOWN_OPTIONS.has(opt)) {
      warnings.push({ place: optPlace, message: `unknown option "${opt}" is ignored (kinda knows: ${[...KNOWN_OPTIONS].join(", ")})` });
      return;
    }
    applyOption({ dev, opt, value, optPlace, badOpt, overwrite, warnings, volumePlaces, sysctlPlaces });
  });

  interfaceGapIssues(devices.values(), issues);
  return { metadata, devices: [...devices.values()], issues, warnings, volumePlaces, sysctlPlaces };
}

/**
 * Parses lab.ext as Kathara does (parser/netkit/ExtParser.py): lines `CD IFACE[.VLAN]`, blank and
 * `#` lines skipped, VLAN ids 1-4094, anything else malformed (with its line). kinda also checks
 * what Kathara leaves to the kernel: the interface name, and that `IFACE.VLAN` fits 15 characters.
 */
export function parseLabExt(text: string, file = "lab.ext"): { links: ExternalLink[]; issues: Issue[] } {
  const links: ExternalLink[] = [];
  const issues: Issue[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    const place = { file, line: i + 1 };
    if (!line || raw.startsWith("#")) return;
    const m = /^(\w+)\s+(\w+)(?:\.(\d+))?$/.exec(line);
    if (!m) {
      issues.push({ ...place, message: `malformed line ${JSON.stringify(line)}: expected COLLISION_DOMAIN HOST_INTERFACE[.VLAN]` });
      return;
    }
    const [, domain, iface, vlanText] = m as unknown as [string, string, string, string | undefined];
    const vlan = vlanText === undefined ? undefined : Number(vlanText);
    if (vlan !== undefined && (vlan < 1 || vlan > 4094)) issues.push({ ...place, message: `VLAN id ${vlan} is not in 1-4094` });
    else if (`${iface}${vlan !== undefined ? `.${vlan}` : ""}`.length > 15)
      issues.push({ ...place, message: `interface name ${iface}.${vlan} is longer than 15 characters` });
    else links.push({ domain, iface, ...(vlan !== undefined ? { vlan } : {}), place });
  });
  const seen = new Map<string, number>();
  for (const l of links) {
    const key = `${l.iface}.${l.vlan ?? ""}`;
    if (seen.has(key))
      issues.push({ ...l.place!, message: `${l.iface}${l.vlan ? `.${l.vlan}` : ""} is already joined at line ${seen.get(key)}` });
    else seen.set(key, l.place!.line!);
  }
  return { links, issues };
}

/** Parses lab.dep; adds dependencies to `devices`. Returns problems with file and line. */
export function parseLabDep(text: string, devices: readonly Device[], file = "lab.dep"): Issue[] {
  const issues: Issue[] = [];
  const byName = new Map(devices.map((d) => [d.name, d]));
  const depLine = new Map<string, number>();
  const names = [...byName.keys()];
  const defined = names.length > 20 ? `${names.slice(0, 20).join(", ")} and ${names.length - 20} more` : names.join(", ");
  text
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .forEach((raw, i) => {
      const lineNo = i + 1;
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      const m = /^([a-z0-9_]+)\s*:\s*(.*)$/.exec(line);
      if (!m) {
        issues.push({ file, line: lineNo, message: `syntax error: expected "device: dependency ...", found: ${line}` });
        return;
      }
      const name = m[1] as string;
      const deps = (m[2] as string).split(/\s+/).filter(Boolean);
      const unknown = [name, ...deps].filter((d) => !byName.has(d));
      for (const u of unknown) {
        issues.push({
          file,
          line: lineNo,
          message: `"${u}" is not a device of this lab (lab.conf defines: ${defined}); a typo?`,
        });
      }
      if (unknown.length) return;
      const dev = byName.get(name) as Device;
      for (const d of deps) if (!dev.dependsOn.includes(d)) dev.dependsOn.push(d);
      depLine.set(name, lineNo);
    });
  if (issues.length) return issues;
  const cycle = findCycle(devices);
  if (cycle) {
    const line = depLine.get(cycle[0] as string);
    issues.push({ file, ...(line !== undefined ? { line } : {}), message: `dependency loop: ${cycle.join(" -> ")}` });
  }
  return issues;
}

/** A dependency cycle as a list of names (first repeated at the end), or undefined. Iterative: a 20,000-link chain must not overflow the stack. */
export function findCycle(devices: readonly Device[]): string[] | undefined {
  const byName = new Map(devices.map((d) => [d.name, d]));
  const state = new Map<string, 1 | 2>();
  for (const root of devices) {
    if (state.has(root.name)) continue;
    const stack: { name: string; next: number }[] = [{ name: root.name, next: 0 }];
    state.set(root.name, 1);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const deps = byName.get(top.name)?.dependsOn ?? [];
      if (top.next >= deps.length) {
        state.set(top.name, 2);
        stack.pop();
        continue;
      }
      const d = deps[top.next++]!;
      const s = state.get(d);
      if (s === 1) return [...stack.slice(stack.findIndex((f) => f.name === d)).map((f) => f.name), d];
      if (s === undefined) {
        state.set(d, 1);
        stack.push({ name: d, next: 0 });
      }
    }
  }
  return undefined;
}

function readText(path: string): string {
  return readFileSync(path, "utf8");
}

/**
 * Where a path of the lab really is, or an issue when a symbolic link on the way leads outside the
 * lab directory: kinda copies files into devices and mounts shared/, and a lab must not make it
 * copy or mount what its author could not read (a private file, a host folder). Links that stay
 * inside the lab are followed. Links inside a device folder are copied as links, never followed.
 */
function insideLab(labReal: string, p: string, place: Place): { real: string } | { issue: Issue } {
  const real = realpathSync(p);
  if (real === labReal || real.startsWith(labReal + sep)) return { real };
  const what = lstatSync(p).isSymbolicLink() ? "is a symbolic link" : "leads through a symbolic link";
  return {
    issue: {
      ...place,
      message: `${relative(labReal, p) || p} ${what} to ${real}, outside the lab directory ${labReal}; kinda only reads what is inside the lab (copy it in instead)`,
    },
  };
}

/** Reads a Kathara lab directory. Throws TopologyError listing every problem; creates nothing. */
export function loadKatharaLab(dirArg: string): Lab {
  const dir = resolve(dirArg);
  const confPath = join(dir, "lab.conf");
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TopologyError([{ file: dir, message: "no such lab directory" }]);
  }
  if (!existsSync(confPath)) {
    throw new TopologyError([{ file: confPath, message: "no lab.conf in this directory (is it a Kathara lab?)" }]);
  }
  const labReal = realpathSync(dir);
  const inLab = (p: string, place: Place, issues: Issue[]): string | undefined => {
    const r = insideLab(labReal, p, place);
    if ("issue" in r) issues.push(r.issue);
    return "real" in r ? r.real : undefined;
  };
  const early: Issue[] = [];
  inLab(confPath, { file: confPath }, early);
  const depPath = join(dir, "lab.dep");
  if (existsSync(depPath)) inLab(depPath, { file: depPath }, early);
  if (early.length) throw new TopologyError(early);

  const parsed = parseLabConf(readText(confPath), confPath);
  const issues = [...parsed.issues];
  if (parsed.devices.length === 0 && issues.length === 0) {
    issues.push({ file: confPath, message: "the lab defines no device" });
  }
  if (existsSync(depPath) && issues.length === 0) issues.push(...parseLabDep(readText(depPath), parsed.devices, depPath));
  const extPath = join(dir, "lab.ext");
  const ext = existsSync(extPath) ? parseLabExt(readText(extPath), extPath) : undefined;
  if (ext) issues.push(...ext.issues);

  for (const dev of parsed.devices) checkDeviceFiles(dir, dev, parsed, issues, inLab);
  const sidePath = join(dir, KINDA_SIDE_FILE);
  const side = existsSync(sidePath) ? parseKindaSideFile(readText(sidePath), sidePath) : { shaping: [], issues: [] };
  issues.push(...side.issues);
  const lab: Lab = { dir, metadata: parsed.metadata, devices: parsed.devices, warnings: parsed.warnings, flavor: "kathara" };
  if (ext?.links.length) lab.externalLinks = ext.links;
  if (side.shaping.length) lab.shaping = side.shaping;
  const shared = join(dir, "shared");
  if (existsSync(shared) && statSync(shared).isDirectory()) {
    const real = inLab(shared, { file: shared }, issues);
    if (real) lab.sharedFolder = real;
  }
  for (const [kind, key] of [
    ["startup", "sharedStartup"],
    ["shutdown", "sharedShutdown"],
  ] as const) {
    const p = join(dir, `shared.${kind}`);
    if (existsSync(p) && statSync(p).isFile()) {
      const real = inLab(p, { file: p }, issues);
      if (real) lab[key] = real;
    }
  }
  if (issues.length) throw new TopologyError(issues);
  return lab;
}

/** kinda's own additions to a Kathara lab, in a file Kathara does not read. */
export const KINDA_SIDE_FILE = "lab.kinda";
const SHAPING_KEYS = new Set(["rate", "burst", "latency", "delay", "jitter", "loss", "duplicate", "reorder", "corrupt"]);

/**
 * Parses `lab.kinda`: `tc ENDPOINT [from=DEVICE] KEY=VALUE...` lines shape links at deploy time
 * (ENDPOINT as `kinda link` takes it: r1:eth0, r1--r2 or a collision domain); `#` comments.
 * Values are checked when the lab is planned, against its devices; problems name file:line.
 */
export function parseKindaSideFile(text: string, file = KINDA_SIDE_FILE): { shaping: LabShaping[]; issues: Issue[] } {
  const shaping: LabShaping[] = [];
  const issues: Issue[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) return;
    const place = { file, line: i + 1 };
    const [verb, endpoint, ...words] = line.split(/\s+/);
    if (verb !== "tc" || !endpoint)
      return issues.push({ ...place, message: `expected "tc ENDPOINT KEY=VALUE...", got ${JSON.stringify(line)}` });
    const e: LabShaping = { endpoint, shaping: {}, place };
    for (const w of words) {
      const m = /^([a-z]+)=(\S+)$/.exec(w);
      if (!m) issues.push({ ...place, message: `${JSON.stringify(w)} is not KEY=VALUE` });
      else if (m[1] === "from") e.from = m[2]!;
      else if (SHAPING_KEYS.has(m[1]!)) e.shaping[m[1] as keyof LabShaping["shaping"]] = m[2]!;
      else issues.push({ ...place, message: `unknown key ${m[1]} (keys: from, ${[...SHAPING_KEYS].join(", ")})` });
    }
    shaping.push(e);
  });
  return { shaping, issues };
}

/** A device's folder, start-up and shutdown files, and volume host paths, checked and resolved. */
function checkDeviceFiles(
  dir: string,
  dev: Device,
  parsed: ParsedLabConf,
  issues: Issue[],
  inLab: (p: string, place: Place, issues: Issue[]) => string | undefined,
): void {
  const confPath = join(dir, "lab.conf");
  const devPlace: Place = { ...(dev.place ?? { file: confPath }), device: dev.name };
  const folder = join(dir, dev.name);
  if (existsSync(folder)) {
    if (!statSync(folder).isDirectory())
      issues.push({
        file: folder,
        device: dev.name,
        message: "exists but is not a directory (a device folder is copied over the device's root)",
      });
    else {
      const real = inLab(folder, devPlace, issues);
      if (real) dev.folder = real;
    }
  }
  for (const key of Object.keys(dev.sysctls)) {
    if (!sysctlExists(key))
      issues.push({
        ...(parsed.sysctlPlaces.get(`${dev.name}\0${key}`) ?? devPlace),
        device: dev.name,
        field: "sysctl",
        message: `this kernel has no sysctl ${key}`,
      });
  }
  // Docker would create a missing host path as an empty, root-owned directory
  for (const v of dev.volumes) {
    const host = resolve(dir, v.host);
    if (!existsSync(host)) {
      issues.push({
        ...(parsed.volumePlaces.get(v) ?? { file: confPath }),
        device: dev.name,
        field: "volume",
        message: `volume host path ${JSON.stringify(v.host)} does not exist${host !== v.host ? ` (looked for ${host})` : ""}`,
      });
    }
  }
  for (const kind of ["startup", "shutdown"] as const) {
    const p = join(dir, `${dev.name}.${kind}`);
    if (!existsSync(p)) continue;
    if (!statSync(p).isFile()) issues.push({ file: p, device: dev.name, message: `is not a regular file` });
    else {
      const real = inLab(p, devPlace, issues);
      if (real) dev[kind] = real;
    }
  }
}

/** Lab name derived from a directory: its base name, lower-cased, unsafe characters replaced. */
export function labNameFromDir(dir: string): string {
  return sanitizeLabName(basename(resolve(dir)));
}

export function sanitizeLabName(s: string): string {
  const n = s
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, "-")
    .replace(/^[-.]+/, "")
    .slice(0, 40);
  return n || "lab";
}
