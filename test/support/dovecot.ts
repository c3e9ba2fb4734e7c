import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { freePort } from './process.ts';

export const DOVECOT_BINARY = '/usr/sbin/dovecot';

/** Why the IMAP tests cannot run here, or null when they can. Tests skip; they never install. */
export function dovecotMissing(): string | null {
  return existsSync(DOVECOT_BINARY)
    ? null
    : `${DOVECOT_BINARY} not found: IMAP tests skipped (install with: apt-get install -y --no-install-recommends dovecot-imapd)`;
}

export interface Dovecot {
  port: number;
  user: string;
  password: string;
  /** Appends a raw message as an external sender would deliver it; creates the folder if needed. */
  append(raw: Buffer, folder?: string): Promise<{ uid: number; uidValidity: string }>;
  /** A logged-in client of the mailbox, for assertions (close it with `logout()`). */
  client(): Promise<ImapFlow>;
  /** The flags of every message in the folder, by ascending UID. */
  flags(folder: string): Promise<string[][]>;
  /** Deletes a folder: recreating it gives it a new UIDVALIDITY, as a server migration would. */
  deleteFolder(folder: string): Promise<void>;
  /** The server's log, to show when a test fails. */
  log(): string;
  stop(): Promise<void>;
}

/** Resolves once the server sends its IMAP greeting. */
async function waitForGreeting(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`dovecot exited with ${child.exitCode}`);
    const greeted = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.setTimeout(1000);
      socket.once('data', (d) => { socket.destroy(); resolve(d.toString().startsWith('* OK')); });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => { socket.destroy(); resolve(false); });
    });
    if (greeted) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`dovecot did not greet on port ${port} within ${timeoutMs} ms`);
}

function config(dir: string, port: number): string {
  // As root, mail is owned by nobody and the login processes run as nobody; otherwise all of it
  // runs as the current user (Dovecot then cannot switch users, and must not try).
  const root = process.getuid?.() === 0;
  const uid = root ? 65534 : process.getuid!();
  const gid = root ? 65534 : process.getgid!();
  const loginUser = root ? 'nobody' : userInfo().username;
  return `
protocols = imap
listen = 127.0.0.1
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = deskhook-test-${port}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
log_path = ${dir}/dovecot.log
mail_location = maildir:${dir}/mail/%u
default_login_user = ${loginUser}
default_internal_user = ${loginUser}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = static
  args = uid=${uid} gid=${gid} home=${dir}/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
# No penalty socket, no penalty: a failed login in one test must not delay the next login by seconds.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
}
`;
}

/** A throwaway Dovecot on 127.0.0.1 and a free port, everything under one temporary folder. */
export async function startDovecot(options: { user?: string; password?: string } = {}): Promise<Dovecot> {
  const missing = dovecotMissing();
  if (missing) throw new Error(missing);
  const user = options.user ?? 'support';
  const password = options.password ?? 'secret';
  const dir = mkdtempSync(join(tmpdir(), 'deskhook-dovecot-'));
  // mkdtemp makes 0700; the mail processes run as another user and must reach the maildir.
  chmodSync(dir, 0o755);
  for (const sub of ['run', 'state', 'mail']) mkdirSync(join(dir, sub));
  chmodSync(join(dir, 'mail'), 0o777);
  writeFileSync(join(dir, 'users'), `${user}:{PLAIN}${password}\n`, { mode: 0o644 });
  const port = await freePort();
  const conf = join(dir, 'dovecot.conf');
  writeFileSync(conf, config(dir, port));

  // -F keeps the master in the foreground, so the child handle can always kill it.
  const child = spawn(DOVECOT_BINARY, ['-F', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const log = () => {
    const file = join(dir, 'dovecot.log');
    return (existsSync(file) ? readFileSync(file, 'utf8') : '') + stderr;
  };
  try {
    await waitForGreeting(port, child, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    const text = log();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${text}`, { cause: err });
  }

  const client = async () => {
    const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user, pass: password }, logger: false, disableAutoIdle: true });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };

  /** One short session: connect, do the work, always log out. */
  const session = async <T>(work: (c: ImapFlow) => Promise<T>): Promise<T> => {
    const c = await client();
    try {
      return await work(c);
    } finally {
      await c.logout();
    }
  };

  let stopped: Promise<void> | null = null;
  return {
    port, user, password, client, log,
    append: (raw, folder = 'INBOX') => session(async (c) => {
      if (folder.toUpperCase() !== 'INBOX') {
        const list = await c.list();
        if (!list.some((m) => m.path === folder)) await c.mailboxCreate(folder);
      }
      const result = await c.append(folder, raw);
      if (!result) throw new Error(`append to ${folder} failed`);
      return { uid: result.uid ?? 0, uidValidity: String(result.uidValidity ?? '') };
    }),
    flags: (folder) => session(async (c) => {
      await c.mailboxOpen(folder);
      const messages = await c.fetchAll('1:*', { uid: true, flags: true }, { uid: true });
      return messages.sort((a, b) => a.uid - b.uid).map((m) => [...(m.flags ?? [])].sort());
    }),
    deleteFolder: (folder) => session(async (c) => {
      await c.mailboxDelete(folder);
    }),
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null) {
          const exited = once(child, 'exit');
          // `doveadm stop` is the documented way; a direct SIGTERM (the master's own clean
          // shutdown) if it fails, SIGKILL if the master still hangs.
          const doveadm = spawn('/usr/bin/doveadm', ['-c', conf, 'stop'], { stdio: 'ignore' });
          doveadm.once('error', () => child.kill('SIGTERM'));
          doveadm.once('exit', (code) => { if (code !== 0) child.kill('SIGTERM'); });
          const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(killer);
        }
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
