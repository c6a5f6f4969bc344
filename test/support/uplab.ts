/** A lab that is up, in a state store, for builder tests without containers. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Runtime } from "../../src/model/container.js";
import { StateStore } from "../../src/state/store.js";

/**
 * Runs `f` with a state store in which lab "l" is up (no devices; `domains` as given) and a
 * runtime that lists no containers: enough for ClusterBuilder.build to reach its checks and the
 * provider's create.
 */
export async function withUpLab(
  domains: { name: string; bridge: string }[],
  f: (deps: { store: StateStore; runtime: Runtime }) => Promise<void>,
): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "kinda-unit-lab-"));
  try {
    const store = new StateStore(root);
    const now = new Date().toISOString();
    store.write({
      version: 1,
      name: "l",
      kind: "api",
      netns: "kinda-l",
      phase: "up",
      createdAt: now,
      updatedAt: now,
      devices: [],
      domains,
      warnings: [],
    });
    await f({ store, runtime: { list: async () => [] } as unknown as Runtime });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
