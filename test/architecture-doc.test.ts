import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url);
const doc = readFileSync(new URL('docs/architecture.md', root), 'utf8');

/**
 * Every source path the architecture map names, in its tables and flow diagrams. A path in a flow
 * may be written relative to src/ ("app/tickets/update-ticket.ts") or by its bare file name after
 * a path of the same folder has been named; both are resolved the same way here.
 */
function namedPaths(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(/(?:src\/|web\/|test\/|bin\/)?(?:domain|app|adapters|main|config)\/[\w./-]+\.(?:ts|mjs)/g)) {
    const path = m[0].startsWith('src/') || m[0].startsWith('test/') ? m[0] : `src/${m[0]}`;
    found.add(path);
  }
  for (const m of text.matchAll(/`((?:test|eslint|bin)[\w./-]*\.(?:ts|js|mjs))`/g)) found.add(m[1]!);
  // Table rows: "| `src/folder/` | `file.ts` (…), `sub/other.ts` … |" name files relative to the folder.
  for (const line of text.split('\n')) {
    const row = /^\| `(src\/[\w/-]+\/)`[^|]*\|(.*)\|\s*$/.exec(line);
    if (!row) continue;
    for (const m of row[2]!.matchAll(/`([\w./-]+\.(?:ts|mjs))`/g)) {
      found.add(m[1]!.startsWith('src/') ? m[1]! : `${row[1]}${m[1]}`);
    }
  }
  return [...found];
}

describe('docs/architecture.md', () => {
  const paths = namedPaths(doc);

  it('names the files of the three main flows', () => {
    for (const file of ['src/app/mail/ingest-inbound.ts', 'src/app/tickets/update-ticket.ts', 'src/app/erp/erp-service.ts']) {
      expect(paths).toContain(file);
    }
  });

  it.each(paths)('names %s, which exists', (path) => {
    expect(existsSync(new URL(path, root)), `${path} is named in docs/architecture.md but does not exist`).toBe(true);
  });

  it('names every folder of src/ in its table', () => {
    for (const folder of ['src/domain/', 'src/domain/mail/', 'src/domain/recognition/', 'src/app/ports/', 'src/adapters/db/', 'src/adapters/http/', 'src/main/']) {
      expect(doc).toContain(`\`${folder}\``);
    }
  });
});
