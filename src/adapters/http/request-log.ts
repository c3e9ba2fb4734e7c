import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * The URL as logs show it: the path, and every query parameter's value replaced, so a token or
 * an address someone put in a query string never reaches a log line (`?token=[redacted]`).
 * Names stay: they say which filter was used.
 */
export function redactedUrl(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return url;
  const query = url.slice(at + 1);
  if (!query) return url;
  const names = query.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    return eq < 0 ? pair : `${pair.slice(0, eq)}=[redacted]`;
  });
  return `${url.slice(0, at)}?${names.join('&')}`;
}

/** What an incoming `x-request-id` may be to be kept: short, and safe in a log line or a header. */
const SAFE_REQUEST_ID = /^[\w.:-]{1,64}$/;

/**
 * The request id: the caller's `x-request-id` when it is at most 64 characters of letters,
 * digits and `._:-` (a proxy's or a client's trace id); a fresh one otherwise, so nothing a client
 * sends (control characters, JSON, megabytes) is copied into every log line of its request.
 */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
}

/** The `req` of request log lines, as Fastify's own serializer but with the URL redacted. */
export function requestLogSerializer(req: { method: string; url: string; host?: string; ip?: string; socket?: { remotePort?: number } }): Record<string, unknown> {
  return { method: req.method, url: redactedUrl(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}
