import { createHash } from "node:crypto";
import { KindaError } from "./errors.js";

/**
 * Names of everything kinda creates, in one place. Every object is recognisably a lab's:
 * containers and network namespaces carry the `kinda-<lab>` prefix, containers carry labels.
 */

export const LABEL_MANAGED = "kinda.managed-by";
export const LABEL_LAB = "kinda.lab";
export const LABEL_DEVICE = "kinda.device";
export const MANAGED_VALUE = "kinda";

const LAB_NAME = /^[a-z0-9][a-z0-9_.-]{0,39}$/;

export function isValidLabName(name: string): boolean {
  return LAB_NAME.test(name);
}

/** The lab's own network namespace: holds every collision domain's bridge, nothing else. */
export function labNetns(lab: string): string {
  return `kinda-${lab}`;
}

export function containerName(lab: string, device: string): string {
  return `kinda-${lab}-${device}`;
}

/** Bridge of the i-th collision domain inside the lab namespace (the domain's name is its altname). */
export function domainBridge(i: number): string {
  return `cd-${i}`;
}

/**
 * Lab-namespace end of a device interface's veth (its altname is `<device>.eth<N>`). `slot` is the
 * device's own number in the lab (its position at `up`; a device joining later gets one no device
 * of the lab ever had), never its current position in a list that `device remove` shifts.
 */
export function hostVeth(slot: number, ifIndex: number): string {
  const name = `v-${slot}-${ifIndex}`;
  // IFNAMSIZ is 16 with the NUL: 15 characters leave room for slots and interface numbers up to 6 digits each
  if (!Number.isInteger(slot) || !Number.isInteger(ifIndex) || slot < 0 || ifIndex < 0 || name.length > 15)
    throw new KindaError(`no lab-side interface name for device slot ${slot}, interface ${ifIndex}: ${name} is not 1-15 characters`);
  return name;
}

/** The slot a lab-side veth name carries (`v-<slot>-<i>`), if it is one of kinda's. */
export function hostVethSlot(name: string): number | undefined {
  const m = /^v-(\d+)-\d+$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function hostVethAltname(device: string, ifIndex: number): string {
  return `${device}.eth${ifIndex}`;
}

export function deviceIfName(ifIndex: number): string {
  return `eth${ifIndex}`;
}

/** Temporary name for the runtime's own interface of a bridged device while lab links are added. */
export const BRIDGED_TEMP_IF = "kinda-nat0";

/** iptables comment on every rule kinda adds for a lab. */
export function ruleComment(lab: string): string {
  return `kinda:${lab}`;
}

/** Host-namespace link names: `kh<hash>-<n>`, unique per lab, recognisable by prefix. */
export function hostLinkPrefix(lab: string): string {
  // 36 bits of hash: "kh" + 9 + "-" + up to 3 digits fits IFNAMSIZ (15), and two labs'
  // prefixes practically never collide (teardown deletes host links by this prefix)
  return `kh${createHash("sha256").update(lab).digest("hex").slice(0, 9)}`;
}

/** A node's GRE interface toward the peer of this index. */
export function greIf(peerIndex: number): string {
  return `kgre${peerIndex}`;
}

/** Deterministic, locally administered MAC for a node's VXLAN device. */
export function vxlanMac(nodeIndex: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return `02:6b:64:00:${hex(Math.floor(nodeIndex / 256) % 256)}:${hex(nodeIndex % 256)}`;
}

/**
 * The MAC of a node's interface on a link when the topology gives none: locally administered,
 * unicast, and the same for the same lab, node, far end (domain or device) and interface every
 * time. A node attached again (kinda down and up of the cluster, kinda node add, an attach to a
 * lab that stays) then has the MAC its neighbours still hold for its address, so their ARP and
 * neighbour caches stay right and traffic flows from the first second, with nothing sent from
 * inside the nodes and nothing relied on in the neighbours (arp_accept, locktime).
 */
export function nodeLinkMac(lab: string, node: string, farEnd: string, nodeIf: string): string {
  const h = createHash("sha256").update(`kinda node link\0${lab}\0${node}\0${farEnd}\0${nodeIf}`).digest();
  const b = [...h.subarray(0, 6)];
  b[0] = (b[0]! & 0xfc) | 0x02; // unicast, locally administered
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** A smart NIC's container carries this label (value: its node's topology name); it is not a lab device. */
export const LABEL_NIC = "kinda.nic";

/** How `kinda exec`, `kinda logs` and `kinda status` name a node's smart NIC. */
export function nicName(node: string): string {
  return `${node}-nic`;
}

/**
 * A smart NIC's two ports in the node's namespace: the outer veth end wired to the device, and
 * the inner end whose peer is the node's own interface (it keeps the address and routes).
 */
export const NIC_OUTER = "knic-out";
export const NIC_INNER = "knic-in";
