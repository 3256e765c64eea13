// ESLint flat config (`npm run lint`): later blocks override earlier ones for the files they match.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier/flat';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Node's globals, for the few plain JS files (TypeScript files get theirs from @types/node). */
const nodeGlobals = Object.fromEntries(
  [
    'process',
    'console',
    'URL',
    'Buffer',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    '__dirname',
    'module',
    'require',
  ].map((g) => [g, 'readonly']),
);

export default defineConfig(
  { ignores: ['dist/', 'cache/', 'out/', 'coverage/', 'node_modules/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A switch over a union (a pass name, an event type, a step kind) must handle every member: adding one
      // is then a type error at each switch, not a silent fall-through to nothing.
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      // `return p` inside try/catch/finally leaves the catch and finally unaware of p's rejection.
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      // `== null` (null or undefined) is the one loose comparison we mean.
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // `_name` marks a value we drop on purpose (a destructured-away member, an unused parameter).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
    },
  },
  {
    // The library and CLI write through streams and the reporters (stdout carries JSON/JUnit output): a stray
    // console.log would corrupt machine-read output. bench/ and scripts/ print freely.
    files: ['src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    // A pass's apply() returns a promise by contract: `async` makes a throw inside it a rejection the runner
    // handles like any other, even when the pass itself awaits nothing (it only rewrites bytes).
    files: ['src/passes/*/index.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests parse JSON (report.json, model.json, CLI --json output) and read its fields directly; typing
      // every fixture would restate the schemas, and a wrong field fails the assertion anyway.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Fakes of async interfaces (a PassContext's data(), a fetch) are written `async () => value`.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['**/*.{js,mjs,cjs}'],
    languageOptions: { globals: nodeGlobals },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },
  // Last: switch off every rule that formats (Prettier owns formatting).
  prettier,
);
