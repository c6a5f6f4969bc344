// dependency-cruiser: the layers of scripts/layers.js over every import of src/ (static, dynamic
// import() and type-only), and no cycle between files. `npm run lint` runs it.
import { LAYERS, PACKAGES } from "./scripts/layers.js";

const folders = Object.keys(LAYERS);

const layerRules = folders.flatMap((folder) => {
  const banned = folders.filter((f) => f !== folder && !LAYERS[folder].includes(f));
  return banned.length
    ? [
        {
          name: `layer-${folder}`,
          comment: `src/${folder}/ may import only ${["itself", ...LAYERS[folder]].join(", ")} (see docs/architecture.md)`,
          severity: "error",
          from: { path: `^src/${folder}/` },
          to: { path: `^src/(${banned.join("|")})/` },
        },
      ]
    : [];
});

const packageRules = Object.entries(PACKAGES).map(([name, owners]) => ({
  name: `package-${name}`,
  comment: `only ${owners.join(", ")}/ may import ${name}`,
  severity: "error",
  from: { path: "^src/", pathNot: `^src/(${owners.join("|")})/` },
  to: { path: `node_modules/(@types/)?${name}/` },
}));

export default {
  forbidden: [
    ...layerRules,
    ...packageRules,
    {
      name: "no-circular",
      comment: "no cycle between files: one of them holds what both need, or the cycle is a missing layer",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/" },
    // type-only imports count: a layer that needs another's types depends on it
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
