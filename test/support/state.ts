/** A minimal lab state record for unit tests of the state store and what reads it. */
import type { LabState } from "../../src/state/store.js";

export function labState(name: string, o: { phase?: LabState["phase"]; source?: string } = {}): LabState {
  const now = new Date().toISOString();
  return {
    version: 1,
    name,
    kind: "kathara",
    netns: `kinda-${name}`,
    phase: o.phase ?? "deploying",
    createdAt: now,
    updatedAt: now,
    devices: [],
    domains: [],
    warnings: [],
    ...(o.source ? { source: o.source } : {}),
  };
}
