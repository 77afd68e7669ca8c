// Lint rules that keep the architecture honest: no floating promises, no import cycles, no reaching into another
// folder's internals (import its index.ts; tests may import its internal.ts), no test code in production code, no
// `.only` in tests. scripts/check-faces.mjs (also in `npm run lint`) keeps each index.ts to what others use.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import importX from "eslint-plugin-import-x";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import vitest from "@vitest/eslint-plugin";

/** Each top-level folder is one role (or one shared layer) with one public entry: its index.ts. */
const folders = [
  "errors",
  "proto",
  "onnx",
  "observability",
  "transport",
  "avatars",
  "actors",
  "trust",
  "rooms",
  "brain",
  "gateway",
  "onboarding",
  "gpu-workers",
  "media",
  "operator",
  "cli",
  "testing",
  "bench",
  "e2e",
];

/** Tests and benchmarks may also import a folder's internal.ts (its face plus what only tests use). */
const zonesExcept = (except) =>
  folders.flatMap((target) =>
    folders
      .filter((from) => from !== target)
      .map((from) => ({
        target: `./${target}`,
        from: `./${from}`,
        except,
        message: `import ${from}/${except.length > 1 ? "index.js or internal.js" : "index.js"}, not ${from}'s other files`,
      })),
  );
const testZones = zonesExcept(["./index.ts", "./internal.ts"]);
const boundaryZones = zonesExcept(["./index.ts"]);

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "proto/gen/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "import-x": importX },
    settings: {
      // no-cycle parses the files it follows: tell it they are TypeScript.
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      "import-x/extensions": [".ts", ".js"],
      "import-x/resolver-next": [createTypeScriptImportResolver({ project: "./tsconfig.json" })],
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      "import-x/no-restricted-paths": ["error", { zones: testZones }],
    },
  },
  {
    // Production code never imports the test harness or fakes.
    files: folders.filter((f) => f !== "testing" && f !== "bench").map((f) => `${f}/**/*.ts`),
    ignores: ["**/*.test.ts"],
    rules: {
      "import-x/no-restricted-paths": [
        "error",
        {
          zones: [
            ...boundaryZones,
            ...folders
              .filter((f) => f !== "testing" && f !== "bench")
              .map((target) => ({ target: `./${target}`, from: "./testing", message: "testing/ is for tests only" })),
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.test.ts"],
    plugins: { vitest },
    rules: {
      ...vitest.configs.recommended.rules,
      "vitest/no-focused-tests": ["error", { fixable: false }],
      "vitest/expect-expect": ["error", { assertFunctionNames: ["expect", "expect*", "*.expect*"] }],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
  },
);
