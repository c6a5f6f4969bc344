/**
 * A node's smart NIC as a container: the runtime's spec for it, from the compiled NIC
 * (topology/programmable.ts compileNic) and the node it belongs to. Pure. The container shares
 * the node's network namespace (nothing is installed in the node), holds the capabilities a
 * device has (no privileged mode), and is labelled so `down` finds it and `kinda exec NODE-nic`
 * reaches it; removing it is the inverse of everything it does.
 */
import { STAGE_MOUNT } from "../../core/defaults.js";
import { LABEL_DEVICE, LABEL_LAB, LABEL_MANAGED, LABEL_NIC, MANAGED_VALUE, containerName, nicName } from "../../core/names.js";
import type { NodeNic } from "../../model/cluster.js";
import type { ContainerSpec } from "../../model/container.js";
import { DEFAULT_CAPS } from "../lab.js";

export interface NicContainerInput {
  lab: string;
  node: string;
  /** The node's container (its ID): the NIC joins its network namespace. */
  nodeContainer: string;
  nic: NodeNic;
  imageMap?: Record<string, string>;
  /** Host folder with the NIC's staged files (mounted read-only at the stage mount), when it has any. */
  stageDir?: string;
}

/** The image a NIC runs: its own (or the default), through the image map. */
export function nicImage(nic: NodeNic, imageMap: Record<string, string> = {}): string {
  return imageMap[nic.image] ?? nic.image;
}

export function nicContainerSpec(i: NicContainerInput): ContainerSpec {
  const name = nicName(i.node);
  return {
    name: containerName(i.lab, name),
    image: nicImage(i.nic, i.imageMap),
    hostname: name,
    labels: { [LABEL_MANAGED]: MANAGED_VALUE, [LABEL_LAB]: i.lab, [LABEL_DEVICE]: name, [LABEL_NIC]: i.node },
    env: [],
    sysctls: {},
    capAdd: [...DEFAULT_CAPS],
    privileged: false,
    ports: [],
    network: `container:${i.nodeContainer}`,
    mounts: [
      ...i.nic.volumes.map((v) => ({ source: v.host, target: v.guest, readOnly: v.readOnly })),
      ...(i.stageDir ? [{ source: i.stageDir, target: STAGE_MOUNT, readOnly: true }] : []),
    ],
    ulimits: [],
    ...(i.nic.hostDevices.length ? { devices: i.nic.hostDevices } : {}),
  };
}
