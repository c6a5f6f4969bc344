/**
 * What a YAML topology may say beyond the plain form, turned into the plain form:
 * `vars:` (with `--var k=v` overrides) substituted into `${name}` references, and a `generate:`
 * shorthand (fatTree, leafSpine, tree, linear) expanded into devices and links. Works on the
 * parsed document, so every problem still has its file:line:column.
 */
import { Document, isMap, isPair, isScalar, isSeq, visit, type Node, type Pair, type Scalar } from "yaml";
import { TopologyError, type Issue } from "../core/errors.js";
import type { SpecPath } from "./paths.js";
import { GENERATORS, type GeneratorName, type GeneratorOptions } from "./generators.js";
import type { TopologySpec } from "../model/spec.js";

export type VarValue = string | number | boolean;
type Where = (path: SpecPath) => Issue;

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** Fields that hold shell commands: an undeclared ${X} there is the shell's, not an error. */
const SHELL_FIELDS = new Set(["startup", "cli"]);

/** The file's vars with the command line's overrides, typed like the file's values. */
function varsOf(doc: Document, where: Where, overrides: Record<string, string>): { vars: Map<string, VarValue>; issues: Issue[] } {
  const issues: Issue[] = [];
  const vars = new Map<string, VarValue>();
  const node = doc.get("vars", true) as Node | undefined;
  if (node !== undefined && !isMap(node)) issues.push({ ...where(["vars"]), message: "vars must be a mapping of names to values" });
  if (isMap(node))
    for (const p of node.items) {
      const k = isScalar(p.key) ? String(p.key.value) : "";
      const v = isScalar(p.value) ? p.value.value : undefined;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
        issues.push({ ...where(["vars", k]), message: `${JSON.stringify(k)} cannot name a variable` });
      else if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean")
        issues.push({ ...where(["vars", k]), message: `vars.${k} must be a string, a number or true/false` });
      else vars.set(k, v);
    }
  for (const [k, raw] of Object.entries(overrides)) {
    const declared = vars.get(k);
    const known = [...vars.keys()].join(", ") || "none";
    if (declared === undefined)
      issues.push({ ...where(["vars"]), message: `--var ${k}: the file declares no such variable (vars: ${known})` });
    else if (typeof declared === "number") {
      if (!/^-?[0-9]+(\.[0-9]+)?$/.test(raw)) issues.push({ ...where(["vars", k]), message: `--var ${k}=${raw}: vars.${k} is a number` });
      else vars.set(k, Number(raw));
    } else if (typeof declared === "boolean") {
      if (raw !== "true" && raw !== "false")
        issues.push({ ...where(["vars", k]), message: `--var ${k}=${raw}: vars.${k} is true or false` });
      else vars.set(k, raw === "true");
    } else vars.set(k, raw);
  }
  return { vars, issues };
}

/** Replaces ${name} in every value outside `vars:`; a value that is only a reference takes the variable's type. */
export function substituteVars(doc: Document, where: Where, overrides: Record<string, string> = {}): void {
  const { vars, issues } = varsOf(doc, where, overrides);
  const varsNode = doc.get("vars", true);
  visit(doc, {
    Scalar(key, node: Scalar, path) {
      if (key === "key" || typeof node.value !== "string" || !node.value.includes("${")) return;
      if (path.includes(varsNode as never)) return;
      const inShell = path.some((p) => isPair(p) && isScalar((p as Pair).key) && SHELL_FIELDS.has(String((p as Pair<Scalar>).key.value)));
      const text = node.value;
      const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(text);
      if (whole && vars.has(whole[1]!)) {
        node.value = vars.get(whole[1]!)!;
        return;
      }
      node.value = text.replace(REF, (m, name: string) => {
        if (vars.has(name)) return String(vars.get(name));
        if (!inShell) issues.push({ ...where(specPathOf(path, node)), message: `\${${name}} is not declared under vars:` });
        return m;
      });
    },
  });
  if (issues.length) throw new TopologyError(issues);
}

/** The spec path of a node from a visitor's ancestry (map keys and sequence indexes). */
function specPathOf(ancestry: readonly unknown[], node: unknown): SpecPath {
  const chain = [...ancestry, node];
  const out: SpecPath = [];
  chain.forEach((x, i) => {
    const next = chain[i + 1];
    if (next === undefined) return;
    if (isSeq(x)) out.push(x.items.indexOf(next as never));
    else if (isPair(x) && isScalar(x.key)) out.push(String(x.key.value));
  });
  return out;
}

/** The `generate:` section of a YAML topology (after the schema check). */
interface GenerateSection extends Omit<GeneratorOptions, "name" | "routing" | "encapsulation" | "cluster"> {
  fatTree?: { k: number };
  leafSpine?: { spines: number; leaves: number; perLeaf: number };
  tree?: { depth: number; fanout: number };
  linear?: { n: number; perRouter?: number };
}

export interface Expanded {
  spec: TopologySpec;
  /** From a path of the expanded spec to the place in the file (generated items: the generate: section). */
  pathInFile: (p: SpecPath) => SpecPath;
}

/** Which generator key a generate: section uses. */
function generatorOf(g: GenerateSection): GeneratorName {
  return (Object.keys(GENERATORS) as GeneratorName[]).find((k) => g[k] !== undefined)!;
}

/**
 * The plain topology: generated devices and links first, then the file's own (which may link to
 * generated routers); the file's name, routing, encapsulation, root and cluster win.
 */
export function expandGenerate(data: TopologySpec & { generate?: GenerateSection; vars?: unknown }, where: Where): Expanded {
  const { generate, vars: _vars, ...rest } = data;
  void _vars;
  const own: TopologySpec = { ...rest, devices: rest.devices ?? [], links: rest.links ?? [] };
  if (!generate) return { spec: own, pathInFile: (p) => p };
  const which = generatorOf(generate);
  const { [which]: shape, ...common } = generate;
  const opts = {
    ...common,
    ...shape,
    name: own.name,
    ...(own.routing ? { routing: own.routing } : {}),
    ...(own.encapsulation ? { encapsulation: own.encapsulation } : {}),
    ...(own.cluster ? { cluster: own.cluster } : {}),
  };
  let made: TopologySpec;
  try {
    made = (GENERATORS[which] as (o: typeof opts) => TopologySpec)(opts);
  } catch (e) {
    if (!(e instanceof TopologyError)) throw e;
    const shapeKeys = new Set(Object.keys(shape ?? {}));
    // an option's field ("k", "controlPlanes[1]") becomes its path under generate:
    throw new TopologyError(
      e.issues.map((i) => {
        const [, key, idx] = /^([A-Za-z]+)(?:\[(\d+)\])?$/.exec(i.field ?? "") ?? [];
        const path: SpecPath = key ? [...(shapeKeys.has(key) ? [which] : []), key, ...(idx ? [Number(idx)] : [])] : [which];
        return { ...where(["generate", ...path]), message: i.message };
      }),
    );
  }
  const spec: TopologySpec = {
    ...made,
    ...own,
    ...(made.root && !own.root ? { root: made.root } : {}),
    devices: [...made.devices, ...own.devices],
    links: [...made.links, ...own.links],
  };
  const nd = made.devices.length;
  const nl = made.links.length;
  const pathInFile = (p: SpecPath): SpecPath => {
    const [head, i, ...tail] = p;
    const n = head === "devices" ? nd : head === "links" ? nl : undefined;
    if (n === undefined || typeof i !== "number") return p;
    return i < n ? ["generate"] : [head!, i - n, ...tail];
  };
  return { spec, pathInFile };
}
