// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { importX } from "eslint-plugin-import-x";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";


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
    // The dependency rule (README, Layout and design): src never reaches into dev/ or test/; only src/functions knows Azure Functions.
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
  {
    // Only entry points know the composition root: src/functions/**, src/cli/main.ts (and dev/, test/, bench/, outside
    // src/). Everything else receives its adapters. Import cycles in src/ are checked by madge in `npm run lint`
    // (import-x/no-cycle skips type-only imports, and a cycle through types is a cycle all the same).
    files: ["src/**/*.ts"],
    ignores: ["src/functions/**", "src/cli/main.ts"],
    plugins: { "import-x": importX },
    settings: { "import-x/resolver-next": [createTypeScriptImportResolver({ project: "tsconfig.json" })] },
    rules: {
      "import-x/no-restricted-paths": [
        "error",
        {
          basePath: import.meta.dirname,
          zones: [{ target: "./src", from: "./src/composition.ts", message: "Only entry points (src/functions, src/cli/main.ts) may import the composition root; take a narrow dependency interface instead." }],
        },
      ],
    },
  },
);
