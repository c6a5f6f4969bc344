/**
 * What `kinda up PATH` points at: a Kathara lab directory, a YAML topology, or a TypeScript
 * module whose default export is a topology (a TopologySpec, a TreeTopologyBuilder, a Network).
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { KindaError, TopologyError } from "../core/errors.js";
import { labNameFromDir, loadKatharaLab } from "./kathara.js";
import type { Lab } from "../model/lab.js";
import type { SpecPath } from "./paths.js";
import type { TopologySpec } from "../model/spec.js";
import { loadTopologyYaml } from "./yaml.js";
import type { Issue } from "../core/errors.js";

/** How a topology was written: recorded in the lab's state (never guessed again from a file name). */
export type SourceFormat = "kathara" | "yaml" | "module";

export type LoadedSource =
  | { type: "kathara"; format: "kathara"; lab: Lab; defaultName: string; path: string }
  | {
      type: "topology";
      /** yaml: a YAML file; module: a TypeScript/JavaScript module whose default export is the topology. */
      format: "yaml" | "module";
      spec: TopologySpec;
      where?: (p: SpecPath) => Partial<Issue>;
      defaultName: string;
      path: string;
    };

/** Resolves a path argument to a lab directory (a lab.conf file means its folder). */
export function resolveLabPath(p: string): string {
  const abs = resolve(p);
  if (existsSync(abs) && statSync(abs).isFile() && basename(abs) === "lab.conf") return dirname(abs);
  return abs;
}

function specOf(x: unknown): TopologySpec | undefined {
  if (!x || typeof x !== "object") return undefined;
  const o = x as { spec?: unknown; devices?: unknown };
  if (typeof o.spec === "function") return (o.spec as () => TopologySpec).call(x);
  if (o.spec && typeof o.spec === "object") return o.spec as TopologySpec;
  if (Array.isArray(o.devices)) return x as TopologySpec;
  return undefined;
}

function isCommonJsDefault(d: unknown): boolean {
  return typeof d === "object" && d !== null && "default" in d && specOf(d) === undefined;
}

/**
 * Imports a TypeScript/JavaScript topology module and returns its default export's spec. A module
 * is a program: importing it runs its top-level code (also for --dry-run and kinda graph), with
 * kinda's privileges. Only load topology modules you trust; YAML and lab directories run nothing.
 */
export async function loadTopologyModule(path: string): Promise<TopologySpec> {
  const ext = extname(path);
  let mod: { default?: unknown };
  if (ext === ".ts" || ext === ".mts") {
    const { tsImport } = await import("tsx/esm/api");
    mod = (await tsImport(pathToFileURL(path).href, import.meta.url)) as { default?: unknown };
  } else {
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  }
  let d = mod.default;
  // outside a "type": "module" package the file is loaded as CommonJS: its `export default` is
  // then module.exports.default, one level down
  const cjs = isCommonJsDefault(d);
  if (cjs) d = (d as { default: unknown }).default;
  if (typeof d === "function") d = await (d as () => unknown)();
  const spec = specOf(d);
  if (!spec)
    throw new KindaError(`${path}: the default export is not a topology${cjs ? " (the file was loaded as CommonJS)" : ""}`, {
      hint: "export default a TopologySpec, a TreeTopologyBuilder or a Network built with one",
    });
  return spec;
}

/** --var overrides for a YAML topology's vars: (other sources have none: passing any is an error). */
export interface SourceOptions {
  vars?: Record<string, string>;
}

export async function loadSource(p: string, opts: SourceOptions = {}): Promise<LoadedSource> {
  const path = resolveLabPath(p);
  if (!existsSync(path)) throw new TopologyError([{ file: path, message: "no such file or directory" }]);
  const ext = extname(path);
  if (opts.vars && Object.keys(opts.vars).length && ext !== ".yaml" && ext !== ".yml")
    throw new KindaError(`--var sets a YAML topology's vars:; ${path} is not a YAML topology`);
  if (statSync(path).isDirectory())
    return { type: "kathara", format: "kathara", lab: loadKatharaLab(path), defaultName: labNameFromDir(path), path };
  if (ext === ".yaml" || ext === ".yml") {
    const y = loadTopologyYaml(path, opts.vars ? { vars: opts.vars } : {});
    return { type: "topology", format: "yaml", spec: y.spec, where: y.where, defaultName: y.spec.name, path };
  }
  if ([".ts", ".mts", ".js", ".mjs"].includes(ext)) {
    const spec = await loadTopologyModule(path);
    return { type: "topology", format: "module", spec, defaultName: spec.name, path };
  }
  throw new TopologyError([{ file: path, message: "not a Kathara lab directory, a YAML topology (.yaml) or a TypeScript topology (.ts)" }]);
}
