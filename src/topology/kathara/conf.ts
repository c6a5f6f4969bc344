/**
 * lab.conf, parsed as Kathara reads it: LAB_* metadata, `device[N]=DOMAIN[/MAC]` interfaces and
 * `device[option]=value` options. Pure (text in, devices out); every problem with its file and line.
 */
import type { Issue, Place } from "../../core/errors.js";
import { macProblem } from "../../core/addr.js";
import { newDevice, type Device, type LabWarning, type VolumeSpec } from "../../model/lab.js";
import { parseOption } from "./options.js";
import { splitLines, unquote } from "./values.js";

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
const ASSIGNMENT = /^([^[\]=\s]+)\[([^\]]*)\]=(.*)$/;
const METADATA = /^(LAB_[A-Z_]+)=(.*)$/;

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

/** What parsing lab.conf collects, line by line. */
interface ConfState extends Omit<ParsedLabConf, "devices"> {
  devices: Map<string, Device>;
  /** Interface index -> place, per device, to catch duplicates. */
  ifaceSeen: Map<string, Map<number, Place>>;
}

/** Parses lab.conf text. Pure: `file` is only used in messages. */
export function parseLabConf(text: string, file = "lab.conf"): ParsedLabConf {
  const s: ConfState = {
    metadata: {},
    devices: new Map(),
    issues: [],
    warnings: [],
    volumePlaces: new Map(),
    sysctlPlaces: new Map(),
    ifaceSeen: new Map(),
  };
  splitLines(text).forEach((rawLine, i) => parseLine(s, rawLine.trim(), { file, line: i + 1 }));
  interfaceGapIssues(s.devices.values(), s.issues);
  const { metadata, issues, warnings, volumePlaces, sysctlPlaces } = s;
  return { metadata, devices: [...s.devices.values()], issues, warnings, volumePlaces, sysctlPlaces };
}

/** One line of lab.conf: a comment, a LAB_* line, an interface or an option of a device. */
function parseLine(s: ConfState, line: string, place: Place): void {
  if (line === "" || line.startsWith("#")) return;
  const bad = (message: string, extra: Partial<Place> = {}) => void s.issues.push({ ...place, ...extra, message });
  const meta = METADATA.exec(line);
  if (meta && !line.includes("[")) {
    const key = meta[1] as string;
    if (!METADATA_KEYS.has(key)) return bad(`unknown metadata key ${key} (expected one of ${[...METADATA_KEYS].join(", ")})`);
    const v = unquote(meta[2] as string);
    if ("error" in v) return bad(`${key}: ${v.error}`);
    s.metadata[key] = v.value;
    return;
  }
  const assignment = readAssignment(line, bad);
  if (!assignment) return;
  const { name, arg, value } = assignment;
  let dev = s.devices.get(name);
  if (!dev) {
    dev = newDevice(name, place);
    s.devices.set(name, dev);
  }
  const dplace: Place = { ...place, device: name };
  if (/^\d+$/.test(arg)) {
    const seen = s.ifaceSeen.get(name) ?? new Map<number, Place>();
    s.ifaceSeen.set(name, seen);
    return parseInterface(dev, Number(arg), value, dplace, seen, bad);
  }
  parseOption(dev, arg, value, { ...dplace, field: arg }, s);
}

/** `device[arg]=value` split and checked: the device name, the bracketed part and the unquoted value. */
function readAssignment(line: string, bad: (message: string) => undefined): { name: string; arg: string; value: string } | undefined {
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
  if (uq.value === "") return bad(`empty value for ${name}[${arg}]`);
  return { name, arg, value: uq.value };
}
