/**
 * YAML topologies: parsed with positions, checked against schema/topology.schema.json (all
 * errors at once), then semantically (topology/compile.ts); every message carries file:line:column.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv, type ErrorObject } from "ajv";
import { Document, LineCounter, isMap, isSeq, parseDocument } from "yaml";
import { TopologyError, type Issue } from "../core/errors.js";
import type { SpecPath } from "./paths.js";
import { expandGenerate, substituteVars } from "./expand.js";
import type { TopologySpec } from "../model/spec.js";

/** schema/topology.schema.json of this package (from src/ under tsx, or dist/src/ when built). */
function schemaPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "schema", "topology.schema.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("kinda: schema/topology.schema.json not found");
    dir = up;
  }
  return join(dir, "schema", "topology.schema.json");
}

let validator: ReturnType<Ajv["compile"]> | undefined;
function schemaValidator() {
  if (!validator) {
    const schema = JSON.parse(readFileSync(schemaPath(), "utf8")) as object;
    validator = new Ajv({ allErrors: true, strict: false }).compile(schema);
  }
  return validator;
}

/** file:line:column of the node at `path` (or of its nearest existing parent). */
export function placeIn(doc: Document, lc: LineCounter, file: string, path: SpecPath): Issue {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === "object" && node.range) {
      const pos = lc.linePos(node.range[0]);
      return { file, line: pos.line, column: pos.col, message: "" };
    }
  }
  return { file, message: "" };
}

function ajvMessage(e: ErrorObject): string {
  const at = e.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "the document";
  if (e.keyword === "additionalProperties")
    return `${at}: unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`;
  if (e.keyword === "enum") return `${at}: must be one of ${(e.params as { allowedValues: string[] }).allowedValues.join(", ")}`;
  if (e.keyword === "oneOf" && e.instancePath === "/generate") return "generate: takes exactly one of fatTree, leafSpine, tree and linear";
  if (e.keyword === "required") return `${at}: missing field "${(e.params as { missingProperty: string }).missingProperty}"`;
  return `${at}: ${e.message ?? e.keyword}`;
}

function pathOf(e: ErrorObject): SpecPath {
  const p: SpecPath = e.instancePath
    .split("/")
    .slice(1)
    .map((x) => (/^\d+$/.test(x) ? Number(x) : x.replace(/~1/g, "/").replace(/~0/g, "~")));
  if (e.keyword === "additionalProperties") p.push((e.params as { additionalProperty: string }).additionalProperty);
  return p;
}

export interface LoadedYaml {
  spec: TopologySpec;
  /** Turns a spec path into a place (file:line:column). */
  where: (path: SpecPath) => Issue;
  file: string;
}

export interface YamlOptions {
  /** --var overrides of the file's vars: (each must be declared there). */
  vars?: Record<string, string>;
}

/**
 * Parses a YAML topology text, substitutes its vars, schema-checks it and expands a generate:
 * section into the plain topology; throws TopologyError with positions.
 */
export function parseTopologyYaml(text: string, file = "topology.yaml", opts: YamlOptions = {}): LoadedYaml {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const where = (path: SpecPath) => placeIn(doc, lc, file, path);
  if (doc.errors.length) {
    throw new TopologyError(
      doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return { file, line: pos.line, column: pos.col, message: `YAML syntax: ${e.message.split("\n")[0]}` };
      }),
    );
  }
  if (!isMap(doc.contents))
    throw new TopologyError([{ file, line: 1, message: "the topology must be a YAML mapping (name:, devices:, links:)" }]);
  substituteVars(doc, where, opts.vars);
  const data = doc.toJS() as unknown;
  const v = schemaValidator();
  if (!v(data)) {
    // keep the most specific error per path (ajv reports parents too)
    const errs = (v.errors ?? []).filter((e) => e.keyword !== "if");
    throw new TopologyError(errs.map((e) => ({ ...where(pathOf(e)), message: ajvMessage(e) })));
  }
  const { spec, pathInFile } = expandGenerate(data as Parameters<typeof expandGenerate>[0], where);
  return { spec, where: (p) => where(pathInFile(p)), file };
}

export function loadTopologyYaml(path: string, opts: YamlOptions = {}): LoadedYaml {
  const file = resolve(path);
  const y = parseTopologyYaml(readFileSync(file, "utf8"), file, opts);
  // a P4 switch's files are named relative to the topology file
  for (const d of y.spec.devices) {
    if (d.program !== undefined) d.program = resolve(dirname(file), d.program);
    if (d.p4info !== undefined) d.p4info = resolve(dirname(file), d.p4info);
  }
  // and a P4 NIC's
  for (const l of y.spec.links) {
    if (l.nic?.program !== undefined) l.nic.program = resolve(dirname(file), l.nic.program);
    if (l.nic?.p4info !== undefined) l.nic.p4info = resolve(dirname(file), l.nic.p4info);
  }
  return y;
}

/** The plain topology a YAML file stands for (vars substituted, generate: expanded), as YAML (`kinda expand`). */
export function expandTopologyYaml(path: string, opts: YamlOptions = {}): string {
  const { spec } = loadTopologyYaml(path, opts);
  const doc = new Document(spec);
  // one line per device, link and segment member, as the examples are written
  for (const key of ["devices", "links", "segments"]) {
    const seq = doc.get(key, true);
    if (isSeq(seq)) for (const item of seq.items) if (isMap(item)) item.flow = true;
  }
  return `# yaml-language-server: $schema=${schemaPath()}\n# expanded from ${path} by kinda expand\n${doc.toString({ lineWidth: 0 })}`;
}
