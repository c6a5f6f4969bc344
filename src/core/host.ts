/**
 * Every program kinda runs on the host, the Debian package that provides it, and which path
 * needs it. Checked before anything is created: a missing program is named, with its package, in
 * one message with every other missing one, instead of failing halfway through a deploy.
 */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { KindaError } from "./errors.js";

/**
 * What needs a program: any lab, Kubernetes nodes inside one, the Kind provider, run-time link
 * changes (kinda link: shaping, cuts, added links), or captures (kinda capture).
 */
export type HostNeed = "lab" | "cluster" | "kind" | "live" | "capture";

export interface HostProgram {
  name: string;
  /** Debian package, or how to get it when Debian has none. */
  debianPackage: string;
  /** What kinda runs it for. */
  purpose: string;
  needFor: readonly HostNeed[];
  /** How to install it when it is not from a Debian package (shown instead of apt-get). */
  install?: string;
}

export const HOST_PROGRAMS: readonly HostProgram[] = [
  {
    name: "ip",
    debianPackage: "iproute2",
    purpose: "namespaces, veths, bridges, addresses and routes (ip -batch)",
    needFor: ["lab", "cluster", "live"],
  },
  {
    name: "sysctl",
    debianPackage: "procps",
    purpose: "IPv6 off in the lab namespace; loose reverse-path filtering on node links",
    needFor: ["lab", "cluster"],
  },
  {
    name: "nsenter",
    debianPackage: "util-linux",
    purpose: "commands in the network namespace of a node or device",
    needFor: ["cluster", "live"],
  },
  { name: "bridge", debianPackage: "iproute2", purpose: "forwarding entries of the VXLAN pod tunnels", needFor: ["cluster"] },
  { name: "tc", debianPackage: "iproute2", purpose: "shaping links (tbf, netem)", needFor: ["cluster", "live"] },
  {
    name: "nft",
    debianPackage: "nftables",
    purpose: "cutting a node's own link (netdev drop filters on both veth ends)",
    needFor: ["live"],
  },
  { name: "unshare", debianPackage: "util-linux", purpose: "probing for netem in a throwaway namespace", needFor: ["live"] },
  { name: "tcpdump", debianPackage: "tcpdump", purpose: "capturing a link's packets from its host side", needFor: ["capture"] },
  {
    name: "ss",
    debianPackage: "iproute2",
    purpose: "cutting TCP connections that must reconnect through the network",
    needFor: ["cluster"],
  },
  { name: "ethtool", debianPackage: "ethtool", purpose: "checksum offload off on the node side of node links", needFor: ["cluster"] },
  { name: "iptables", debianPackage: "iptables", purpose: "removing kinda's rules, found by their comment", needFor: ["cluster"] },
  { name: "iptables-restore", debianPackage: "iptables", purpose: "NAT, API redirection and MSS clamping rules", needFor: ["cluster"] },
  { name: "iptables-save", debianPackage: "iptables", purpose: "finding kinda's rules to remove", needFor: ["cluster"] },
  {
    name: "conntrack",
    debianPackage: "conntrack",
    purpose: "flushing connection tracking when API traffic is redirected",
    needFor: ["cluster"],
  },
  {
    name: "docker",
    debianPackage: "docker.io",
    purpose: "the Docker CLI, which Kind runs (kinda itself uses the Engine API)",
    needFor: ["kind"],
  },
];

/** The kind CLI: not a Debian package. */
export function kindProgram(bin: string): HostProgram {
  return {
    name: bin,
    debianPackage: "none (Kind's release binary)",
    purpose: "creating and deleting Kind clusters",
    needFor: ["kind"],
    install: "go install sigs.k8s.io/kind@v0.30.0 (then ~/go/bin on PATH), or set KINDA_KIND to its path",
  };
}

/** The programs that the given needs require, then `extra` (a provider's own), each once. */
export function programsFor(needs: readonly HostNeed[], extra: readonly HostProgram[] = []): HostProgram[] {
  const seen = new Set<string>();
  return [...HOST_PROGRAMS.filter((p) => p.needFor.some((n) => needs.includes(n))), ...extra].filter(
    (p) => !seen.has(p.name) && seen.add(p.name),
  );
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Where `name` would be found, as spawn finds it (a path, or the first match in PATH). */
export function findProgram(name: string, path = process.env["PATH"] ?? ""): string | undefined {
  if (name.includes("/")) return executable(name) ? name : undefined;
  for (const dir of path.split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export function missingPrograms(programs: readonly HostProgram[], path?: string): HostProgram[] {
  return programs.filter((p) => findProgram(p.name, path) === undefined);
}

/** Host programs are missing; the message names each with its package and what it is for. */
export class MissingProgramsError extends KindaError {
  override name = "MissingProgramsError";
  constructor(readonly missing: readonly HostProgram[]) {
    const apt = [...new Set(missing.filter((p) => !p.install).map((p) => p.debianPackage))];
    const other = missing.filter((p) => p.install).map((p) => `${p.name}: ${p.install}`);
    super(
      `host programs that kinda runs are missing (nothing was created):\n` +
        missing.map((p) => `  - ${p.name} (Debian package ${p.debianPackage}): ${p.purpose}`).join("\n"),
      {
        hint: [...(apt.length ? [`apt-get install ${apt.join(" ")}`] : []), ...other, "kinda doctor checks everything kinda needs"].join(
          "; ",
        ),
      },
    );
  }
}

/** Throws MissingProgramsError naming every program the needs require that PATH lacks. */
export function requirePrograms(needs: readonly HostNeed[], extra: readonly HostProgram[] = [], path?: string): void {
  const missing = missingPrograms(programsFor(needs, extra), path);
  if (missing.length) throw new MissingProgramsError(missing);
}
