import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load-config.ts';
import { configPage, errorsPage } from '../scripts/gen-docs.ts';

describe('configuration', () => {
  it('has defaults that run the embedded product', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 3000, host: '127.0.0.1', dataDir: './data', databaseUrl: null, smtpPort: 2525, role: 'all', egressAllow: [] });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('takes environment variables over the config file over defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deskhook-config-'));
    const file = join(dir, 'deskhook.json');
    writeFileSync(file, JSON.stringify({ PORT: 4000, DESKHOOK_SMTP_PORT: 2600, DESKHOOK_EGRESS_ALLOW: '127.0.0.1/32, erp.internal' }));
    const c = loadConfig({ DESKHOOK_CONFIG: file, PORT: '5000' });
    expect(c.port).toBe(5000);
    expect(c.smtpPort).toBe(2600);
    expect(c.egressAllow).toEqual(['127.0.0.1/32', 'erp.internal']);
  });

  it.each([
    [{ PORT: 'abc' }, 'config PORT: expected a whole number, got "abc"'],
    [{ PORT: '70000' }, 'config PORT: must be at most 65535, got 70000'],
    [{ DESKHOOK_LOG_LEVEL: 'loud' }, 'config DESKHOOK_LOG_LEVEL: must be one of'],
    [{ DESKHOOK_SECRET_KEY: 'c2hvcnQ=' }, 'config DESKHOOK_SECRET_KEY: must be 32 bytes'],
    [{ DATABASE_URL: 'mysql://localhost/db' }, 'config DATABASE_URL: only postgres:// URLs'],
    [{ DATABASE_URL: 'not a url' }, 'config DATABASE_URL: not a valid URL'],
  ])('refuses %o with one line naming the key', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('never echoes secret values in its errors', () => {
    try {
      loadConfig({ DESKHOOK_SECRET_KEY: 'my-super-secret-value' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('my-super-secret-value');
    }
  });

  it('refuses unknown keys and broken JSON in the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deskhook-config-'));
    const unknown = join(dir, 'a.json');
    writeFileSync(unknown, JSON.stringify({ PROT: 3000 }));
    expect(() => loadConfig({ DESKHOOK_CONFIG: unknown })).toThrow('config PROT: unknown key');
    const broken = join(dir, 'b.json');
    writeFileSync(broken, '{ "PORT": ');
    expect(() => loadConfig({ DESKHOOK_CONFIG: broken })).toThrow(/config DESKHOOK_CONFIG: .* is not valid JSON/);
    expect(() => loadConfig({ DESKHOOK_CONFIG: join(dir, 'missing.json') })).toThrow('config DESKHOOK_CONFIG: cannot read');
  });

  it('is documented: docs/config.md and docs/errors.md are what `npm run docs` generates', () => {
    expect(readFileSync(new URL('../docs/config.md', import.meta.url), 'utf8')).toBe(configPage());
    expect(readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')).toBe(errorsPage());
  });
});
