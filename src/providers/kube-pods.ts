/**
 * Kubernetes nodes under test as pods of a host cluster (the Kubernetes runtime's part 3): each
 * node is a privileged pod of a Kind node image, bootstrapped with kubeadm the way Kind does it
 * in its Docker containers. What the pod needs and why (measured, docs/kubernetes-runtime.md):
 * its /var filled from the image (an init container copies it into an emptyDir: an empty /var
 * hides dpkg's alternatives and containerd's preloaded images, and the entrypoint exits), and a
 * cgroup namespace of its own (`unshare --cgroup` before the entrypoint: on a cgroup v1 host the
 * pod gets none, and without it containerd restarts in a loop once the kubelet runs).
 *
 * First step only: one control plane, workers joined, every node Ready. Not yet: links to the
 * lab's devices, several control planes, `up` using it (the engine still refuses Kubernetes
 * nodes on the Kubernetes runtime).
 */
import { randomBytes } from "node:crypto";
import { KindaError } from "../core/errors.js";
import type { NodeFacts, NodeSpec } from "../model/cluster.js";
import type { KubeApi, KubePod, Manifest } from "../model/kube.js";
import { ClusterExistsError, type ClusterProvider, type CreateOptions } from "../model/provider.js";

export interface KubePodsOptions {
  /** The node image, already on the host cluster's nodes (`kind load docker-image`). */
  image: string;
  /** The namespace on the host cluster that holds the node pods (default `kinda-nodes-NAME`). */
  namespace?: string;
  /** Pin a node's pod to a host node (topology name -> kubernetes.io/hostname). */
  placement?: Record<string, string>;
  /** The cluster under test's service range (its pod range is CreateOptions.podCidr). */
  serviceCidr?: string;
  /** Where the host cluster is, recorded so that `down` in another process finds it again. */
  target?: { kubeconfig?: string; context?: string };
  /** How long the whole create may take (default 15 min). */
  timeoutMs?: number;
}

/** The managed-by label on everything this provider creates on the host cluster. */
export const KUBE_PODS_LABEL = "kinda.cluster";
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pod that is one node under test (pure: unit-tested). */
export function nodePodManifest(cluster: string, node: NodeSpec, image: string, hostNode?: string): Manifest {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: node.name, labels: { [KUBE_PODS_LABEL]: cluster, "kinda.node": node.name, "kinda.role": node.role } },
    spec: {
      restartPolicy: "Never",
      hostname: node.name,
      // no host cluster credentials in a node under test (and its kubectl would take that
      // token's namespace as its default instead of the cluster under test's "default")
      automountServiceAccountToken: false,
      ...(hostNode ? { nodeName: hostNode } : {}),
      // the node's kubelet and containerd stop with systemd (the image's stop signal is SIGRTMIN+3)
      terminationGracePeriodSeconds: 10,
      initContainers: [
        {
          name: "var",
          image,
          imagePullPolicy: "IfNotPresent",
          command: ["cp", "-a", "/var/.", "/mnt/var/"],
          volumeMounts: [{ name: "var", mountPath: "/mnt/var" }],
        },
      ],
      containers: [
        {
          name: "node",
          image,
          imagePullPolicy: "IfNotPresent",
          command: ["unshare", "--cgroup", "/usr/local/bin/entrypoint", "/sbin/init"],
          tty: true,
          stdin: true,
          securityContext: { privileged: true },
          volumeMounts: [
            { name: "var", mountPath: "/var" },
            { name: "run", mountPath: "/run" },
            { name: "tmp", mountPath: "/tmp" },
            { name: "modules", mountPath: "/lib/modules", readOnly: true },
          ],
        },
      ],
      volumes: [
        { name: "var", emptyDir: {} },
        { name: "run", emptyDir: { medium: "Memory" } },
        { name: "tmp", emptyDir: { medium: "Memory" } },
        { name: "modules", hostPath: { path: "/lib/modules" } },
      ],
    },
  };
}

/** The kubeadm configuration written into a node pod as /kind/kubeadm.conf (pure: unit-tested). */
export function kubeadmConfig(o: {
  cluster: string;
  /** The bootstrap token the workers join with (kubeadm's form: 6 and 16 of [a-z0-9]). */
  token: string;
  version: string;
  nodeIp: string;
  controlPlaneIp: string;
  podCidr: string;
  serviceCidr: string;
}): string {
  const cri = "unix:///run/containerd/containerd.sock";
  return `apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: "${o.token}"
localAPIEndpoint:
  advertiseAddress: "${o.nodeIp}"
  bindPort: 6443
nodeRegistration:
  criSocket: ${cri}
  kubeletExtraArgs:
  - {name: node-ip, value: "${o.nodeIp}"}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration:
  criSocket: ${cri}
  kubeletExtraArgs:
  - {name: node-ip, value: "${o.nodeIp}"}
discovery:
  bootstrapToken:
    apiServerEndpoint: "${o.controlPlaneIp}:6443"
    token: "${o.token}"
    unsafeSkipCAVerification: true
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: ${o.version}
clusterName: "${o.cluster}"
controlPlaneEndpoint: "${o.controlPlaneIp}:6443"
networking:
  podSubnet: "${o.podCidr}"
  serviceSubnet: "${o.serviceCidr}"
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
cgroupRoot: /kubelet
failSwapOn: false
imageGCHighThresholdPercent: 100
evictionHard:
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
  imagefs.available: "0%"
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
conntrack:
  maxPerCore: 0
`;
}

export class KubePodsProvider implements ClusterProvider {
  readonly kind = "kube-pods";
  readonly apiPort = 6443;
  readonly namespace: string;

  constructor(
    readonly name: string,
    private readonly opts: KubePodsOptions,
    private readonly api: () => Promise<KubeApi>,
  ) {
    this.namespace = opts.namespace ?? `kinda-nodes-${name}`;
  }

  hasLoadBalancer(): boolean {
    return false;
  }

  /** Checks the nodes before anything is created: names the pods can take, one control plane. */
  check(nodes: readonly NodeSpec[]): void {
    for (const n of nodes)
      if (!DNS_LABEL.test(n.name))
        throw new KindaError(`node ${n.name}: not usable as a pod's name and hostname (lower-case letters, digits and '-', at most 63)`);
    const cps = nodes.filter((n) => n.role === "control-plane");
    if (cps.length !== 1)
      throw new KindaError(`the kube-pods provider makes exactly one control plane; the topology has ${cps.length}`, {
        hint: "several control planes need an API load balancer, which this provider does not make yet",
      });
    for (const name of Object.keys(this.opts.placement ?? {}))
      if (!nodes.some((n) => n.name === name)) throw new KindaError(`placement: ${name} is not a node of the cluster`);
  }

  async exists(): Promise<boolean> {
    return (await (await this.api()).namespace(this.namespace)) !== undefined;
  }

  stateOptions(): Record<string, string> {
    const t = this.opts.target ?? {};
    return {
      image: this.opts.image,
      namespace: this.namespace,
      ...(t.kubeconfig ? { kubeconfig: t.kubeconfig } : {}),
      ...(t.context ? { context: t.context } : {}),
    };
  }

  async create(nodes: readonly NodeSpec[], opts: CreateOptions): Promise<void> {
    this.check(nodes);
    if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(opts.podCidr)) throw new KindaError(`pod range ${opts.podCidr}: not an IPv4 CIDR`);
    const api = await this.api();
    if (await api.namespace(this.namespace)) throw new ClusterExistsError(`namespace ${this.namespace} already exists on the host cluster`);
    const deadline = Date.now() + (this.opts.timeoutMs ?? 900_000);
    const say = (line: string) => opts.onOutput?.(line);
    await api.createNamespace(this.namespace, { "kinda.managed": "true", [KUBE_PODS_LABEL]: this.name });
    opts.record?.();
    try {
      for (const n of nodes)
        await api.create(this.namespace, nodePodManifest(this.name, n, this.opts.image, this.opts.placement?.[n.name]));
      const pods = await this.running(api, nodes, deadline, opts.signal);
      await Promise.all(nodes.map((n) => this.systemdUp(api, n.name, deadline, opts.signal)));
      say(`node pods running: ${nodes.map((n) => `${n.name} on ${pods.get(n.name)?.node}`).join(", ")}`);
      const cp = nodes.find((n) => n.role === "control-plane") as NodeSpec;
      const cpIp = pods.get(cp.name)?.ip as string;
      const version = (await this.inNode(api, cp.name, ["kubeadm", "version", "-o", "short"])).trim();
      // a bootstrap token of this cluster's own (it lets whoever has it join until kubeadm's 24 h end)
      const hex = randomBytes(11).toString("hex");
      const token = `${hex.slice(0, 6)}.${hex.slice(6, 22)}`;
      const config = (n: NodeSpec) =>
        kubeadmConfig({
          cluster: this.name,
          token,
          version,
          nodeIp: pods.get(n.name)?.ip as string,
          controlPlaneIp: cpIp,
          podCidr: opts.podCidr,
          serviceCidr: this.opts.serviceCidr ?? "10.211.0.0/16",
        });
      await this.inNode(api, cp.name, ["sh", "-c", "cat > /kind/kubeadm.conf"], config(cp));
      say(`kubeadm init in ${cp.name}`);
      await this.inNode(api, cp.name, ["kubeadm", "init", "--skip-phases=preflight", "--config=/kind/kubeadm.conf", "--skip-token-print"]);
      // the image's CNI manifest (kindnet), with the pod range filled in: argv, the range checked by the caller
      await this.inNode(api, cp.name, [
        "sh",
        "-c",
        'sed "s#{{ .PodSubnet }}#$1#" /kind/manifests/default-cni.yaml | kubectl --kubeconfig /etc/kubernetes/admin.conf apply -f -',
        "sh",
        opts.podCidr,
      ]);
      const workers = nodes.filter((n) => n !== cp);
      await Promise.all(
        workers.map(async (w) => {
          await this.inNode(api, w.name, ["sh", "-c", "cat > /kind/kubeadm.conf"], config(w));
          say(`kubeadm join in ${w.name}`);
          await this.inNode(api, w.name, ["kubeadm", "join", "--skip-phases=preflight", "--config=/kind/kubeadm.conf"]);
        }),
      );
      await this.allReady(api, cp.name, nodes, deadline, opts.signal);
    } catch (e) {
      // a failure halfway removes what this create made (its namespace holds all of it)
      await api.deleteNamespace(this.namespace).catch(() => undefined);
      throw e;
    }
  }

  /** kubectl in the control plane pod, with the cluster under test's admin kubeconfig. */
  async kubectl(argv: string[]): Promise<string> {
    const api = await this.api();
    const cp = (await api.pods(this.namespace, { "kinda.role": "control-plane" }))[0];
    if (!cp) throw new KindaError(`cluster ${this.name}: no control plane pod in namespace ${this.namespace}`);
    return this.inNode(api, cp.name, ["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", ...argv]);
  }

  async discover(nodes: readonly NodeSpec[]): Promise<NodeFacts[]> {
    const api = await this.api();
    const pods = new Map((await api.pods(this.namespace)).map((p) => [p.name, p]));
    const cidrs = JSON.parse(await this.kubectl(["get", "nodes", "-o", "json"])) as {
      items: { metadata: { name: string }; spec: { podCIDRs?: string[] } }[];
    };
    return nodes.map((n) => {
      const pod = pods.get(n.name);
      if (!pod) throw new KindaError(`cluster ${this.name}: node ${n.name} has no pod in namespace ${this.namespace}`);
      return {
        name: n.name,
        role: n.role,
        k8sName: n.name,
        // a pod, not a container of this machine's engine: no container ID or PID here
        container: `${this.namespace}/${pod.name}`,
        containerId: "",
        pid: 0,
        internalIp: pod.ip,
        providerCidr: "",
        providerGateway: "",
        providerIf: "eth0",
        podCidrs: cidrs.items.find((i) => i.metadata.name === n.name)?.spec.podCIDRs ?? [],
      };
    });
  }

  /** The admin kubeconfig; its server is the control plane pod's IP (reachable from the host cluster's pod network). */
  async kubeconfig(): Promise<string> {
    return this.kubectl(["config", "view", "--raw"]);
  }

  async delete(): Promise<void> {
    await (await this.api()).deleteNamespace(this.namespace);
  }

  private async inNode(api: KubeApi, pod: string, argv: string[], input?: string): Promise<string> {
    const r = await api.exec(
      this.namespace,
      pod,
      argv,
      input === undefined ? { container: "node", timeoutMs: 300_000 } : { container: "node", input, timeoutMs: 60_000 },
    );
    if (r.exitCode !== 0)
      throw new KindaError(`cluster ${this.name}: \`${argv.join(" ")}\` in node pod ${pod} exited ${r.exitCode}`, {
        hint: r.output.trim().split("\n").slice(-8).join("\n"),
      });
    return r.output;
  }

  private async running(api: KubeApi, nodes: readonly NodeSpec[], deadline: number, signal?: AbortSignal): Promise<Map<string, KubePod>> {
    for (;;) {
      signal?.throwIfAborted();
      const pods = new Map((await api.pods(this.namespace)).map((p) => [p.name, p]));
      const bad = [...pods.values()].find((p) => p.phase === "Failed" || p.phase === "Succeeded");
      if (bad) throw new KindaError(`cluster ${this.name}: node pod ${bad.name} ended (${bad.phase}) on ${bad.node || "no host node"}`);
      if (nodes.every((n) => pods.get(n.name)?.phase === "Running" && pods.get(n.name)?.ip)) return pods;
      if (Date.now() > deadline) {
        const late = nodes.map((n) => pods.get(n.name)).filter((p) => p?.phase !== "Running");
        throw new KindaError(
          `cluster ${this.name}: node pods not running in time: ${late.map((p) => `${p?.name} ${p?.waiting ?? p?.unschedulable ?? p?.phase}`).join(", ")}`,
        );
      }
      await sleep(2000);
    }
  }

  private async systemdUp(api: KubeApi, pod: string, deadline: number, signal?: AbortSignal): Promise<void> {
    let last = "";
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      const r = await api.exec(this.namespace, pod, ["systemctl", "is-system-running"], { container: "node", timeoutMs: 30_000 });
      last = r.output.trim();
      // degraded: a unit failed that a node does not need (Kind waits for the same two)
      if (last === "running" || last === "degraded") return;
      await sleep(2000);
    }
    throw new KindaError(`cluster ${this.name}: systemd in node pod ${pod} not up in time (is-system-running: ${last})`);
  }

  private async allReady(api: KubeApi, cp: string, nodes: readonly NodeSpec[], deadline: number, signal?: AbortSignal): Promise<void> {
    let last = "";
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      const r = await api.exec(
        this.namespace,
        cp,
        [
          "kubectl",
          "--kubeconfig",
          "/etc/kubernetes/admin.conf",
          "get",
          "nodes",
          "-o",
          'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}',
        ],
        { container: "node", timeoutMs: 30_000 },
      );
      last = r.output.trim();
      const ready = new Set(
        last
          .split(/\s+/)
          .filter((x) => x.endsWith("=True"))
          .map((x) => x.slice(0, -5)),
      );
      if (nodes.every((n) => ready.has(n.name))) return;
      await sleep(3000);
    }
    throw new KindaError(`cluster ${this.name}: nodes not Ready in time (${last || "no answer"})`);
  }
}
