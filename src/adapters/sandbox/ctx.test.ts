import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingBridge } from './fixtures/bridges.ts';
import { SandboxPool } from './pool.ts';
import type { SandboxBridge, SandboxJob, SandboxResult } from './types.ts';

// `ctx` end to end: script in QuickJS → worker → main thread → bridge → a real HTTP server on
// 127.0.0.1, and back.

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server;
let origin: string;
const seen: Seen[] = [];
let pool: SandboxPool;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.url === '/contracts/404') {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'X-Trace': 'trace-1' });
      res.end(JSON.stringify({ path: req.url, method: req.method, authorization: req.headers.authorization ?? null, body }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  pool = new SandboxPool({ size: 2 });
});

afterAll(async () => {
  await pool.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function run(code: string, input: unknown, bridge: SandboxBridge, extra: Partial<SandboxJob> = {}): Promise<SandboxResult> {
  return pool.run({ code, language: 'javascript', input, bridge, ...extra });
}

describe('ctx.fetch', () => {
  it('runs the documented TypeScript example against a real server', async () => {
    const bridge = new RecordingBridge();
    const code = `
      interface Input { contractId: string; base: string }
      export default async function (input: Input, ctx: any): Promise<unknown> {
        const res = await ctx.fetch(\`\${input.base}/contracts/\${input.contractId}\`, { headers: { authorization: \`Bearer \${await ctx.secrets.get('ERP_TOKEN')}\` } });
        if (res.status === 404) return null;
        ctx.log('fetched', res.status);
        return await res.json();
      }`;
    const found = await run(code, { contractId: 'V-2024-0815', base: origin }, bridge, { language: 'typescript' });
    expect(found.error).toBeUndefined();
    expect(found.output).toEqual({ path: '/contracts/V-2024-0815', method: 'GET', authorization: 'Bearer erp-secret-token', body: '' });
    expect(found.logs).toEqual([{ level: 'log', message: 'fetched 200', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }]);
    const missing = await run(code, { contractId: '404', base: origin }, bridge, { language: 'typescript' });
    expect(missing).toMatchObject({ ok: true, output: null });
  });

  it('sends method, headers and body, and exposes status, headers and text', async () => {
    const bridge = new RecordingBridge();
    const result = await run(
      `export default async (input, ctx) => {
        const res = await ctx.fetch(input.url, { method: 'post', headers: [['X-Custom', 'one']], body: JSON.stringify({ a: 1 }) });
        return { status: res.status, ok: res.ok, trace: res.headers.get('x-TRACE'), has: res.headers.has('content-type'), missing: res.headers.get('nope'), text: await res.text() };
      }`,
      { url: `${origin}/echo` },
      bridge,
    );
    expect(result.error).toBeUndefined();
    const output = result.output as Record<string, unknown>;
    expect(output).toMatchObject({ status: 200, ok: true, trace: 'trace-1', has: true, missing: null });
    expect(JSON.parse(output.text as string)).toMatchObject({ method: 'POST', body: '{"a":1}' });
    expect(bridge.fetched[0]).toEqual({ url: `${origin}/echo`, method: 'POST', headers: { 'x-custom': 'one' }, body: '{"a":1}' });
    expect(seen.at(-1)?.headers['x-custom']).toBe('one');
  });

  it('fails the run with egress_refused when a refused fetch is not caught', async () => {
    const bridge = new RecordingBridge();
    const before = seen.length;
    const result = await run('export default async (input, ctx) => (await ctx.fetch("http://169.254.169.254/latest/meta-data")).text()', null, bridge);
    expect(result.error).toMatchObject({ code: 'egress_refused', message: 'Error: egress refused: 169.254.169.254 is not an allowed destination' });
    expect(seen.length).toBe(before);
  });

  it('lets the script catch a refused fetch and read its code', async () => {
    const result = await run(
      `export default async (input, ctx) => {
        try { await ctx.fetch("http://10.0.0.1/"); return "reached"; } catch (e) { return { code: e.code, message: e.message, isError: e instanceof Error }; }
      }`,
      null,
      new RecordingBridge(),
    );
    expect(result.output).toEqual({ code: 'egress_refused', message: 'egress refused: 10.0.0.1 is not an allowed destination', isError: true });
  });

  it('fails with the bridge code when a refused fetch is left floating', async () => {
    const result = await run('export default async (input, ctx) => { ctx.fetch("http://10.0.0.1/"); await ctx.secrets.get("ERP_TOKEN"); return 1; }', null, new RecordingBridge());
    expect(result.error?.code).toBe('egress_refused');
    expect(result.error?.message).toMatch(/^unhandled promise rejection: Error: egress refused/);
  });

  it('reports bridge failures without a code as bridge_error', async () => {
    const bridge = new RecordingBridge();
    bridge.fetch = () => Promise.reject(new Error('upstream reset'));
    const result = await run('export default async (input, ctx) => ctx.fetch("https://erp.example/")', null, bridge);
    expect(result.error).toMatchObject({ code: 'bridge_error', message: 'Error: upstream reset' });
  });

  it('runs many calls in parallel', async () => {
    const result = await run(
      'export default async (input, ctx) => (await Promise.all(Array.from({ length: 20 }, (_, i) => ctx.fetch(`${input}/n/${i}`).then((r) => r.json())))).map((b) => b.path)',
      origin,
      new RecordingBridge(),
    );
    expect(result.output).toEqual(Array.from({ length: 20 }, (_, i) => `/n/${i}`));
  });
});

describe('ctx.secrets, ctx.cache, ctx.deskhook, logs and timers', () => {
  it('reads secrets', async () => {
    const result = await run('export default async (input, ctx) => [await ctx.secrets.get("ERP_TOKEN"), await ctx.secrets.get("NOPE")]', null, new RecordingBridge());
    expect(result.output).toEqual(['erp-secret-token', null]);
  });

  it('round-trips the cache with its TTL', async () => {
    const bridge = new RecordingBridge();
    const result = await run(
      `export default async (input, ctx) => {
        const before = await ctx.cache.get("contract");
        await ctx.cache.set("contract", { id: 7, tags: ["a"] }, 60);
        return { before: before === undefined ? "missing" : before, after: await ctx.cache.get("contract") };
      }`,
      null,
      bridge,
    );
    expect(result.output).toEqual({ before: 'missing', after: { id: 7, tags: ['a'] } });
    expect(bridge.cache.get('contract')).toEqual({ value: { id: 7, tags: ['a'] }, ttlSeconds: 60 });
    const bad = await run('export default (input, ctx) => ctx.cache.set("k", undefined, 60)', null, bridge);
    expect(bad.error).toMatchObject({ code: 'runtime_error', message: 'TypeError: ctx.cache.set: value must be JSON data, not undefined' });
    const badTtl = await run('export default (input, ctx) => ctx.cache.set("k", 1, -5)', null, bridge);
    expect(badTtl.error?.message).toMatch(/ttlSeconds must be a positive number/);
  });

  it('calls the deskhook API', async () => {
    const bridge = new RecordingBridge();
    const result = await run(
      `export default async (input, ctx) => {
        const got = await ctx.deskhook.get("/tickets/42");
        const created = await ctx.deskhook.post("/tickets/42/notes", { text: "hi" });
        const patched = await ctx.deskhook.patch("/tickets/42", { status: "closed" });
        const missing = await ctx.deskhook.get("/tickets/404");
        return [got, created.status, patched.body.echo, missing.ok, missing.status];
      }`,
      null,
      bridge,
    );
    expect(result.output).toEqual([{ status: 200, ok: true, body: { method: 'GET', path: '/tickets/42', echo: null } }, 201, { status: 'closed' }, false, 404]);
    expect(bridge.apiCalls).toEqual([
      { method: 'GET', path: '/tickets/42' },
      { method: 'POST', path: '/tickets/42/notes', body: { text: 'hi' } },
      { method: 'PATCH', path: '/tickets/42', body: { status: 'closed' } },
      { method: 'GET', path: '/tickets/404' },
    ]);
  });

  it('captures ctx.log and console output with levels', async () => {
    const result = await run(
      `export default (input, ctx) => {
        ctx.log("plain", 1, { a: [1] }, null, undefined);
        console.log("console"); console.info("info"); console.debug("debug");
        console.warn("careful"); console.error(new TypeError("bad thing"));
        return true;
      }`,
      null,
      new RecordingBridge(),
    );
    expect(result.logs.map(({ level, message }) => [level, message.split('\n')[0]])).toEqual([
      ['log', 'plain 1 {"a":[1]} null undefined'],
      ['log', 'console'],
      ['log', 'info'],
      ['log', 'debug'],
      ['warn', 'careful'],
      ['error', 'TypeError: bad thing'],
    ]);
  });

  it('cuts a log flood at maxLogBytes with a note and lets the run finish', async () => {
    const result = await run('export default () => { for (let i = 0; i < 5000; i++) console.log("line", i, "x".repeat(80)); return "done"; }', null, new RecordingBridge(), { limits: { maxLogBytes: 4096 } });
    expect(result).toMatchObject({ ok: true, output: 'done' });
    const bytes = result.logs.slice(0, -1).reduce((sum, entry) => sum + Buffer.byteLength(entry.message) + 32, 0);
    expect(bytes).toBeLessThanOrEqual(4096);
    expect(result.logs.at(-1)).toMatchObject({ level: 'warn', message: "[deskhook] log output exceeded 4096 bytes; the rest of this run's log was dropped" });
    const giant = await run('export default () => { console.log("é".repeat(5e6)); return 1; }', null, new RecordingBridge());
    expect(giant.ok).toBe(true);
    expect(Buffer.byteLength(giant.logs[0]?.message ?? '')).toBeLessThanOrEqual(64 * 1024);
    expect(giant.logs).toHaveLength(2);
  });

  it('runs timers within the run and drops them with it', async () => {
    const result = await run(
      `export default () => new Promise((resolve) => {
        const order = [];
        setTimeout(() => order.push("b"), 20);
        setTimeout((x) => order.push(x), 5, "a");
        const cancelled = setTimeout(() => order.push("never"), 10);
        clearTimeout(cancelled);
        setTimeout(() => resolve([order.sort(), typeof setInterval]), 40);
      })`,
      null,
      new RecordingBridge(),
    );
    expect(result.output).toEqual([['a', 'b'], 'undefined']);
  });

  it('drops timers still pending when the run ends', async () => {
    const single = new SandboxPool({ size: 1 });
    try {
      const first = await single.run({ code: 'export default (input, ctx) => { setTimeout(() => ctx.log("late"), 30); return "done"; }', language: 'javascript', input: null, bridge: new RecordingBridge() });
      expect(first).toMatchObject({ ok: true, output: 'done', logs: [] });
      await new Promise((resolve) => setTimeout(resolve, 80));
      const next = await single.run({ code: 'export default () => "next"', language: 'javascript', input: null, bridge: new RecordingBridge() });
      expect(next).toMatchObject({ ok: true, output: 'next', logs: [] });
    } finally {
      await single.close();
    }
  });

  it('times out a run that waits on a bridge call that never answers', async () => {
    const bridge = new RecordingBridge();
    bridge.secretGet = () => new Promise(() => {});
    const started = performance.now();
    const result = await run('export default (input, ctx) => ctx.secrets.get("ERP_TOKEN")', null, bridge, { limits: { timeoutMs: 300 } });
    expect(result.error?.code).toBe('timeout');
    // Ended by its own deadline, not by the bridge (which never answers).
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('tells the code its deadline and the time left', async () => {
    const bridge = new RecordingBridge();
    const started = Date.now();
    const result = await run(
      'export default async (input, ctx) => { const a = ctx.remainingMs(); await new Promise((r) => setTimeout(r, 200)); return { deadline: ctx.deadline, a, b: ctx.remainingMs() }; }',
      null, bridge, { limits: { timeoutMs: 2_000 } },
    );
    const out = result.output as { deadline: number; a: number; b: number };
    expect(out.deadline).toBeGreaterThanOrEqual(started + 1_000);
    expect(out.deadline).toBeLessThanOrEqual(started + 2_000 + 50);
    expect(out.a).toBeGreaterThan(0);
    expect(out.a).toBeLessThanOrEqual(2_000);
    expect(out.a - out.b).toBeGreaterThanOrEqual(150);
  });

  it('caps ctx calls in flight', async () => {
    const bridge = new RecordingBridge();
    bridge.cacheGet = () => new Promise((resolve) => setTimeout(() => resolve(1), 50));
    const result = await run('export default async (input, ctx) => (await Promise.all(Array.from({ length: 70 }, () => ctx.cache.get("k")))).length', null, bridge);
    expect(result.error?.message).toMatch(/at most 64 ctx calls and timers may be pending at once/);
  });

  it('turns host replies that are not JSON or too large into errors in the script', async () => {
    const bridge = new RecordingBridge();
    bridge.cacheGet = () => Promise.resolve(10n);
    bridge.secretGet = () => Promise.resolve('x'.repeat(40_000_000));
    const result = await run(
      `export default async (input, ctx) => {
        const out = [];
        for (const call of [() => ctx.cache.get("k"), () => ctx.secrets.get("big")]) {
          try { await call(); out.push("ok"); } catch (e) { out.push(e.message); }
        }
        return out;
      }`,
      null,
      bridge,
      { limits: { memoryBytes: 16 * 1024 * 1024 } },
    );
    expect(result.output).toEqual(['ctx: the host returned a value that is not JSON data (cacheGet)', "ctx: the host's reply does not fit into this run's memory limit"]);
  });
});

describe('input and output', () => {
  it('passes the input in and JSON data out', async () => {
    const input = { text: 'Grüße, 👋', n: 1.5, list: [true, null], nested: { deep: ['x'] } };
    const result = await run('export default (input) => ({ input, nan: NaN, date: new Date(0), undef: undefined, arr: [undefined, () => 1].slice(0, 1) })', input, new RecordingBridge());
    expect(result.output).toEqual({ input, nan: null, date: '1970-01-01T00:00:00.000Z', arr: [null] });
  });

  it('turns undefined into null', async () => {
    const result = await run('export default async () => {}', null, new RecordingBridge());
    expect(result).toMatchObject({ ok: true, output: null });
  });

  it('rejects input that is not JSON data', async () => {
    const result = await run('export default (input) => input', { n: 1n }, new RecordingBridge());
    expect(result.error?.code).toBe('invalid_input');
  });
});
