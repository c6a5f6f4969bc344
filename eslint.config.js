// Lint: typescript-eslint's recommended rules over the product, tests and bench.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config({ ignores: ["dist/**", "node_modules/**"] }, js.configs.recommended, ...tseslint.configs.recommended, {
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
});
