// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", ".cache/**", ".local/**", "coverage/**", ".deploy/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", Buffer: "readonly" } },
    rules: {
      "no-control-regex": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/no-non-null-assertion": "off",
      "no-empty": ["error", { allowEmptyCatch: true }],
    },
  },
  {
    // The dependency rule of DESIGN.md: src never reaches into dev/ or test/; only src/functions knows Azure Functions.
    files: ["src/**/*.ts"],
    ignores: ["src/functions/**"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["**/dev/**", "**/test/**", "@azure/functions", "@azure/functions-core"], message: "src/ may not import dev/, test/ or Azure Functions (only src/functions may)." }] }],
    },
  },
  {
    files: ["src/functions/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [{ group: ["**/dev/**", "**/test/**"], message: "src/ may not import dev/ or test/." }] }] },
  },
);
