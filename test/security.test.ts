import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { acceptInbound } from '../src/app/mail/accept-inbound.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { BACKENDS } from './support/backends.ts';
import { killAll, login as loginOverHttp, removeTempDirs, request, startServer, stopServer, tempDir, type RunningServer } from './support/process.ts';
import { PASSWORD, startTestApp, type TestApp } from './support/test-app.ts';

/**
 * The security suite. Everything that can be generated is generated from the OpenAPI document
 * (/api/openapi.json), so a new route is covered the day it is added:
 *
 * 1. the access matrix: every operation without a token, with a bad token, as agent and as admin;
 * 2. malformed JSON bodies for every operation that takes one (seeded, repeatable), plus hostile
 *    path parameters;
 * 3. mutated real-world MIME messages through acceptInbound + processPendingInbound;
 * 4. secret values, mail passwords and signing secrets never in any GET response nor in the log
 *    of a real `deskhook serve` process;
 * 5. login brute force gets 429 with Retry-After.
 *
 * Findings are collected into lists and compared with [] at the end, so one run names all of
 * them (method, URL, case, status and the start of the body) instead of stopping at the first.
 */

// ---------------------------------------------------------------------------------------------
// Seeded randomness: SECURITY_FUZZ_SEED=<n> repeats (or varies) a run.

const SEED = Number(process.env.SECURITY_FUZZ_SEED ?? 0x5eed_2026) >>> 0;

/** mulberry32: small, fast, good enough to pick fuzz cases. */
function prng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    sample: <T>(items: readonly T[], n: number): T[] => {
      const copy = [...items];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [copy[i], copy[j]] = [copy[j]!, copy[i]!];
      }
      return copy.slice(0, n);
    },
  };
}

interface Rng {
  next(): number;
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  sample<T>(items: readonly T[], n: number): T[];
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI document as a list of operations, and values that fit its schemas.

type Schema = Record<string, any>;
type Access = 'public' | 'agent' | 'admin';

interface Param {
  name: string;
  in: string;
  required: boolean;
  schema: Schema;
}

interface Operation {
  method: string;
  path: string;
  access: Access | undefined;
  params: Param[];
  /** The application/json request body schema, if the operation takes one. */
  body: Schema | null;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

function operationsOf(doc: any): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])] as Param[];
      ops.push({
        method: method.toUpperCase(), path, access: op['x-access'], params: params.map((p) => ({ ...p, required: !!p.required, schema: p.schema ?? {} })),
        body: op.requestBody?.content?.['application/json']?.schema ?? null,
      });
    }
  }
  return ops;
}

/** A string matching `pattern`, for the simple patterns the API uses (`^prefix[class]{n,m}$`). */
function stringForPattern(pattern: string, fallback: string): string {
  const re = new RegExp(pattern);
  const candidates = [fallback, 'x', 'X', 'FUZZ_KEY', 'http://127.0.0.1:9/fuzz', '1'];
  const simple = /^\^([A-Za-z0-9_:-]*)\[[^\]]+\]\{(\d+)(?:,(\d*))?\}\$$/.exec(pattern);
  if (simple) candidates.unshift(`${simple[1]}${'x'.repeat(Number(simple[2]))}`, `${simple[1]}${'0'.repeat(Number(simple[2]))}`);
  return candidates.find((c) => re.test(c)) ?? fallback;
}

function firstNonNullType(schema: Schema): string | undefined {
  return Array.isArray(schema.type) ? schema.type.find((t: string) => t !== 'null') : schema.type;
}

function branches(schema: Schema): Schema[] | null {
  const list = schema.anyOf ?? schema.oneOf;
  return Array.isArray(list) ? list : null;
}

/** The object branch of a schema (itself, or the first anyOf/oneOf branch with properties). */
function objectSchema(schema: Schema | undefined): Schema | null {
  if (!schema) return null;
  if (schema.properties) return schema;
  for (const b of branches(schema) ?? []) {
    const found = objectSchema(b);
    if (found) return found;
  }
  return null;
}

function sampleString(schema: Schema): string {
  if (schema.format === 'email') return 'fuzz@example.com';
  if (schema.format === 'date-time') return '2026-11-28T10:00:00.000Z';
  if (schema.format === 'date') return '2026-11-28';
  // A closed port on loopback: anything that calls it fails at once, nothing leaves the machine.
  if (schema.format === 'uri' || schema.format === 'url') return 'http://127.0.0.1:9/fuzz';
  const plain = 'x'.repeat(Math.max(1, schema.minLength ?? 1));
  return typeof schema.pattern === 'string' ? stringForPattern(schema.pattern, plain) : plain;
}

/** The smallest valid value of a schema: required properties only, minimum lengths and counts. */
function sample(schema: Schema | undefined, depth = 0): unknown {
  if (!schema || depth > 10) return null;
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  const alts = branches(schema);
  if (alts) return sample(alts.find((b) => firstNonNullType(b) !== 'null' && b.type !== 'null') ?? alts[0], depth + 1);
  switch (firstNonNullType(schema)) {
    case 'string': return sampleString(schema);
    case 'integer':
    case 'number': return typeof schema.minimum === 'number' ? schema.minimum : 1;
    case 'boolean': return false;
    case 'null': return null;
    case 'array': {
      const items = (schema.items ?? {}) as Schema;
      return Array.from({ length: schema.minItems ?? 0 }, (_, i) => {
        if (Array.isArray(items.enum)) return items.enum[i % items.enum.length];
        if (items.type === 'integer' || items.type === 'number') return (items.minimum ?? 1) + i;
        if (items.type === 'string' && !items.format && !items.pattern) return `x${i}`;
        return sample(items, depth + 1);
      });
    }
    default: {
      if (!schema.properties) return {};
      const out: Record<string, unknown> = {};
      for (const key of schema.required ?? []) out[key] = sample(schema.properties[key], depth + 1);
      for (const key of Object.keys(schema.properties)) {
        if (Object.keys(out).length >= (schema.minProperties ?? 0)) break;
        out[key] ??= sample(schema.properties[key], depth + 1);
      }
      return out;
    }
  }
}

/** Placeholder for a path or query parameter: integer → 999999, string → 'x', enum → its first value. */
function paramPlaceholder(schema: Schema): string {
  if (Array.isArray(schema.enum)) return String(schema.enum[0]);
  const type = firstNonNullType(schema);
  if (type === 'integer' || type === 'number') return '999999';
  if (type === 'boolean') return 'false';
  return typeof schema.pattern === 'string' ? stringForPattern(schema.pattern, 'x') : 'x';
}

/**
 * The URL of an operation: path parameters from `ids` (keyed by the path segment before the
 * parameter, e.g. `tickets` for /tickets/{id}, or by the parameter's own name) or placeholders;
 * required query parameters with their placeholder.
 */
function urlFor(op: Operation, ids: Record<string, string | number> = {}, override?: { name: string; value: string }): string {
  const segments = op.path.split('/');
  const filled = segments.map((segment, i) => {
    const m = /^\{(.+)\}$/.exec(segment);
    if (!m) return segment;
    const name = m[1]!;
    if (override && override.name === name) return override.value;
    const param = op.params.find((p) => p.in === 'path' && p.name === name);
    const known = ids[`${segments[i - 1]}/{${name}}`] ?? ids[`{${name}}`];
    return encodeURIComponent(String(known ?? paramPlaceholder(param?.schema ?? {})));
  });
  const query = op.params.filter((p) => p.in === 'query' && p.required).map((p) => `${encodeURIComponent(p.name)}=${encodeURIComponent(paramPlaceholder(p.schema))}`);
  return filled.join('/') + (query.length ? `?${query.join('&')}` : '');
}

// ---------------------------------------------------------------------------------------------
// Requests through the in-process app.

type Res = LightMyRequestResponse;

interface Sent {
  method: string;
  url: string;
  token?: string | null;
  payload?: string | Buffer;
  contentType?: string;
  remoteAddress?: string;
  headers?: Record<string, string>;
}

function send(t: TestApp, r: Sent): Promise<Res> {
  const headers: Record<string, string> = { ...r.headers };
  if (r.token) headers.authorization = `Bearer ${r.token}`;
  if (r.payload !== undefined) headers['content-type'] = r.contentType ?? 'application/json';
  return t.http.inject({
    method: r.method as 'GET',
    url: r.url,
    headers,
    ...(r.payload !== undefined ? { payload: r.payload } : {}),
    ...(r.remoteAddress ? { remoteAddress: r.remoteAddress } : {}),
  });
}

function excerpt(res: Res, n = 240): string {
  return res.body.length > n ? `${res.body.slice(0, n)}… (${res.body.length} chars)` : res.body;
}

async function loginToken(t: TestApp, email: string): Promise<string> {
  const res = await t.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: PASSWORD } });
  if (res.statusCode !== 200) throw new Error(`login of ${email} failed: ${res.statusCode} ${res.body}`);
  return res.json().token as string;
}

async function fetchOperations(t: TestApp): Promise<Operation[]> {
  const res = await t.http.inject({ method: 'GET', url: '/api/openapi.json' });
  expect(res.statusCode).toBe(200);
  return operationsOf(res.json());
}

function histogram(statuses: number[]): string {
  const counts = new Map<number, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ');
}

/** At least this many operations: a broken generator must not pass with a handful. */
const MIN_OPERATIONS = 60;

// ---------------------------------------------------------------------------------------------
// 1. Access matrix

describe.each(BACKENDS)('access matrix from the OpenAPI document on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp(kind); });
  afterAll(async () => { await t?.close(); });

  it('no token and a bad token → 401, agent on admin routes → 403, allowed roles never 401/403, nothing 5xx', { timeout: 120_000 }, async () => {
    const started = Date.now();
    const ops = await fetchOperations(t);
    const tokens: Record<'agent' | 'admin', string> = { agent: t.agentToken, admin: t.adminToken };
    const emails = { agent: 'agent@example.com', admin: 'admin@example.com' } as const;
    const violations: string[] = [];
    const statuses: number[] = [];
    let requests = 0;
    let sessionsRenewed = 0;
    // A well-formed token nobody issued.
    const forged = `dhs_${randomBytes(24).toString('base64url')}`;

    for (const op of ops) {
      if (!op.access || !['public', 'agent', 'admin'].includes(op.access)) {
        violations.push(`${op.method} ${op.path}: x-access is ${JSON.stringify(op.access)}`);
        continue;
      }
      const url = urlFor(op);
      const payload = op.body ? JSON.stringify(sample(op.body)) : undefined;
      const label = `${op.method} ${url} [${op.access}]`;
      for (const role of ['none', 'forged', 'agent', 'admin'] as const) {
        const token = role === 'none' ? null : role === 'forged' ? forged : tokens[role];
        const res = await send(t, { method: op.method, url, token, ...(payload !== undefined ? { payload } : {}) });
        requests++;
        statuses.push(res.statusCode);
        const status = res.statusCode;
        if (status >= 500) violations.push(`${label} as ${role}: ${status} ${excerpt(res)}`);
        if (op.access === 'public') {
          if (status === 403) violations.push(`${label} as ${role}: public operation answered 403`);
        } else if (role === 'none' || role === 'forged') {
          if (status !== 401) violations.push(`${label} as ${role}: expected 401, got ${status} ${excerpt(res)}`);
          else if (res.json().code !== 'unauthorized') violations.push(`${label} as ${role}: 401 without code unauthorized: ${excerpt(res)}`);
        } else if (role === 'agent' && op.access === 'admin') {
          if (status !== 403) violations.push(`${label} as agent: expected 403, got ${status} ${excerpt(res)}`);
          else if (res.json().code !== 'forbidden') violations.push(`${label} as agent: 403 without code forbidden: ${excerpt(res)}`);
        } else if (status === 401 || status === 403) {
          violations.push(`${label} as ${role}: allowed role refused with ${status} ${excerpt(res)}`);
        }
        // An operation may end the caller's own session (logout): keep testing with a fresh one.
        if (role === 'agent' || role === 'admin') {
          const me = await send(t, { method: 'GET', url: '/api/v1/auth/me', token: tokens[role] });
          if (me.statusCode === 401) {
            tokens[role] = await loginToken(t, emails[role]);
            sessionsRenewed++;
          }
        }
      }
    }

    const byAccess = (a: Access) => ops.filter((o) => o.access === a).length;
    console.log(`access matrix (${kind}): ${ops.length} operations × 4 callers = ${requests} requests `
      + `(public ${byAccess('public')}, agent ${byAccess('agent')}, admin ${byAccess('admin')}); sessions renewed after logout: ${sessionsRenewed}; `
      + `statuses ${histogram(statuses)}; ${Date.now() - started} ms`);
    expect(ops.length).toBeGreaterThan(MIN_OPERATIONS);
    expect(byAccess('admin')).toBeGreaterThan(10);
    expect(byAccess('agent')).toBeGreaterThan(10);
    expect(violations).toEqual([]);
    expect((await t.http.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Fuzzing of every JSON body (and of path parameters)

/** A JSON text spliced into a body as is (numbers JSON.stringify cannot write, deep nesting). */
class Raw {
  constructor(readonly text: string) {}
}

/** JSON text of a value that may hold Raw parts. */
function serialize(value: unknown): string {
  const raws: string[] = [];
  const json = JSON.stringify(value, (_key, v) => {
    if (v instanceof Raw) {
      raws.push(v.text);
      return `\u0000RAW${raws.length - 1}\u0000`;
    }
    return v;
  });
  return json.replace(/"\\u0000RAW(\d+)\\u0000"/g, (_m, i: string) => raws[Number(i)]!);
}

const DEEP = 10_000;
const deepObject = (n: number) => new Raw(`${'{"a":'.repeat(n)}1${'}'.repeat(n)}`);
const deepArray = (n: number) => new Raw(`${'['.repeat(n)}${']'.repeat(n)}`);
/** Control characters, bidi overrides, a lone surrogate, markup, SQL, templates, format strings. */
const NASTY = '\u0000\u0001\u0007\b\u001b[31m\u007f\u0085\u2028\u2029\u202e\ufeff\ufffe𝕏💥\ud800 Ä ß '
  + '<script>alert(1)</script> \'; drop table tickets;-- {{secret.FUZZ}} ${process.env} ../../etc/passwd %00 %s%n';
const HUGE_STRING = 1_000_000; // with the rest of the body, under the 1 MiB limit
const OVER_LIMIT = 1_100_000;
const MAX_CASES_PER_OPERATION = 20;

interface FuzzCase {
  name: string;
  payload: string | Buffer;
  contentType?: string;
  /** The answer this case must get; otherwise anything but 5xx. */
  expect?: { status: number; code: string };
}

function wrongTypes(schema: Schema): unknown[] {
  if (Array.isArray(schema.enum)) return ['not-one-of-them', 3];
  const type = firstNonNullType(schema) ?? (objectSchema(schema) ? 'object' : undefined);
  switch (type) {
    case 'string': return [12345, true, {}, ['x']];
    case 'integer':
    case 'number': return ['not-a-number', {}, [], 'NaN'];
    case 'boolean': return ['yes', 2, {}];
    case 'array': return [{}, 'x', 7];
    case 'object': return [[], 'x', 7, true];
    default: return ['x', 1, []];
  }
}

const NUMBER_EXTREMES: unknown[] = [-1, 0, -0.5, 1.5, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 + 1, 1e308, -1e308, new Raw('1e400'), new Raw('-0'), new Raw('123456789012345678901234567890')];
const STRING_EXTREMES: unknown[] = [NASTY, '', ' ', 'x'.repeat(10_000), '\r\nX-Injected: 1', '😀'.repeat(1000), new Raw('"\\u0000"')];
const STRUCTURE_EXTREMES: unknown[] = [deepObject(1000), deepArray(1000), Array.from({ length: 10_000 }, () => 'x'), Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]))];

/** Property paths of an object schema: top level, and one level into object-valued properties. */
function propertyPaths(schema: Schema): { path: string[]; schema: Schema }[] {
  const obj = objectSchema(schema);
  if (!obj) return [];
  const out: { path: string[]; schema: Schema }[] = [];
  for (const [key, sub] of Object.entries<Schema>(obj.properties ?? {})) {
    out.push({ path: [key], schema: sub });
    const inner = objectSchema(sub);
    for (const [k2, s2] of Object.entries<Schema>(inner?.properties ?? {})) out.push({ path: [key, k2], schema: s2 });
  }
  return out;
}

/** A copy of `base` with `value` at `path`, creating the objects on the way from the schema. */
function withValue(base: unknown, schema: Schema, path: string[], value: unknown): unknown {
  const root = (base && typeof base === 'object' && !Array.isArray(base) ? structuredClone(base) : {}) as Record<string, unknown>;
  let node = root;
  let nodeSchema: Schema | null = objectSchema(schema);
  for (const key of path.slice(0, -1)) {
    const sub = nodeSchema?.properties?.[key] as Schema | undefined;
    let next = node[key];
    if (!next || typeof next !== 'object' || Array.isArray(next)) {
      next = (objectSchema(sub) ? sample(objectSchema(sub)!) : {}) as Record<string, unknown>;
      node[key] = next;
    }
    node = next as Record<string, unknown>;
    nodeSchema = objectSchema(sub);
  }
  node[path[path.length - 1]!] = value;
  return root;
}

function firstStringProperty(schema: Schema): string[] | null {
  for (const { path, schema: s } of propertyPaths(schema)) {
    const types = [firstNonNullType(s), ...(branches(s) ?? []).map(firstNonNullType)];
    if (types.includes('string') && path.length === 1) return path;
  }
  return null;
}

/**
 * Values of unique fields that another resource already holds (set up before the fuzzing): a
 * write that reuses one must be a 409 or another 4xx, never a 500.
 */
const TAKEN: Record<string, string> = { externalTicketId: 'FUZZ-TAKEN', address: 'fuzz-taken@example.com', email: 'spare@example.com' };

/**
 * Cases every string property (and every array of strings) gets, not sampled: a lone surrogate,
 * which must be a 400 `validation_failed` on every database alike, and for unique fields a value
 * another resource has.
 */
function alwaysCases(schema: Schema, base: unknown): (FuzzCase & { expect?: { status: number; code: string } })[] {
  const out: (FuzzCase & { expect?: { status: number; code: string } })[] = [];
  for (const { path, schema: s } of propertyPaths(schema)) {
    const at = (value: unknown) => serialize(withValue(base, schema, path, value));
    const name = path.join('.');
    const types = [firstNonNullType(s), ...(branches(s) ?? []).map(firstNonNullType)];
    const items = (s.items ?? {}) as Schema;
    const lone = new Raw('"x\\ud800"');
    if (types.includes('string') && !Array.isArray(s.enum)) {
      out.push({ name: `${name}: lone surrogate`, payload: at(lone), expect: { status: 400, code: 'validation_failed' } });
      const taken = TAKEN[path[path.length - 1]!];
      if (taken) out.push({ name: `${name}: a value another resource has`, payload: at(taken) });
    } else if (types.includes('array') && firstNonNullType(items) === 'string' && !Array.isArray(items.enum)) {
      out.push({ name: `${name}: lone surrogate in an item`, payload: at([lone]), expect: { status: 400, code: 'validation_failed' } });
    }
  }
  return out;
}

/** The malformed bodies for one operation; structural cases always, property cases sampled. */
function fuzzCases(schema: Schema, rng: Rng): FuzzCase[] {
  const base = sample(schema);
  const baseJson = serialize(base);
  const isObject = !!base && typeof base === 'object' && !Array.isArray(base);
  const merge = (extra: string) => (isObject && baseJson !== '{}' ? `{${extra},${baseJson.slice(1)}` : `{${extra}}`);
  const hugeAt = firstStringProperty(schema) ?? ['unknownFuzzProperty'];
  const structural: FuzzCase[] = [
    { name: 'minimal valid body', payload: baseJson },
    { name: 'null', payload: 'null' },
    { name: 'empty array', payload: '[]' },
    { name: 'array of the body', payload: serialize([base]) },
    { name: 'a string', payload: '"x"' },
    { name: 'a number', payload: '0' },
    { name: 'true', payload: 'true' },
    { name: 'empty object', payload: '{}' },
    { name: 'empty body', payload: '' },
    { name: 'invalid JSON', payload: '{"a":' },
    { name: 'trailing garbage', payload: `${baseJson} xyz` },
    { name: 'JSON as text/plain', payload: baseJson, contentType: 'text/plain' },
    { name: 'JSON as application/x-www-form-urlencoded', payload: 'a=1&b=2', contentType: 'application/x-www-form-urlencoded' },
    { name: '__proto__ key', payload: merge('"__proto__":{"polluted":"yes","isAdmin":true}') },
    { name: 'constructor.prototype key', payload: merge('"constructor":{"prototype":{"polluted":"yes"}}') },
    { name: 'nested __proto__', payload: serialize(withValue(base, schema, [propertyPaths(schema)[0]?.path[0] ?? 'x'], new Raw('{"__proto__":{"polluted":"yes"}}'))) },
    { name: 'unknown property', payload: serialize(isObject ? { ...(base as object), unknownFuzzProperty: 1 } : { unknownFuzzProperty: 1 }) },
    { name: `object nested ${DEEP} deep`, payload: serialize(deepObject(DEEP)) },
    { name: `array nested ${DEEP} deep`, payload: serialize(deepArray(DEEP)) },
    { name: `${hugeAt.join('.')}: 1 MB string`, payload: serialize(withValue(base, schema, hugeAt, 'A'.repeat(HUGE_STRING))) },
    { name: `${hugeAt.join('.')}: 0.9 MB of multibyte characters`, payload: serialize(withValue(base, schema, hugeAt, 'ü'.repeat(450_000))) },
    { name: 'over the body limit', payload: serialize(withValue(base, schema, hugeAt, 'A'.repeat(OVER_LIMIT))) },
    {
      name: 'invalid UTF-8 in a string',
      payload: Buffer.concat([Buffer.from(`{"${hugeAt[0]}":"`), Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]), Buffer.from('"}')]),
    },
  ];
  const perProperty: FuzzCase[] = [];
  for (const { path, schema: s } of propertyPaths(schema)) {
    const at = (value: unknown) => serialize(withValue(base, schema, path, value));
    const name = path.join('.');
    const wrong = rng.pick(wrongTypes(s));
    perProperty.push({ name: `${name}: wrong type ${serialize(wrong).slice(0, 40)}`, payload: at(wrong) });
    perProperty.push({ name: `${name}: null`, payload: at(null) });
    const type = firstNonNullType(s);
    const pool = type === 'integer' || type === 'number' ? NUMBER_EXTREMES
      : type === 'string' ? STRING_EXTREMES
        : [...STRUCTURE_EXTREMES, ...rng.sample(NUMBER_EXTREMES, 2), ...rng.sample(STRING_EXTREMES, 2)];
    for (const value of rng.sample(pool, 2)) {
      perProperty.push({ name: `${name}: ${serialize(value).slice(0, 40)}`, payload: at(value) });
    }
    if (rng.next() < 0.3) {
      const value = rng.pick(STRUCTURE_EXTREMES);
      perProperty.push({ name: `${name}: ${serialize(value).slice(0, 40)}…`, payload: at(value) });
    }
  }
  return [...structural, ...alwaysCases(schema, base), ...rng.sample(perProperty, Math.max(0, MAX_CASES_PER_OPERATION - structural.length))];
}

/** Values for path parameters: negative, zero, out of int32/int64 range, traversal, NUL, long. */
const PATH_VALUES = ['-1', '0', '2147483648', '9223372036854775808', '1e3', '%00', '..%2F..%2Fetc%2Fpasswd', '%E2%80%AE', 'x'.repeat(2000)];

describe.each(BACKENDS)('fuzzing every JSON body on %s', (kind) => {
  let t: TestApp;
  const ids: Record<string, string | number> = {};
  beforeAll(async () => {
    t = await startTestApp(kind);
    // Real resources behind the {id}s, so a valid-looking body gets past the 404 into the handler.
    const account = await t.api('POST', '/api/v1/email-accounts', { name: 'Fuzz', address: 'fuzz-support@example.com', inbound: { type: 'smtp' } });
    const ticket = await t.api('POST', '/api/v1/tickets', { subject: 'Fuzz', from: 'kunde@example.com', emailAccountId: account.json().id });
    const hook = await t.api('POST', '/api/v1/event-hooks', { name: 'Fuzz', events: ['TicketCreated'], executor: { type: 'apiCall', url: 'http://127.0.0.1:9/fuzz' } });
    const spare = await t.api('POST', '/api/v1/users', { email: 'spare@example.com', name: 'Spare', role: 'agent', password: 'spare password 123' });
    // Holders of the TAKEN unique values.
    const takenTicket = await t.api('POST', '/api/v1/tickets', { subject: 'Taken', externalTicketId: TAKEN.externalTicketId });
    const takenAccount = await t.api('POST', '/api/v1/email-accounts', { name: 'Taken', address: TAKEN.address, inbound: { type: 'smtp' } });
    for (const r of [account, ticket, hook, spare, takenTicket, takenAccount]) expect(r.statusCode, r.body).toBe(201);
    Object.assign(ids, {
      'email-accounts/{id}': account.json().id, 'tickets/{id}': ticket.json().id, 'event-hooks/{id}': hook.json().id, 'users/{id}': spare.json().id,
    });
  });
  afterAll(async () => { await t?.close(); });

  it('no malformed body is answered 5xx, nothing pollutes a prototype, /healthz answers after each operation', { timeout: 180_000 }, async () => {
    const started = Date.now();
    const rng = prng(SEED);
    const ops = (await fetchOperations(t)).filter((o) => o.body);
    const findings: string[] = [];
    const statuses: number[] = [];
    const protoStatuses: number[] = [];
    let cases = 0;
    for (const op of ops) {
      const url = urlFor(op, ids);
      for (const c of fuzzCases(op.body!, rng)) {
        const res = await send(t, { method: op.method, url, token: t.adminToken, payload: c.payload, ...(c.contentType ? { contentType: c.contentType } : {}) });
        cases++;
        statuses.push(res.statusCode);
        if (/proto|constructor/.test(c.name)) protoStatuses.push(res.statusCode);
        if (res.statusCode >= 500) findings.push(`${op.method} ${url} [${c.name}] (seed ${SEED}): ${res.statusCode} ${excerpt(res)}`);
        if ((res.statusCode === 401 || res.statusCode === 403) && op.access !== 'public') findings.push(`${op.method} ${url} [${c.name}]: admin refused with ${res.statusCode} ${excerpt(res)}`);
        if (c.name === 'over the body limit' && res.statusCode !== 413) findings.push(`${op.method} ${url} [${c.name}]: expected 413, got ${res.statusCode}`);
        if (c.expect && (res.statusCode !== c.expect.status || res.json().code !== c.expect.code)) {
          findings.push(`${op.method} ${url} [${c.name}]: expected ${c.expect.status} ${c.expect.code}, got ${res.statusCode} ${excerpt(res)}`);
        }
        if (res.statusCode === 409 && res.json().code !== 'conflict') findings.push(`${op.method} ${url} [${c.name}]: 409 without code conflict: ${excerpt(res)}`);
      }
      const health = await t.http.inject({ method: 'GET', url: '/healthz' });
      if (health.statusCode !== 200) findings.push(`after ${op.method} ${op.path}: /healthz answered ${health.statusCode}`);
    }
    // Prototype pollution would show in this very process: the app runs in it.
    const probe: Record<string, unknown> = {};
    expect(probe.polluted).toBeUndefined();
    expect(probe.isAdmin).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
    // The admin is still an admin (nothing in the fuzz touched it).
    expect((await t.api('GET', '/api/v1/auth/me')).json()).toMatchObject({ role: 'admin' });
    console.log(`body fuzzing (${kind}, seed ${SEED}): ${ops.length} operations, ${cases} bodies, statuses ${histogram(statuses)} `
      + `(prototype-key bodies: ${histogram(protoStatuses)}); ${Date.now() - started} ms`);
    expect(ops.length).toBeGreaterThan(20);
    expect(findings).toEqual([]);
  });

  it('hostile path parameters are never answered 5xx', { timeout: 120_000 }, async () => {
    const started = Date.now();
    const ops = (await fetchOperations(t)).filter((o) => o.params.some((p) => p.in === 'path'));
    const findings: string[] = [];
    const statuses: number[] = [];
    for (const op of ops) {
      const payload = op.body ? serialize(sample(op.body)) : undefined;
      for (const param of op.params.filter((p) => p.in === 'path')) {
        for (const value of PATH_VALUES) {
          const url = urlFor(op, ids, { name: param.name, value });
          const res = await send(t, { method: op.method, url, token: t.adminToken, ...(payload !== undefined ? { payload } : {}) });
          statuses.push(res.statusCode);
          if (res.statusCode >= 500) findings.push(`${op.method} ${url.slice(0, 200)}: ${res.statusCode} ${excerpt(res)}`);
        }
      }
    }
    console.log(`path fuzzing (${kind}): ${ops.length} operations, ${statuses.length} requests, statuses ${histogram(statuses)}; ${Date.now() - started} ms`);
    expect((await t.http.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect(findings).toEqual([]);
  });

  it('the JSON-lines ERP import (not a JSON body, so not in the generator) survives garbage', async () => {
    const bodies = ['', 'null', '{', '[]\n{}\n', '{"type":"contract"}', '{"type":"__proto__","__proto__":{"polluted":1}}', `${'{"type":"contract","a":'.repeat(1)}${'['.repeat(DEEP)}${']'.repeat(DEEP)}}`, '\u0000\n\u0000', `{"type":"customer","id":"${'x'.repeat(900_000)}"}`];
    const findings: string[] = [];
    for (const body of bodies) {
      const res = await send(t, { method: 'POST', url: '/api/v1/erp/import', token: t.adminToken, payload: body, contentType: 'application/x-ndjson' });
      if (res.statusCode >= 500) findings.push(`POST /api/v1/erp/import ${JSON.stringify(body.slice(0, 60))}: ${res.statusCode} ${excerpt(res)}`);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(findings).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// 3. MIME fuzzing through the app layer

const CORPUS = process.env.DESKHOOK_MAIL_CORPUS ?? resolve(import.meta.dirname, '..', '..', 'shared', 'corpus', 'mail');
const HAS_CORPUS = existsSync(join(CORPUS, 'MANIFEST.tsv'));
/** Chosen for their shape: torture, a bounce with the original, deep nesting, no boundary, inline images, missing boundaries. */
const MIME_SEEDS = [
  'postal-mime/mimetorture.eml', 'flanker/bounce/office365.eml', 'mimekit/messages/stack-overflow.txt',
  'enmime/mail/multipart-wo-boundary.raw', 'chatwoot/mail_with_inline_images.eml', 'flanker/missing-boundaries.eml',
];
const MIME_RANDOM_SEEDS = 4;

type Mutation = (raw: string, rng: Rng) => string;

/** Header block and body of a message held as a latin1 string (byte for byte). */
function splitMessage(raw: string): { head: string; sep: string; body: string } {
  const m = /\r?\n\r?\n/.exec(raw);
  if (!m) return { head: raw, sep: '', body: '' };
  return { head: raw.slice(0, m.index), sep: m[0], body: raw.slice(m.index + m[0].length) };
}

function headerLines(head: string): { lines: string[]; eol: string } {
  const eol = head.includes('\r\n') ? '\r\n' : '\n';
  return { lines: head.split(/\r?\n/), eol };
}

/** The message with its Message-ID replaced (or one added in front). */
function withMessageId(raw: string, id: string): string {
  const re = /^Message-ID:[^\r\n]*(\r?\n[ \t][^\r\n]*)*/im;
  const { head, sep, body } = splitMessage(raw);
  return re.test(head) ? head.replace(re, `Message-ID: <${id}>`) + sep + body : `Message-ID: <${id}>\r\n${raw}`;
}

const MUTATIONS: Record<string, Mutation> = {
  truncate: (raw, rng) => raw.slice(0, rng.int(raw.length)),
  'flip bytes': (raw, rng) => {
    const bytes = raw.split('');
    for (let i = 0; i < 1 + rng.int(50); i++) {
      const at = rng.int(bytes.length);
      bytes[at] = String.fromCharCode((bytes[at]!.charCodeAt(0) ^ (1 + rng.int(255))) & 0xff);
    }
    return bytes.join('');
  },
  'duplicate header lines': (raw, rng) => {
    const { head, sep, body } = splitMessage(raw);
    const { lines, eol } = headerLines(head);
    for (let i = 0; i < 1 + rng.int(5); i++) {
      const at = rng.int(lines.length);
      lines.splice(at, 0, lines[at]!);
    }
    // Twice the same Content-Type with another boundary, and many Message-IDs.
    const tag = rng.int(2 ** 31).toString(36);
    lines.push('Content-Type: multipart/mixed; boundary="dup-boundary"', ...Array.from({ length: 50 }, (_, i) => `Message-ID: <dup${i}-${tag}@fuzz.example>`));
    return lines.join(eol) + sep + body;
  },
  'remove header lines': (raw, rng) => {
    const { head, sep, body } = splitMessage(raw);
    const { lines, eol } = headerLines(head);
    const kept = lines.filter(() => rng.next() > 0.4);
    return kept.join(eol) + sep + body;
  },
  'break boundaries': (raw, rng) => {
    const boundary = /boundary\s*=\s*"?([^";\r\n]+)"?/i.exec(raw)?.[1];
    if (!boundary) return `Content-Type: multipart/mixed; boundary="nowhere"\r\n${raw}\r\n--nowhere\r\n`;
    const variant = rng.int(4);
    if (variant === 0) return raw.split(`--${boundary}--`).join(`--${boundary}`); // no closing boundary
    if (variant === 1) return raw.replace(/boundary\s*=\s*"?[^";\r\n]+"?/i, 'boundary="different"'); // declared ≠ used
    if (variant === 2) return raw.split(`--${boundary}`).join(`--${boundary.slice(0, -1)}`); // every delimiter off by one
    return raw.split(`--${boundary}`).map((part, i) => (i % 2 ? `--${boundary}\r\n--${boundary}--\r\n--${boundary}${part}` : part)).join('');
  },
  'insert NULs': (raw, rng) => {
    let out = raw;
    for (let i = 0; i < 1 + rng.int(20); i++) {
      const at = rng.int(out.length + 1);
      out = `${out.slice(0, at)}\u0000${out.slice(at)}`;
    }
    return `${out.slice(0, 10)}\u0000\u0000${out.slice(10)}`;
  },
  'giant header line': (raw) => `X-Giant: ${'a'.repeat(1_000_000)}\r\nSubject: ${'=?UTF-8?B?w6TDtsO8?= '.repeat(20_000)}\r\n${raw}`,
  'line endings mixed': (raw, rng) => raw.replace(/\r?\n/g, () => rng.pick(['\r', '\n', '\r\n', '\n\r', '\r\r\n'])),
  'no blank line after the header': (raw) => {
    const { head, body } = splitMessage(raw);
    return `${head}\r\n${body}`;
  },
};

/** Synthetic messages no corpus file has: extreme nesting and headers. */
function syntheticMessages(rng: Rng): { name: string; raw: string }[] {
  const nested = (depth: number) => {
    let body = 'Content-Type: text/plain\r\n\r\ninnermost\r\n';
    for (let i = depth; i > 0; i--) body = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${body}--b${i}--\r\n`;
    return body;
  };
  const rfc822 = (depth: number) => {
    let msg = 'Subject: inner\r\n\r\nbody\r\n';
    for (let i = 0; i < depth; i++) msg = `Subject: level ${i}\r\nContent-Type: message/rfc822\r\n\r\n${msg}`;
    return msg;
  };
  const head = 'From: fuzz@example.com\r\nTo: support@example.com\r\nMessage-ID: <synthetic-%@fuzz.example>\r\n';
  return [
    { name: 'multipart nested 3000 deep', raw: head.replace('%', '1') + `Subject: deep\r\n${nested(3000)}` },
    { name: 'message/rfc822 nested 3000 deep', raw: head.replace('%', '2') + rfc822(3000) },
    { name: '20 000 header lines', raw: head.replace('%', '3') + Array.from({ length: 20_000 }, (_, i) => `X-H${i}: ${i}`).join('\r\n') + '\r\n\r\nbody' },
    { name: '5000 recipients', raw: head.replace('%', '4').replace('To: support@example.com', `To: ${Array.from({ length: 5000 }, (_, i) => `u${i}@example.com`).join(', ')}`) + 'Subject: many\r\n\r\nbody' },
    { name: 'empty message', raw: '' },
    { name: 'only NULs', raw: '\u0000'.repeat(1000) },
    { name: 'binary noise', raw: Array.from({ length: 4096 }, () => String.fromCharCode(rng.int(256))).join('') },
  ];
}

describe.each(BACKENDS)('MIME fuzzing through acceptInbound + processPendingInbound on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp(kind); });
  afterAll(async () => { await t?.close(); });

  it.skipIf(!HAS_CORPUS)('every mutated message is stored and ends processed or failed; the app still answers', { timeout: 180_000 }, async () => {
    const started = Date.now();
    const rng = prng(SEED ^ 0x6d696d65);
    const account = await t.api('POST', '/api/v1/email-accounts', { name: 'Fuzz', address: 'support@example.com', inbound: { type: 'smtp' } });
    expect(account.statusCode, account.body).toBe(201);
    const emailAccountId = account.json().id as number;

    const manifest = readFileSync(join(CORPUS, 'MANIFEST.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
    const small = manifest.filter((cols) => Number(cols[5]) < 100_000 && !MIME_SEEDS.includes(cols[0]!)).map((cols) => cols[0]!);
    const files = [...MIME_SEEDS.filter((f) => existsSync(join(CORPUS, f))), ...rng.sample(small, MIME_RANDOM_SEEDS)];
    const messages: { name: string; raw: Buffer }[] = [];
    // Each mutant gets a Message-ID of its own, or most would end as duplicates of the first.
    // Every other one answers the one before, so the reply path (conversation, reopen, events) runs too.
    const unique = (raw: string) => {
      const n = messages.length;
      const own = withMessageId(raw, `fuzz-${n}@fuzz.example`);
      return n % 2 ? `In-Reply-To: <fuzz-${n - 1}@fuzz.example>\r\n${own}` : own;
    };
    for (const file of files) {
      const original = readFileSync(join(CORPUS, file)).toString('latin1');
      for (const [name, mutate] of Object.entries(MUTATIONS)) messages.push({ name: `${file} / ${name}`, raw: Buffer.from(mutate(unique(original), rng), 'latin1') });
      // Two mutations on top of each other.
      const [a, b] = rng.sample(Object.entries(MUTATIONS).filter(([n]) => n !== 'giant header line'), 2);
      messages.push({ name: `${file} / ${a![0]} + ${b![0]}`, raw: Buffer.from(b![1](a![1](unique(original), rng), rng), 'latin1') });
    }
    for (const s of syntheticMessages(rng)) messages.push({ name: `synthetic / ${s.name}`, raw: Buffer.from(s.raw, 'latin1') });

    const accepted: { id: number; name: string }[] = [];
    for (const m of messages) {
      const { id, duplicate } = await acceptInbound(t.deps, {
        emailAccountId, source: 'smtp', sourceKey: null, envelopeFrom: 'Fuzz@Example.com', envelopeTo: ['support@example.com'], raw: m.raw,
      });
      expect(duplicate).toBe(false);
      accepted.push({ id, name: m.name });
    }

    // Failures are retried after the lease (180 s) and marked failed after five attempts.
    const pending = async () => (await Promise.all(accepted.map(({ id }) => t.deps.store.inbound.get(id)))).filter((r) => r?.status === 'received').length;
    let rounds = 0;
    for (; rounds < 8; rounds++) {
      await processPendingInbound(t.deps, 1000);
      if ((await pending()) === 0) break;
      t.clock.advance(181_000);
    }

    const findings: string[] = [];
    const outcomes = new Map<string, number>();
    const failed: string[] = [];
    for (const { id, name } of accepted) {
      const row = await t.deps.store.inbound.get(id);
      if (!row) {
        findings.push(`${name}: inbound row ${id} is gone`);
        continue;
      }
      if (row.raw.length === 0 && !name.includes('empty message') && !name.includes('truncate')) findings.push(`${name}: raw bytes not kept`);
      if (row.status === 'processed') {
        outcomes.set(row.outcome ?? 'null', (outcomes.get(row.outcome ?? 'null') ?? 0) + 1);
        if (row.ticketId === null) findings.push(`${name}: processed without a ticket (outcome ${row.outcome})`);
        else {
          const ticket = await t.api('GET', `/api/v1/tickets/${row.ticketId}`);
          if (ticket.statusCode !== 200) findings.push(`${name}: its ticket ${row.ticketId} answers ${ticket.statusCode} ${excerpt(ticket)}`);
        }
      } else if (row.status === 'failed') {
        failed.push(`${name}: ${row.error?.slice(0, 160)}`);
      } else {
        findings.push(`${name}: still ${row.status} after ${rounds + 1} rounds (attempts ${row.attempts}, error ${row.error})`);
      }
    }
    const health = await t.http.inject({ method: 'GET', url: '/healthz' });
    const list = await t.api('GET', '/api/v1/tickets?limit=5');
    console.log(`MIME fuzzing (${kind}, seed ${SEED}): ${files.length} corpus files, ${accepted.length} messages stored; `
      + `processed ${[...outcomes].map(([o, n]) => `${o}×${n}`).join(' ')}; failed ${failed.length}; rounds ${rounds + 1}; ${Date.now() - started} ms`);
    if (failed.length) console.log(`MIME fuzzing (${kind}): failed after all attempts (kept, visible to admins):\n  ${failed.join('\n  ')}`);
    expect(accepted.length).toBeGreaterThan(50);
    expect(health.statusCode).toBe(200);
    expect(list.statusCode).toBe(200);
    expect(findings).toEqual([]);
    // The parser takes almost everything: a message that fails ingestion is the exception.
    expect(failed.length, failed.join('\n')).toBeLessThan(accepted.length / 10);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. Secrets never leak

interface Call { url: string; headers: IncomingHttpHeaders; body: string }

/** A local receiver standing in for a team's system: records calls, answers by path. */
async function startReceiver(): Promise<{ server: Server; base: string; calls: Call[] }> {
  const calls: Call[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      calls.push({ url: req.url ?? '', headers: req.headers, body });
      const key = String(req.headers['x-api-key'] ?? '');
      const path = (req.url ?? '').split('?')[0];
      // A receiver that reflects the key it was sent in its error page (a common sight).
      if (path === '/echo-error') {
        res.statusCode = 401;
        res.setHeader('content-type', 'text/plain');
        res.end(`invalid api key ${key} for ${req.headers.authorization ?? ''}`);
        return;
      }
      if (path === '/slow') {
        setTimeout(() => { res.statusCode = 200; res.end('{}'); }, 2_000);
        return;
      }
      res.statusCode = 200;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ received: true }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls };
}

async function stopReceiver(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

describe.each(BACKENDS)('secrets never leak through the API on %s', (kind) => {
  let t: TestApp;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    t = await startTestApp(kind);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await t?.close();
    await stopReceiver(receiver?.server);
  });

  it('no GET answers with a secret value, a mail password or a signing secret (except the reveal routes)', { timeout: 60_000 }, async () => {
    const secretValue = `sv-${randomBytes(12).toString('hex')}`;
    const imapPassword = `imap-${randomBytes(12).toString('hex')}`;
    const smtpPassword = `smtp-${randomBytes(12).toString('hex')}`;
    const imapPassword2 = `imap2-${randomBytes(12).toString('hex')}`;
    const explicitWhsec = `whsec_${randomBytes(32).toString('base64')}`;
    const created: Res[] = [];
    const ok = async (res: Res) => {
      expect(res.statusCode, `${res.statusCode} ${res.body}`).toBeLessThan(300);
      created.push(res);
      return res.json();
    };

    await ok(await t.api('PUT', '/api/v1/secrets/LEAK_TEST', { value: secretValue }));
    const secretHeaders = { 'x-api-key': '{{secret.LEAK_TEST}}', authorization: 'Bearer {{ secret.LEAK_TEST }}' };
    const account = await ok(await t.api('POST', '/api/v1/email-accounts', {
      name: 'Leak', address: 'leak@example.com',
      // Closed ports: nothing in the test app connects, and nothing would answer.
      inbound: { type: 'imap', host: '127.0.0.1', port: 9, secure: false, user: 'imap-user', password: imapPassword },
      outbound: { host: '127.0.0.1', port: 9, secure: false, user: 'smtp-user', password: smtpPassword, senderName: 'Leak' },
      webhooks: { enabled: true, ticketUpdates: { type: 'apiCall', url: `${receiver.base}/echo-error`, headers: secretHeaders }, failurePolicy: 'notify', timeoutMs: 2000 },
    }));
    await ok(await t.api('PATCH', `/api/v1/email-accounts/${account.id}`, { inbound: { type: 'imap', host: '127.0.0.1', port: 9, secure: false, user: 'imap-user', password: imapPassword2 } }));
    const hook = await ok(await t.api('POST', '/api/v1/event-hooks', {
      name: 'Leak', events: ['TicketCreated'], signingSecret: explicitWhsec,
      executor: { type: 'apiCall', url: `${receiver.base}/echo-error`, headers: secretHeaders },
    }));
    const hook2 = await ok(await t.api('POST', '/api/v1/event-hooks', { name: 'Generated', events: ['TicketUpdated'], executor: { type: 'sourceCode', language: 'javascript', code: 'export default async (input, ctx) => { const s = await ctx.secrets.get("LEAK_TEST"); ctx.log(s); return {}; };' } }));
    const ticket = await ok(await t.api('POST', '/api/v1/tickets', { subject: 'Leak', from: 'kunde@example.com', emailAccountId: account.id }));
    // Runs the ticketUpdates hook with the secret in its headers; the receiver reflects it.
    await t.api('PATCH', `/api/v1/tickets/${ticket.id}`, { priority: 'high' });
    await t.api('POST', `/api/v1/tickets/${ticket.id}/conversations`, { direction: 'internal', body: 'note' });
    expect(receiver.calls.some((c) => c.headers['x-api-key'] === secretValue), 'the hook ran with the secret').toBe(true);
    // The test route shows the receiver's answer: the reflected key must come back scrubbed.
    created.push(await t.api('POST', `/api/v1/email-accounts/${account.id}/webhooks/ticketUpdates/test`));

    // The signing secrets, from the only routes meant to show them.
    const accountWhsec = (await t.api('GET', `/api/v1/email-accounts/${account.id}/webhooks/signing-secret`)).json().signingSecret as string;
    const generatedWhsec = (await t.api('GET', `/api/v1/event-hooks/${hook2.id}/signing-secret`)).json().signingSecret as string;
    expect(accountWhsec).toMatch(/^whsec_/);
    expect(generatedWhsec).toMatch(/^whsec_/);
    expect((await t.api('GET', `/api/v1/event-hooks/${hook.id}/signing-secret`)).json().signingSecret).toBe(explicitWhsec);

    const events = (await t.api('GET', '/api/v1/events?limit=1')).json().items as { id: string }[];
    const invocations = (await t.api('GET', `/api/v1/email-accounts/${account.id}/invocations`)).json().items as { invocationId?: string; id?: string }[];
    // The receiver's reflection of the key went through the scrubber: it is in the log as [secret].
    expect(JSON.stringify(invocations)).toContain('[secret]');
    const ids: Record<string, string | number> = {
      'email-accounts/{id}': account.id, 'event-hooks/{id}': hook.id, 'tickets/{id}': ticket.id, 'users/{id}': t.adminId,
      'events/{id}': events[0]?.id ?? 'x', '{invocationId}': invocations[0]?.invocationId ?? invocations[0]?.id ?? 'inv_xxxxxxxx',
    };
    // An API key is shown once, at creation; tokens and password hashes never.
    const apiKeyRes = await t.api('POST', '/api/v1/api-keys', { userId: t.agentId, name: 'leak scan' });
    expect(apiKeyRes.statusCode, apiKeyRes.body).toBe(201);
    const apiKey = apiKeyRes.json().key as string;
    const values = {
      secretValue, imapPassword, imapPassword2, smtpPassword, explicitWhsec, accountWhsec, generatedWhsec, apiKey,
      adminToken: t.adminToken, agentToken: t.agentToken, userPassword: PASSWORD,
    };
    const leaks: string[] = [];
    const scan = (label: string, body: string, revealRoute: boolean) => {
      for (const [name, value] of Object.entries(values)) {
        if (revealRoute && value.startsWith('whsec_')) continue;
        if (body.includes(value)) leaks.push(`${label}: contains ${name}`);
      }
      if (/scrypt\$\d+\$/.test(body) || body.includes('passwordHash')) leaks.push(`${label}: contains a password hash`);
      // Any signing secret, not only ours (the documentation's `whsec_…` is no secret).
      if (!revealRoute && /whsec_[A-Za-z0-9+/]{20,}/.test(body)) leaks.push(`${label}: contains a whsec_ signing secret`);
    };

    for (const res of created) scan(`response to ${res.raw.req.method} ${res.raw.req.url}`, res.body, false);
    const ops = (await fetchOperations(t)).filter((o) => o.method === 'GET');
    const answered: string[] = [];
    const urls = [...ops.map((op) => ({ url: urlFor(op, ids), reveal: /signing-secret/.test(op.path) })), { url: '/api/openapi.json', reveal: false }];
    // The second hook's own URL too (the ids map names the first).
    urls.push({ url: `/api/v1/event-hooks/${hook2.id}`, reveal: false }, { url: `/api/v1/event-hooks/${hook.id}/deliveries`, reveal: false });
    for (const { url, reveal } of urls) {
      const res = await t.api('GET', url);
      expect(res.statusCode, `GET ${url}: ${excerpt(res)}`).toBeLessThan(500);
      if (res.statusCode === 200) answered.push(url);
      scan(`GET ${url}`, res.body, reveal);
    }
    console.log(`secret leak scan (${kind}): ${ops.length} GET operations, ${urls.length} URLs, ${answered.length} answered 200`);
    // The resources themselves were read, not just 404s.
    for (const must of [`/api/v1/email-accounts/${account.id}`, `/api/v1/event-hooks/${hook.id}`, '/api/v1/secrets', `/api/v1/tickets/${ticket.id}/activity`, `/api/v1/email-accounts/${account.id}/invocations`]) {
      expect(answered).toContain(must);
    }
    expect(ops.length).toBeGreaterThan(20);
    expect(leaks).toEqual([]);
  });
});

describe('secrets never leak into the log of a real server process', () => {
  let server: RunningServer | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => { receiver = await startReceiver(); });
  afterEach(async () => { await killAll(); });
  afterAll(async () => {
    await killAll();
    removeTempDirs();
    await stopReceiver(receiver?.server);
  });

  it('apiCall headers with {{secret.KEY}} and custom code reading the secret: the value reaches the receiver, never the log', { timeout: 120_000 }, async () => {
    const adminEmail = 'admin@leak.example';
    const adminPassword = `pw-${randomBytes(12).toString('hex')}`;
    const secretValue = `sv-${randomBytes(12).toString('hex')}`;
    const crlfSecret = `crlf-${randomBytes(8).toString('hex')}\r\nX-Injected: ${randomBytes(8).toString('hex')}`;
    server = await startServer({
      dataDir: tempDir(),
      env: { DESKHOOK_ADMIN_EMAIL: adminEmail, DESKHOOK_ADMIN_PASSWORD: adminPassword, DESKHOOK_EGRESS_ALLOW: '127.0.0.1/32', DESKHOOK_LOG_LEVEL: 'trace' },
      timeoutMs: 60_000,
    });
    const loggedIn = await loginOverHttp(server.baseUrl, adminEmail, adminPassword);
    expect(loggedIn.status, loggedIn.text).toBe(200);
    const token = loggedIn.json.token as string;
    const api = (method: string, path: string, body?: unknown) => request(server!.baseUrl, method, path, { token, ...(body !== undefined ? { body } : {}) });

    expect((await api('PUT', '/api/v1/secrets/LEAK_KEY', { value: secretValue })).status).toBeLessThan(300);
    expect((await api('PUT', '/api/v1/secrets/CRLF_KEY', { value: crlfSecret })).status).toBeLessThan(300);
    const headers = { 'x-api-key': '{{secret.LEAK_KEY}}', authorization: 'Bearer {{secret.LEAK_KEY}}' };
    const apiCall = (path: string, extra: Record<string, unknown> = {}) => ({ executor: { type: 'apiCall', url: `${receiver.base}${path}`, headers }, input: { probe: 1 }, ...extra });
    const code = `export default async (input, ctx) => {
      const s = await ctx.secrets.get('LEAK_KEY');
      ctx.log('the key is', s);
      console.error('again', s);
      const res = await ctx.fetch(${JSON.stringify(`${receiver.base}/echo-error`)}, { headers: { 'x-api-key': s } });
      ctx.log('receiver said', await res.text());
      throw new Error('failing with ' + s);
    };`;
    const runs = [
      ['ok', apiCall('/ok')],
      ['reflected in an error page', apiCall('/echo-error')],
      ['timeout', apiCall('/slow', { timeoutMs: 300 })],
      ['connection refused', { executor: { type: 'apiCall', url: 'http://127.0.0.1:9/x', headers }, input: {} }],
      ['CR LF in the secret', { executor: { type: 'apiCall', url: `${receiver.base}/ok`, headers: { 'x-api-key': '{{secret.CRLF_KEY}}' } }, input: {} }],
      ['missing secret', { executor: { type: 'apiCall', url: `${receiver.base}/ok`, headers: { 'x-api-key': '{{secret.NOT_SET}}' } }, input: {} }],
      ['custom code', { executor: { type: 'sourceCode', language: 'javascript', code }, input: {} }],
    ] as const;
    const responseLeaks: string[] = [];
    const results: string[] = [];
    for (const [name, body] of runs) {
      const res = await api('POST', '/api/v1/executors/test', body);
      expect(res.status, `${name}: ${res.text}`).toBe(200);
      results.push(`${name}: ok=${res.json.ok} ${res.json.error?.code ?? ''}`);
      if (name === 'reflected in an error page' || name === 'custom code') expect(JSON.stringify(res.json), `${name} is scrubbed, not dropped`).toContain('[secret]');
      // What the test route shows the admin is scrubbed like a trace: logs and errors.
      for (const [label, value] of [['logs', res.json.logs], ['error', res.json.error]] as const) {
        const text = JSON.stringify(value ?? null);
        if (text.includes(secretValue) || text.includes(crlfSecret) || text.includes(crlfSecret.split('\r\n')[0]!)) responseLeaks.push(`${name}: ${label} ${text.slice(0, 300)}`);
      }
    }
    console.log(`executor test runs: ${results.join('; ')}`);
    // The substitution really happened, so the value was in the process's hands.
    expect(receiver.calls.some((c) => c.headers['x-api-key'] === secretValue && c.headers.authorization === `Bearer ${secretValue}`)).toBe(true);
    // Both the apiCall and the custom code's ctx.fetch sent it to the reflecting receiver.
    expect(receiver.calls.filter((c) => c.url === '/echo-error' && c.headers['x-api-key'] === secretValue).length).toBeGreaterThanOrEqual(2);
    expect(receiver.calls.some((c) => c.headers['x-injected'] !== undefined), 'CR LF in a secret must not inject a header').toBe(false);

    // Read back through every list the process offers (secrets, events) for good measure.
    for (const path of ['/api/v1/secrets', '/api/v1/events', '/api/v1/event-hooks']) {
      const res = await api('GET', path);
      if (res.text.includes(secretValue)) responseLeaks.push(`GET ${path}`);
    }

    const exit = await stopServer(server);
    expect(exit.code, server.child.describe()).toBe(0);
    const output = `${server.child.stdout}\n${server.child.stderr}`;
    const lines = server.child.logLines();
    expect(lines.some((l) => l.msg === 'executor test run'), 'the runs were logged at all').toBe(true);
    const logLeaks: string[] = [];
    for (const [name, value] of [['secret', secretValue], ['CR LF secret', crlfSecret.split('\r\n')[0]!], ['CR LF secret tail', crlfSecret.split('\r\n')[1]!], ['admin password', adminPassword]] as const) {
      for (const line of output.split('\n')) if (line.includes(value)) logLeaks.push(`${name}: ${line.slice(0, 400)}`);
    }
    console.log(`server log: ${lines.length} JSON lines (level trace) scanned`);
    expect(responseLeaks).toEqual([]);
    expect(logLeaks).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// 5. Login brute force

describe.each(BACKENDS)('login brute force on %s', (kind) => {
  let t: TestApp;
  afterEach(async () => { await t?.close(); });

  const attempt = (email: string, password: string, remoteAddress = '198.51.100.1', headers: Record<string, string> = {}) =>
    send(t, { method: 'POST', url: '/api/v1/auth/login', payload: JSON.stringify({ email, password }), remoteAddress, headers });

  const expectThrottled = (res: Res) => {
    expect(res.statusCode, res.body).toBe(429);
    expect(res.json()).toMatchObject({ status: 429, code: 'too_many_requests' });
    const retryAfter = Number(res.headers['retry-after']);
    expect(Number.isInteger(retryAfter), `Retry-After: ${res.headers['retry-after']}`).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(t.deps.auth.loginWindowSeconds);
  };

  it('wrong passwords for one e-mail from changing addresses → 429 with Retry-After, even for the right password, until the window passes', async () => {
    t = await startTestApp(kind);
    const max = t.deps.auth.loginMaxFailures;
    expect(max).toBe(5);
    // A different client address each time: only the per-e-mail count can stop this.
    for (let i = 0; i < max; i++) expect((await attempt('admin@example.com', `wrong${i}`, `203.0.113.${i + 1}`)).statusCode).toBe(401);
    expectThrottled(await attempt('admin@example.com', 'wrong-again', '203.0.113.100'));
    expectThrottled(await attempt('admin@example.com', PASSWORD, '203.0.113.101'));
    // Spelling the address differently is the same account.
    expectThrottled(await attempt('  ADMIN@Example.COM ', PASSWORD, '203.0.113.102'));
    // The other user is not locked out by it.
    expect((await attempt('agent@example.com', PASSWORD, '203.0.113.103')).statusCode).toBe(200);
    t.clock.advance(t.deps.auth.loginWindowSeconds * 1000 + 1000);
    expect((await attempt('admin@example.com', PASSWORD, '203.0.113.104')).statusCode).toBe(200);
  });

  it('one client address trying many e-mails (or unknown ones) → 429; X-Forwarded-For does not reset it', async () => {
    t = await startTestApp(kind);
    const max = t.deps.auth.loginMaxFailures;
    for (let i = 0; i < max; i++) {
      const res = await attempt(`nobody${i}@example.com`, 'guess', '192.0.2.7', { 'x-forwarded-for': `10.0.0.${i}` });
      expect(res.statusCode).toBe(401);
    }
    expectThrottled(await attempt('nobody-else@example.com', 'guess', '192.0.2.7', { 'x-forwarded-for': '10.9.9.9' }));
    expectThrottled(await attempt('agent@example.com', PASSWORD, '192.0.2.7'));
    // Another client is unaffected.
    expect((await attempt('agent@example.com', PASSWORD, '192.0.2.8')).statusCode).toBe(200);
  });
});
