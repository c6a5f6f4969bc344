import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Runtime } from "../../../src/model/container.js";
import {
  KindProvider,
  kindConfig,
  kindConfigYaml,
  nodesFromApi,
  NAME_LABEL,
  TIMEOUT_PATCHES,
  kindContainerNames,
  haproxyConfig,
} from "../../../src/providers/kind.js";
import { parse } from "yaml";
import { processArgs, processStart } from "../../../src/net/process.js";
import { pathWith } from "../../support/path.js";
import { kindFromState } from "../../../src/app/root.js";

/** These tests never reach the container runtime. */
const runtime = {} as Runtime;

describe("the Kind provider's recorded options", () => {
  it("record the kind binary that made the cluster as a path, so down from another shell uses it", () => {
    const dir = pathWith(["kind"]);
    const made = new KindProvider("c", { kindBinary: join(dir, "kind") }, runtime);
    assert.deepEqual(made.stateOptions(), { kindBinary: join(dir, "kind") });
    const again = kindFromState(runtime)("c", made.stateOptions());
    assert.deepEqual(again.hostPrograms?.().at(-1)?.name, join(dir, "kind"));
    assert.deepEqual(
      new KindProvider("c", { kindBinary: join(dir, "absent") }, runtime).stateOptions(),
      {},
      "nothing to record when it is not there",
    );
  });
});

describe("Kind provider", () => {
  it("writes Kind's v1alpha4 config: control planes first, topology names as node labels", () => {
    const cfg = kindConfig(
      [
        { name: "w1", role: "worker" },
        { name: "c1", role: "control-plane" },
      ],
      "10.244.0.0/16",
      { image: "kindest/node:v1.34.0" },
    );
    assert.deepEqual(cfg, {
      kind: "Cluster",
      apiVersion: "kind.x-k8s.io/v1alpha4",
      networking: { podSubnet: "10.244.0.0/16" },
      nodes: [
        { role: "control-plane", labels: { [NAME_LABEL]: "c1" }, image: "kindest/node:v1.34.0" },
        { role: "worker", labels: { [NAME_LABEL]: "w1" }, image: "kindest/node:v1.34.0" },
      ],
      // kubeadm's waits raised (the API server's start, a join's discovery), for every cluster
      kubeadmConfigPatches: TIMEOUT_PATCHES,
    });
    assert.deepEqual(
      TIMEOUT_PATCHES.map((p) => parse(p) as unknown),
      [
        { kind: "ClusterConfiguration", apiServer: { timeoutForControlPlane: "10m0s" } },
        { kind: "JoinConfiguration", discovery: { timeout: "15m0s" } },
      ],
    );
    // only fields of Kind's v1alpha4 Cluster and Node types
    const y = parse(
      kindConfigYaml([{ name: "c1", role: "control-plane" }], "10.244.0.0/16", {
        kubeadmConfigPatches: ["kind: KubeletConfiguration\ncgroupDriver: cgroupfs\n"],
      }),
    ) as Record<string, unknown>;
    assert.deepEqual(Object.keys(y).sort(), ["apiVersion", "kind", "kubeadmConfigPatches", "networking", "nodes"]);
    for (const n of y["nodes"] as Record<string, unknown>[])
      for (const k of Object.keys(n))
        assert.ok(["role", "image", "labels", "extraMounts", "extraPortMappings", "kubeadmConfigPatches"].includes(k), k);
  });

  it("reads node names, InternalIPs and pod CIDRs from Node objects, matched by label", () => {
    const items = [
      {
        metadata: { name: "x-control-plane", labels: { [NAME_LABEL]: "c1" } },
        spec: { podCIDR: "10.244.0.0/24", podCIDRs: ["10.244.0.0/24", "fd00:10:244::/64"] },
        status: {
          addresses: [
            { type: "Hostname", address: "x-control-plane" },
            { type: "InternalIP", address: "fc00:f853::2" },
            { type: "InternalIP", address: "172.18.0.3" },
          ],
        },
      },
      {
        metadata: { name: "x-worker", labels: { [NAME_LABEL]: "w1" } },
        spec: { podCIDR: "10.244.1.0/24" },
        status: { addresses: [{ type: "InternalIP", address: "172.18.0.2" }] },
      },
      { metadata: { name: "other", labels: {} }, spec: {}, status: {} },
    ];
    const m = nodesFromApi(items, [
      { name: "c1", role: "control-plane" },
      { name: "w1", role: "worker" },
    ]);
    assert.deepEqual(m.get("c1"), { k8sName: "x-control-plane", internalIp: "172.18.0.3", podCidrs: ["10.244.0.0/24"] });
    assert.deepEqual(m.get("w1"), { k8sName: "x-worker", internalIp: "172.18.0.2", podCidrs: ["10.244.1.0/24"] });
    assert.equal(m.size, 2);
  });

  it("reads its cluster's kubeconfig from its own kind binary, for its own cluster name, as the maintained client loads it", async () => {
    // a stand-in kind (a shell script) that records its arguments and prints a Kind-shaped kubeconfig
    const dir = mkdtempSync(join(tmpdir(), "kinda-kind-"));
    const bin = join(dir, "kind");
    const kubeconfig = [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- cluster: {certificate-authority-data: Zm9v, server: 'https://127.0.0.1:41234'}",
      "  name: kind-x",
      "contexts:",
      "- context: {cluster: kind-x, user: kind-x}",
      "  name: kind-x",
      "current-context: kind-x",
      "users:",
      "- name: kind-x",
      "  user: {client-certificate-data: Zm9v, client-key-data: Zm9v}",
    ].join("\n");
    writeFileSync(join(dir, "kubeconfig"), kubeconfig);
    writeFileSync(bin, `#!/bin/sh\necho "$@" > "${dir}/argv"\ncat "${dir}/kubeconfig"\n`, { mode: 0o755 });
    try {
      const text = await new KindProvider("x", { kindBinary: bin }, runtime).kubeconfig();
      assert.equal(readFileSync(join(dir, "argv"), "utf8").trim(), "get kubeconfig --name x");
      const { KubeConfig } = await import("@kubernetes/client-node");
      const kc = new KubeConfig();
      kc.loadFromString(text);
      assert.equal(kc.getCurrentCluster()?.server, "https://127.0.0.1:41234");
      // a kind that fails is an error naming it, not an empty kubeconfig
      writeFileSync(bin, "#!/bin/sh\necho 'ERROR: unknown cluster' >&2\nexit 1\n", { mode: 0o755 });
      await assert.rejects(new KindProvider("x", { kindBinary: bin }, runtime).kubeconfig(), /unknown cluster|failed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the Kind provider with an emulated identity", () => {
  it("names node containers as Kind does: per role, in config order, control planes first", () => {
    const names = kindContainerNames("k", [
      { name: "w1", role: "worker" },
      { name: "c1", role: "control-plane" },
      { name: "w2", role: "worker" },
    ]);
    assert.deepEqual(
      [...names],
      [
        ["c1", "k-control-plane"],
        ["w1", "k-worker"],
        ["w2", "k-worker2"],
      ],
    );
  });

  it("with an emulated identity: kubeadm patches for node IPs, the advertise address and the API endpoint", () => {
    const id = { addresses: { c1: "10.0.2.2", w1: "10.0.1.2" }, apiEndpoint: "10.0.2.2:6443" };
    const cfg = kindConfig(
      [
        { name: "w1", role: "worker" },
        { name: "c1", role: "control-plane" },
      ],
      "10.244.0.0/16",
      {},
      id,
    );
    const [cp, w] = (cfg["nodes"] as { kubeadmConfigPatches: string[] }[]).map((n) =>
      n.kubeadmConfigPatches.map((y) => parse(y) as unknown),
    );
    assert.deepEqual(cp![0], {
      kind: "InitConfiguration",
      localAPIEndpoint: { advertiseAddress: "10.0.2.2" },
      nodeRegistration: { kubeletExtraArgs: { "node-ip": "10.0.2.2" } },
    });
    assert.deepEqual(w, [
      {
        kind: "JoinConfiguration",
        nodeRegistration: { kubeletExtraArgs: { "node-ip": "10.0.1.2" } },
        discovery: { bootstrapToken: { apiServerEndpoint: "10.0.2.2:6443" } },
      },
    ]);
    const cluster = (cfg["kubeadmConfigPatches"] as string[])
      .map((p) => parse(p) as Record<string, unknown>)
      .find((p) => p["controlPlaneEndpoint"])!;
    assert.equal(cluster["controlPlaneEndpoint"], "10.0.2.2:6443");
  });

  it("the lean profile (opt-in): slower kubelet housekeeping, status and lease, NotReady after 3 min; no leader election with one control plane", () => {
    const nodes = (cps: number) => [
      ...Array.from({ length: cps }, (_, i) => ({ name: `c${i + 1}`, role: "control-plane" as const })),
      { name: "w1", role: "worker" as const },
    ];
    const patches = (cps: number, lean?: boolean) =>
      (kindConfig(nodes(cps), "10.244.0.0/16", lean === undefined ? {} : { lean })["kubeadmConfigPatches"] as string[]).map(
        (p) => parse(p) as Record<string, unknown>,
      );
    assert.deepEqual(
      patches(1),
      TIMEOUT_PATCHES.map((p) => parse(p) as unknown),
      "off unless asked",
    );
    assert.deepEqual(patches(1, false), patches(1));
    const one = patches(1, true);
    assert.deepEqual(one.slice(0, TIMEOUT_PATCHES.length), patches(1), "the usual patches stay");
    assert.deepEqual(one.slice(TIMEOUT_PATCHES.length), [
      { kind: "KubeletConfiguration", nodeStatusUpdateFrequency: "30s", nodeLeaseDurationSeconds: 120 },
      { kind: "InitConfiguration", nodeRegistration: { kubeletExtraArgs: { "housekeeping-interval": "1m0s" } } },
      { kind: "JoinConfiguration", nodeRegistration: { kubeletExtraArgs: { "housekeeping-interval": "1m0s" } } },
      {
        kind: "ClusterConfiguration",
        controllerManager: { extraArgs: { "node-monitor-grace-period": "3m0s", "leader-elect": "false" } },
        scheduler: { extraArgs: { "leader-elect": "false" } },
      },
    ]);
    // several control planes elect a leader as usual
    assert.deepEqual(patches(2, true).at(-1), {
      kind: "ClusterConfiguration",
      controllerManager: { extraArgs: { "node-monitor-grace-period": "3m0s" } },
    });
  });

  it("two control planes: the second advertises its emulated address when it joins, everyone joins through the load balancer's", () => {
    const id = {
      addresses: { c1: "10.0.11.2", c2: "10.0.12.2", w1: "10.0.13.2" },
      apiEndpoint: "10.0.9.2:6443",
      backends: { c1: "10.0.11.2:6443", c2: "10.0.12.2:6443" },
    };
    const cfg = kindConfig(
      [
        { name: "c1", role: "control-plane" },
        { name: "c2", role: "control-plane" },
        { name: "w1", role: "worker" },
      ],
      "10.244.0.0/16",
      {},
      id,
    );
    const [, c2, w1] = (cfg["nodes"] as { kubeadmConfigPatches: string[] }[]).map((n) =>
      n.kubeadmConfigPatches.map((y) => parse(y) as Record<string, unknown>),
    );
    assert.deepEqual(c2, [
      {
        kind: "JoinConfiguration",
        controlPlane: { localAPIEndpoint: { advertiseAddress: "10.0.12.2" } },
        nodeRegistration: { kubeletExtraArgs: { "node-ip": "10.0.12.2" } },
        discovery: { bootstrapToken: { apiServerEndpoint: "10.0.9.2:6443" } },
      },
    ]);
    assert.equal(w1![0]!["controlPlane"], undefined, "a worker does not join as a control plane");
    const cluster = (cfg["kubeadmConfigPatches"] as string[])
      .map((p) => parse(p) as Record<string, unknown>)
      .find((p) => p["controlPlaneEndpoint"])!;
    assert.equal(cluster["controlPlaneEndpoint"], "10.0.9.2:6443");
  });

  it("the load balancer's configuration: Kind's, with the backends at fixed addresses instead of names Docker resolves", () => {
    const cfg = haproxyConfig({ "k-control-plane": "10.0.11.2:6443", "k-control-plane2": "10.0.12.2:6443" });
    assert.match(cfg, /^frontend control-plane\n {2}bind \*:6443\n {2}default_backend kube-apiservers$/m);
    assert.deepEqual(
      cfg.split("\n").filter((l) => l.trim().startsWith("server ")),
      [
        "  server k-control-plane 10.0.11.2:6443 check check-ssl verify none",
        "  server k-control-plane2 10.0.12.2:6443 check check-ssl verify none",
      ],
    );
    assert.doesNotMatch(cfg, /resolvers/);
  });
});

describe("a `kind create` left running by an up that died", () => {
  /** A stand-in runtime: the network is there; `list` shows one late node container once; what is removed is kept. */
  function stubRuntime() {
    const removed: string[] = [];
    let late = ["late-node"];
    const rt = {
      ping: async () => undefined,
      network: async () => ({ name: "kind" }),
      list: async () => {
        const out = late.map((id) => ({ id, name: id, labels: {}, running: true }));
        late = [];
        return out;
      },
      remove: async (id: string) => void removed.push(id),
    } as unknown as Runtime;
    return { rt, removed };
  }
  const alive = (pid: number) => processStart(pid) !== undefined;

  it("down stops it with the docker runs it started, before Kind deletes the cluster, and sweeps a node made late", async () => {
    // a stand-in kind (a shell script): `create` starts a child (as Kind's `docker run`s) and waits
    const dir = mkdtempSync(join(tmpdir(), "kinda-kindstop-"));
    const bin = join(dir, "kind");
    writeFileSync(
      bin,
      [
        "#!/bin/sh",
        'case "$1" in',
        "  version) echo kind v0.30.0 ;;",
        `  create) sleep 300 & echo $! > "${dir}/child"; echo ' • Preparing nodes 📦  ...'; wait ;;`,
        `  delete) echo "$@" >> "${dir}/deleted" ;;`,
        "esac",
      ].join("\n") + "\n",
      { mode: 0o755 },
    );
    const { rt, removed } = stubRuntime();
    try {
      const made = new KindProvider("kc", { kindBinary: bin }, rt);
      let recorded: Record<string, string> = {};
      const creating = made
        .create([{ name: "c1", role: "control-plane" }], { podCidr: "10.244.0.0/16", record: () => (recorded = made.stateOptions()) })
        .catch((e: unknown) => e);
      for (let i = 0; i < 100 && !existsSync(join(dir, "child")); i++) await new Promise((r) => setTimeout(r, 50));
      const child = Number(readFileSync(join(dir, "child"), "utf8"));
      const [pid] = (recorded["createPid"] ?? "").split(":").map(Number);
      assert.match(recorded["createPid"] ?? "", /^\d+:\d+$/, "the running kind create is recorded while it runs");
      assert.ok(pid && alive(pid) && alive(child));
      // `down` in another process: a provider made from the recorded options alone
      await kindFromState(rt)("kc", recorded).delete();
      assert.equal(alive(pid), false, "kind create stopped");
      assert.equal(alive(child), false, "and the child it started");
      assert.equal(readFileSync(join(dir, "deleted"), "utf8").trim(), "delete cluster --name kc");
      assert.deepEqual(removed, ["late-node"], "a node container that appeared after Kind's delete is removed");
      assert.match(String(await creating), /kind create cluster --name kc failed/);
      assert.equal(made.stateOptions()["createPid"], undefined, "nothing recorded once it ended");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("leaves a process alone that is not that kind create (another start time, other arguments), and removes only kinda's config folder", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kinda-kindstop-"));
    const bin = join(dir, "kind");
    writeFileSync(bin, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const other = spawn("sleep", ["30"], { stdio: "ignore", detached: true });
    try {
      const pid = other.pid!;
      for (let i = 0; i < 100 && processArgs(pid)[0] !== "sleep"; i++) await new Promise((r) => setTimeout(r, 20));
      const start = processStart(pid)!;
      const { rt } = stubRuntime();
      await kindFromState(rt)("kc", { kindBinary: bin, createPid: `${pid}:${Number(start) + 1}` }).delete();
      await kindFromState(rt)("kc", { kindBinary: bin, createPid: `${pid}:${start}` }).delete();
      assert.ok(alive(pid), "a PID reused by another process, or not kind create, is not killed");
      // the config folder: removed when it is kinda's (kinda-kind-XXXXXX with kind.yaml), else left
      const cfg = mkdtempSync(join(tmpdir(), "kinda-kind-"));
      writeFileSync(join(cfg, "kind.yaml"), "kind: Cluster\n");
      const notOurs = join(dir, "elsewhere");
      mkdirSync(notOurs);
      writeFileSync(join(notOurs, "kind.yaml"), "x\n");
      await kindFromState(rt)("kc", { kindBinary: bin, configDir: cfg }).delete();
      await kindFromState(rt)("kc", { kindBinary: bin, configDir: notOurs }).delete();
      assert.equal(existsSync(cfg), false);
      assert.ok(existsSync(join(notOurs, "kind.yaml")));
    } finally {
      other.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
