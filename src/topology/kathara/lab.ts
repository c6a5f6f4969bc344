/**
 * A Kathara lab directory read from disk: lab.conf, lab.dep, lab.ext and lab.kinda parsed, then the
 * device folders, <device>.startup/.shutdown, shared/ and shared.* found and kept inside the lab,
 * volume host paths and sysctls checked on this host. Every problem is reported at once.
 */
import { existsSync, lstatSync, readFileSync, realpathSync, statSync } from "node:fs";
import { basename, join, relative, resolve, sep } from "node:path";
import { TopologyError, type Issue, type Place } from "../../core/errors.js";
import type { Device, Lab } from "../../model/lab.js";
import { parseLabConf, type ParsedLabConf } from "./conf.js";
import { KINDA_SIDE_FILE, parseKindaSideFile, parseLabDep, parseLabExt } from "./files.js";

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

function readText(path: string): string {
  return readFileSync(path, "utf8");
}

/**
 * Where a path of the lab really is, or undefined with an issue when a symbolic link on the way
 * leads outside the lab directory: kinda copies files into devices and mounts shared/, and a lab
 * must not make it copy or mount what its author could not read (a private file, a host folder).
 * Links that stay inside the lab are followed. Links inside a device folder are copied as links,
 * never followed.
 */
function insideLab(labReal: string, p: string, place: Place, issues: Issue[]): string | undefined {
  const real = realpathSync(p);
  if (real === labReal || real.startsWith(labReal + sep)) return real;
  const what = lstatSync(p).isSymbolicLink() ? "is a symbolic link" : "leads through a symbolic link";
  issues.push({
    ...place,
    message: `${relative(labReal, p) || p} ${what} to ${real}, outside the lab directory ${labReal}; kinda only reads what is inside the lab (copy it in instead)`,
  });
  return undefined;
}

/** A path of the lab resolved inside it, or undefined (with the issue recorded). */
type InLab = (p: string, place: Place) => string | undefined;

/**
 * The lab directory's real path, after the checks that stop everything else: it is a directory,
 * it has a lab.conf, and neither lab.conf nor lab.dep leads outside it.
 */
function openLabDir(dir: string): string {
  const confPath = join(dir, "lab.conf");
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TopologyError([{ file: dir, message: "no such lab directory" }]);
  }
  if (!existsSync(confPath)) {
    throw new TopologyError([{ file: confPath, message: "no lab.conf in this directory (is it a Kathara lab?)" }]);
  }
  const labReal = realpathSync(dir);
  const early: Issue[] = [];
  insideLab(labReal, confPath, { file: confPath }, early);
  const depPath = join(dir, "lab.dep");
  if (existsSync(depPath)) insideLab(labReal, depPath, { file: depPath }, early);
  if (early.length) throw new TopologyError(early);
  return labReal;
}

/** lab.conf, then lab.dep (only if lab.conf is sound) and lab.ext, parsed; their problems go to `issues`. */
function parseLabTexts(dir: string, issues: Issue[]): { parsed: ParsedLabConf; ext?: ReturnType<typeof parseLabExt> } {
  const confPath = join(dir, "lab.conf");
  const parsed = parseLabConf(readText(confPath), confPath);
  issues.push(...parsed.issues);
  if (parsed.devices.length === 0 && issues.length === 0) {
    issues.push({ file: confPath, message: "the lab defines no device" });
  }
  const depPath = join(dir, "lab.dep");
  if (existsSync(depPath) && issues.length === 0) issues.push(...parseLabDep(readText(depPath), parsed.devices, depPath));
  const extPath = join(dir, "lab.ext");
  if (!existsSync(extPath)) return { parsed };
  const ext = parseLabExt(readText(extPath), extPath);
  issues.push(...ext.issues);
  return { parsed, ext };
}

/** Reads a Kathara lab directory. Throws TopologyError listing every problem; creates nothing. */
export function loadKatharaLab(dirArg: string): Lab {
  const dir = resolve(dirArg);
  const labReal = openLabDir(dir);
  const issues: Issue[] = [];
  const inLab: InLab = (p, place) => insideLab(labReal, p, place, issues);
  const { parsed, ext } = parseLabTexts(dir, issues);
  for (const dev of parsed.devices) checkDeviceFiles(dir, dev, parsed, issues, inLab);
  const sidePath = join(dir, KINDA_SIDE_FILE);
  const side = existsSync(sidePath) ? parseKindaSideFile(readText(sidePath), sidePath) : { shaping: [], issues: [] };
  issues.push(...side.issues);
  const lab: Lab = { dir, metadata: parsed.metadata, devices: parsed.devices, warnings: parsed.warnings, flavor: "kathara" };
  if (ext?.links.length) lab.externalLinks = ext.links;
  if (side.shaping.length) lab.shaping = side.shaping;
  findSharedFiles(dir, lab, inLab);
  if (issues.length) throw new TopologyError(issues);
  return lab;
}

/** shared/ (mounted in every device) and shared.startup/shared.shutdown, when the lab has them. */
function findSharedFiles(dir: string, lab: Lab, inLab: InLab): void {
  const shared = join(dir, "shared");
  if (existsSync(shared) && statSync(shared).isDirectory()) {
    const real = inLab(shared, { file: shared });
    if (real) lab.sharedFolder = real;
  }
  for (const [kind, key] of [
    ["startup", "sharedStartup"],
    ["shutdown", "sharedShutdown"],
  ] as const) {
    const p = join(dir, `shared.${kind}`);
    if (existsSync(p) && statSync(p).isFile()) {
      const real = inLab(p, { file: p });
      if (real) lab[key] = real;
    }
  }
}

/** A device's folder, start-up and shutdown files, and volume host paths, checked and resolved. */
function checkDeviceFiles(dir: string, dev: Device, parsed: ParsedLabConf, issues: Issue[], inLab: InLab): void {
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
      const real = inLab(folder, devPlace);
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
      const real = inLab(p, devPlace);
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
