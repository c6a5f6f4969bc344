/** Defaults every layer agrees on, defined once. */

/** The image of a device that names none (Kathara's). */
export const DEFAULT_IMAGE = "kathara/base";
/** The image of a router with routing: ospf or bgp that names none (Kathara's, with FRR). */
export const FRR_DEFAULT_IMAGE = "kathara/frr";
/** The image of a P4 switch that names none (Kathara's, with BMv2 and p4c). */
export const P4_DEFAULT_IMAGE = "kathara/p4";
/** The image of an Open vSwitch device that names none (Kathara's SDN image). */
export const OVS_DEFAULT_IMAGE = "kathara/sdn";
/** Where a device's staged files (its lab folder, start-up steps) are mounted, read-only. */
export const STAGE_MOUNT = "/var/lib/kinda";
/**
 * Kathara labs: the device's share of the lab directory (its folder, its and the shared start-up
 * and shutdown scripts), where Kathara puts it (Machine.pack_data copies them under /hostlab).
 * Writable, as under Kathara (its start-up wrapper edits the scripts there); a per-device copy.
 */
export const HOSTLAB_MOUNT = "/hostlab";
/** The range tunnel (VXLAN/GRE) endpoints get their addresses from. */
export const DEFAULT_TUNNEL_CIDR = "100.64.0.0/16";
/** The cluster's pod range (Kind's default podSubnet). */
export const DEFAULT_POD_CIDR = "10.244.0.0/16";
/** The API servers' port when a provider does not say (kubeadm's and Kind's 6443). */
export const DEFAULT_API_PORT = 6443;
/** simple_switch's Thrift port inside a P4 switch (what simple_switch_CLI talks to). */
export const P4_THRIFT_PORT = 9090;
/** simple_switch_CLI exits 0 after a rejected command; its output says so (see core/p4cli.ts). */
export { P4_CLI_FAILURE } from "./p4cli.js";
