/** Compiling topologies in unit tests as app/topology.ts does (with the static router). */
import { TopologyError, type Issue } from "../../src/core/errors.js";
import type { TopologySpec } from "../../src/model/spec.js";
import { staticRouter } from "../../src/plan/routes.js";
import { renderIp } from "../../src/plan/ops.js";
import type { Device } from "../../src/model/lab.js";
import { compileSpec, type CompiledTopology, type SpecPath } from "../../src/topology/compile.js";
import { parseTopologyYaml } from "../../src/topology/yaml.js";

export function compile(spec: TopologySpec, where?: (p: SpecPath) => Partial<Issue>): CompiledTopology {
  return compileSpec(spec, where, staticRouter);
}

/** Loads and compiles YAML; the issues as "line:col message" (none: []). */
export function problems(text: string, vars?: Record<string, string>): string[] {
  try {
    const y = parseTopologyYaml(text, "t.yaml", vars ? { vars } : {});
    compile(y.spec, y.where);
  } catch (e) {
    if (e instanceof TopologyError) return e.issues.map((i) => `${i.line}:${i.column} ${i.message}`);
    throw e;
  }
  return [];
}

/** Two routers, a control plane on r1 and a worker on r2, statically routed. */
export const GOOD = `name: t
routing: static
devices:
  - { name: r1, kind: router }
  - { name: r2, kind: router }
  - { name: c1, kind: control-plane }
  - { name: w1, kind: worker }
links:
  - { endpoints: [r1, r2], addresses: [10.0.0.1/30, 10.0.0.2/30] }
  - { endpoints: [r1, c1], addresses: [10.0.1.1/24, 10.0.1.2/24] }
  - { endpoints: [r2, w1], addresses: [10.0.2.1/24, 10.0.2.2/24] }
`;

/** A compiled device's own addresses, MTUs and routes as the `ip` commands they render to (plan/ops.ts). */
export function netLines(dev: Pick<Device, "net"> | undefined): string[] {
  return (dev?.net ?? []).map((o) => `ip ${renderIp(o)}`);
}
