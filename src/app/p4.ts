/**
 * `kinda p4-entries PATH [DEVICE]`: the simple_switch_CLI lines kinda applies to a topology's P4
 * switches (the LPM entries it writes from the static route plan for `lpm` switches, then their
 * own `cli`), printed without deploying anything and without reading the compiled programs.
 * With encapsulation none the switches also get an entry per node's pod CIDR, which the cluster
 * assigns only when it is created: those are written at attach time, and this says where each
 * node's pods go (`note`, for one switch, so that its lines stay what the CLI reads).
 */
import { KindaError } from "../core/errors.js";
import { staticRouter } from "../plan/routes.js";
import { compileSpec, type P4Compiled } from "../topology/compile.js";
import { loadSource } from "../topology/source.js";
import { THRIFT_PORT } from "../topology/programmable.js";

/** Where a switch sends each node's pods, as comment lines (empty without pod entries). */
function podNotes(name: string, sw: P4Compiled): string[] {
  if (!sw.podRoutes?.length) return [];
  return [
    `# ${name}, encapsulation none: an entry per pod CIDR, written when the cluster is attached (the cluster assigns them):`,
    ...sw.podRoutes.map((r) => `#   pods of ${r.node} => ${r.mac} ${r.port} (via ${r.via})`),
  ];
}

export async function p4EntriesFor(
  path: string,
  device?: string,
  vars?: Record<string, string>,
  note: (line: string) => void = () => {},
): Promise<string> {
  const src = await loadSource(path, vars ? { vars } : {});
  if (src.type !== "topology")
    throw new KindaError(`${src.path} is a Kathara lab; P4 switches are devices of YAML and TypeScript topologies`);
  const p4 = compileSpec(src.spec, src.where, staticRouter, { programFiles: false }).p4 ?? new Map<string, P4Compiled>();
  if (device !== undefined) {
    const one = p4.get(device);
    if (!one)
      throw new KindaError(`${device} is not a P4 switch of ${src.spec.name} (P4 switches: ${[...p4.keys()].join(", ") || "none"})`);
    podNotes(device, one).forEach((l) => note(l));
    return one.cli.map((l) => `${l}\n`).join("");
  }
  if (!p4.size) throw new KindaError(`topology ${src.spec.name} has no P4 switches (kind: p4-switch)`);
  return [...p4]
    .map(([name, sw]) => {
      const ports = sw.ports.map((p, n) => `${n}@${p}`).join(" ");
      const head = `# ${name}: ports ${ports}; applied with simple_switch_CLI --thrift-port ${THRIFT_PORT}`;
      return [head, ...sw.cli, ...podNotes(name, sw)].join("\n") + "\n";
    })
    .join("\n");
}
