/** The one way the UI talks to deskhook: /api/v1 with the login token; errors are problem+json. */

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, readonly detail: string, readonly body: unknown) {
    super(detail);
    this.name = 'ApiError';
  }
}

const TOKEN_KEY = 'deskhook.token';
let token: string | null = sessionStorage.getItem(TOKEN_KEY);
const listeners = new Set<() => void>();

export function getToken(): string | null {
  return token;
}

export function setToken(value: string | null): void {
  token = value;
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  for (const l of listeners) l();
}

export function onTokenChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export async function api<T = any>(method: string, path: string, body?: unknown, init: { raw?: string; contentType?: string } = {}): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (init.raw !== undefined) {
    payload = init.raw;
    headers['content-type'] = init.contentType ?? 'text/plain';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`/api/v1${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
  const text = await res.text();
  let data: any;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (res.status === 401 && token && path !== '/auth/login') setToken(null);
  if (!res.ok) {
    throw new ApiError(res.status, data?.code ?? 'error', data?.detail ?? data?.title ?? `${res.status} ${res.statusText}`, data);
  }
  return data as T;
}

/** Query string from an object, leaving out empty values; arrays repeat the key. */
export function query(params: Record<string, unknown>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, String(x)));
    else q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
