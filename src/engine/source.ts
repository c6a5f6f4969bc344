/** Turns what the user points at (a Kathara lab directory for now) into a Lab and a default name. */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { TopologyError } from "../errors.js";
import { labNameFromDir, loadKatharaLab } from "../topology/kathara.js";
import type { Lab } from "../topology/model.js";
import type { LabState } from "../state/store.js";

export interface LoadedSource {
  lab: Lab;
  kind: LabState["kind"];
  /** Lab name used when the user gives none. */
  defaultName: string;
  /** Absolute path, for status. */
  path: string;
}

/** Resolves a path argument to a lab directory (a lab.conf file means its folder). */
export function resolveLabPath(p: string): string {
  const abs = resolve(p);
  if (existsSync(abs) && statSync(abs).isFile() && basename(abs) === "lab.conf") return dirname(abs);
  return abs;
}

export function loadSource(p: string): LoadedSource {
  const path = resolveLabPath(p);
  if (!existsSync(path)) throw new TopologyError([{ file: path, message: "no such file or directory" }]);
  if (statSync(path).isDirectory()) {
    return { lab: loadKatharaLab(path), kind: "kathara", defaultName: labNameFromDir(path), path };
  }
  throw new TopologyError([{ file: path, message: "not a Kathara lab directory (YAML and TypeScript topologies are not supported yet)" }]);
}
