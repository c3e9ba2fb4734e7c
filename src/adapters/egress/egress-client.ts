import { lookup as dnsLookup } from 'node:dns/promises';
import { rootCertificates } from 'node:tls';
import { Agent, Client, Pool, buildConnector } from 'undici';
import type { Dispatcher } from 'undici';
import { parseHostLiteral } from './address-policy.ts';
import type { EgressPolicy } from './address-policy.ts';

export type EgressErrorCode =
  | 'egress_refused' // the policy refused every address the host resolved to
  | 'invalid_url' // not an absolute http(s) URL, or credentials in the URL
  | 'invalid_request' // method, header or option undici rejects
  | 'timeout' // the request's deadline passed (connect, headers or body)
  | 'aborted' // the caller's signal aborted
  | 'connection_error' // DNS failure, refused, reset, closed early
  | 'tls_error' // handshake or certificate failure
  | 'response_too_large'; // body above maxResponseBytes; reading stopped at the cap

export class EgressError extends Error {
  override readonly name = 'EgressError';
  readonly code: EgressErrorCode;

  constructor(code: EgressErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export interface LookupAddress {
  address: string;
  family: number;
}

/** Resolves a host name to every candidate address; injectable for tests and custom resolvers. */
export type EgressLookup = (hostname: string) => Promise<readonly LookupAddress[]>;

export interface EgressClientOptions {
  policy: EgressPolicy;
  /** Whole-request deadline (connect, headers and body) unless the request sets its own. */
  defaultTimeoutMs?: number;
  maxResponseBytes?: number;
  userAgent?: string;
  /** Per address attempt; the request deadline still bounds the total. */
  connectTimeoutMs?: number;
  lookup?: EgressLookup;
  /** PEM CA certificates trusted in addition to Node's bundled roots (an internal ERP's CA). */
  ca?: string | Buffer | ReadonlyArray<string | Buffer>;
}

export interface EgressRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
  maxResponseBytes?: number;
  signal?: AbortSignal;
}

export interface EgressResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  durationMs: number;
  /** The address the serving connection was checked against and connected to. */
  remoteAddress: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

const systemLookup: EgressLookup = (hostname) => dnsLookup(hostname, { all: true });

// Errors after which the next allowed address of the same host is tried (e.g. a host whose
// AAAA record is unreachable from an IPv4-only machine).
const TRY_NEXT_ADDRESS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

interface ConnectionInfo {
  remoteAddress: string;
}

// Carries the serving connection from the pool back to request(). A symbol key survives any
// copy of the dispatch options that undici might make on the way to the client.
const kTrace = Symbol('deskhook.egress.trace');
interface Trace {
  connection?: ConnectionInfo;
}
type TracedOptions = Dispatcher.RequestOptions & { [kTrace]?: Trace };

// One undici Client holds one socket at a time, so the address its connector last connected
// is the address serving whatever it is dispatching.
class TracedClient extends Client {
  readonly #connection: ConnectionInfo;

  constructor(origin: URL, options: Client.Options, connection: ConnectionInfo) {
    super(origin, options);
    this.#connection = connection;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const trace = (options as TracedOptions)[kTrace];
    if (trace) trace.connection = this.#connection;
    return super.dispatch(options, handler);
  }
}

/**
 * The only outbound HTTP path. Invariant: a socket is opened only to an address the policy
 * allowed at that moment. The check sits in the connector, after name resolution, on the exact
 * address handed to net/tls.connect, so neither DNS rebinding nor an IP spelling can slip past
 * it; IP-literal hosts skip DNS but not the check. Redirects are never followed: a 3xx is
 * returned as is. Connections are pooled per origin and reused only for that origin.
 */
export class EgressClient {
  readonly #policy: EgressPolicy;
  readonly #lookup: EgressLookup;
  readonly #defaultTimeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #userAgent: string;
  readonly #connectTimeoutMs: number;
  readonly #agent: Agent;

  constructor(options: EgressClientOptions) {
    this.#policy = options.policy;
    this.#lookup = options.lookup ?? systemLookup;
    this.#defaultTimeoutMs = positive('defaultTimeoutMs', options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.#maxResponseBytes = positive('maxResponseBytes', options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES);
    this.#connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    this.#userAgent = options.userAgent ?? 'deskhook';
    const extraCa = options.ca === undefined ? [] : Array.isArray(options.ca) ? options.ca : [options.ca];
    const connectTo = buildConnector({
      timeout: this.#connectTimeoutMs,
      ...(extraCa.length > 0 ? { ca: [...rootCertificates, ...extraCa] } : {}),
    });
    const clientFactory = (origin: URL, clientOptions: object): Dispatcher => {
      const connection: ConnectionInfo = { remoteAddress: '' };
      const connect: buildConnector.connector = (opts, callback) => this.#connect(connectTo, opts, callback, connection);
      return new TracedClient(origin, { ...(clientOptions as Client.Options), connect }, connection);
    };
    this.#agent = new Agent({
      factory: (origin, poolOptions) => new Pool(origin, { ...(poolOptions as Pool.Options), factory: clientFactory }),
    });
  }

  /**
   * Why the policy refuses this URL without resolving anything: for an IP-literal host or
   * `localhost` (which always means loopback), the reason; for any other host name, or an
   * allowed address, null. Lets a configuration be refused when it is saved; `request` checks
   * every address again when it connects.
   */
  refusedLiteral(rawUrl: string): string | null {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      return null; // the URL's own validation reports it
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const name = host.toLowerCase().replace(/\.$/, '');
    const ip = parseHostLiteral(host) ?? (name === 'localhost' || name.endsWith('.localhost') ? '127.0.0.1' : null);
    if (ip === null) return null;
    const decision = this.#policy.check(url.hostname, ip);
    return decision.allowed ? null : `egress refused: ${decision.reason}`;
  }

  async request(req: EgressRequest): Promise<EgressResponse> {
    const started = performance.now();
    const url = parseRequestUrl(req.url);
    const timeoutMs = positive('timeoutMs', req.timeoutMs ?? this.#defaultTimeoutMs);
    const cap = positive('maxResponseBytes', req.maxResponseBytes ?? this.#maxResponseBytes);
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = req.signal ? AbortSignal.any([deadline, req.signal]) : deadline;
    const trace: Trace = {};
    const options: TracedOptions = {
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: (req.method ?? 'GET').toUpperCase() as Dispatcher.HttpMethod,
      headers: withUserAgent(req.headers ?? {}, this.#userAgent),
      body: req.body ?? null,
      signal,
      [kTrace]: trace,
    };
    try {
      // undici only acts on an abort once a socket is assigned; the race makes the deadline
      // hold while the connection is still being resolved or opened.
      const response = await untilAborted(this.#agent.request(options), signal);
      const body = await readCapped(response.body, cap, response.headers['content-length']);
      return {
        status: response.statusCode,
        headers: flattenHeaders(response.headers),
        body,
        durationMs: performance.now() - started,
        remoteAddress: trace.connection?.remoteAddress ?? '',
      };
    } catch (err) {
      throw this.#toEgressError(err, { deadline, timeoutMs, caller: req.signal, host: url.host });
    }
  }

  /** Waits for in-flight requests, then closes every pooled connection. */
  async close(): Promise<void> {
    await this.#agent.close();
  }

  #connect(
    connectTo: buildConnector.connector,
    opts: buildConnector.Options,
    callback: buildConnector.Callback,
    connection: ConnectionInfo,
  ): void {
    const attempt = (addresses: readonly string[], index: number): void => {
      const address = addresses[index] as string;
      // Only the hostname changes: `host` keeps the name, so TLS still sends it as SNI and
      // verifies the certificate against it, not against the address.
      connectTo({ ...opts, hostname: address }, (err, socket) => {
        if (err === null) {
          connection.remoteAddress = address;
          callback(null, socket);
        } else if (index + 1 < addresses.length && TRY_NEXT_ADDRESS.has(errorCode(err) ?? '')) {
          attempt(addresses, index + 1);
        } else {
          callback(err, null);
        }
      });
    };
    this.#allowedAddresses(opts.hostname).then(
      (addresses) => attempt(addresses, 0),
      (err: Error) => callback(err, null),
    );
  }

  // Every candidate is checked; only allowed ones are ever connected, in resolver order.
  async #allowedAddresses(hostname: string): Promise<string[]> {
    const literal = parseHostLiteral(hostname);
    let candidates: string[];
    if (literal !== null) {
      candidates = [literal];
    } else {
      try {
        candidates = (await withTimeout(this.#lookup(hostname), this.#connectTimeoutMs)).map((a) => a.address);
      } catch (err) {
        if (err === LOOKUP_TIMEOUT) {
          throw new EgressError('timeout', `resolving ${hostname} timed out after ${this.#connectTimeoutMs} ms`);
        }
        throw new EgressError('connection_error', `could not resolve ${hostname} (${errorCode(err) ?? String(err)})`, { cause: err });
      }
      if (candidates.length === 0) throw new EgressError('connection_error', `could not resolve ${hostname} (no addresses)`);
    }
    const allowed: string[] = [];
    let refusal: string | undefined;
    for (const ip of candidates) {
      const decision = this.#policy.check(hostname, ip);
      if (decision.allowed) allowed.push(ip);
      else refusal ??= decision.reason;
    }
    if (allowed.length === 0) throw new EgressError('egress_refused', `egress refused: ${refusal ?? hostname}`);
    return allowed;
  }

  #toEgressError(
    err: unknown,
    ctx: { deadline: AbortSignal; timeoutMs: number; caller: AbortSignal | undefined; host: string },
  ): EgressError {
    if (err instanceof EgressError) return err;
    if (ctx.deadline.aborted) return new EgressError('timeout', `timed out after ${ctx.timeoutMs} ms`, { cause: err });
    if (ctx.caller?.aborted) return new EgressError('aborted', 'request aborted by the caller', { cause: err });
    const code = errorCode(err);
    const message = err instanceof Error ? err.message : String(err);
    switch (code) {
      case 'UND_ERR_CONNECT_TIMEOUT':
        return new EgressError('timeout', `connecting to ${ctx.host} timed out after ${this.#connectTimeoutMs} ms`, { cause: err });
      case 'UND_ERR_HEADERS_TIMEOUT':
      case 'UND_ERR_BODY_TIMEOUT':
        return new EgressError('timeout', `timed out waiting for ${ctx.host}: ${message}`, { cause: err });
      case 'UND_ERR_INVALID_ARG':
      case 'UND_ERR_NOT_SUPPORTED':
        return new EgressError('invalid_request', `invalid request: ${message}`, { cause: err });
    }
    if (code !== undefined && /^(?:ERR_TLS_|ERR_SSL_)|CERT|SELF_SIGNED/.test(code)) {
      return new EgressError('tls_error', `TLS with ${ctx.host} failed (${code}): ${message}`, { cause: err });
    }
    const detail = code === undefined ? message : message.includes(code) ? code : `${code}: ${message}`;
    return new EgressError('connection_error', `connection to ${ctx.host} failed (${detail})`, { cause: err });
  }
}

const LOOKUP_TIMEOUT = Symbol('lookup timeout');

// A connector must always call back: a lookup that never settles would hold the pooled client
// in "connecting" for ever, and with it close().
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(LOOKUP_TIMEOUT), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

function parseRequestUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new EgressError('invalid_url', `invalid URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EgressError('invalid_url', `invalid URL: only http and https are allowed, got ${url.protocol}`);
  }
  // Credentials in a URL end up in logs and traces; they belong in a header with a secret.
  if (url.username !== '' || url.password !== '') {
    throw new EgressError('invalid_url', 'invalid URL: credentials in the URL are not supported, send an Authorization header');
  }
  return url;
}

function withUserAgent(headers: Record<string, string>, userAgent: string): Record<string, string> {
  const hasUserAgent = Object.keys(headers).some((name) => name.toLowerCase() === 'user-agent');
  return hasUserAgent ? { ...headers } : { ...headers, 'user-agent': userAgent };
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

function tooLarge(cap: number): EgressError {
  return new EgressError('response_too_large', `response body exceeds the limit of ${cap} bytes`);
}

// Holds at most `cap` bytes: a declared length above the cap fails before reading, and the
// stream is destroyed (closing the connection) as soon as the running total passes it.
async function readCapped(
  body: Dispatcher.ResponseData['body'],
  cap: number,
  declaredLength: string | string[] | undefined,
): Promise<Buffer> {
  if (typeof declaredLength === 'string' && Number(declaredLength) > cap) {
    body.on('error', () => {}).destroy();
    throw tooLarge(cap);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > cap) {
      body.on('error', () => {}).destroy();
      throw tooLarge(cap);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, cause } = err as { code?: unknown; cause?: unknown };
  if (typeof code === 'string') return code;
  return cause === undefined ? undefined : errorCode(cause);
}
