import { afterAll, describe, expect, it } from 'vitest';
import { CompileCache, compile } from './compile.ts';
import { noBridge } from './fixtures/bridges.ts';
import { SandboxPool } from './pool.ts';

const TYPESCRIPT = `import type { Something } from 'elsewhere';
interface Contract { id: string; amount: number }
type Status = 'open' | 'closed';
enum Level { Low = 1, High }
function total<T extends { amount: number }>(items: T[]): number { return items.reduce((s, i) => s + i.amount, 0); }
const status = 'open' satisfies Status;
export default async function (input: { contracts: Contract[] }, ctx: Something): Promise<object> {
  if (input.contracts.length === 0) throw new Error('no contracts on line 8');
  return { total: total(input.contracts), status, level: Level.High as number };
}
`;

describe('compile', () => {
  it('strips TypeScript and keeps every line where it was', () => {
    const result = compile(TYPESCRIPT, 'typescript');
    if (!result.ok) throw new Error(result.error.message);
    expect(result.js.split('\n')).toHaveLength(TYPESCRIPT.split('\n').length);
    expect(result.js).not.toMatch(/interface|import type|satisfies|: number/);
    expect(result.js.split('\n')[7]).toContain("throw new Error('no contracts on line 8')");
  });

  it('reports syntax errors with line and column', () => {
    expect(compile('const a = 1;\nlet x = ;\n', 'javascript')).toEqual({
      ok: false,
      error: { code: 'syntax_error', message: 'SyntaxError: Unexpected token (line 2, column 10)', line: 2, column: 10 },
    });
    const ts = compile('interface A {\n  x: number\n}\nexport default (a: A =>\n  a.x;\n', 'typescript');
    expect(ts).toMatchObject({ ok: false, error: { code: 'syntax_error', line: 4 } });
  });

  it('treats TypeScript syntax in JavaScript as an error', () => {
    expect(compile('const x: number = 1;', 'javascript').ok).toBe(false);
  });
});

describe('CompileCache', () => {
  it('compiles a code version once and stays bounded', () => {
    const cache = new CompileCache(2);
    const first = cache.compile(TYPESCRIPT, 'typescript');
    expect(cache.compile(TYPESCRIPT, 'typescript')).toBe(first);
    expect(cache.compile(TYPESCRIPT, 'javascript')).not.toBe(first);
    cache.compile('export default () => 1', 'javascript');
    expect(cache.size).toBe(2);
    expect(cache.compile(TYPESCRIPT, 'typescript')).not.toBe(first);
  });
});

describe('compiled code in the sandbox', () => {
  const pool = new SandboxPool({ size: 1 });
  afterAll(() => pool.close());

  it('runs TypeScript with types, interfaces, enums and generics', async () => {
    const result = await pool.run({ code: TYPESCRIPT, language: 'typescript', input: { contracts: [{ id: 'a', amount: 2 }, { id: 'b', amount: 3 }] }, bridge: noBridge });
    expect(result).toMatchObject({ ok: true, output: { total: 5, status: 'open', level: 2 } });
  });

  it("points a runtime error's stack at the author's TypeScript line", async () => {
    const result = await pool.run({ code: TYPESCRIPT, language: 'typescript', input: { contracts: [] }, bridge: noBridge });
    expect(result.error).toMatchObject({ code: 'runtime_error', message: 'Error: no contracts on line 8' });
    expect(result.error?.stack).toMatch(/custom-code\.ts:8:/);
  });

  it('reports a TypeScript syntax error without running anything', async () => {
    const result = await pool.run({ code: 'export default (a: number =>\n  a;', language: 'typescript', input: null, bridge: noBridge });
    expect(result.error).toMatchObject({ code: 'syntax_error', line: 1 });
  });

  it("reports JavaScript syntax errors at QuickJS's exact position", async () => {
    const result = await pool.run({ code: 'export default () => {\n  const items = [1, 2].map((x) => {\n    return x +;\n  });\n}', language: 'javascript', input: null, bridge: noBridge });
    expect(result.error).toMatchObject({ code: 'syntax_error', line: 3 });
    expect(result.error?.message).toMatch(/^SyntaxError: .*\(line 3, column \d+\)$/);
  });
});
