/**
 * The bench's containerlab peer: the same generated topology as a containerlab lab (nodes of kind
 * `linux` with the local images, one link per point-to-point collision domain, each node's
 * addresses and routes as one `ip -force -batch` exec, the way a containerlab user would write
 * them), deployed and destroyed with the `containerlab` command. Like kinda's devices, the nodes
 * get no management network (network-mode none, so containerlab makes no management bridge);
 * data interfaces are numbered from eth1 as containerlab's docs do (kinda's plus one). Bench code
 * only: kinda itself never runs containerlab.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { compileTopology } from "../src/app/topology.js";
import type { TopologySpec } from "../src/model/spec.js";

/** How to get containerlab here (no prebuilt download works on this machine; Go builds it for the bench). */
export const CONTAINERLAB_INSTALL = "bash scripts/test-env/install-containerlab.sh (builds it with Go from the module proxy)";

const shiftIf = (s: string) => s.replace(/\beth(\d+)\b/g, (_, n: string) => `eth${Number(n) + 1}`);

/** containerlab's topology file for `spec` (lab name `name`), or why it has none. */
export function containerlabTopology(
  name: string,
  spec: TopologySpec,
  imageMap: Record<string, string>,
): { yaml: string } | { why: string } {
  const { lab } = compileTopology(spec);
  const ends = new Map<string, string[]>();
  const nodes: Record<string, { kind: "linux"; image: string; exec?: string[] }> = {};
  for (const d of lab.devices) {
    const image = d.image ?? "kathara/base";
    nodes[d.name] = { kind: "linux", image: imageMap[image] ?? image };
    for (const i of d.interfaces) ends.set(i.domain, [...(ends.get(i.domain) ?? []), `${d.name}:eth${i.index + 1}`]);
    const lines = d.exec.map((c) => /^ip (.*)$/.exec(c)?.[1]);
    if (lines.some((l) => l === undefined || !/^[\w.:/ -]+$/.test(l)))
      return { why: `${d.name} has start-up commands other than ip lines` };
    if (lines.length)
      // containerlab splits exec like a shell: the \\ in its double quotes reaches printf as one backslash
      nodes[d.name]!.exec = [`sh -c "printf '%s\\\\n' ${lines.map((l) => `'${shiftIf(l!)}'`).join(" ")} | ip -force -batch -"`];
  }
  const links = [...ends.values()].map((e) => ({ endpoints: e }));
  if (links.some((l) => l.endpoints.length !== 2)) return { why: "a collision domain has more than two devices (needs a bridge node)" };
  const topology = { defaults: { "network-mode": "none" }, nodes, links };
  return { yaml: stringify({ name, mgmt: { "skip-when-unused": true }, topology }, { lineWidth: 0 }) };
}

function timed(argv: string[], cwd: string): number {
  const t = performance.now();
  // no look-up of a newer release (it waits up to 3 s for a network this machine does not have)
  const env = { ...process.env, CLAB_VERSION_CHECK: "disable" };
  execFileSync(argv[0]!, argv.slice(1), { cwd, env, stdio: ["ignore", "ignore", "pipe"] });
  return (performance.now() - t) / 1000;
}

/** Deploys and destroys the topology with containerlab: seconds of each, or why it could not. */
export function runContainerlab(
  name: string,
  spec: TopologySpec,
  imageMap: Record<string, string>,
): { deploySeconds: number; teardownSeconds: number } | { note: string } {
  const topo = containerlabTopology(name, spec, imageMap);
  if ("why" in topo) return { note: `no containerlab form of ${name}: ${topo.why}` };
  const dir = mkdtempSync(join(tmpdir(), "kinda-bench-clab-"));
  const file = join(dir, `${name}.clab.yml`);
  writeFileSync(file, topo.yaml);
  const destroy = ["containerlab", "destroy", "-t", file, "--cleanup"];
  try {
    const deploySeconds = timed(["containerlab", "deploy", "-t", file], dir);
    return { deploySeconds, teardownSeconds: timed(destroy, dir) };
  } catch (e) {
    try {
      timed(destroy, dir);
    } catch {
      // nothing deployed, or already gone
    }
    const err = e as { stderr?: Buffer; message: string };
    const why = (err.stderr?.toString() || err.message).trim().split("\n").slice(-1)[0];
    return { note: `containerlab failed on ${name}: ${why}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
