/**
 * Deploys and tears down a lab on the Kubernetes runtime: one namespace, a ConfigMap and a pod per
 * device, links made inside the pods through the exec API (plan/kube.ts says how), then the same
 * start-up runner as on Docker. A failure halfway deletes the namespace; the state records the
 * runtime before anything is created, so `down` finds the lab after a crash.
 */
import { dirname } from "node:path";
import { pack } from "tar-stream";
import { InterruptedError, KindaError, PreflightError, type Issue } from "../core/errors.js";
import { silentReporter, type Reporter } from "../core/reporter.js";
import { LABEL_LAB, LABEL_MANAGED, MANAGED_VALUE } from "../core/names.js";
import type { ContainerInfo, ExecOptions, ExecResult, Runtime } from "../model/container.js";
import type { KubeApi, KubePod, KubeTarget } from "../model/kube.js";
import type { DevicePlan, Plan } from "../plan/lab.js";
import type { KernelOp } from "../model/ops.js";
import { readArgv, renderInvocations } from "../plan/ops.js";
import {
  configMapManifest,
  domainPeers,
  parseUnderlay,
  planKubeLab,
  podFdbOps,
  podLinkOps,
  sysctlArgv,
  type KubeDevicePlan,
  type KubeLabOptions,
  type KubeLabPlan,
} from "../plan/kube.js";
import type { LabState, StateStore } from "../state/store.js";
import { failedBatchLines, runShutdownSteps, deviceStateOf, shutdownTimeoutMs, type DeployResult } from "./lab.js";
import { limiter } from "./pool.js";
import { collectDeviceFiles, needsRunner, type StagedFile } from "./stage.js";
import { hostStepResult, runStartupSteps, startupTimeoutMs, type HostStep } from "./startup.js";

export interface KubeDeployOptions {
  api: KubeApi;
  store: StateStore;
  /** Recorded in the state, so `down` reaches the same cluster. */
  target: KubeTarget;
  kube?: KubeLabOptions;
  reporter?: Reporter;
  signal?: AbortSignal;
  kind?: LabState["kind"];
  /** up's options as given (recorded, so `restart` repeats them). */
  upOptions?: LabState["upOptions"];
  imageMap?: Record<string, string>;
  waitStartup?: boolean;
  parallelism?: number;
}

/** Seconds every pod of a lab may take to be scheduled, pulled and running (KINDA_KUBE_POD_TIMEOUT, default 300). */
export function podTimeoutMs(env: string | undefined = process.env["KINDA_KUBE_POD_TIMEOUT"]): number {
  const s = env === undefined || env.trim() === "" ? 300 : Number(env);
  if (!Number.isFinite(s) || s <= 0) throw new KindaError(`KINDA_KUBE_POD_TIMEOUT=${env} is not a positive number of seconds`);
  return s * 1000;
}

/** Reasons a pod's container waits that will not go away by waiting. */
const STUCK =
  /^(ErrImagePull|ImagePullBackOff|ErrImageNeverPull|InvalidImageName|CreateContainerConfigError|CreateContainerError|CrashLoopBackOff|RunContainerError)/;

/**
 * The Runtime the start-up runner, shutdown steps and `kinda exec` use on this runtime: a pod's
 * exec API by pod name. Creating and starting are the engine's (pods are made whole, not in steps).
 */
export function podRuntime(api: KubeApi, namespace: string): Runtime {
  const no = (what: string) => () => Promise.reject(new KindaError(`the Kubernetes runtime does not ${what} containers one by one`));
  const info = (p: KubePod): ContainerInfo => ({
    id: p.name,
    name: p.name,
    labels: p.labels,
    running: p.phase === "Running",
    pid: 0,
    image: "",
  });
  return {
    ping: () => api.ping(),
    missingImages: () => Promise.resolve([]),
    create: no("create"),
    putArchive: no("copy archives into"),
    start: no("start"),
    inspect: async (id) => {
      const p = (await api.pods(namespace)).find((x) => x.name === id);
      return p ? info(p) : undefined;
    },
    exec: (id: string, argv: string[], o?: ExecOptions): Promise<ExecResult> => api.exec(namespace, id, argv, o),
    list: async (labels) => (await api.pods(namespace, labels)).map(info),
    network: () => Promise.resolve(undefined),
    removeNetwork: () => Promise.resolve(),
    remove: no("remove"),
  };
}

/** A device's staged files as one tar (modes kept; extracted by its pod's init step). */
export async function stageTar(files: readonly StagedFile[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((res, rej) => {
    p.on("data", (c: unknown) => chunks.push(c as Buffer));
    p.on("end", () => res(Buffer.concat(chunks)));
    p.on("error", rej);
  });
  // the stage root itself, so the init step's extraction gives it the mode Docker's bind mount has
  p.entry({ name: "./", type: "directory", mode: 0o755 });
  for (const f of files) {
    if (f.type === "directory") p.entry({ name: `./${f.name}/`, type: "directory", mode: f.mode | 0o700 });
    else if (f.type === "symlink") p.entry({ name: `./${f.name}`, type: "symlink", linkname: f.linkname ?? "" });
    else p.entry({ name: `./${f.name}`, type: "file", mode: (f.mode & 0o7777) | 0o600 }, f.data ?? Buffer.alloc(0));
  }
  p.finalize();
  return done;
}

export async function mustExec(api: KubeApi, ns: string, pod: string, what: string, argv: string[], input?: string): Promise<string> {
  const r = await api.exec(ns, pod, argv, input !== undefined ? { input } : {});
  if (r.exitCode !== 0) throw new KindaError(`device pod ${pod}: ${what} failed (exit ${r.exitCode}): ${r.output.trim()}`);
  return r.output;
}

/** Typed operations run in a pod, each tool's batch on its standard input (rendered by plan/ops.ts, the one renderer). */
export async function runOps(api: KubeApi, ns: string, pod: string, what: string, ops: readonly KernelOp[]): Promise<void> {
  for (const inv of renderInvocations(ops)) await mustExec(api, ns, pod, what, inv.argv, inv.input);
}

/** Checks what can be checked before creating anything: the cluster answers, nodes, names, files. */
async function preflight(k: KubeLabPlan, plan: Plan, opts: KubeDeployOptions): Promise<Map<string, Buffer>> {
  const { api, store } = opts;
  await api.ping();
  const issues: Issue[] = [];
  if (store.read(plan.lab))
    throw new KindaError(`a lab named ${plan.lab} already exists on this machine`, {
      hint: `tear it down first (kinda down ${plan.lab}) or pick another name (--name)`,
    });
  if (await api.namespace(k.namespace))
    throw new KindaError(`namespace ${k.namespace} already exists on the host cluster`, {
      hint: "kinda creates the lab's namespace itself and deletes it at down: name a new one (--namespace) or remove that one",
    });
  const nodes = await api.nodes();
  const ready = nodes.filter((n) => n.ready);
  for (const d of k.devices)
    if (d.node && !ready.some((n) => n.name === d.node))
      issues.push({
        device: d.device,
        field: "placement",
        message: `host node ${d.node} ${nodes.some((n) => n.name === d.node) ? "is not Ready" : "does not exist"} (nodes: ${nodes.map((n) => n.name).join(", ")})`,
      });
  if (!ready.some((n) => n.schedulable))
    issues.push({ message: `the host cluster has no Ready node that takes pods (nodes: ${nodes.map((n) => n.name).join(", ")})` });
  const tars = new Map<string, Buffer>();
  for (const d of plan.devices) {
    const files = collectDeviceFiles(d, issues);
    const kd = k.devices.find((x) => x.device === d.name)!;
    try {
      tars.set(d.name, await stageTar(needsRunner(files, d.kathara) || files.length ? files : []));
      configMapManifest(kd.configMap, {}, tars.get(d.name)!);
    } catch (e) {
      if (!(e instanceof KindaError)) throw e;
      issues.push({ device: d.name, message: e.message });
    }
  }
  if (issues.length) throw new PreflightError(issues);
  return tars;
}

/** Waits until every pod of the lab runs; fails early on a pod that cannot (image missing, unschedulable for long). */
export async function waitRunning(
  api: KubeApi,
  k: KubeLabPlan,
  signal: AbortSignal | undefined,
  onCount: (n: number) => void,
): Promise<Map<string, KubePod>> {
  const limit = podTimeoutMs();
  const until = Date.now() + limit;
  for (;;) {
    if (signal?.aborted) throw new InterruptedError();
    const pods = await api.pods(k.namespace, { [LABEL_LAB]: k.lab });
    const byName = new Map(pods.map((p) => [p.name, p]));
    const running = k.devices.filter((d) => byName.get(d.pod)?.phase === "Running" && byName.get(d.pod)?.ip);
    onCount(running.length);
    if (running.length === k.devices.length) return new Map(k.devices.map((d) => [d.device, byName.get(d.pod)!]));
    for (const d of k.devices) {
      const p = byName.get(d.pod);
      if (p?.waiting && STUCK.test(p.waiting))
        throw new KindaError(
          `device ${d.device}: pod ${k.namespace}/${d.pod} cannot start: ${p.waiting}`,
          /Image/.test(p.waiting)
            ? { hint: "the image must be on every host node that may run it (kind load docker-image IMAGE, or a registry the nodes reach)" }
            : {},
        );
      if (p && (p.phase === "Failed" || p.phase === "Succeeded"))
        throw new KindaError(`device ${d.device}: pod ${d.pod} ended (${p.phase}) before its links were made`);
    }
    if (Date.now() > until) {
      const late = k.devices
        .filter((d) => !running.includes(d))
        .map((d) => {
          const p = byName.get(d.pod);
          return `${d.device} (${p?.unschedulable ?? p?.waiting ?? p?.phase ?? "no pod"})`;
        });
      throw new KindaError(`pods not running after ${limit / 1000} s: ${late.join(", ")}`, {
        hint: "KINDA_KUBE_POD_TIMEOUT=SECONDS allows longer",
      });
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Inside one pod: sysctls, the underlay, its links, the VXLAN peers; then its netConfig lines. */
export async function linkDevice(
  api: KubeApi,
  k: KubeLabPlan,
  kd: KubeDevicePlan,
  dev: DevicePlan,
  pod: KubePod,
  peers: ReturnType<typeof domainPeers>,
): Promise<HostStep | undefined> {
  const ns = k.namespace;
  if (Object.keys(kd.sysctls).length) await mustExec(api, ns, pod.name, "setting its sysctls", sysctlArgv(kd.sysctls));
  const route = await mustExec(api, ns, pod.name, "reading its route", readArgv({ read: "default-routes-v4" }));
  const link = await mustExec(api, ns, pod.name, "reading its interface", readArgv({ read: "links", dev: "eth0" }));
  const u = parseUnderlay(route, link);
  await runOps(api, ns, pod.name, "making its links", podLinkOps(kd, { ip: pod.ip, ...u }, peers));
  await runOps(api, ns, pod.name, "listing its VXLAN peers", podFdbOps(kd, peers));
  if (!dev.netConfig) return undefined;
  // the device's addresses and routes: one forced ip batch (its failing lines named in the output)
  const [inv] = renderInvocations(dev.netConfig.ops, { force: true });
  const r = inv ? await api.exec(ns, pod.name, inv.argv, inv.input !== undefined ? { input: inv.input } : {}) : { exitCode: 0, output: "" };
  const failed = failedBatchLines(r.output);
  return { label: dev.netConfig.label, exitCode: failed.length || r.exitCode !== 0 ? 1 : 0, output: r.output };
}

function initialKubeState(plan: Plan, k: KubeLabPlan, opts: KubeDeployOptions): LabState {
  const now = new Date().toISOString();
  const state: LabState = {
    version: 1,
    name: plan.lab,
    kind: opts.kind ?? "kathara",
    netns: k.namespace,
    phase: "deploying",
    createdAt: now,
    updatedAt: now,
    devices: plan.devices.map((d) => {
      const kd = k.devices.find((x) => x.device === d.name)!;
      const ds = deviceStateOf(d);
      // kinda's end of each interface is kvN in the pod (what cuts and captures act on)
      ds.interfaces = ds.interfaces.map((i) => ({ ...i, hostIf: kd.interfaces.find((x) => x.name === i.name)?.peer ?? i.hostIf }));
      return { ...ds, container: kd.pod };
    }),
    domains: plan.domains.map((d) => ({ name: d.name, bridge: d.bridge, vni: k.domains.find((x) => x.name === d.name)!.vni })),
    nextSlot: plan.devices.length,
    warnings: plan.warnings.map((w) => w.message),
    runtime: {
      kind: "kubernetes",
      namespace: k.namespace,
      ...(opts.kube?.placement && Object.keys(opts.kube.placement).length ? { placement: opts.kube.placement } : {}),
      ...(opts.kube?.nodeSelector && Object.keys(opts.kube.nodeSelector).length ? { nodeSelector: opts.kube.nodeSelector } : {}),
      ...(opts.target.kubeconfig ? { kubeconfig: opts.target.kubeconfig } : {}),
      ...(opts.target.context ? { context: opts.target.context } : {}),
    },
  };
  if (plan.source) state.source = plan.source;
  if (opts.imageMap && Object.keys(opts.imageMap).length) state.imageMap = opts.imageMap;
  if (opts.upOptions && Object.keys(opts.upOptions).length) state.upOptions = opts.upOptions;
  return state;
}

/** The namespace, ConfigMaps and pods; once they run, every pod's links. The netConfig outcomes, by device. */
async function createAndLink(
  plan: Plan,
  k: KubeLabPlan,
  state: LabState,
  tars: Map<string, Buffer>,
  opts: KubeDeployOptions,
  rep: Reporter,
): Promise<Map<string, HostStep | undefined>> {
  const { api, store } = opts;
  const pool = limiter(opts.parallelism);
  const mk = rep.step(`creating namespace ${k.namespace}, ${k.devices.length} ConfigMaps and pods`);
  await api.createNamespace(k.namespace, k.namespaceLabels);
  const labels = { [LABEL_MANAGED]: MANAGED_VALUE, [LABEL_LAB]: plan.lab };
  await Promise.all(
    k.devices.map((d) =>
      pool(async () => {
        await api.create(k.namespace, configMapManifest(d.configMap, labels, tars.get(d.device)!));
        await api.create(k.namespace, d.manifest);
      }),
    ),
  );
  mk.done();
  const wait = rep.step(`waiting for ${k.devices.length} pods to run`);
  const pods = await waitRunning(api, k, opts.signal, (n) => wait.update(`waiting for pods to run: ${n}/${k.devices.length}`));
  wait.done(`${k.devices.length} pods running on ${new Set([...pods.values()].map((p) => p.node)).size} host nodes`);
  for (const ds of state.devices) {
    const p = pods.get(ds.name)!;
    ds.pod = { name: p.name, node: p.node, ip: p.ip };
    ds.containerId = p.name;
  }
  store.update(state);
  const peers = domainPeers(k, new Map([...pods].map(([dev, p]) => [dev, p.ip])));
  const linkStep = rep.step(`making ${k.domains.length} collision domains as VXLAN inside the pods`);
  const nets = new Map<string, HostStep | undefined>();
  await Promise.all(
    plan.devices.map((dev) =>
      pool(async () => {
        if (opts.signal?.aborted) throw new InterruptedError();
        const kd = k.devices.find((x) => x.device === dev.name)!;
        nets.set(dev.name, await linkDevice(api, k, kd, dev, pods.get(dev.name)!, peers));
      }),
    ),
  );
  linkStep.done();
  return nets;
}

/** Each device's start-up, with the same runner as on Docker, through its pod's exec API; the devices that failed. */
async function runKubeStartups(
  plan: Plan,
  k: KubeLabPlan,
  state: LabState,
  nets: Map<string, HostStep | undefined>,
  opts: KubeDeployOptions,
  rep: Reporter,
): Promise<string[]> {
  const { store } = opts;
  const failed: string[] = [];
  const rt = podRuntime(opts.api, k.namespace);
  const defaultTimeoutMs = startupTimeoutMs();
  const runs = plan.devices.filter((d) => d.kathara || d.startup.length || d.folder);
  const s = rep.step(`running start-up on ${runs.length} devices`);
  store.makeDir(dirname(store.logPath(plan.lab, "x")));
  await Promise.all(
    plan.devices.map(async (dev) => {
      const ds = state.devices.find((x) => x.name === dev.name)!;
      const logPath = store.logPath(plan.lab, dev.name);
      const net = nets.get(dev.name);
      if (!runs.includes(dev)) ds.startup = net ? hostStepResult(net, logPath) : { status: "not-run" };
      else
        ds.startup = await runStartupSteps(rt, ds.pod!.name, dev, {
          logPath,
          defaultTimeoutMs,
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(net ? { before: net } : {}),
        });
      if (ds.startup.status === "failed") failed.push(dev.name);
    }),
  );
  s.done(`${runs.length - failed.length}/${runs.length} start-ups succeeded`);
  return failed.sort();
}

export async function kubeDeploy(plan: Plan, opts: KubeDeployOptions): Promise<DeployResult> {
  const t0 = performance.now();
  const { api, store } = opts;
  const rep = opts.reporter ?? silentReporter;
  const k = planKubeLab(plan, opts.kube ?? {});
  const pre = rep.step(`checking lab ${plan.lab} on the host cluster (${plan.devices.length} devices, namespace ${k.namespace})`);
  let tars: Map<string, Buffer>;
  try {
    tars = await preflight(k, plan, opts);
    pre.done();
  } catch (e) {
    pre.fail();
    throw e;
  }
  for (const w of plan.warnings) rep.warn(w.message);
  const state = initialKubeState(plan, k, opts);
  store.claim(state); // from here on `kinda down` finds the lab, and its namespace, after a crash
  let failedDevices: string[] = [];
  let readyAt: number;
  try {
    const nets = await createAndLink(plan, k, state, tars, opts, rep);
    readyAt = performance.now();
    if (opts.waitStartup !== false) failedDevices = await runKubeStartups(plan, k, state, nets, opts, rep);
    if (opts.signal?.aborted) throw new InterruptedError();
  } catch (e) {
    const undo = rep.step(`deploy failed; deleting namespace ${k.namespace}`);
    try {
      await kubeTeardown(plan.lab, { api, store, runShutdown: false });
      undo.done();
    } catch (te) {
      undo.fail(`cleanup failed too: ${(te as Error).message}; run kinda down ${plan.lab}`);
    }
    throw e;
  }
  state.phase = "up";
  store.update(state);
  return { state, failedDevices, seconds: (performance.now() - t0) / 1000, readySeconds: (readyAt - t0) / 1000 };
}

export interface KubeTeardownOptions {
  api: KubeApi;
  store: StateStore;
  reporter?: Reporter;
  runShutdown?: boolean;
}

/**
 * Removes a lab of the Kubernetes runtime: its shutdown steps, then its namespace (pods and
 * ConfigMaps with it), then its state. Only a namespace that carries the lab's labels is deleted.
 * Idempotent.
 */
export async function kubeTeardown(name: string, opts: KubeTeardownOptions): Promise<{ containers: number; seconds: number }> {
  const t0 = performance.now();
  const { api, store } = opts;
  const rep = opts.reporter ?? silentReporter;
  const st = store.read(name);
  if (!st?.runtime) throw new KindaError(`lab ${name} has no record of a Kubernetes runtime`);
  const ns = st.runtime.namespace;
  if (st.phase !== "tearing-down") {
    const full = store.markTearingDown(st);
    if (full) rep.warn(full);
  }
  const have = await api.namespace(ns);
  let pods = 0;
  if (have) {
    if (have.labels[LABEL_LAB] !== name || have.labels[LABEL_MANAGED] !== MANAGED_VALUE)
      throw new KindaError(`namespace ${ns} on the host cluster is not lab ${name}'s (its labels say otherwise): kinda leaves it alone`, {
        hint: `remove the lab's record with kinda down --force ${name} once you have checked`,
      });
    const running = (await api.pods(ns)).filter((p) => p.phase === "Running");
    pods = running.length;
    if (opts.runShutdown !== false) {
      const rt = podRuntime(api, ns);
      const ms = shutdownTimeoutMs();
      const withShutdown = st.devices.filter((d) => d.shutdown?.length && running.some((p) => p.name === (d.pod?.name ?? d.container)));
      if (withShutdown.length) {
        const s = rep.step(`running shutdown scripts on ${withShutdown.length} devices`);
        await Promise.all(withShutdown.map((d) => runShutdownSteps(rt, d.pod?.name ?? d.container, d, ms)));
        s.done();
      }
    }
    const s = rep.step(`deleting namespace ${ns} (${pods} pods)`);
    await api.deleteNamespace(ns);
    s.done();
  }
  store.remove(name);
  return { containers: pods, seconds: (performance.now() - t0) / 1000 };
}
