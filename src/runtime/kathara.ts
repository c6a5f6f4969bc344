/**
 * Finding a lab that Kathara itself started, from what Kathara 3.8 leaves in Docker (read from its
 * source, src/Kathara/manager/docker/): containers labelled `app=kathara`, `name=<device>`,
 * `lab_hash`, `user`, `shell`, named `kathara_<user>_<device>_<hash>` (DockerMachine.create,
 * get_container_name); one Docker network per collision domain labelled `app=kathara`,
 * `name=<cd>`, `lab_hash`, whose Linux bridge in the host namespace is `kt-<first 12 hex digits
 * of the network id>` (DockerLink.create, _get_bridge_name); each endpoint's driver options name
 * its interface (`kathara.iface`) and MAC (`kathara.mac_addr`). Read only: nothing here changes
 * Kathara's objects.
 */
import { createHash } from "node:crypto";
import { realpathSync } from "node:fs";
import Docker from "dockerode";
import { KindaError } from "../core/errors.js";
import { DockerRuntime } from "./docker.js";
import type { Runtime } from "../model/container.js";

export interface KatharaDevice {
  name: string;
  container: string;
  id: string;
  running: boolean;
  shell: string;
}

export interface KatharaDomain {
  name: string;
  network: string;
  networkId: string;
  /** The Linux bridge in the host namespace. */
  bridge: string;
  /** Containers attached to it (by container name). */
  containers: string[];
}

export interface KatharaLab {
  hash: string;
  user: string;
  devices: KatharaDevice[];
  domains: KatharaDomain[];
}

/**
 * Kathara's lab hash of a lab directory (utils.generate_urlsafe_hash of its real path): URL-safe
 * base64 of the MD5 of the path with non-ASCII characters dropped, its last two characters
 * ("==") cut, '-' and '_' removed.
 */
export function katharaLabHash(dir: string): string {
  // eslint-disable-next-line no-control-regex
  const ascii = realpathSync(dir).replace(/[^\x00-\x7F]+/g, "");
  const b64 = createHash("md5").update(ascii, "utf8").digest("base64").replace(/\+/g, "-").replace(/\//g, "_");
  return b64.slice(0, -2).replace(/[-_]/g, "");
}

/** Kathara's bridge for a Docker network id. */
export function katharaBridge(networkId: string): string {
  return `kt-${networkId.slice(0, 12)}`;
}

function dockerOf(runtime: Runtime): Docker {
  return runtime instanceof DockerRuntime ? runtime.docker : new Docker();
}

/** Every lab Kathara has running on this machine (all users), by lab hash. */
export async function findKatharaLabs(runtime: Runtime): Promise<KatharaLab[]> {
  const docker = dockerOf(runtime);
  const containers = await docker.listContainers({ all: true, filters: { label: ["app=kathara"] } });
  const networks = await docker.listNetworks({ filters: { label: ["app=kathara"] } });
  const labs = new Map<string, KatharaLab>();
  const labOf = (hash: string, user: string) => {
    let l = labs.get(hash);
    if (!l) labs.set(hash, (l = { hash, user, devices: [], domains: [] }));
    return l;
  };
  for (const c of containers) {
    const hash = c.Labels["lab_hash"];
    const name = c.Labels["name"];
    if (!hash || !name) continue;
    labOf(hash, c.Labels["user"] ?? "").devices.push({
      name,
      container: (c.Names[0] ?? "").replace(/^\//, ""),
      id: c.Id,
      running: c.State === "running",
      shell: c.Labels["shell"] ?? "/bin/bash",
    });
  }
  for (const n of networks) {
    const hash = n.Labels?.["lab_hash"];
    const name = n.Labels?.["name"];
    if (!hash || !name) continue;
    const full = await docker.getNetwork(n.Id).inspect();
    const attached = Object.values((full as { Containers?: Record<string, { Name: string }> }).Containers ?? {}).map((x) => x.Name);
    labOf(hash, n.Labels?.["user"] ?? "").domains.push({
      name,
      network: n.Name,
      networkId: n.Id,
      // katharanp names its bridge after the network id; a bridge named by option (Docker's
      // bridge driver standing in for katharanp in the tests) is taken as it is
      bridge: n.Options?.["com.docker.network.bridge.name"] ?? katharaBridge(n.Id),
      containers: attached,
    });
  }
  for (const l of labs.values()) {
    l.devices.sort((a, b) => a.name.localeCompare(b.name));
    l.domains.sort((a, b) => a.name.localeCompare(b.name));
  }
  return [...labs.values()].sort((a, b) => a.hash.localeCompare(b.hash));
}

/** The Kathara lab a `--kathara` argument means: a lab directory (its hash) or a lab hash. */
export async function findKatharaLab(runtime: Runtime, dirOrHash: string): Promise<KatharaLab> {
  let hash = dirOrHash;
  try {
    hash = katharaLabHash(dirOrHash);
  } catch {
    // not a path: a hash
  }
  const all = await findKatharaLabs(runtime);
  const lab = all.find((l) => l.hash === hash);
  if (!lab || lab.devices.length === 0) {
    const known = all.map((l) => l.hash).join(", ") || "none";
    throw new KindaError(`no lab started by Kathara has hash ${hash}${hash !== dirOrHash ? ` (the hash of ${dirOrHash})` : ""}`, {
      hint: `Kathara labs running here: ${known}`,
    });
  }
  return lab;
}
