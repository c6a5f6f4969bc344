/**
 * `kinda device LAB NAME add` for a device the lab's source defines (a Kathara lab directory's
 * lab.conf / NAME.startup / NAME/, a YAML or TypeScript topology's device): made as `up` makes it
 * (Kathara's `lstart NAME` on a running lab): its container, its links into the lab's collision
 * domains (new bridges for domains the lab does not have yet), its staged files, its addresses
 * and routes and its start-up, then recorded so `status`, `device remove` and `down` know it.
 * Anything failing on the way, a start-up that fails included, removes what was made: the lab is
 * left as it was, and the error says which step failed with the end of its output.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { KindaError, PreflightError, type Issue } from "../core/errors.js";
import type { Runtime } from "../model/container.js";
import type { DevicePlan, Plan } from "../plan/lab.js";
import { fitDeviceToLab, takeSlot, type LiveOp } from "../plan/live.js";
import type { LabState, LiveState, StartupResult, StateStore } from "../state/store.js";
import { deviceStateOf, startDevice } from "./lab.js";
import { applyOps } from "./live.js";
import { limiter } from "./pool.js";
import { collectDeviceFiles, writeStage } from "./stage.js";
import { runStartupSteps, startupTimeoutMs } from "./startup.js";

export interface PlannedDeviceOptions {
  store: StateStore;
  runtime: Runtime;
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
  const { store, runtime } = opts;
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
    await applyOps(bridges.map((b) => ({ ...b, add: false }) as LiveOp).reverse(), { runtime }).catch(() => undefined);
    rmSync(dev.stageDir, { recursive: true, force: true });
    rmSync(logPath, { force: true });
  };
  let res: StartupResult;
  try {
    await applyOps(bridges, { runtime });
    writeStage(dev.stageDir, files);
    const started = await startDevice(plan, dev, runtime, limiter(1), (cid) => (id = cid));
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
  store.update(st);
  const ifs = dev.interfaces.map((i) => `${i.name}:${i.domain}`).join(" ") || "no links";
  const ran = res.status === "ok" ? "start-up ok" : "no start-up";
  return `added device ${dev.name} from ${opts.source} (container ${dev.container}, image ${dev.image}; ${ifs}; ${ran})`;
}
