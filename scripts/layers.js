// The import direction between the folders of src/ (docs/architecture.md explains it), read by
// eslint.config.js (static imports, per file as you type) and .dependency-cruiser.mjs (every
// import, dynamic import() and type-only ones included, and cycles between files).

/** What each folder of src/ may import besides itself. Acyclic: no two folders import each other. */
export const LAYERS = {
  core: [],
  model: ["core"],
  topology: ["core", "model"],
  plan: ["core", "model"],
  // net/kernel.ts renders typed operations through plan/ops.ts, the one renderer
  net: ["core", "model", "plan"],
  runtime: ["core", "model"],
  state: ["core", "model"],
  engine: ["core", "model", "plan", "net", "state"],
  providers: ["core", "model", "net"],
  app: ["core", "model", "topology", "plan", "net", "runtime", "state", "engine", "providers"],
  cli: ["core", "app"],
};

/** Packages that belong to one adapter only. */
export const PACKAGES = { dockerode: ["runtime"] };
