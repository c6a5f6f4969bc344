/**
 * Starts and removes nodes' smart NICs: per NIC a container in the node's network namespace
 * (plan/cluster/nic.ts), its staged files, then its data plane (the same services a
 * programmable device runs, engine/services.ts). Recorded in the cluster's state before it is
 * created, and found by its label when removed, so `down` and a rollback always find it.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LABEL_LAB, LABEL_MANAGED, LABEL_NIC, MANAGED_VALUE, containerName, nicName } from "../core/names.js";
import type { NodeFacts, NodeNic } from "../model/cluster.js";
import type { Runtime } from "../model/container.js";
import { nicContainerSpec, nicImage } from "../plan/cluster/nic.js";
import type { ClusterPlan } from "../plan/cluster.js";
import type { LabState, StateStore } from "../state/store.js";
import { runServices } from "./services.js";

export interface NicDeps {
  runtime: Runtime;
  store: StateStore;
  imageMap?: Record<string, string>;
}

/** Writes the NIC's staged files (0600 in a 0700 folder of the lab's state) and returns the folder. */
function stageNic(store: StateStore, lab: string, node: string, nic: NodeNic): string | undefined {
  if (!nic.stageFiles.length) return undefined;
  const dir = join(store.stageRoot(lab), nicName(node));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const f of nic.stageFiles) writeFileSync(join(dir, f.name), f.text, { mode: 0o600 });
  return dir;
}

async function startNic(lab: string, node: NodeFacts, nic: NodeNic, deps: NicDeps): Promise<void> {
  const stageDir = stageNic(deps.store, lab, node.name, nic);
  const spec = nicContainerSpec({
    lab,
    node: node.name,
    nodeContainer: node.containerId,
    nic,
    ...(deps.imageMap ? { imageMap: deps.imageMap } : {}),
    ...(stageDir ? { stageDir } : {}),
  });
  const id = await deps.runtime.create(spec);
  await deps.runtime.start(id);
  await runServices(deps.runtime, id, { name: nicName(node.name), services: nic.services }, "network");
}

/** Records the plan's NICs in the cluster's state, then starts them (in parallel); throws on the first failure. */
export async function startNics(lab: string, plan: Pick<ClusterPlan, "nics">, nodes: NodeFacts[], state: LabState, deps: NicDeps) {
  if (!plan.nics.length) return;
  state.cluster!.nics = plan.nics.map(({ node, nic }) => ({
    node,
    name: nicName(node),
    container: containerName(lab, nicName(node)),
    kind: nic.kind,
    image: nicImage(nic, deps.imageMap),
    logFile: nic.logFile,
    ...(nic.bridge ? { bridge: nic.bridge } : {}),
  }));
  deps.store.update(state);
  const results = await Promise.allSettled(
    plan.nics.map(({ node, nic }) =>
      startNic(
        lab,
        nodes.find((n) => n.name === node)!,
        nic,
        deps,
      ),
    ),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** Removes every NIC container of the lab (by label) and their staged files; no error when there are none. */
export async function removeNics(lab: string, runtime: Runtime, store?: StateStore): Promise<void> {
  const cs = (await runtime.list({ [LABEL_MANAGED]: MANAGED_VALUE, [LABEL_LAB]: lab })).filter((c) => c.labels[LABEL_NIC] !== undefined);
  await Promise.all(cs.map((c) => runtime.remove(c.id)));
  if (store) for (const c of cs) rmSync(join(store.stageRoot(lab), nicName(c.labels[LABEL_NIC]!)), { recursive: true, force: true });
}
