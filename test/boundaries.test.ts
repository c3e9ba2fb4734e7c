import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/** The lint step enforces the direction of dependencies of docs/architecture.md: domain <- app <- adapters <- main. */
describe('layer boundaries', () => {
  const eslint = new ESLint();
  const errorsFor = async (filePath: string, code: string) => {
    const [result] = await eslint.lintText(code, { filePath });
    return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
  };

  it.each([
    ['src/domain/x.ts', "import { KyselyStore } from '../adapters/db/kysely-store.ts';\nexport const x = KyselyStore;\n"],
    ['src/domain/x.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n"],
    ['src/app/x.ts', "import { openDatabase } from '../adapters/db/dialect.ts';\nexport const x = openDatabase;\n"],
    ['src/app/tickets/x.ts', "import { Kysely } from 'kysely';\nexport const x = Kysely;\n"],
    ['src/app/x.ts', "import { serve } from '../main/serve.ts';\nexport const x = serve;\n"],
    ['src/adapters/http/x.ts', "import { serve } from '../../main/serve.ts';\nexport const x = serve;\n"],
  ])('refuses %s importing across the boundary', async (file, code) => {
    expect(await errorsFor(file, code)).not.toEqual([]);
  });

  it.each([
    ['src/app/x.ts', "import { applyTicketPatch } from '../domain/ticket.ts';\nexport const x = applyTicketPatch;\n"],
    ['src/adapters/db/x.ts', "import { AppError } from '../../app/errors.ts';\nexport const x = AppError;\n"],
    ['src/main/x.ts', "import { KyselyStore } from '../adapters/db/kysely-store.ts';\nexport const x = KyselyStore;\n"],
  ])('allows %s importing inward', async (file, code) => {
    expect(await errorsFor(file, code)).toEqual([]);
  });
});
