// Lint, including the layer boundaries of docs/architecture.md: domain <- app <- adapters <- main.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import regexp from 'eslint-plugin-regexp';

const infrastructurePackages = [
  'kysely', 'pg', 'better-sqlite3', 'fastify', '@fastify/*', 'undici', 'ioredis', 'smtp-server', 'mailparser',
  'nodemailer', 'imapflow', 'pino', 'prom-client', 'quickjs-emscripten-core', '@jitl/*', 'lru-cache',
];

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'dist/', 'web/dist/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', Buffer: 'readonly', URL: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', AbortSignal: 'readonly', AbortController: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly', performance: 'readonly', fetch: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts'],
    rules: { 'no-console': 'error' },
  },
  // Regular expressions that see customer text must run in linear time (docs/reliability.md).
  { ...regexp.configs['flat/recommended'], files: ['src/**/*.{ts,mjs}'] },
  {
    files: ['src/domain/**/*.ts', 'src/adapters/mail-parse/**/*.ts', 'src/app/mail/**/*.ts'],
    rules: {
      'regexp/no-super-linear-backtracking': 'error',
      'regexp/no-super-linear-move': 'error',
    },
  },
  {
    // Recognition composes its patterns from string fragments (STREET, CITY, SEP …), each wrapped in
    // its own group so that it is safe wherever it is spliced in; in some compositions the wrapper
    // or a boundary check is redundant, which these three style rules report. Safety rules stay on.
    files: ['src/domain/recognition/**/*.ts'],
    rules: {
      'regexp/no-useless-non-capturing-group': 'off',
      'regexp/no-useless-character-class': 'off',
      'regexp/no-useless-assertions': 'off',
    },
  },
  {
    files: ['src/domain/**/*.ts'],
    ignores: ['src/domain/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(?!\\.)', message: 'The domain is pure: it imports nothing but other domain modules.' }, { group: ['**/app/**', '**/adapters/**', '**/main/**', '**/config/**'], message: 'The domain knows no other layer.' }] }],
    },
  },
  {
    files: ['src/app/**/*.ts'],
    ignores: ['src/app/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/adapters/**', '**/main/**', '**/config/**'], message: 'Use cases depend on ports (src/app/ports), never on adapters or main.' }, { group: infrastructurePackages, message: 'Infrastructure belongs in src/adapters behind a port.' }] }],
    },
  },
  {
    files: ['src/adapters/**/*.ts'],
    ignores: ['src/adapters/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/main/**'], message: 'Adapters never reach into the composition root.' }] }],
    },
  },
  {
    files: ['web/**/*.{ts,tsx}'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', navigator: 'readonly', location: 'readonly', history: 'readonly', localStorage: 'readonly', sessionStorage: 'readonly', fetch: 'readonly', URLSearchParams: 'readonly' } },
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(\\.\\./)+(src/)?(app|domain|adapters|main|config)/(?!.*\\.d\\.ts\\?raw$)', message: 'The web UI talks to deskhook only through /api/v1.' }] }],
    },
  },
  {
    files: ['src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/app/**', '**/adapters/**', '**/main/**', '**/domain/**'], message: 'Config stands alone; main hands its values to the others.' }] }],
    },
  },
);
