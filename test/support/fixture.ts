/**
 * A Kind-compatible node fixture (test code, not a product mode): containers that discovery
 * cannot tell from Kind's (names, Kind's labels, Kind's Docker network "kind"), each with a pod
 * bridge and pod namespaces addressed from its pod CIDR, and Kind-like routes to the other
 * nodes' pod CIDRs over the Kind network, so that without kinda pod traffic crosses the Kind
 * bridge. It supplies the node facts the Kubernetes API would. Pods are host network namespaces
 * named kfx-<cluster>-<node>-<k>.
 */
import { execFileSync } from "node:child_process";
import { KIND_CLUSTER_LABEL, KIND_ROLE_LABEL } from "../../src/providers/kind.js";
import type { NodeFacts, NodeSpec } from "../../src/model/cluster.js";
import { type ClusterProvider, type CreateOptions } from "../../src/model/provider.js";
import { nthAddress } from "../../src/core/addr.js";
import { DockerRuntime } from "../../src/runtime/docker.js";
import { BASE_IMAGE } from "./env.js";

const rt = new DockerRuntime();
export const FIXTURE_LABEL = "kinda.test.fixture";
export const PODS_PER_NODE = 2;

function sh(argv: string[], input?: string): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: "utf8", input: input ?? "" });
}

/** Kind's container naming: <c>-control-plane, <c>-control-plane2, <c>-worker, <c>-worker2, ... */
export function kindNames(cluster: string, nodes: readonly NodeSpec[]): Map<string, string> {
  const out = new Map<string, string>();
  let cp = 0;
  let w = 0;
  for (const n of [...nodes.filter((x) => x.role === "control-plane"), ...nodes.filter((x) => x.role === "worker")]) {
    const k = n.role === "control-plane" ? ++cp : ++w;
    out.set(n.name, `${cluster}-${n.role}${k === 1 ? "" : k}`);
  }
  return out;
}

export class FixtureProvider implements ClusterProvider {
  readonly kind = "fixture";
  private facts: NodeFacts[] = [];
  private createdNetwork = false;

  constructor(readonly name: string) {}

  podNs(node: string, k: number): string {
    return `kfx-${this.name}-${node}-${k}`.slice(0, 60);
  }

  podIp(node: string, k: number): string {
    const f = this.facts.find((x) => x.name === node);
    if (!f) throw new Error(`no fixture node ${node}`);
    return nthAddress(f.podCidrs[0]!, 10 + k);
  }

  fact(node: string): NodeFacts {
    const f = this.facts.find((x) => x.name === node);
    if (!f) throw new Error(`no fixture node ${node}`);
    return f;
  }

  async create(nodes: readonly NodeSpec[], opts: CreateOptions): Promise<void> {
    const docker = rt.docker;
    const nets = await docker.listNetworks({ filters: { name: ["kind"] } });
    if (!nets.some((n) => n.Name === "kind")) {
      // Docker hands out its default pools in turn, not the lowest free one: after a day of
      // networks made and removed on one engine it gave "kind" 192.168.0.0/20, which holds the
      // examples' 192.168.1.x and 192.168.2.x, and kinda rightly refused them (CI, 2026-12-07).
      // The fixture asks for the subnet Kind's network gets on a fresh engine, and takes Docker's
      // choice only when another network holds it.
      const base = { Name: "kind", Driver: "bridge", Labels: { [FIXTURE_LABEL]: "1" } };
      await docker
        .createNetwork({ ...base, IPAM: { Driver: "default", Config: [{ Subnet: "172.18.0.0/16", Gateway: "172.18.0.1" }] } })
        .catch(() => docker.createNetwork(base));
      this.createdNetwork = true;
    }
    const net = await docker.getNetwork("kind").inspect();
    const ipam = (net.IPAM?.Config ?? []).find((c) => Boolean(c.Subnet) && !c.Subnet?.includes(":"))!;
    const names = kindNames(this.name, nodes);
    const ordered = [...nodes.filter((x) => x.role === "control-plane"), ...nodes.filter((x) => x.role === "worker")];
    this.facts = await Promise.all(
      ordered.map(async (n, i) => {
        const cname = names.get(n.name)!;
        const c = await docker.createContainer({
          name: cname,
          Image: BASE_IMAGE,
          Hostname: cname,
          Tty: true,
          OpenStdin: true,
          Labels: { [KIND_CLUSTER_LABEL]: this.name, [KIND_ROLE_LABEL]: n.role, [FIXTURE_LABEL]: "1" },
          HostConfig: {
            NetworkMode: "kind",
            CapAdd: ["NET_ADMIN", "NET_RAW", "SYS_ADMIN"],
            Sysctls: { "net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0" },
          },
        });
        await c.start();
        const info = await c.inspect();
        const podCidr = nthAddress(opts.podCidr, i * 256) + "/24";
        return {
          name: n.name,
          role: n.role,
          k8sName: cname,
          container: cname,
          containerId: info.Id,
          pid: info.State.Pid,
          internalIp: info.NetworkSettings.Networks["kind"]!.IPAddress,
          providerCidr: ipam.Subnet!,
          providerGateway: ipam.Gateway ?? info.NetworkSettings.Networks["kind"]!.Gateway,
          providerIf: "eth0",
          podCidrs: [podCidr],
        } satisfies NodeFacts;
      }),
    );
    for (const f of this.facts) {
      const gw = nthAddress(f.podCidrs[0]!, 1);
      const lines = ["link add cni0 type bridge", `addr add ${gw}/24 dev cni0`, "link set cni0 up"];
      for (let k = 0; k < PODS_PER_NODE; k++) {
        const ns = this.podNs(f.name, k);
        sh(["ip", "netns", "add", ns]);
        lines.push(`link add vp${k} master cni0 up type veth peer name eth0 netns ${ns}`);
      }
      // Kind-like: the other nodes' pod CIDRs via their addresses on the Kind network
      for (const p of this.facts) if (p !== f) lines.push(`route add ${p.podCidrs[0]} via ${p.internalIp} dev eth0`);
      sh(["nsenter", "-t", String(f.pid), "-n", "ip", "-batch", "-"], lines.join("\n") + "\n");
      // kindnet-like masquerade of pod traffic leaving the pod range
      sh([
        "nsenter",
        "-t",
        String(f.pid),
        "-n",
        "iptables",
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-s",
        f.podCidrs[0]!,
        "!",
        "-d",
        opts.podCidr,
        "-j",
        "MASQUERADE",
      ]);
      for (let k = 0; k < PODS_PER_NODE; k++) {
        const ip = nthAddress(f.podCidrs[0]!, 10 + k);
        sh(
          ["ip", "-n", this.podNs(f.name, k), "-batch", "-"],
          `link set lo up\naddr add ${ip}/24 dev eth0\nlink set eth0 up\nroute add default via ${gw}\n`,
        );
      }
    }
  }

  async exists(): Promise<boolean> {
    const cs = await rt.docker.listContainers({ all: true, filters: { label: [`${KIND_CLUSTER_LABEL}=${this.name}`] } });
    return cs.length > 0;
  }

  async discover(nodes: readonly NodeSpec[]): Promise<NodeFacts[]> {
    return nodes.map((n) => this.fact(n.name));
  }

  async delete(): Promise<void> {
    const cs = await rt.docker.listContainers({ all: true, filters: { label: [`${KIND_CLUSTER_LABEL}=${this.name}`, FIXTURE_LABEL] } });
    await Promise.all(cs.map((c) => rt.remove(c.Id)));
    for (const ns of sh(["ip", "netns", "list"]).split("\n")) {
      const n = ns.split(" ")[0] ?? "";
      if (n.startsWith(`kfx-${this.name}-`)) sh(["ip", "netns", "delete", n]);
    }
    if (this.createdNetwork) {
      const net = await rt.docker
        .getNetwork("kind")
        .inspect()
        .catch(() => undefined);
      if (net && Object.keys(net.Containers ?? {}).length === 0) await rt.docker.getNetwork("kind").remove();
      this.createdNetwork = false;
    }
  }

  /** Runs argv in a pod's namespace (host tools); returns exit code and output. */
  inPod(node: string, k: number, argv: string[]): { code: number; out: string } {
    try {
      return { code: 0, out: sh(["ip", "netns", "exec", this.podNs(node, k), ...argv]) };
    } catch (e) {
      const err = e as { status?: number; stdout?: string; stderr?: string };
      return { code: err.status ?? 1, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
    }
  }
}

/** True when a fixture node answers a ping from each address (inside the node's namespace). */
export function nodeReaches(provider: FixtureProvider, node: string, addrs: readonly string[]): boolean {
  const pid = String(provider.fact(node).pid);
  return addrs.every((a) => {
    try {
      execFileSync("nsenter", ["-t", pid, "-n", "ping", "-c", "1", "-W", "2", a], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  });
}
