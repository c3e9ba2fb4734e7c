// Lint, including the layer boundaries of ARCHITECTURE.md: domain <- app <- adapters <- main.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
