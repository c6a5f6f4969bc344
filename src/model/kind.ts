/** What a device is (a topology's `kind:`); its own file so that model/routing.ts can name it without importing spec.ts. */
export type DeviceKind =
  "router" | "switch" | "p4-switch" | "ovs-switch" | "host" | "external" | "worker" | "control-plane" | "load-balancer";
