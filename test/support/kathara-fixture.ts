/**
 * A lab made the way Kathara 3.8 makes one (src/Kathara/manager/docker/DockerLink.py create,
 * DockerMachine.py create/start), since Kathara itself cannot run here (its network plugin
 * katharanp comes only from an image registry):
 * - one Docker network per collision domain, named `kathara_<user>_<cd>`, labelled `app=kathara`,
 *   `name=<cd>`, `lab_hash`, `user`, `external`, over a Linux bridge `kt-...` in the host namespace.
 *   Stand-in: Docker's bridge driver (no NAT, bridge named by option) for katharanp; the
 *   addresses Docker's IPAM gives are flushed (Kathara's networks use the null IPAM driver);
 * - one container per device named `kathara_<user>_<device>_<hash>`, labelled `app=kathara`,
 *   `name`, `lab_hash`, `user`, `shell`, hostname = device, Kathara's capabilities and sysctls,
 *   attached to its first network at creation and to the others in interface order after start
 *   (so they are eth0, eth1, ...).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import Docker from "dockerode";
import { katharaLabHash } from "../../src/runtime/kathara.js";
import { BASE_IMAGE } from "./env.js";

export interface FixtureDevice {
  name: string;
  /** Collision domains in interface order. */
  domains: string[];
  /** Commands run in the device after start (addresses, routes). */
  setup?: string[];
}

export class KatharaFixture {
  readonly hash: string;
  readonly user = "kinda-test";
  private readonly docker = new Docker();
  readonly bridges = new Map<string, string>();

  constructor(
    readonly dir: string,
    readonly devices: FixtureDevice[],
  ) {
    this.hash = katharaLabHash(dir);
  }

  container(device: string): string {
    return `kathara_${this.user}_${device}_${this.hash}`;
  }

  network(cd: string): string {
    return `kathara_${this.user}_${cd}_${this.hash.slice(0, 6)}`;
  }

  async up(): Promise<void> {
    const labels = { app: "kathara", lab_hash: this.hash, user: this.user };
    const cds = [...new Set(this.devices.flatMap((d) => d.domains))];
    for (const cd of cds) {
      const bridge = `kt-${createHash("sha256")
        .update(this.hash + cd)
        .digest("hex")
        .slice(0, 12)}`;
      this.bridges.set(cd, bridge);
      await this.docker.createNetwork({
        Name: this.network(cd),
        Driver: "bridge",
        // not "internal": Docker's isolation rules for internal networks would drop (through
        // br_netfilter) frames whose addresses are outside its subnet; katharanp adds no rules
        Options: { "com.docker.network.bridge.name": bridge, "com.docker.network.bridge.enable_ip_masquerade": "false" },
        Labels: { ...labels, name: cd, external: "" },
      });
    }
    for (const d of this.devices) {
      const c = await this.docker.createContainer({
        name: this.container(d.name),
        Image: BASE_IMAGE,
        Hostname: d.name,
        Tty: true,
        OpenStdin: true,
        Labels: { ...labels, name: d.name, shell: "/bin/bash" },
        HostConfig: {
          CapAdd: ["NET_ADMIN", "NET_RAW", "NET_BROADCAST", "NET_BIND_SERVICE", "SYS_ADMIN"],
          NetworkMode: d.domains[0] ? this.network(d.domains[0]) : "none",
          Sysctls: {
            "net.ipv4.conf.all.rp_filter": "0",
            "net.ipv4.conf.default.rp_filter": "0",
            "net.ipv4.ip_forward": "1",
            "net.ipv6.conf.all.disable_ipv6": "1",
            "net.ipv6.conf.default.disable_ipv6": "1",
          },
        },
      });
      await c.start();
      for (const cd of d.domains.slice(1)) await this.docker.getNetwork(this.network(cd)).connect({ Container: c.id });
      const pid = (await c.inspect()).State.Pid;
      const ns = ["nsenter", "-t", String(pid), "-n"];
      d.domains.forEach((_, i) => execFileSync(ns[0]!, [...ns.slice(1), "ip", "addr", "flush", "dev", `eth${i}`]));
      for (const cmd of d.setup ?? []) execFileSync(ns[0]!, [...ns.slice(1), ...cmd.split(" ")]);
    }
  }

  /** A device's process id (its network namespace). */
  async pid(device: string): Promise<number> {
    return (await this.docker.getContainer(this.container(device)).inspect()).State.Pid;
  }

  /** Interfaces of a device, read in its namespace. */
  async interfaces(device: string): Promise<string[]> {
    const pid = (await this.docker.getContainer(this.container(device)).inspect()).State.Pid;
    const out = execFileSync("nsenter", ["-t", String(pid), "-n", "ip", "-j", "link"], { encoding: "utf8" });
    return (JSON.parse(out) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n !== "lo");
  }

  async running(): Promise<string[]> {
    const cs = await this.docker.listContainers({ filters: { label: [`lab_hash=${this.hash}`] } });
    return cs.map((c) => c.Labels["name"] ?? "").sort();
  }

  /** Kathara's lclean: its containers, then its networks. */
  async down(): Promise<void> {
    for (const d of this.devices)
      await this.docker
        .getContainer(this.container(d.name))
        .remove({ force: true })
        .catch(() => undefined);
    for (const cd of this.bridges.keys())
      await this.docker
        .getNetwork(this.network(cd))
        .remove()
        .catch(() => undefined);
  }
}
