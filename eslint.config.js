// Lint: typescript-eslint's recommended rules over the product, tests and bench, and the import
// direction between the folders of src/ (docs/architecture.md explains it).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** What each folder of src/ may import besides itself. Acyclic: no two folders import each other. */
const LAYERS = {
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
const PACKAGES = { dockerode: ["runtime"] };

function layerRules() {
  const folders = Object.keys(LAYERS);
  return folders.map((folder) => {
    const banned = folders.filter((f) => f !== folder && !LAYERS[folder].includes(f));
    const packages = Object.entries(PACKAGES)
      .filter(([, owners]) => !owners.includes(folder))
      .map(([name, owners]) => ({ name, message: `only ${owners.join(", ")}/ may import ${name}` }));
    const patterns = banned.length
      ? [
          {
            regex: `^(\\.\\./)+(${banned.join("|")})/`,
            message: `src/${folder}/ may import only ${["itself", ...LAYERS[folder]].join(", ")} (see docs/architecture.md)`,
          },
        ]
      : [];
    const rules = { "no-restricted-imports": ["error", { paths: packages, patterns }] };
    // adapters are made in the composition root (app/root.ts) and passed down
    if (folder !== "app")
      rules["no-restricted-syntax"] = [
        "error",
        { selector: "NewExpression[callee.name=/^(DockerRuntime|StateStore)$/]", message: "make adapters in app/root.ts and pass them in" },
      ];
    return { files: [`src/${folder}/**/*.ts`], rules };
  });
}

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        Buffer: "readonly",
        performance: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        URL: "readonly",
        AbortController: "readonly",
        NodeJS: "readonly",
      },
    },
    rules: {
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", ignoreRestSiblings: true }],
    },
  },
  ...layerRules(),
  // small functions in the product: one that outgrows this is split where its steps are
  { files: ["src/**/*.ts"], rules: { "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true }] } },
);
