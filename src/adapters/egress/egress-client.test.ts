import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { IncomingHttpHeaders, RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EgressPolicy } from './address-policy.ts';
import { EgressClient, EgressError } from './egress-client.ts';
import type { EgressClientOptions, EgressLookup } from './egress-client.ts';

// Only loopback traffic: the service listens on 127.0.0.1:PORT and a trap on 127.0.0.2:PORT,
// the same port, so any connection that slips past the guard to 127.0.0.2 is counted by the
// trap. Addresses outside 127/8 appear only as lookup answers the client must never connect to.

interface TestServer {
  server: Server;
  connections: number;
  hosts: Array<string | undefined>;
}

function listen(host: string, port: number, handler: RequestListener): Promise<TestServer> {
  const server = createServer(handler);
  const state: TestServer = { server, connections: 0, hosts: [] };
  server.on('connection', () => state.connections++);
  server.on('request', (req) => state.hosts.push(req.headers.host));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(state));
  });
}

async function close({ server }: TestServer): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

const serviceHandler: RequestListener = (req, res) => {
  const path = req.url ?? '/';
  if (path === '/ok') {
    res.setHeader('x-test', 'yes');
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.end('hello');
  } else if (path === '/echo') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const echo: { method?: string; headers: IncomingHttpHeaders; body: string } = {
        method: req.method,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(echo));
    });
  } else if (path === '/hang') {
    // never answers
  } else if (path === '/trickle') {
    res.writeHead(200);
    const timer = setInterval(() => res.write('x'), 50);
    res.on('close', () => clearInterval(timer));
  } else if (path === '/big') {
    const chunk = Buffer.alloc(64 * 1024, 'z');
    let left = 5 * 1024 * 1024;
    const pump = (): void => {
      while (left > 0 && !res.destroyed) {
        left -= chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.writeHead(200);
    pump();
  } else if (path === '/declared-big') {
    res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
    res.write('partial');
  } else if (path === '/redirect') {
    res.writeHead(302, { location: `http://127.0.0.2:${port}/ok` });
    res.end();
  } else if (path === '/reset') {
    req.socket.destroy();
  } else {
    res.writeHead(404).end();
  }
};

let service: TestServer;
let trap: TestServer;
let port: number;

beforeAll(async () => {
  for (let attempt = 0; ; attempt++) {
    service = await listen('127.0.0.1', 0, serviceHandler);
    port = (service.server.address() as AddressInfo).port;
    try {
      trap = await listen('127.0.0.2', port, (_req, res) => res.end('trap'));
      return;
    } catch (err) {
      await close(service);
      if (attempt > 5) throw err;
    }
  }
});

afterAll(async () => {
  await Promise.all([close(service), close(trap)]);
});

const clients: EgressClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function client(allow: string[], options: Partial<EgressClientOptions> = {}): EgressClient {
  const c = new EgressClient({ policy: new EgressPolicy(allow), ...options });
  clients.push(c);
  return c;
}

async function failure(promise: Promise<unknown>): Promise<EgressError> {
  const outcome = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(EgressError);
  return outcome as EgressError;
}

const LOOPBACK_2_SPELLINGS = [
  '127.0.0.2',
  '[::ffff:127.0.0.2]',
  '[::ffff:7f00:2]',
  '2130706434',
  '0x7f000002',
  '0x7f.0.0.2',
  '0177.0.0.2',
  '017700000002',
  '127.2',
  '127.0.2',
];

describe('EgressClient: allowed traffic', () => {
  it('makes a request to an allowed address and reports what it connected to', async () => {
    const res = await client(['127.0.0.1/32']).request({ url: `http://127.0.0.1:${port}/ok` });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hello');
    expect(res.headers['x-test']).toBe('yes');
    expect(res.headers['set-cookie']).toBe('a=1, b=2');
    expect(res.remoteAddress).toBe('127.0.0.1');
    expect(res.durationMs).toBeGreaterThan(0);
  });

  it('sends method, headers, body and a default user agent', async () => {
    const res = await client(['127.0.0.1']).request({
      url: `http://127.0.0.1:${port}/echo`,
      method: 'post',
      headers: { 'content-type': 'application/json', 'x-trace': 't1' },
      body: '{"a":1}',
    });
    const echo = JSON.parse(res.body.toString()) as { method: string; headers: Record<string, string>; body: string };
    expect(echo).toMatchObject({ method: 'POST', body: '{"a":1}' });
    expect(echo.headers).toMatchObject({ 'x-trace': 't1', 'user-agent': 'deskhook', 'content-type': 'application/json' });
  });

  it('pools connections per origin', async () => {
    const c = client(['127.0.0.1']);
    const before = service.connections;
    // undici frees the client on the tick after the body ends; give it that tick.
    for (let i = 0; i < 3; i++) {
      await c.request({ url: `http://127.0.0.1:${port}/ok` });
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(service.connections - before).toBe(1);
  });

  it('allows localhost when its address is allowed, and refuses it when nothing is', async () => {
    const ok = await client(['127.0.0.1/32']).request({ url: `http://localhost:${port}/ok` });
    expect(ok.status).toBe(200);
    expect(ok.remoteAddress).toBe('127.0.0.1');
    const before = service.connections;
    const err = await failure(client([]).request({ url: `http://localhost:${port}/ok` }));
    expect(err.code).toBe('egress_refused');
    expect(err.message).toMatch(/is a loopback address \(host localhost\); allow it with DESKHOOK_EGRESS_ALLOW$/);
    expect(service.connections).toBe(before);
  });

  it.each(LOOPBACK_2_SPELLINGS)('reaches http://%s once 127.0.0.2 is allowed (control)', async (host) => {
    const before = trap.connections;
    const res = await client(['127.0.0.2/32']).request({ url: `http://${host}:${port}/` });
    expect(res.body.toString()).toBe('trap');
    expect(trap.connections).toBe(before + 1);
  });
});

describe('EgressClient.refusedLiteral: what can be refused before any lookup', () => {
  it('refuses literal addresses and localhost the policy refuses; leaves host names to connect time', () => {
    const client = new EgressClient({ policy: new EgressPolicy([]) });
    expect(client.refusedLiteral('http://169.254.169.254/latest')).toMatch(/^egress refused: 169\.254\.169\.254 is /);
    expect(client.refusedLiteral('http://10.0.0.1:8080/x')).toMatch(/DESKHOOK_EGRESS_ALLOW/);
    expect(client.refusedLiteral('http://localhost:3000/x')).toMatch(/127\.0\.0\.1/);
    expect(client.refusedLiteral('http://[::1]/x')).toMatch(/egress refused/);
    expect(client.refusedLiteral('http://0x7f000001/x')).toMatch(/egress refused/);
    expect(client.refusedLiteral('https://8.8.8.8/x')).toBeNull();
    expect(client.refusedLiteral('https://erp.internal.example/x')).toBeNull();
    expect(new EgressClient({ policy: new EgressPolicy(['127.0.0.1/32']) }).refusedLiteral('http://localhost:3000/x')).toBeNull();
  });
});

describe('EgressClient: refused traffic never connects', () => {
  it.each(LOOPBACK_2_SPELLINGS)('refuses http://%s with only 127.0.0.1 allowed', async (host) => {
    const before = trap.connections;
    const err = await failure(client(['127.0.0.1/32']).request({ url: `http://${host}:${port}/` }));
    expect(err.code).toBe('egress_refused');
    expect(err.message).toMatch(/^egress refused: \S+ is a loopback address \(host .+\); allow it with DESKHOOK_EGRESS_ALLOW$/);
    expect(trap.connections).toBe(before);
  });

  it('words the refusal for a user', async () => {
    const err = await failure(client([]).request({ url: `http://127.0.0.2:${port}/` }));
    expect(err.message).toBe(
      'egress refused: 127.0.0.2 is a loopback address (host 127.0.0.2); allow it with DESKHOOK_EGRESS_ALLOW',
    );
  });

  it('refuses loopback entirely with an empty allow list', async () => {
    const before = service.connections;
    const err = await failure(client([]).request({ url: `http://127.0.0.1:${port}/ok` }));
    expect(err.code).toBe('egress_refused');
    expect(service.connections).toBe(before);
  });

  it('does not follow redirects, even to an allowed target', async () => {
    const before = trap.connections;
    const res = await client(['127.0.0.1', '127.0.0.2']).request({ url: `http://127.0.0.1:${port}/redirect` });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`http://127.0.0.2:${port}/ok`);
    expect(trap.connections).toBe(before);
  });
});

describe('EgressClient: the check runs on the address actually connected', () => {
  it('refuses a host that rebinds to loopback after passing a save-time check', async () => {
    // One public-looking answer, then loopback for ever: the rebinding attacker's DNS.
    let calls = 0;
    const lookup: EgressLookup = async () => {
      calls++;
      return [{ address: calls === 1 ? '93.184.215.14' : '127.0.0.2', family: 4 }];
    };
    const policy = new EgressPolicy([]);
    const [saved] = await lookup('rebind.test');
    expect(policy.check('rebind.test', saved?.address ?? '')).toMatchObject({ allowed: true });
    expect(calls).toBe(1);

    const before = trap.connections;
    const c = new EgressClient({ policy, lookup });
    clients.push(c);
    const err = await failure(c.request({ url: `http://rebind.test:${port}/` }));
    expect(err.code).toBe('egress_refused');
    expect(err.message).toContain('127.0.0.2 is a loopback address (host rebind.test)');
    expect(trap.connections).toBe(before);
    expect(calls).toBe(2);
  });

  it('connects to the address it checked, not to a second resolution', async () => {
    // First answer allowed, every later one forbidden: a client that checks one resolution
    // and connects by name would land on the trap (or fail to resolve rebind.test at all).
    let calls = 0;
    const lookup: EgressLookup = async () => [{ address: calls++ === 0 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
    const before = trap.connections;
    const res = await client(['127.0.0.1/32'], { lookup }).request({ url: `http://rebind.test:${port}/ok` });
    expect(res.status).toBe(200);
    expect(res.remoteAddress).toBe('127.0.0.1');
    expect(service.hosts.at(-1)).toBe(`rebind.test:${port}`);
    expect(trap.connections).toBe(before);
    const err = await failure(client(['127.0.0.1/32'], { lookup }).request({ url: `http://rebind.test:${port}/ok` }));
    expect(err.code).toBe('egress_refused');
    expect(trap.connections).toBe(before);
  });

  it('skips refused candidates and connects only to allowed ones', async () => {
    const lookup: EgressLookup = async () => [
      { address: '127.0.0.2', family: 4 },
      { address: '::1', family: 6 },
      { address: '127.0.0.1', family: 4 },
    ];
    const before = trap.connections;
    const res = await client(['127.0.0.1/32'], { lookup }).request({ url: `http://multi.test:${port}/ok` });
    expect(res.remoteAddress).toBe('127.0.0.1');
    expect(trap.connections).toBe(before);
  });

  it('lets a host entry open the private address that host resolves to', async () => {
    const lookup: EgressLookup = async () => [{ address: '127.0.0.2', family: 4 }];
    const res = await client(['erp.test'], { lookup }).request({ url: `http://erp.test:${port}/` });
    expect(res.body.toString()).toBe('trap');
    expect(trap.hosts.at(-1)).toBe(`erp.test:${port}`);
    const err = await failure(client(['erp.test'], { lookup }).request({ url: `http://other.test:${port}/` }));
    expect(err.code).toBe('egress_refused');
  });
});

describe('EgressClient: limits and failures', () => {
  it('times out a server that never answers', async () => {
    const started = performance.now();
    const err = await failure(client(['127.0.0.1']).request({ url: `http://127.0.0.1:${port}/hang`, timeoutMs: 300 }));
    const elapsed = performance.now() - started;
    expect(err.code).toBe('timeout');
    expect(err.message).toBe('timed out after 300 ms');
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2000);
  });

  it('times out while the body is still arriving', async () => {
    const started = performance.now();
    const err = await failure(client(['127.0.0.1']).request({ url: `http://127.0.0.1:${port}/trickle`, timeoutMs: 400 }));
    expect(err.code).toBe('timeout');
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('times out while resolving the host', async () => {
    const lookup: EgressLookup = () => new Promise(() => {});
    const c = client([], { lookup, defaultTimeoutMs: 300, connectTimeoutMs: 600 });
    const err = await failure(c.request({ url: `http://slow-dns.test:${port}/` }));
    expect(err).toMatchObject({ code: 'timeout', message: 'timed out after 300 ms' });
  });

  it('stops when the caller aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const err = await failure(
      client(['127.0.0.1']).request({ url: `http://127.0.0.1:${port}/hang`, signal: controller.signal }),
    );
    expect(err.code).toBe('aborted');
  });

  it('stops reading a body beyond the cap', async () => {
    const err = await failure(
      client(['127.0.0.1']).request({ url: `http://127.0.0.1:${port}/big`, maxResponseBytes: 64 * 1024 }),
    );
    expect(err).toMatchObject({ code: 'response_too_large', message: 'response body exceeds the limit of 65536 bytes' });
  });

  it('applies the 1 MiB default cap and a declared length before reading', async () => {
    const c = client(['127.0.0.1']);
    expect((await failure(c.request({ url: `http://127.0.0.1:${port}/big` }))).code).toBe('response_too_large');
    expect((await failure(c.request({ url: `http://127.0.0.1:${port}/declared-big` }))).code).toBe('response_too_large');
  });

  it('accepts a body of exactly the cap', async () => {
    const c = client(['127.0.0.1']);
    expect((await c.request({ url: `http://127.0.0.1:${port}/ok`, maxResponseBytes: 5 })).body.toString()).toBe('hello');
    expect((await failure(c.request({ url: `http://127.0.0.1:${port}/ok`, maxResponseBytes: 4 }))).code).toBe(
      'response_too_large',
    );
  });

  it('reports a refused connection with its errno', async () => {
    const probe = await listen('127.0.0.1', 0, () => {});
    const closedPort = (probe.server.address() as AddressInfo).port;
    await close(probe);
    const err = await failure(client(['127.0.0.1']).request({ url: `http://127.0.0.1:${closedPort}/` }));
    expect(err.code).toBe('connection_error');
    expect(err.message).toBe(`connection to 127.0.0.1:${closedPort} failed (ECONNREFUSED)`);
  });

  it('reports a connection closed before the answer', async () => {
    const err = await failure(client(['127.0.0.1']).request({ url: `http://127.0.0.1:${port}/reset` }));
    expect(err.code).toBe('connection_error');
    expect(err.message).toMatch(/^connection to 127\.0\.0\.1:\d+ failed \(\w+/);
  });

  it('reports a host that does not resolve', async () => {
    const lookup: EgressLookup = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.test'), { code: 'ENOTFOUND' });
    };
    const err = await failure(client([], { lookup }).request({ url: 'http://nowhere.test/' }));
    expect(err).toMatchObject({ code: 'connection_error', message: 'could not resolve nowhere.test (ENOTFOUND)' });
  });

  it('rejects a header undici would have to send as header injection', async () => {
    const err = await failure(
      client(['127.0.0.1']).request({ url: `http://127.0.0.1:${port}/ok`, headers: { 'x-bad': 'a\r\nx-injected: 1' } }),
    );
    expect(err).toMatchObject({ code: 'invalid_request', message: 'invalid request: invalid x-bad header' });
  });

  it.each(['ftp://127.0.0.1/', 'file:///etc/passwd', 'not a url', '/relative', `http://user:pw@127.0.0.1:1/`])(
    'rejects %s as invalid_url without connecting',
    async (url) => {
      const err = await failure(client(['127.0.0.1']).request({ url }));
      expect(err.code).toBe('invalid_url');
    },
  );
});

// Self-signed test-only certificate for erp.test (SAN DNS:erp.test, valid 2000-2100).
const ERP_TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYRN5jl+wjLYIOFeu
2gtkUCMlQJT1gYgs+h9Uc1I/NIKhRANCAATV7yMCU9tlHZCSKvZeaRWvAm5Kc+4R
drUoJU0KSuyKRnF6JVgmM+4lDA4BMUuob9UNqseFP/3tny4e7FBoi4Xs
-----END PRIVATE KEY-----
`;
const ERP_TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBgDCCASagAwIBAgIBATAKBggqhkjOPQQDAjATMREwDwYDVQQDDAhlcnAudGVz
dDAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowEzERMA8GA1UEAwwI
ZXJwLnRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATV7yMCU9tlHZCSKvZe
aRWvAm5Kc+4RdrUoJU0KSuyKRnF6JVgmM+4lDA4BMUuob9UNqseFP/3tny4e7FBo
i4Xso2kwZzATBgNVHREEDDAKgghlcnAudGVzdDAPBgNVHRMBAf8EBTADAQH/MAsG
A1UdDwQEAwIChDATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHQ4EFgQU/EApisph
1357WLhjgKzrB7bL7IAwCgYIKoZIzj0EAwIDSAAwRQIhAJr+AxZfrFljBdA7BvOd
RCMpPIwNrq3Aeso0ut3E8xIyAiAQuPVd5mfw+/WNWzK6ikzlPqooFJVeVGIjuReE
6v/0QQ==
-----END CERTIFICATE-----
`;

describe('EgressClient: TLS to a checked address', () => {
  const servernames: Array<string | false | null> = [];
  const tls = createTlsServer({ key: ERP_TEST_KEY, cert: ERP_TEST_CERT }, (req, res) => {
    servernames.push((req.socket as TLSSocket).servername);
    res.end('secure');
  });
  let tlsPort = 0;
  const lookup: EgressLookup = async () => [{ address: '127.0.0.1', family: 4 }];

  beforeAll(async () => {
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    tlsPort = (tls.address() as AddressInfo).port;
  });
  afterAll(async () => {
    tls.closeAllConnections();
    await new Promise<void>((resolve) => tls.close(() => resolve()));
  });

  it('connects to the checked address but sends SNI and verifies the certificate for the host name', async () => {
    const res = await client(['127.0.0.1/32'], { lookup, ca: ERP_TEST_CERT }).request({ url: `https://erp.test:${tlsPort}/` });
    expect(res.body.toString()).toBe('secure');
    expect(res.remoteAddress).toBe('127.0.0.1');
    expect(servernames.at(-1)).toBe('erp.test');
  });

  it('fails on an untrusted certificate', async () => {
    const err = await failure(client(['127.0.0.1/32'], { lookup }).request({ url: `https://erp.test:${tlsPort}/` }));
    expect(err.code).toBe('tls_error');
  });

  it('fails when the certificate does not name the host', async () => {
    const err = await failure(
      client(['127.0.0.1/32'], { ca: ERP_TEST_CERT }).request({ url: `https://127.0.0.1:${tlsPort}/` }),
    );
    expect(err.code).toBe('tls_error');
    expect(err.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
  });
});
