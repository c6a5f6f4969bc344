// Lint: typescript-eslint's recommended rules over the product, tests and bench, and the import
// direction between the folders of src/ (scripts/layers.js; docs/architecture.md explains it).
// ESLint sees static imports as you type; .dependency-cruiser.mjs (also in `npm run lint`) checks
// every import, dynamic import() included, and cycles between files.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

import { LAYERS, PACKAGES } from "./scripts/layers.js";

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
    return { files: [`src/${folder}/**/*.ts`], rules: { "no-restricted-imports": ["error", { paths: packages, patterns }] } };
  });
}

/**
 * Adapters are made in the composition root (app/root.ts, its light half app/root-light.ts) and
 * passed down; the adapters' own modules (runtime/, the provider factory of providers/kind.ts)
 * make their parts.
 */
const ADAPTERS = ["DockerRuntime", "Docker", "EngineApi", "StateStore", "KindProvider", "ProviderRegistry"];
const oneRoot = {
  files: ["src/**/*.ts"],
  ignores: ["src/app/root.ts", "src/app/root-light.ts", "src/runtime/**"],
  rules: {
    "no-restricted-syntax": [
      "error",
      {
        selector: `NewExpression[callee.name=/^(${ADAPTERS.join("|")})$/]`,
        message: "make adapters in app/root.ts (createEnv) and pass them in",
      },
      {
        selector: "NewExpression[callee.object.type='AwaitExpression']",
        message: "make adapters in app/root.ts (createEnv) and pass them in",
      },
    ],
  },
};

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "docs/reference/**"] },
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
  oneRoot,
  // small functions in the product: one that outgrows this is split where its steps are
  { files: ["src/**/*.ts"], rules: { "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true }] } },
);
