// Main-thread side of a ctx call: check what the script asked for, call the bridge, and turn the
// outcome into a reply. The worker has already shaped the arguments, but they come from hostile
// code, so nothing reaches the bridge unchecked.

import type { ReplyMessage } from './protocol.ts';
import type { SandboxApiRequest, SandboxBridge, SandboxFetchRequest } from './types.ts';

type Reply = { ok: true; valueJson: string } | { ok: false; error: { message: string; code?: string } };

class InvalidCall extends Error {}

export async function dispatchBridgeCall(bridge: SandboxBridge, op: string, args: unknown): Promise<Reply> {
  let value: unknown;
  try {
    value = await invoke(bridge, op, args);
  } catch (error) {
    return { ok: false, error: describeBridgeError(error) };
  }
  let valueJson: string;
  try {
    valueJson = JSON.stringify({ v: value });
  } catch {
    return { ok: false, error: { message: `ctx: the host returned a value that is not JSON data (${op})` } };
  }
  return { ok: true, valueJson };
}

export function toReplyMessage(runId: number, callId: number, reply: Reply): ReplyMessage {
  return reply.ok
    ? { type: 'reply', runId, callId, ok: true, valueJson: reply.valueJson }
    : { type: 'reply', runId, callId, ok: false, error: reply.error };
}

async function invoke(bridge: SandboxBridge, op: string, args: unknown): Promise<unknown> {
  const a = record(args);
  switch (op) {
    case 'fetch': {
      const req: SandboxFetchRequest = {
        url: text(a.url, 'url'),
        method: text(a.method, 'method'),
        headers: stringRecord(a.headers),
      };
      if (a.body !== undefined) req.body = text(a.body, 'body');
      const res = await bridge.fetch(req);
      const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)]));
      return { status: res.status, headers, body: String(res.body) };
    }
    case 'secretGet':
      return (await bridge.secretGet(text(a.key, 'key'))) ?? null;
    case 'cacheGet':
      return await bridge.cacheGet(text(a.key, 'key'));
    case 'cacheSet': {
      const ttl = a.ttlSeconds;
      if (typeof ttl !== 'number' || !(ttl > 0) || !Number.isFinite(ttl)) throw new InvalidCall('ttlSeconds must be a positive number');
      await bridge.cacheSet(text(a.key, 'key'), a.value, ttl);
      return null;
    }
    case 'api': {
      const method = a.method;
      if (method !== 'GET' && method !== 'POST' && method !== 'PATCH') throw new InvalidCall('unsupported method');
      const req: SandboxApiRequest = { method, path: text(a.path, 'path') };
      if (a.body !== undefined) req.body = a.body;
      const res = await bridge.api(req);
      return { status: res.status, body: res.body };
    }
    default:
      throw new InvalidCall(`unknown operation '${op}'`);
  }
}

function describeBridgeError(error: unknown): { message: string; code?: string } {
  if (error instanceof InvalidCall) return { message: `ctx: invalid call: ${error.message}` };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? { message: error.message, code } : { message: error.message };
  }
  return { message: 'ctx: the host call failed' };
}

function record(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidCall('arguments must be an object');
  return value as Record<string, unknown>;
}

function text(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new InvalidCall(`${name} must be a string`);
  return value;
}

function stringRecord(value: unknown): Record<string, string> {
  // fromEntries defines own properties, so a header named `__proto__` stays a header.
  return Object.fromEntries(Object.entries(record(value)).map(([k, v]) => [k, text(v, `header ${k}`)]));
}
