import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { noBridge } from './fixtures/bridges.ts';
import { SandboxPool } from './pool.ts';
import type { SandboxJob } from './types.ts';

const FAULTY_WORKER = new URL('./fixtures/faulty-worker.mjs', import.meta.url);
const ECHO = 'export default (input) => input';

function job(input: unknown, extra: Partial<SandboxJob> = {}): SandboxJob {
  return { code: ECHO, language: 'javascript', input, bridge: noBridge, ...extra };
}

describe('worker failures', () => {
  it('fails a run whose worker crashes with sandbox_crashed and replaces the worker', async () => {
    const pool = new SandboxPool({ size: 1, workerUrl: FAULTY_WORKER });
    try {
      expect((await pool.run(job('warm'))).output).toBe('warm');
      const [crashed, next] = await Promise.all([pool.run(job({ fault: 'crash' })), pool.run(job('after crash'))]);
      expect(crashed.error).toMatchObject({ code: 'sandbox_crashed', message: 'the sandbox worker crashed (simulated wasm abort)' });
      expect(next).toMatchObject({ ok: true, output: 'after crash' });
      const exited = await pool.run(job({ fault: 'exit' }));
      expect(exited.error).toMatchObject({ code: 'sandbox_crashed', message: 'the sandbox worker exited unexpectedly (code 3)' });
      expect((await pool.run(job('after exit'))).output).toBe('after exit');
    } finally {
      await pool.close();
    }
  });

  it('terminates a worker that does not answer by its deadline plus grace', async () => {
    const pool = new SandboxPool({ size: 1, workerUrl: FAULTY_WORKER, limits: { timeoutMs: 300 } });
    try {
      await pool.run(job('warm'));
      const started = performance.now();
      const hung = await pool.run(job({ fault: 'hang' }));
      const elapsed = performance.now() - started;
      expect(hung.error).toMatchObject({ code: 'timeout', message: 'the run exceeded its time limit of 300 ms and its worker was stopped' });
      // Killed by the backstop (deadline + 1 s grace), neither before it nor never.
      expect(elapsed).toBeGreaterThanOrEqual(1200);
      expect(elapsed).toBeLessThan(10_000);
      expect((await pool.run(job('after hang'))).output).toBe('after hang');
    } finally {
      await pool.close();
    }
  });
});

describe('scheduling and shutdown', () => {
  it('queues runs beyond its size and answers each', async () => {
    const pool = new SandboxPool({ size: 2 });
    try {
      const results = await Promise.all(Array.from({ length: 9 }, (_, i) => pool.run(job(i))));
      expect(results.map((r) => r.output)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    } finally {
      await pool.close();
    }
  });

  it('lets running runs finish on close, fails queued ones, and refuses new ones', async () => {
    const pool = new SandboxPool({ size: 1 });
    const running = pool.run(job('slow', { code: 'export default (input) => new Promise((resolve) => setTimeout(() => resolve(input), 200))' }));
    const queued = pool.run(job('queued'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closing = pool.close();
    expect((await pool.run(job('late'))).error?.code).toBe('sandbox_closed');
    expect((await queued).error?.code).toBe('sandbox_closed');
    expect((await running).output).toBe('slow');
    await closing;
  });

  it('rejects invalid limits and sizes', async () => {
    expect(() => new SandboxPool({ size: 0 })).toThrow(RangeError);
    expect(() => new SandboxPool({ limits: { timeoutMs: -1 } })).toThrow(/timeoutMs must be an integer/);
    const pool = new SandboxPool({ size: 1 });
    await expect(pool.run(job(1, { limits: { memoryBytes: 8 * 1024 * 1024 * 1024 } }))).rejects.toThrow(/memoryBytes/);
    await pool.close();
  });

  it('gives each run the memory limit it asks for, also after a run with a larger one', async () => {
    const pool = new SandboxPool({ size: 1 });
    const bomb = 'export default () => { const keep = []; for (;;) keep.push(new ArrayBuffer(1 << 20)); }';
    const sized = 'export default () => { const keep = []; for (let i = 0; i < 40; i++) keep.push(new ArrayBuffer(1 << 20)); return keep.length; }';
    try {
      const large = await pool.run(job(null, { code: bomb, limits: { memoryBytes: 96 * 1024 * 1024 } }));
      expect(large.error).toMatchObject({ code: 'memory_limit', message: 'the run exceeded the memory limit of 100663296 bytes' });
      const small = await pool.run(job(null, { code: sized, limits: { memoryBytes: 16 * 1024 * 1024 } }));
      expect(small.error?.code).toBe('memory_limit');
      expect((await pool.run(job(null, { code: sized }))).output).toBe(40);
    } finally {
      await pool.close();
    }
  });
});

describe('loading the worker', () => {
  it('works when the server imports the sources through tsx, as bin/deskhook.mjs does, and idle workers let the process exit', async () => {
    const sandbox = fileURLToPath(new URL('./sandbox.ts', import.meta.url));
    const script = `
      import { register } from 'tsx/esm/api';
      register();
      const { SandboxPool } = await import(${JSON.stringify(sandbox)});
      const pool = new SandboxPool({ size: 1 });
      const result = await pool.run({ code: 'export default (i: number): number => i * 2', language: 'typescript', input: 21, bridge: {} });
      console.log(JSON.stringify(result.output)); // no pool.close(): the process must end anyway`;
    const cwd = fileURLToPath(new URL('../../..', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd, timeout: 15_000 });
    expect(stdout.trim()).toBe('42');
  });
});
