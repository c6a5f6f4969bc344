/**
 * Applies a plan: containers through the runtime (bounded parallelism), kernel objects through
 * one `ip -batch` per namespace and step, start-up scripts once a device's interfaces all exist.
 * A failure (or an abort) halfway removes everything created. Teardown finds objects by label
 * and name, so it also works after a crash.
 */
import { checkDeployShaping, shapeAtDeploy } from "./live.js";
import { requirePrograms } from "../core/host.js";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { hostPortIssues } from "./ports.js";
import { InterruptedError, KindaError, PreflightError, formatIssue, type Issue } from "../core/errors.js";
import type { IpOp } from "../model/ops.js";
import type { Kernel } from "../model/kernel.js";
import { LABEL_LAB, LABEL_MANAGED, MANAGED_VALUE, labNetns } from "../core/names.js";
import {
  deviceLinkBatch,
  devicePostLinkBatch,
  devicePreLinkBatch,
  externalHostBatch,
  externalLabBatch,
  externalUndoBatch,
  labNamespaceBatch,
  type DevicePlan,
  type Plan,
} from "../plan/lab.js";
import type { ContainerSpec, Runtime } from "../model/container.js";
import { destroyCluster } from "./cluster.js";
import type { ClusterProvider, ProviderLookup } from "../model/provider.js";
import { removeHostSide } from "./cluster-apply.js";
import { CorruptStateError, isDiskFull, removedElsewhere, type DeviceState, type LabState, type StateStore } from "../state/store.js";
import { collectDeviceFiles, needsRunner, shutdownPath, writeStage, type StagedFile } from "./stage.js";
import { hostStepResult, runStartupSteps, startupTimeoutMs, type HostStep } from "./startup.js";
import { deferred, limiter } from "./pool.js";
import { runServices } from "./services.js";
import { silentReporter, type Reporter } from "../core/reporter.js";
import { readArgv } from "../plan/ops.js";

export interface DeployOptions {
  runtime: Runtime;
  store: StateStore;
  reporter?: Reporter;
  /** Container operations in flight at once. */
  parallelism?: number;
  /** Aborting removes what was created and rejects with an "interrupted" error. */
  signal?: AbortSignal;
  kind?: LabState["kind"];
  /** Wait for start-up scripts to finish (default true). */
  waitStartup?: boolean;
  /** Image substitutions the plan was made with, recorded so `restart` can plan it again. */
  imageMap?: Record<string, string>;
  /** The kernel adapter (the environment's: app/root.ts createEnv). */
  kernel: Kernel;
  /** PATH in which the host programs must be (default: the process's). */
  hostPath?: string;
  /** The caller (app/up.ts) has checked the host programs of the lab and its cluster already, all at once. */
  hostChecked?: boolean;
  /** Recorded in the state: the options of `up` that `restart` must give again. */
  upOptions?: LabState["upOptions"];
  /** Told each engine step's device, name and span (performance.now() ms): the bench's phase split. */
  onStep?: StepListener;
}

export type StepListener = (device: string, step: string, startMs: number, endMs: number) => void;

export interface DeployResult {
  state: LabState;
  /** Devices whose start-up failed (the lab stays up). */
  failedDevices: string[];
  /** Whole deploy, start-up scripts included. */
  seconds: number;
  /** Until every device was running with all its interfaces (start-up scripts may still run). */
  readySeconds: number;
}

const TRACE = process.env["KINDA_TRACE"] === "1";
let traceT0 = performance.now();
/** KINDA_TRACE=1: one line per engine step with its start and duration (for tuning); spans to onStep. */
async function traced<T>(device: string, step: string, f: () => Promise<T>, onStep?: StepListener): Promise<T> {
  if (!TRACE && !onStep) return f();
  const t = performance.now();
  try {
    return await f();
  } finally {
    const end = performance.now();
    onStep?.(device, step, t, end);
    if (TRACE) process.stderr.write(`trace ${((t - traceT0) / 1000).toFixed(3)} +${((end - t) / 1000).toFixed(3)} ${device} ${step}\n`);
  }
}

const SHELL_MISSING = /no such file or directory|executable file not found/i;

/**
 * What the runtime is asked to create for a device: the container's fields, taken one by one, so
 * that what the plan adds for kinda's own use (steps, interfaces, staging) never reaches the runtime.
 */
export function containerSpec(dev: DevicePlan): ContainerSpec {
  const { image, hostname, labels, env, sysctls, capAdd, privileged, ports, network, mounts, ulimits } = dev;
  return {
    name: dev.container,
    ...{ image, hostname, labels, env, sysctls, capAdd, privileged, ports, network, mounts, ulimits },
    ...(dev.memoryBytes !== undefined ? { memoryBytes: dev.memoryBytes } : {}),
    ...(dev.nanoCpus !== undefined ? { nanoCpus: dev.nanoCpus } : {}),
    ...(dev.entrypoint ? { entrypoint: dev.entrypoint } : {}),
    ...(dev.cmd ? { cmd: dev.cmd } : {}),
    ...(dev.devices ? { devices: dev.devices } : {}),
  };
}

/** Is a lab with this name present in any form (state, containers, namespace)? */
export async function labExists(runtime: Runtime, store: StateStore, name: string, kernel: Kernel): Promise<boolean> {
  if (store.read(name) || kernel.netnsExists(labNetns(name))) return true;
  return (await runtime.list({ [LABEL_LAB]: name, [LABEL_MANAGED]: MANAGED_VALUE })).length > 0;
}

/** Everything that can be checked before creating anything; throws PreflightError with all problems. */
export async function preflight(
  plan: Plan,
  runtime: Runtime,
  store: StateStore,
  opts: { kernel: Kernel; hostPath?: string | undefined; hostChecked?: boolean | undefined },
): Promise<Map<string, StagedFile[]>> {
  if (!opts.hostChecked) requirePrograms(["lab"], [], opts.hostPath);
  await runtime.ping();
  const issues: Issue[] = [];
  if (await labExists(runtime, store, plan.lab, opts.kernel)) {
    throw new KindaError(`a lab named ${plan.lab} already exists on this machine`, {
      hint: `tear it down first (kinda down ${plan.lab}) or pick another name (--name)`,
    });
  }
  const missing = new Set(await runtime.missingImages(plan.devices.map((d) => d.image)));
  for (const d of plan.devices) {
    if (!missing.has(d.image)) continue;
    const mapped = d.image !== d.requestedImage ? ` (mapped from ${d.requestedImage})` : "";
    issues.push({
      device: d.name,
      field: "image",
      message: `image ${d.image}${mapped} is not present locally${d.where ? ` (device defined at ${d.where})` : ""}; pull or build it, or substitute another with --image-map ${d.requestedImage}=IMAGE`,
    });
  }
  for (const d of plan.devices)
    for (const f of d.devices ?? [])
      if (!existsSync(f)) issues.push({ device: d.name, message: `${f} does not exist on this host (the device needs it passed in)` });
  issues.push(...(await hostPortIssues(plan)));
  const staged = new Map<string, StagedFile[]>();
  for (const d of plan.devices) staged.set(d.name, collectDeviceFiles(d, issues));
  for (const x of plan.external) {
    const [file, line] = (x.where ?? "lab.ext:").split(":");
    const place = { file: file!, ...(line ? { line: Number(line) } : {}) };
    if ((await opts.kernel.run(readArgv({ read: "links", dev: x.iface }))).exitCode !== 0)
      issues.push({ ...place, message: `host interface ${x.iface} does not exist (lab.ext joins it to collision domain ${x.domain})` });
    else if (x.vlan !== undefined && (await opts.kernel.run(readArgv({ read: "links", dev: x.name }))).exitCode === 0)
      issues.push({ ...place, message: `${x.name} already exists on the host; kinda makes its VLAN interfaces itself` });
  }
  if (issues.length) throw new PreflightError(issues);
  return staged;
}

function initialState(plan: Plan, kind: LabState["kind"]): LabState {
  const now = new Date().toISOString();
  const s: LabState = {
    version: 1,
    name: plan.lab,
    kind,
    netns: plan.netns,
    phase: "deploying",
    createdAt: now,
    updatedAt: now,
    devices: plan.devices.map(deviceStateOf),
    domains: plan.domains.map((d) => ({ name: d.name, bridge: d.bridge })),
    nextSlot: plan.devices.length,
    warnings: plan.warnings.map((w) => (w.place ? formatIssue({ ...w.place, message: w.message }) : w.message)),
  };
  if (plan.source) s.source = plan.source;
  if (plan.routing) s.routing = plan.routing;
  return s;
}

/** A device's record in the state, before its container exists. */
export function deviceStateOf(d: DevicePlan): DeviceState {
  return {
    name: d.name,
    container: d.container,
    image: d.image,
    shell: d.shell,
    interfaces: d.interfaces.map((i) => ({ name: i.name, domain: i.domain, hostIf: i.hostIf, ...(i.mac ? { mac: i.mac } : {}) })),
    slot: d.slot,
    shutdown: d.shutdown.map((s) => ({ label: s.label, path: shutdownPath(s) })),
    ...(d.role ? { role: d.role } : {}),
    ...(d.services.some((x) => x.after === "cluster") ? { clusterServices: d.services.filter((x) => x.after === "cluster") } : {}),
  };
}

/** Writes the shared folder and every device's staged files (after the claim: `down` removes them). */
export function stageFiles(plan: Plan, store: StateStore, staged: Map<string, StagedFile[]>): void {
  store.makeDir(store.sharedDir(plan.lab));
  for (const d of plan.devices) {
    try {
      writeStage(d.stageDir, staged.get(d.name) ?? []);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // Node's message starts with the code already ("ENOSPC: no space left on device, write")
      const why = err.code && !err.message.startsWith(err.code) ? `${err.code} ${err.message}` : err.message;
      throw new KindaError(`device ${d.name}: could not stage its files under ${d.stageDir}: ${why}`, {
        cause: e,
        ...(isDiskFull(e) ? { hint: `free space under ${store.root} (the state root, KINDA_STATE_DIR), then run kinda up again` } : {}),
      });
    }
  }
}

/** Runs argv with the device's shell, falling back to /bin/sh when the image has no such shell. */
async function execWithShell(runtime: Runtime, id: string, shell: string, args: string[]) {
  const r = await runtime.exec(id, [shell, ...args]);
  if ((r.exitCode === 126 || r.exitCode === 127) && shell !== "/bin/sh" && SHELL_MISSING.test(r.output) && r.output.includes(shell)) {
    return runtime.exec(id, ["/bin/sh", ...args]);
  }
  return r;
}

/** "Command failed -:N" lines of an `ip -force -batch -` run: the failing lines' numbers (1-based). */
export function failedBatchLines(stderr: string): number[] {
  return [...stderr.matchAll(/^Command failed -:(\d+)$/gm)].map((m) => Number(m[1]));
}

/**
 * Inside the device, one `ip` process: `post` (its links brought up), then (netConfig) the
 * addresses and routes kinda applies for it. A `post` line that fails fails the deploy; a failing
 * netConfig line fails the device's start-up (as its start-up step would have): the lab stays up.
 */
async function deviceSideBatch(
  kernel: Kernel,
  dev: DevicePlan,
  pid: number,
  post: IpOp[],
  net: DevicePlan["netConfig"],
): Promise<HostStep | undefined> {
  if (!net) {
    await kernel.apply({ pid }, post);
    return undefined;
  }
  const stderr = await kernel.apply({ pid }, [...post, ...net.ops], { force: true });
  const failed = failedBatchLines(stderr);
  if (failed.some((n) => n <= post.length)) throw new KindaError(`device ${dev.name}: its interfaces did not come up: ${stderr.trim()}`);
  return { label: net.label, exitCode: failed.length ? 1 : 0, output: stderr };
}

export interface StartedDevice {
  id: string;
  /** The outcome of the addresses and routes kinda applied from the host (DevicePlan.netConfig). */
  netConfig?: HostStep;
}

/**
 * Creates and starts a device's container (in one slot of the pool, as the floor does, so a
 * device's links follow its start instead of waiting behind every other create), links it into
 * its collision domains' bridges, applies its netConfig and starts its network services.
 * `created` is told the container's id as soon as it exists (for the state, and to stop early).
 */
export async function startDevice(
  plan: Plan,
  dev: DevicePlan,
  runtime: Runtime,
  pool: <T>(f: () => Promise<T>) => Promise<T>,
  created: (id: string) => void = () => undefined,
  with_: { kernel: Kernel; onStep?: StepListener },
): Promise<StartedDevice> {
  const { kernel, onStep } = with_;
  const { id, info } = await pool(async () => {
    const id = await traced(dev.name, "create", () => runtime.create(containerSpec(dev)), onStep);
    created(id);
    return { id, info: await traced(dev.name, "start", () => runtime.start(id), onStep) };
  });
  if (!info.running || info.pid <= 0)
    throw new KindaError(`device ${dev.name}: container ${dev.container} did not stay running after start`);
  // a device's services may make the interfaces its addresses go on (an Open vSwitch bridge): then they come after
  const late = dev.services.length > 0 && dev.netConfig;
  const links = async () => {
    await kernel.apply({ pid: info.pid }, devicePreLinkBatch(dev, "eth0"));
    await kernel.apply({ name: plan.netns }, deviceLinkBatch(dev, info.pid));
    return deviceSideBatch(kernel, dev, info.pid, devicePostLinkBatch(dev, info.nat?.gateway), late ? undefined : dev.netConfig);
  };
  let netConfig = await traced(dev.name, "links", links, onStep);
  await traced(dev.name, "services", () => runServices(runtime, id, dev, "network"), onStep);
  if (late) netConfig = await traced(dev.name, "addresses", () => deviceSideBatch(kernel, dev, info.pid, [], late), onStep);
  return { id, ...(netConfig ? { netConfig } : {}) };
}

/** Deploys a planned lab. On failure or abort, removes what it created, then rethrows. */
/** What bringing the devices of one deploy up shares. */
interface DeviceRun {
  plan: Plan;
  opts: DeployOptions;
  kernel: Kernel;
  pool: ReturnType<typeof limiter>;
  staged: Map<string, StagedFile[]>;
  byName: Map<string, DeviceState>;
  checkAbort: () => void;
  /** Start-up time limit of a device that sets none. */
  defaultTimeoutMs: number;
}

/** Creates and starts a device once those it depends on are up, then links it and starts its services. */
async function bringUp(
  r: DeviceRun,
  dev: DevicePlan,
  ready: Map<string, ReturnType<typeof deferred<void>>>,
  onUp: () => void,
): Promise<StartedDevice> {
  const me = ready.get(dev.name)!;
  const { runtime } = r.opts;
  try {
    await Promise.all(dev.dependsOn.map((n) => ready.get(n)!.promise));
    r.checkAbort();
    const created = (id: string) => {
      r.byName.get(dev.name)!.containerId = id;
      r.checkAbort();
    };
    const started = await startDevice(r.plan, dev, runtime, r.pool, created, {
      kernel: r.kernel,
      ...(r.opts.onStep ? { onStep: r.opts.onStep } : {}),
    });
    onUp();
    me.resolve();
    return started;
  } catch (e) {
    me.reject(e);
    throw e;
  }
}

/** Brings every device up in lab.dep order and runs start-up scripts; the first real error wins over interrupts. */
async function startDevices(r: DeviceRun, rep: Reporter): Promise<{ failedDevices: string[]; readyAt: number }> {
  const { plan, opts } = r;
  const total = plan.devices.length;
  let started = 0;
  let readyAt = performance.now();
  const failedDevices: string[] = [];
  const runs = new Set(plan.devices.filter((d) => needsRunner(r.staged.get(d.name) ?? [], d.kathara)).map((d) => d.name));
  const devStep = rep.step(`starting ${total} devices`);
  const ready = new Map(plan.devices.map((d) => [d.name, deferred<void>()]));
  const onUp = () => {
    started++;
    readyAt = performance.now();
    devStep.update(`starting devices: ${started}/${total} up`);
  };
  const runStartup = async (dev: DevicePlan, net: HostStep | undefined): Promise<void> => {
    const ds = r.byName.get(dev.name)!;
    const logPath = opts.store.logPath(plan.lab, dev.name);
    // the addresses and routes applied from the host may be all there is: no runner then
    const res = !runs.has(dev.name)
      ? net
        ? hostStepResult(net, logPath)
        : { status: "not-run" as const }
      : await traced(
          dev.name,
          "startup",
          () =>
            runStartupSteps(opts.runtime, ds.containerId!, dev, {
              logPath,
              defaultTimeoutMs: r.defaultTimeoutMs,
              ...(opts.signal ? { signal: opts.signal } : {}),
              ...(net ? { before: net } : {}),
            }),
          opts.onStep,
        );
    ds.startup = res;
    if (res.status === "failed") failedDevices.push(dev.name);
  };
  const results = await Promise.allSettled(
    plan.devices.map(async (dev) => {
      const { netConfig } = await bringUp(r, dev, ready, onUp);
      if (opts.waitStartup !== false || (netConfig && !runs.has(dev.name))) await runStartup(dev, netConfig);
    }),
  );
  const errors = results.flatMap((x) => (x.status === "rejected" ? [x.reason as unknown] : []));
  if (errors.length) {
    devStep.fail();
    throw errors.find((e) => !(e instanceof InterruptedError)) ?? errors[0];
  }
  const scripts = runs.size ? `; ${runs.size - failedDevices.length}/${runs.size} start-up scripts succeeded` : "";
  devStep.done(`${total} devices up, all interfaces in place${scripts}`);
  return { failedDevices, readyAt };
}

/** Checks everything it can first, then creates the namespace and the devices; a failure or abort removes all of it. */
export async function deploy(plan: Plan, opts: DeployOptions): Promise<DeployResult> {
  const t0 = performance.now();
  traceT0 = t0;
  const { runtime, store } = opts;
  const { kernel } = opts;
  const rep = opts.reporter ?? silentReporter;
  const defaultTimeoutMs = startupTimeoutMs();
  const pre = rep.step(`checking lab ${plan.lab} (${plan.devices.length} devices, ${plan.domains.length} collision domains)`);
  let staged: Map<string, StagedFile[]>;
  try {
    await checkDeployShaping(plan.shaping);
    staged = await preflight(plan, runtime, store, { kernel, hostPath: opts.hostPath, hostChecked: opts.hostChecked });
    pre.done();
  } catch (e) {
    pre.fail();
    throw e;
  }
  for (const w of plan.warnings) rep.warn(w.place ? formatIssue({ ...w.place, message: w.message }) : w.message);

  const state = initialState(plan, opts.kind ?? "kathara");
  if (opts.imageMap && Object.keys(opts.imageMap).length) state.imageMap = opts.imageMap;
  if (opts.upOptions && Object.keys(opts.upOptions).length) state.upOptions = opts.upOptions;
  store.claim(state); // from here on, `kinda down` can find the lab even if this process dies
  const checkAbort = () => {
    if (opts.signal?.aborted) throw new InterruptedError();
  };
  const run: DeviceRun = {
    plan,
    opts,
    kernel,
    pool: limiter(opts.parallelism),
    staged,
    byName: new Map(state.devices.map((d) => [d.name, d])),
    checkAbort,
    defaultTimeoutMs,
  };
  let started: { failedDevices: string[]; readyAt: number };
  try {
    stageFiles(plan, store, staged);
    store.makeDir(dirname(store.logPath(plan.lab, "x")));
    const netStep = rep.step(`creating network namespace ${plan.netns} with ${plan.domains.length} segment bridges`);
    await kernel.netnsAdd(plan.netns);
    await kernel.apply({ name: plan.netns }, labNamespaceBatch(plan));
    if (plan.external.length) {
      // recorded first: a failure halfway gives back what was moved
      state.externalLinks = plan.external.map((x) => ({ name: x.name, ...(x.vlan !== undefined ? { vlan: x.vlan } : {}) }));
      store.update(state);
      await kernel.apply({ host: true }, externalHostBatch(plan));
      await kernel.apply({ name: plan.netns }, externalLabBatch(plan));
    }
    netStep.done();
    checkAbort();
    started = await startDevices(run, rep);
    if (plan.shaping.length) await shapeAtDeploy(state, plan.shaping, runtime, kernel);
    checkAbort();
  } catch (e) {
    // a `kinda down` from elsewhere makes this deploy fail at whatever step it was in (an exec
    // into a removed container, a deleted namespace): that, not the step's error, is the cause
    const lost = store.claimLost(state);
    if (lost === "taken") {
      // the name is another process's now: nothing found by label or name is this deploy's to
      // remove, but the containers it created (their ids recorded as it went) are
      await removeOwnContainers(runtime, state, run.pool);
    } else {
      const undo = rep.step(`deploy failed; removing what was created for lab ${plan.lab}`);
      try {
        await teardown(plan.lab, { runtime, store, kernel, runShutdown: false });
        undo.done(`removed what was created for lab ${plan.lab}`);
      } catch (te) {
        undo.fail(`cleanup failed too: ${(te as Error).message}; run kinda down ${plan.lab}`);
      }
    }
    throw lost && !(e instanceof InterruptedError) ? removedElsewhere(plan.lab, e) : e;
  }
  state.phase = "up";
  try {
    store.update(state); // throws if `kinda down` removed the lab meanwhile: it is not up
  } catch (e) {
    // removed by `down` while deploying: what this process made after it ran goes too (only when
    // no other process claimed the name since)
    if (!store.read(plan.lab)) await teardown(plan.lab, { runtime, store, kernel, runShutdown: false }).catch(() => undefined);
    else if (store.claimLost(state) === "taken") await removeOwnContainers(runtime, state, run.pool);
    throw e;
  }
  const failedDevices = started.failedDevices.sort();
  return { state, failedDevices, seconds: (performance.now() - t0) / 1000, readySeconds: (started.readyAt - t0) / 1000 };
}

/** Removes exactly the containers this deploy recorded (by id; one already gone is fine). */
async function removeOwnContainers(runtime: Runtime, state: LabState, pool: ReturnType<typeof limiter>): Promise<void> {
  const ids = state.devices.flatMap((d) => (d.containerId ? [d.containerId] : []));
  await Promise.all(ids.map((id) => pool(() => runtime.remove(id)).catch(() => undefined)));
}

export interface TeardownOptions {
  runtime: Runtime;
  store: StateStore;
  reporter?: Reporter;
  /** Run <device>.shutdown / shared.shutdown first (default true). */
  runShutdown?: boolean;
  parallelism?: number;
  /**
   * When the cluster cannot be removed (its provider is unknown here, or keeps failing), remove
   * the network anyway and forget the cluster instead of keeping it in the state for another try.
   */
  forgetCluster?: boolean;
  /** Finds the provider of a recorded cluster (app/root.ts makes the registry). */
  providers?: ProviderLookup;
  /** The provider in hand (used when it is the one that made the recorded cluster). */
  provider?: ClusterProvider;
  /** The kernel adapter (the environment's: app/root.ts createEnv). */
  kernel: Kernel;
}

/** Seconds a shutdown script may run (KINDA_SHUTDOWN_TIMEOUT, default 30). */
export function shutdownTimeoutMs(env: string | undefined = process.env["KINDA_SHUTDOWN_TIMEOUT"]): number {
  const s = env === undefined || env.trim() === "" ? 30 : Number(env);
  if (!Number.isFinite(s) || s < 0) throw new KindaError(`KINDA_SHUTDOWN_TIMEOUT=${env} is not a number of seconds`);
  return s * 1000;
}

/** Runs a device's shutdown steps; a hanging one must not hold `down` (the container goes anyway). */
export async function runShutdownSteps(runtime: Runtime, id: string, d: DeviceState, ms = shutdownTimeoutMs()): Promise<void> {
  for (const step of d.shutdown ?? []) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((res) => (timer = setTimeout(res, ms)));
    await Promise.race([execWithShell(runtime, id, d.shell, [step.path]).catch(() => undefined), timeout]);
    clearTimeout(timer);
  }
}

/**
 * The state `down` works from. One that cannot be read is refused (CorruptStateError, with its
 * path and the way out), unless forced: then the lab is removed by kinda's labels and names only
 * (its containers, namespace, host links and rules), as after a crash before its first state.
 */
function readForTeardown(name: string, store: StateStore, rep: Reporter, force: boolean): LabState | undefined {
  try {
    return store.read(name);
  } catch (e) {
    if (!(e instanceof CorruptStateError) || !force) throw e;
    rep.warn(
      `${e.message}; removing lab ${name} by kinda's labels and names; a cluster it had is not known (kind get clusters lists Kind's)`,
    );
    return undefined;
  }
}

/** Removes everything of a lab: containers (by label), its namespace, its state. Idempotent. */
export async function teardown(name: string, opts: TeardownOptions): Promise<{ containers: number; seconds: number }> {
  const t0 = performance.now();
  const { runtime, store } = opts;
  const { kernel } = opts;
  const rep = opts.reporter ?? silentReporter;
  const pool = limiter(opts.parallelism);
  const shutdownMs = shutdownTimeoutMs();
  const state = readForTeardown(name, store, rep, opts.forgetCluster === true);
  if (state && state.phase !== "tearing-down") {
    // a deploy still running elsewhere sees this and does not call the lab up
    const full = store.markTearingDown(state);
    if (full) rep.warn(full);
  }
  let clusterError: Error | undefined;
  // without a cluster, host links and rules of the lab are looked for (ip link, iptables-save)
  // while the containers go: nothing else depends on them
  let hostSide: Promise<unknown> = Promise.resolve();
  if (state?.cluster) {
    const s = rep.step(`removing cluster ${state.cluster.name} (${state.cluster.provider})`);
    try {
      await destroyCluster(name, {
        runtime,
        store,
        // a lab kinda only attached to (Kathara's) stays: undo what the cluster added in its devices
        labGoing: !state.external,
        kernel,
        ...(opts.providers ? { providers: opts.providers } : {}),
        ...(opts.provider ? { provider: opts.provider } : {}),
      });
      s.done();
    } catch (e) {
      clusterError = e as Error;
      s.fail(`could not remove cluster ${state.cluster.name}: ${clusterError.message}`);
    }
  } else {
    hostSide = removeHostSide(name, [], kernel).then(
      () => undefined,
      (e: unknown) => e,
    );
  }
  const containers = await runtime.list({ [LABEL_LAB]: name, [LABEL_MANAGED]: MANAGED_VALUE });

  if (opts.runShutdown !== false && state) {
    const withShutdown = state.devices.filter((d) => d.shutdown?.length);
    if (withShutdown.length) {
      const s = rep.step(`running shutdown scripts on ${withShutdown.length} devices`);
      await Promise.all(
        withShutdown.map(async (d) => {
          const c = containers.find((x) => x.labels["kinda.device"] === d.name && x.running);
          if (c) await runShutdownSteps(runtime, c.id, d, shutdownMs);
        }),
      );
      s.done();
    }
  }
  if (state?.externalLinks?.length) await kernel.apply({ name: state.netns }, externalUndoBatch(state.externalLinks), { force: true });
  // the namespace first: the kernel then removes every veth of the lab in one batch, and each
  // container's removal has only its loopback left to take down (one veth at a time otherwise)
  if (!state?.external) await kernel.netnsDelete(state?.netns ?? labNetns(name));
  const rm = rep.step(`removing ${containers.length} containers of lab ${name}`);
  await Promise.all(containers.map((c) => pool(() => runtime.remove(c.id))));
  rm.done();
  const hostError = await hostSide;
  if (hostError) throw hostError;
  const left = clusterError && store.readIfValid(name);
  if (left?.cluster && opts.forgetCluster) {
    rep.warn(`forgetting cluster ${left.cluster.name} (${left.cluster.provider}): its nodes may still exist; remove them yourself`);
  } else if (left?.cluster) {
    // the network is gone, the cluster is not: keep what `down` needs to try again
    left.phase = "tearing-down";
    left.devices = [];
    store.write(left);
    throw new KindaError(`lab ${name}: the network is removed, but cluster ${left.cluster.name} could not be: ${clusterError!.message}`, {
      hint: `fix the cause, then run kinda down ${name} again (or kinda down --force ${name} to forget the cluster)`,
    });
  }
  store.remove(name);
  return { containers: containers.length, seconds: (performance.now() - t0) / 1000 };
}
