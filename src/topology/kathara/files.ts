/**
 * The lab's text files besides lab.conf: lab.ext (links to host interfaces), lab.dep (start-up
 * order, checked for loops) and lab.kinda (kinda's own link shaping). Pure; problems name file:line.
 */
import type { Issue } from "../../core/errors.js";
import type { Device, ExternalLink, LabShaping } from "../../model/lab.js";
import { splitLines } from "./values.js";

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
  splitLines(text).forEach((raw, i) => {
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
