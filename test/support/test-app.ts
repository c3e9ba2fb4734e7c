import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Registry } from 'prom-client';
import { createUser, customCodeToken } from '../../src/app/auth/users.ts';
import type { AppDeps } from '../../src/app/deps.ts';
import type { Clock } from '../../src/app/ports/clock.ts';
import { AesGcmSecretBox, generateSecretKey, nodeIds, ScryptHasher } from '../../src/adapters/crypto/node-crypto.ts';
import { ZxcvbnPasswordStrength } from '../../src/adapters/crypto/zxcvbn-strength.ts';
import type { DialectKind } from '../../src/adapters/db/dialect.ts';
import { buildHttpApp } from '../../src/adapters/http/app.ts';
import { createMailParser } from '../../src/adapters/mail-parse/mailparser-adapter.ts';
import { NodemailerMailer } from '../../src/adapters/mail-out/nodemailer-mailer.ts';
import { EgressPolicy } from '../../src/adapters/egress/address-policy.ts';
import { EgressClient } from '../../src/adapters/egress/egress-client.ts';
import { DefaultExecutorRunner } from '../../src/adapters/executors/executor-runner.ts';
import { SandboxPool } from '../../src/adapters/sandbox/pool.ts';
import type { SandboxApiRequest } from '../../src/adapters/sandbox/types.ts';
import { openTestDatabase, type TestDatabase } from './backends.ts';
import { ErpService } from '../../src/app/erp/erp-service.ts';
import { MemoryErpCache } from '../../src/adapters/cache/memory-cache.ts';
import { assertConforms } from './openapi-conformance.ts';

/** A clock tests move by hand. */
export class TestClock implements Clock {
  constructor(private current = new Date('2026-11-28T10:00:00.000Z')) {}
  now(): Date {
    return new Date(this.current);
  }
  set(iso: string): void {
    this.current = new Date(iso);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

const silentLogger = {
  debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined,
  child() { return silentLogger; },
};

export const PASSWORD = 'correct horse battery';

export interface TestApp {
  db: TestDatabase;
  deps: AppDeps;
  clock: TestClock;
  http: FastifyInstance;
  adminToken: string;
  agentToken: string;
  agentId: number;
  adminId: number;
  api(method: string, url: string, body?: unknown, token?: string | null): Promise<LightMyRequestResponse & { json(): any }>;
  close(): Promise<void>;
}

export function makeDeps(db: TestDatabase, clock: Clock, overrides: Partial<AppDeps> = {}): AppDeps {
  const secretBox = new AesGcmSecretBox(generateSecretKey());
  const deps: AppDeps = {
    store: db.store,
    clock,
    ids: nodeIds,
    secretBox,
    // Real scrypt with a small cost factor: the same code path, a fraction of the time.
    hasher: new ScryptHasher({ N: 1 << 10, r: 8, p: 1, maxmem: 32 * 1024 * 1024 }),
    passwordStrength: new ZxcvbnPasswordStrength(),
    logger: silentLogger,
    auth: { tokenTtlHours: 12, loginMaxFailures: 5, loginWindowSeconds: 900 },
    mail: {
      parser: createMailParser(),
      // The tests' mail servers run on 127.0.0.1 without TLS: allowed there, and only there.
      mailer: new NodemailerMailer({ policy: new EgressPolicy(['127.0.0.1/32']), plaintextHosts: ['127.0.0.1'], connectionTimeoutMs: 3000 }),
      settings: { maxPerSenderPerWindow: 30, senderWindowSeconds: 600, retryDelaysSeconds: [60, 300], maxAttachmentBytes: 1_000_000 },
    },
    executors: testExecutorRunner(db, secretBox),
    erp: undefined as unknown as ErpService,
    ...overrides,
  };
  deps.erp ??= new ErpService(deps, new MemoryErpCache());
  return deps;
}

let sandboxPool: SandboxPool | null = null;
let egressClient: EgressClient | null = null;

/** The real executor service; outbound HTTP may reach 127.0.0.1 only (the tests' receivers). */
export const apiBridge: { current: ((req: SandboxApiRequest) => Promise<{ status: number; body: unknown }>) | null } = { current: null };

export function testExecutorRunner(db: TestDatabase, secretBox?: AesGcmSecretBox): DefaultExecutorRunner {
  sandboxPool ??= new SandboxPool({ size: 2 });
  egressClient ??= new EgressClient({ policy: new EgressPolicy(['127.0.0.1/32']) });
  return new DefaultExecutorRunner({
    egress: egressClient, sandbox: sandboxPool,
    secret: async (key) => {
      const sealed = await db.store.secrets.getSealed(key);
      return sealed === null || !secretBox ? null : secretBox.open(sealed);
    },
    api: (req) => {
      if (!apiBridge.current) throw new Error('no API in this test');
      return apiBridge.current(req);
    },
  });
}

/** The HTTP API on a fresh database with one admin and one agent logged in. */
export async function startTestApp(kind: DialectKind, options: { bodyLimitBytes?: number; webRoot?: string } = {}): Promise<TestApp> {
  const db = await openTestDatabase(kind);
  const clock = new TestClock();
  const deps = makeDeps(db, clock);
  const http = await buildHttpApp({
    deps, logger: false, registry: new Registry(), bodyLimitBytes: options.bodyLimitBytes ?? 1_048_576,
    ready: () => db.store.ready(), version: 'test', api: true, webRoot: options.webRoot ?? null,
  });
  const admin = await createUser(deps, { email: 'admin@example.com', name: 'Admin', role: 'admin', password: PASSWORD });
  const agent = await createUser(deps, { email: 'agent@example.com', name: 'Agent', role: 'agent', password: PASSWORD });
  const login = async (email: string) => {
    const res = await http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: PASSWORD } });
    if (res.statusCode !== 200) throw new Error(`login failed: ${res.body}`);
    return res.json().token as string;
  };
  const adminToken = await login('admin@example.com');
  const agentToken = await login('agent@example.com');
  // ctx.deskhook, as serve wires it: in-process requests with a service user's token.
  const service = await customCodeToken(deps);
  apiBridge.current = async (req) => {
    const res = await http.inject({ method: req.method, url: `/api/v1${req.path}`, headers: { authorization: `Bearer ${service.token}` }, ...(req.body !== undefined ? { payload: req.body as object } : {}) });
    return { status: res.statusCode, body: res.json() };
  };
  const api: TestApp['api'] = async (method, url, body, token = adminToken) => {
    const res = await http.inject({
      method: method as 'GET',
      url,
      ...(body !== undefined ? { payload: body as object } : {}),
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    // Every answer a suite receives must be what the OpenAPI document promises (status and body).
    assertConforms(http, method, url, res);
    return res as LightMyRequestResponse & { json(): any };
  };
  return {
    db, deps, clock, http, adminToken, agentToken, agentId: agent.id, adminId: admin.id, api,
    close: async () => {
      await http.close();
      await db.cleanup();
    },
  };
}
