/**
 * `kinda device LAB NAME add` for a device the lab's source defines (a Kathara lab directory's
 * lab.conf / NAME.startup / NAME/, a YAML or TypeScript topology's device): made as `up` makes it
 * (Kathara's `lstart NAME` on a running lab): its container, its links into the lab's collision
 * domains (new bridges for domains the lab does not have yet), its staged files, its addresses
 * and routes and its start-up, then recorded so `status`, `device remove` and `down` know it.
 * Anything failing on the way, a start-up that fails included, removes what was made: the lab is
 * left as it was, and the error says which step failed with the end of its output.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { KindaError, PreflightError, type Issue } from "../core/errors.js";
import type { Runtime } from "../model/container.js";
import type { Kernel } from "../model/kernel.js";
import { newDevice } from "../model/lab.js";
import { fitDeviceToLab, planLab, type DevicePlan, type Plan } from "../plan/lab.js";
import { ifKey, takeSlot, type LiveOp, type NsRef } from "../plan/live.js";
import type { LabState, LiveState, StartupResult, StateStore } from "../state/store.js";
import { containerSpec, deviceStateOf, startDevice } from "./lab.js";
import { applyOps, readLab } from "./live.js";
import { limiter } from "./pool.js";
import { rerouteAndSave, type RerouteResult } from "./reroute.js";
import { withDeviceFrom, withoutDevice } from "../plan/reroute.js";
import { collectDeviceFiles, writeStage } from "./stage.js";
import { runStartupSteps, startupTimeoutMs } from "./startup.js";

export interface PlannedDeviceOptions {
  store: StateStore;
  runtime: Runtime;
  kernel: Kernel;
  /** Where the device's definition came from, for messages (the lab's source). */
  source: string;
}

/** The last lines of a start-up log (it is removed with the device). */
function logTail(path: string | undefined, lines = 12): string {
  if (!path || !existsSync(path)) return "";
  const all = readFileSync(path, "utf8").trimEnd().split("\n");
  return all.slice(-lines).join("\n");
}

function startupError(name: string, res: StartupResult): KindaError {
  const why = res.timedOut !== undefined ? `was stopped after ${res.timedOut} s` : `failed at ${res.failedStep} (exit ${res.exitCode})`;
  const tail = logTail(res.log);
  return new KindaError(
    `device ${name}: its start-up ${why}; the device was removed again, the lab is as it was${tail ? `\n${tail}` : ""}`,
  );
}

/** Adds `planned` (a device of `plan`, the lab's source planned as `up` plans it) to the running lab `st`. */
export async function addPlannedDevice(st: LabState, plan: Plan, planned: DevicePlan, opts: PlannedDeviceOptions): Promise<string> {
  const { store, runtime, kernel } = opts;
  // a slot of its own, never one of a device the lab has or had (st is saved only on success)
  const { dev, newDomains } = fitDeviceToLab(st, planned, takeSlot(st));
  const missing = await runtime.missingImages([dev.image]);
  if (missing.length)
    throw new PreflightError([{ device: dev.name, field: "image", message: `image ${dev.image} is not on this machine` }]);
  const issues: Issue[] = [];
  const files = collectDeviceFiles(dev, issues);
  if (issues.length) throw new PreflightError(issues);

  const lab = { netns: st.netns };
  const bridges: LiveOp[] = newDomains.map((d) => ({ kind: "bridge", at: { ns: lab, dev: d.bridge }, domain: d.name, add: true }));
  const logPath = store.logPath(st.name, dev.name);
  let id: string | undefined;
  const undo = async () => {
    if (id) await runtime.remove(id).catch(() => undefined);
    await applyOps(bridges.map((b) => ({ ...b, add: false }) as LiveOp).reverse(), { runtime, kernel }).catch(() => undefined);
    rmSync(dev.stageDir, { recursive: true, force: true });
    rmSync(logPath, { force: true });
  };
  let res: StartupResult;
  try {
    await applyOps(bridges, { runtime, kernel });
    writeStage(dev.stageDir, files);
    const started = await startDevice(plan, dev, runtime, limiter(1), (cid) => (id = cid), { kernel });
    res = await runStartupSteps(runtime, started.id, dev, {
      logPath,
      defaultTimeoutMs: startupTimeoutMs(),
      ...(started.netConfig ? { before: started.netConfig } : {}),
    });
    if (res.status === "failed") throw startupError(dev.name, res);
  } catch (e) {
    await undo();
    throw e;
  }
  st.devices.push({ ...deviceStateOf(dev), containerId: id!, startup: res });
  st.domains.push(...newDomains);
  const live: LiveState = st.live ?? { cuts: [], shaping: [] };
  (live.addedDevices ??= []).push(dev.name);
  st.live = live;
  // static routing: the device and its links are back in the graph, so the others route to it again
  let rr: RerouteResult | undefined;
  if (st.routing && plan.routing) {
    st.routing = withDeviceFrom(st.routing, plan.routing, dev.name);
    rr = await rerouteAndSave(st, store, { runtime, kernel });
  } else store.update(st);
  const ifs = dev.interfaces.map((i) => `${i.name}:${i.domain}`).join(" ") || "no links";
  const ran = res.status === "ok" ? "start-up ok" : "no start-up";
  return `added device ${dev.name} from ${opts.source} (container ${dev.container}, image ${dev.image}; ${ifs}; ${ran})${rr ? `; ${rr.summary}` : ""}`;
}

export interface AddDeviceOptions {
  store: StateStore;
  /** Makes, starts and removes the device's container (app/root.ts passes the Docker runtime). */
  runtime: Runtime;
  kernel: Kernel;
  /** Image (default kathara/base, through the same substitution as `up --image-map`). */
  image?: string;
  imageMap?: Record<string, string>;
}

/** The lab a device NAME may be added to: up, NAME a device name it does not have yet. */
export function newDeviceLab(lab: string, name: string, store: StateStore): LabState {
  const st = readLab(lab, store);
  if (!/^[a-z0-9_]{1,30}$/.test(name)) throw new KindaError(`NAME ${JSON.stringify(name)}: a device name is 1-30 of a-z, 0-9 and _`);
  if (st.devices.some((d) => d.name === name) || st.cluster?.nodes.some((n) => n.name === name))
    throw new KindaError(`NAME ${name}: lab ${lab} already has it`);
  return st;
}

/**
 * `kinda device LAB NAME add`: a new device (a container as `up` makes them, no links yet: add
 * them with `kinda link LAB NAME--OTHER add`) in a lab that is up, recorded so `down` removes it.
 */
export async function addDevice(lab: string, name: string, opts: AddDeviceOptions): Promise<string> {
  const store = opts.store;
  const st = newDeviceLab(lab, name, store);
  const dev = newDevice(name);
  if (opts.image) dev.image = opts.image;
  const plan = planLab(
    { metadata: {}, devices: [dev], warnings: [] },
    { name: lab, imageMap: opts.imageMap ?? {}, sharedDir: store.sharedDir(lab), stageRoot: store.stageRoot(lab) },
  );
  const dp = plan.devices[0]!;
  const runtime = opts.runtime;
  const missing = await runtime.missingImages([dp.image]);
  if (missing.length)
    throw new KindaError(`--image ${dp.image}: no such image on this machine`, {
      hint: "build or load it first; --image-map FROM=TO substitutes",
    });
  mkdirSync(dp.stageDir, { recursive: true });
  const id = await runtime.create(containerSpec(dp));
  try {
    await runtime.start(id);
  } catch (e) {
    await runtime.remove(id);
    throw e;
  }
  st.devices.push({
    name,
    container: dp.container,
    containerId: id,
    image: dp.image,
    shell: dp.shell,
    interfaces: [],
    slot: takeSlot(st),
    startup: { status: "not-run" },
  });
  const live: LiveState = st.live ?? { cuts: [], shaping: [] };
  (live.addedDevices ??= []).push(name);
  st.live = live;
  store.update(st);
  return `added device ${name} (container ${dp.container}, image ${dp.image}); link it: kinda link ${lab} ${name}--OTHER add`;
}

/** `kinda device LAB NAME remove`: removes a device, its links' lab-side ends going with it. */
export async function removeDevice(lab: string, name: string, opts: AddDeviceOptions): Promise<string> {
  const store = opts.store;
  const st = readLab(lab, store);
  const d = st.devices.find((x) => x.name === name);
  if (!d)
    throw new KindaError(`NAME ${name}: lab ${lab} has no device of that name`, {
      hint: `devices: ${st.devices.map((x) => x.name).join(", ")}`,
    });
  if (st.cluster?.links?.some((l) => l.device === name))
    throw new KindaError(`NAME ${name}: Kubernetes nodes are linked to it; remove the cluster first`);
  const lab0: NsRef = { netns: st.netns };
  const ops: LiveOp[] = d.interfaces.map((i) => ({
    kind: "veth",
    at: { ns: lab0, dev: i.hostIf },
    altname: `${name}.${i.name}`,
    bridge: "",
    peer: { container: d.container },
    ifname: i.name,
    add: false,
  }));
  await applyOps(ops, { runtime: opts.runtime, kernel: opts.kernel });
  await opts.runtime.remove(d.containerId ?? d.container);
  const gone = new Set(ops.map((o) => ifKey(o.at)));
  st.devices = st.devices.filter((x) => x !== d);
  if (st.live) {
    st.live.cuts = st.live.cuts.filter((c) => !gone.has(c.key));
    st.live.shaping = st.live.shaping.filter((c) => !gone.has(c.key));
    if (st.live.addedDevices) st.live.addedDevices = st.live.addedDevices.filter((x) => x !== name);
  }
  if (st.routing) st.routing = withoutDevice(st.routing, name);
  // the device is gone: a failed re-route cannot bring it back, so the state records its removal either way
  const rr = await rerouteAndSave(st, store, { runtime: opts.runtime, kernel: opts.kernel });
  return `removed device ${name} and its ${ops.length} interfaces${rr ? `; ${rr.summary}` : ""}`;
}
