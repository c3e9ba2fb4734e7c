import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv, freePort, removeTempDirs, REPO_ROOT, spawnDeskhook, stopServer, tempDir, waitHealthy } from './support/process.ts';

const SCRIPT = '/usr/bin/script';

/**
 * Logs for a person at a terminal, JSON lines for everything else. `npm start` in a terminal gets
 * readable lines and a banner saying where things are; under systemd, Docker or a pipe the lines
 * stay JSON (what every other test reads); DESKHOOK_LOG_FORMAT chooses either way.
 */
describe('log format', () => {
  afterAll(() => removeTempDirs());

  it('pretty: readable lines, the start banner with the URLs, the SMTP port, the data directory and the database', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const smtpPort = await freePort();
    const child = spawnDeskhook(['serve'], childEnv({ DESKHOOK_DATA_DIR: dataDir, PORT: String(port), DESKHOOK_SMTP_PORT: String(smtpPort), DESKHOOK_LOG_FORMAT: 'pretty' }));
    await waitHealthy(`http://127.0.0.1:${port}`, child);
    await child.waitForStdout(/is up \(role all\)\n(?:.*\n){7}/);
    const out = child.stdout;
    await stopServer({ child, port, smtpPort, dataDir, baseUrl: `http://127.0.0.1:${port}` });
    const lines = out.split('\n');
    expect(lines.filter((l) => l.startsWith('{'))).toEqual([]);
    expect(lines.some((l) => /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: deskhook is up \{.*"role":"all"/.test(l)), out).toBe(true);
    expect(out).toMatch(/first start, an admin was created[\s\S]*deskhook user set-password --email admin@localhost/);
    const banner = out.slice(out.indexOf('is up (role all)'));
    expect(banner).toContain(`UI        http://127.0.0.1:${port}/\n`);
    expect(banner).toContain(`API docs  http://127.0.0.1:${port}/api/docs\n`);
    expect(banner).toContain(`metrics   http://127.0.0.1:${port}/metrics\n`);
    expect(banner).toContain(`SMTP      127.0.0.1:${smtpPort}\n`);
    expect(banner).toContain(`data      ${dataDir}\n`);
    expect(banner).toContain(`database  SQLite ${join(dataDir, 'deskhook.sqlite')}\n`);
  }, 60_000);

  it('auto: pretty on a terminal, JSON lines through a pipe', async () => {
    // Through a pipe (as every other test starts the server): JSON, no banner.
    const dataDir = tempDir();
    const port = await freePort();
    const piped = spawnDeskhook(['serve'], childEnv({ DESKHOOK_DATA_DIR: dataDir, PORT: String(port), DESKHOOK_SMTP_PORT: String(await freePort()) }));
    await piped.waitForStdout(/"msg":"deskhook is up"/);
    await stopServer({ child: piped, port, smtpPort: 0, dataDir, baseUrl: '' });
    expect(piped.stdout).not.toContain('is up (role');
    expect(piped.logLines().map((l) => l.msg)).toContain('deskhook is up');

    if (!existsSync(SCRIPT)) return; // util-linux's script gives the process a terminal
    const port2 = await freePort();
    const env = childEnv({ DESKHOOK_DATA_DIR: tempDir(), PORT: String(port2), DESKHOOK_SMTP_PORT: String(await freePort()) });
    const onTerminal = spawn(SCRIPT, ['-qefc', `${process.execPath} bin/deskhook.mjs serve`, '/dev/null'], { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let seen = '';
    onTerminal.stdout!.setEncoding('utf8').on('data', (chunk: string) => { seen += chunk; });
    const deadline = Date.now() + 30_000;
    while (!/is up \(role all\)/.test(seen) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await fetch(`http://127.0.0.1:${port2}/healthz`).then((r) => r.arrayBuffer());
    onTerminal.kill('SIGTERM');
    await new Promise((resolve) => onTerminal.once('close', resolve));
    // eslint-disable-next-line no-control-regex -- the terminal's colour codes, removed to read the text
    const text = seen.replace(/\u001b\[[0-9;]*m/g, '').replace(/\r/g, '');
    expect(text).toMatch(/is up \(role all\)/);
    expect(text).toMatch(/INFO.*deskhook is up/);
    expect(text.split('\n').filter((l) => l.startsWith('{"level"'))).toEqual([]);
  }, 90_000);
});
