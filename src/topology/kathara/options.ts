/**
 * `device[option]=value` lines of lab.conf: which options kinda knows, and each one's value checked
 * and applied to its device. Pure: problems go to the line's reporter, host look-ups come later.
 */
import { posix } from "node:path";
import type { Issue, Place } from "../../core/errors.js";
import { HOSTLAB_MOUNT, STAGE_MOUNT } from "../../core/defaults.js";
import type { Device, LabWarning, VolumeSpec } from "../../model/lab.js";
import { parseBool, parseMemory, parsePort, shellSplit } from "./values.js";

/** Guest paths kinda mounts itself (a second mount there fails at container creation). */
const RESERVED_GUEST_PATHS = ["/", "/shared", HOSTLAB_MOUNT, STAGE_MOUNT];

/** Where a guest path mounts: "/data/", "/data//" and "/x/../data" are all "/data". */
function mountTarget(guest: string): string {
  return posix.normalize(guest).replace(/(.)\/+$/, "$1");
}

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

/** Where the options of a lab.conf go besides their device. */
export interface OptionSinks {
  issues: Issue[];
  warnings: LabWarning[];
  volumePlaces: Map<VolumeSpec, Place>;
  sysctlPlaces: Map<string, Place>;
}

/** One `device[option]=value` line: an option kinda does not know is a warning, a known one is applied. */
export function parseOption(dev: Device, opt: string, value: string, optPlace: Place, sinks: OptionSinks): void {
  const { issues, warnings, volumePlaces, sysctlPlaces } = sinks;
  const badOpt = (message: string) => void issues.push({ ...optPlace, message });
  const overwrite = () => {
    if (dev.optionPlaces[opt]) {
      warnings.push({
        place: optPlace,
        message: `${dev.name}[${opt}] set again; the value at line ${optPlace.line} replaces the one at line ${dev.optionPlaces[opt]?.line}`,
      });
    }
    dev.optionPlaces[opt] = optPlace;
  };
  if (!KNOWN_OPTIONS.has(opt)) {
    warnings.push({ place: optPlace, message: `unknown option "${opt}" is ignored (kinda knows: ${[...KNOWN_OPTIONS].join(", ")})` });
    return;
  }
  applyOption({ dev, opt, value, optPlace, badOpt, overwrite, warnings, volumePlaces, sysctlPlaces });
}
