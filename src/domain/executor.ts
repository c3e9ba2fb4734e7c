export const HTTP_METHODS = ['POST', 'PUT', 'PATCH', 'GET', 'DELETE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface ApiCallExecutor {
  type: 'apiCall';
  url: string;
  method: HttpMethod;
  /** Values may contain `{{secret.KEY}}`, resolved when the call is made and nowhere else. */
  headers: Record<string, string>;
}

export interface SourceCodeExecutor {
  type: 'sourceCode';
  language: 'typescript' | 'javascript';
  code: string;
}

/** What a webhook, an event hook or an ERP operation runs. */
export type Executor = ApiCallExecutor | SourceCodeExecutor;

const SECRET_REF = /\{\{\s*secret\.([\w.-]+)\s*\}\}/g;

/** Names of the secrets an executor's header values refer to. */
export function referencedSecrets(executor: Executor): string[] {
  if (executor.type !== 'apiCall') return [];
  const names = new Set<string>();
  for (const value of Object.values(executor.headers)) {
    for (const m of value.matchAll(SECRET_REF)) names.add(m[1]!);
  }
  return [...names];
}

export function resolveSecretRefs(value: string, lookup: (key: string) => string | undefined): string {
  return value.replace(SECRET_REF, (_, key: string) => {
    const v = lookup(key);
    if (v === undefined) throw new Error(`secret ${key} is not set`);
    return v;
  });
}
