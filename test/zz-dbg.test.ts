import { it } from 'vitest';
import { startDovecot } from './support/dovecot.ts';
import { ImapFlow } from 'imapflow';

it('dbg', async () => {
  const d = await startDovecot();
  for (const pass of ['secret', 'secret', 'wrong', 'secret', 'secret', 'wrong', 'wrong', 'secret']) {
    const t = Date.now();
    const c = new ImapFlow({ host: '127.0.0.1', port: d.port, secure: false, doSTARTTLS: false, auth: { user: 'support', pass }, logger: false });
    c.on('error', () => {});
    try { await c.connect(); await c.logout(); console.log(pass, 'ok', Date.now() - t); } catch (e) { console.log(pass, 'fail', Date.now() - t); }
  }
  await d.stop();
}, 60000);
