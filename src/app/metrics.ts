/**
 * Prometheus metrics of a lab that is up (`kinda metrics LAB`, and `/metrics` of `kinda ui`):
 * per interface packets, bytes, drops and errors (counters, as the kernel counts them), qdisc
 * drops and backlog, link state and shaping, device and node up/down, nodes' Ready state and pod
 * count; labelled by lab, device, interface and link. Written with prom-client, the maintained
 * Prometheus client for Node: it owns the exposition format and the metric types.
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { Snapshot } from "./observe.js";

type Labels = "lab" | "device" | "interface" | "link";

/** A registry whose metrics are read from `snapshot()` at every scrape. */
export function labMetrics(snapshot: () => Promise<Snapshot>): Registry {
  const registry = new Registry();
  let current: Promise<Snapshot> | undefined;
  // one sample per scrape, shared by every metric's collect()
  const once = () => (current ??= snapshot().finally(() => setTimeout(() => (current = undefined), 0)));
  const labelNames: Labels[] = ["lab", "device", "interface", "link"];
  const ifLabels = (lab: string, endpoint: string, link: string) => {
    const [device, iface] = endpoint.split(":") as [string, string | undefined];
    return { lab, device, interface: iface ?? "", link };
  };
  const counter = (name: string, help: string, value: (r: Snapshot["links"][number]) => number) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const s = await once();
        this.reset();
        for (const r of s.links) this.inc(ifLabels(s.lab, r.endpoint, r.link), value(r));
      },
    });
  counter("kinda_interface_transmit_packets_total", "Packets the device sent on the interface.", (r) => r.txPackets);
  counter("kinda_interface_transmit_bytes_total", "Bytes the device sent on the interface.", (r) => r.txBytes);
  counter("kinda_interface_receive_packets_total", "Packets the device received on the interface.", (r) => r.rxPackets);
  counter("kinda_interface_receive_bytes_total", "Bytes the device received on the interface.", (r) => r.rxBytes);
  counter("kinda_interface_drops_total", "Packets dropped on the link (interface and its shaping queue).", (r) => r.drops);
  counter("kinda_interface_errors_total", "Receive and transmit errors of the interface.", (r) => r.errors ?? 0);
  counter("kinda_qdisc_drops_total", "Packets the link's shaping queue dropped.", (r) => r.qdiscDrops ?? 0);
  const gauge = <L extends string>(name: string, help: string, names: L[], fill: (g: Gauge<L>, s: Snapshot) => void) =>
    new Gauge<L>({
      name,
      help,
      labelNames: names,
      registers: [registry],
      async collect() {
        const s = await once();
        this.reset();
        fill(this, s);
      },
    });
  gauge("kinda_qdisc_backlog_bytes", "Bytes waiting in the link's shaping queue.", labelNames, (g, s) => {
    for (const r of s.links) g.set(ifLabels(s.lab, r.endpoint, r.link), r.backlog ?? 0);
  });
  gauge("kinda_link_up", "1 when the link carries traffic, 0 when it is cut (kinda link ... down).", labelNames, (g, s) => {
    for (const r of s.links) g.set(ifLabels(s.lab, r.endpoint, r.link), r.cut ? 0 : 1);
  });
  gauge(
    "kinda_link_shaped",
    "1 for each shaping on the link (its tc parameters in the shaping label).",
    [...labelNames, "shaping"],
    (g, s) => {
      for (const r of s.links) if (r.shaped) g.set({ ...ifLabels(s.lab, r.endpoint, r.link), shaping: r.shaped }, 1);
    },
  );
  gauge("kinda_link_transmit_bits_per_second", "Transmit rate since the previous sample.", labelNames, (g, s) => {
    for (const r of s.links) if (r.txBps !== undefined) g.set(ifLabels(s.lab, r.endpoint, r.link), r.txBps);
  });
  gauge("kinda_link_receive_bits_per_second", "Receive rate since the previous sample.", labelNames, (g, s) => {
    for (const r of s.links) if (r.rxBps !== undefined) g.set(ifLabels(s.lab, r.endpoint, r.link), r.rxBps);
  });
  gauge("kinda_device_up", "1 when the device's container runs.", ["lab", "device", "kind"], (g, s) => {
    for (const d of s.devices) g.set({ lab: s.lab, device: d.name, kind: d.kind }, d.up ? 1 : 0);
  });
  gauge("kinda_node_up", "1 when the Kubernetes node's container runs.", ["lab", "node", "k8s_node", "role"], (g, s) => {
    for (const n of s.nodes) g.set({ lab: s.lab, node: n.name, k8s_node: n.k8sName, role: n.role }, n.up ? 1 : 0);
  });
  gauge(
    "kinda_node_ready",
    "1 when the Kubernetes node is Ready (absent when the API could not be read).",
    ["lab", "node", "k8s_node"],
    (g, s) => {
      for (const n of s.nodes) if (n.ready !== undefined) g.set({ lab: s.lab, node: n.name, k8s_node: n.k8sName }, n.ready ? 1 : 0);
    },
  );
  gauge("kinda_node_pods", "Pods scheduled on the Kubernetes node.", ["lab", "node", "k8s_node"], (g, s) => {
    for (const n of s.nodes) if (n.pods !== undefined) g.set({ lab: s.lab, node: n.name, k8s_node: n.k8sName }, n.pods);
  });
  return registry;
}
