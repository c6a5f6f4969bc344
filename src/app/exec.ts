/**
 * Finding a device or node and running a command in it (`kinda DEVICE CMD`, `kinda exec`), plus
 * node-name look-ups. Kept light on purpose: its adapters come from app/root-light.ts (the Engine
 * API client over node:http, the state store), so these verbs do not load dockerode, the topology
 * compiler or the renderer.
 */
import { KindaError } from "../core/errors.js";
import { LABEL_DEVICE, LABEL_LAB, LABEL_MANAGED, MANAGED_VALUE } from "../core/names.js";
import type { ExecResult, Runtime } from "../model/container.js";
import type { StateStore } from "../state/store.js";
import { defaultStore, kubeApiFor, lightRuntime } from "./root-light.js";

/** What exec needs of a runtime (the Docker runtime, or the light Engine API client). */
export type ExecRuntime = Pick<Runtime, "list" | "inspect" | "exec">;

/** Kubernetes nodes of every lab's cluster, with their lab. */
export function clusterNodes(store = defaultStore()): { lab: string; name: string; k8sName: string; container: string }[] {
  return store.list().flatMap((lab) => (store.readIfValid(lab)?.cluster?.nodes ?? []).map((n) => ({ lab, ...n })));
}

/** Finds the container of a device or a Kubernetes node; with no lab given, the one that has it. */
export async function findDevice(device: string, lab: string | undefined, opts: { runtime?: ExecRuntime; store?: StateStore } = {}) {
  const runtime = opts.runtime ?? lightRuntime();
  const labels: Record<string, string> = { [LABEL_MANAGED]: MANAGED_VALUE, [LABEL_DEVICE]: device };
  if (lab) labels[LABEL_LAB] = lab;
  const found = (await runtime.list(labels)).map((c) => ({ lab: c.labels[LABEL_LAB] ?? "", id: c.id, name: c.name, running: c.running }));
  for (const n of clusterNodes(opts.store)) {
    if (n.name !== device || (lab && n.lab !== lab)) continue;
    const c = await runtime.inspect(n.container);
    if (c) found.push({ lab: n.lab, id: c.id, name: c.name, running: c.running });
  }
  if (found.length === 0) {
    throw new KindaError(`no device or Kubernetes node named ${device}${lab ? ` in lab ${lab}` : " in any lab that is up"}`, {
      hint: "kinda status lists labs and their devices",
    });
  }
  if (found.length > 1) {
    const labs = found.map((c) => c.lab).join(", ");
    throw new KindaError(`device ${device} exists in several labs (${labs})`, { hint: "pick one with --lab NAME (or KINDA_LAB=NAME)" });
  }
  const c = found[0]!;
  if (!c.running) throw new KindaError(`${device} (container ${c.name}) is not running`);
  return c;
}

/** `kinda who K8S_NAME`: the topology name of a Kubernetes node. */
export function whoIs(k8sName: string, lab?: string, store = defaultStore()): string {
  const m = clusterNodes(store).filter((n) => n.k8sName === k8sName && (!lab || n.lab === lab));
  if (m.length === 0) throw new KindaError(`no Kubernetes node named ${k8sName} in ${lab ? `lab ${lab}` : "any lab"}`);
  if (m.length > 1)
    throw new KindaError(`Kubernetes node ${k8sName} is in several labs (${m.map((n) => n.lab).join(", ")})`, {
      hint: "pick one with --lab",
    });
  return m[0]!.name;
}

/** `kinda reverse NAME`: the Kubernetes node name of a topology node. */
export function reverseName(name: string, lab?: string, store = defaultStore()): string {
  const m = clusterNodes(store).filter((n) => n.name === name && (!lab || n.lab === lab));
  if (m.length === 0) throw new KindaError(`no Kubernetes node with topology name ${name} in ${lab ? `lab ${lab}` : "any lab"}`);
  if (m.length > 1)
    throw new KindaError(`${name} is a node in several labs (${m.map((n) => n.lab).join(", ")})`, { hint: "pick one with --lab" });
  return m[0]!.k8sName;
}

export interface ExecInOptions {
  lab?: string;
  runtime?: ExecRuntime;
  interactive?: boolean;
  stdin?: boolean;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  store?: StateStore;
}

/** A device of a lab on the Kubernetes runtime, by the states that record one: its lab, pod and the runtime record. */
export function kubeDevice(device: string, lab: string | undefined, store = defaultStore()) {
  const hits = store.list().flatMap((name) => {
    if (lab && name !== lab) return [];
    const st = store.read(name);
    const d = st?.runtime?.kind === "kubernetes" ? st.devices.find((x) => x.name === device) : undefined;
    return d && st?.runtime ? [{ lab: name, pod: d.pod?.name ?? d.container, shell: d.shell, runtime: st.runtime }] : [];
  });
  if (hits.length > 1)
    throw new KindaError(`device ${device} exists in several labs (${hits.map((h) => h.lab).join(", ")})`, {
      hint: "pick one with --lab NAME (or KINDA_LAB=NAME)",
    });
  return hits[0];
}

/** Where a device or node of that name is recorded, from one read of each lab's state. */
interface Recorded {
  /** Devices of labs on the Kubernetes runtime. */
  kube: NonNullable<ReturnType<typeof kubeDevice>>[];
  /** Devices and Kubernetes nodes in containers, with the shell to run when no command is given. */
  containers: { lab: string; container: string; shell: string }[];
}

function recorded(device: string, lab: string | undefined, store: StateStore): Recorded {
  const out: Recorded = { kube: [], containers: [] };
  // the lab named: its state must be readable (a corrupt one is refused, naming its file); over
  // every lab, an unreadable state is skipped as the other look-ups do
  for (const name of lab ? [lab] : store.list()) {
    const st = lab ? store.read(name) : store.readIfValid(name);
    if (!st) continue;
    const d = st.devices.find((x) => x.name === device);
    if (st.runtime?.kind === "kubernetes") {
      if (d) out.kube.push({ lab: name, pod: d.pod?.name ?? d.container, shell: d.shell, runtime: st.runtime });
      continue;
    }
    if (d) out.containers.push({ lab: name, container: d.container, shell: d.shell });
    for (const n of st.cluster?.nodes ?? [])
      if (n.name === device) out.containers.push({ lab: name, container: n.container, shell: d?.shell ?? "/bin/bash" });
  }
  return out;
}

/**
 * Runs argv (default: the device's shell) in a device; output collected unless streams are given.
 * Each lab's state is read once; when it records exactly one container of that name, the command
 * runs in it straight away (the Engine API's exec create, start and inspect, as `docker exec`
 * does): the container list by labels is only made when the states record none or several, or
 * the recorded container is gone or stopped, for the error that names the lab and device.
 */
export async function execIn(device: string, argv: string[], opts: ExecInOptions = {}): Promise<ExecResult> {
  const store = opts.store ?? defaultStore();
  const rec = recorded(device, opts.lab, store);
  if (rec.kube.length > 1)
    throw new KindaError(`device ${device} exists in several labs (${rec.kube.map((h) => h.lab).join(", ")})`, {
      hint: "pick one with --lab NAME (or KINDA_LAB=NAME)",
    });
  const k = rec.kube[0];
  if (k) {
    // its pod's exec API; the composition root (and the client library) loaded only for such a lab
    const api = await kubeApiFor({
      ...(k.runtime.kubeconfig ? { kubeconfig: k.runtime.kubeconfig } : {}),
      ...(k.runtime.context ? { context: k.runtime.context } : {}),
    });
    return api.exec(k.runtime.namespace, k.pod, argv.length ? argv : [k.shell], {
      interactive: opts.interactive ?? false,
      stdin: opts.stdin ?? false,
      ...(opts.stdout ? { stdout: opts.stdout } : {}),
      ...(opts.stderr ? { stderr: opts.stderr } : {}),
    });
  }
  const runtime = opts.runtime ?? lightRuntime();
  const execOpts = {
    interactive: opts.interactive ?? false,
    stdin: opts.stdin ?? false,
    ...(opts.stdout ? { stdout: opts.stdout } : {}),
    ...(opts.stderr ? { stderr: opts.stderr } : {}),
  };
  const one = rec.containers.length === 1 ? rec.containers[0]! : undefined;
  if (one) {
    try {
      return await runtime.exec(one.container, argv.length ? argv : [one.shell], execOpts);
    } catch (e) {
      // gone or stopped: the look-up by labels says so, naming the device and its lab
      const c = await runtime.inspect(one.container).catch(() => undefined);
      if (!c || !c.running) await findDevice(device, opts.lab, { runtime, store });
      throw e;
    }
  }
  const c = await findDevice(device, opts.lab, { runtime, store });
  const shell = store.read(c.lab)?.devices.find((d) => d.name === device)?.shell ?? "/bin/bash";
  return runtime.exec(c.id, argv.length ? argv : [shell], execOpts);
}
