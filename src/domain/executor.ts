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

// `ctx.secrets.get('KEY')` with a literal key; a key computed at run time cannot be known earlier.
const CODE_SECRET_REF = /\bsecrets\s*\.\s*get\s*\(\s*(['"`])([\w.-]{1,100})\1\s*\)/g;

/** Names of the secrets an executor refers to: in header values, or by a literal key in its code. */
export function referencedSecrets(executor: Executor): string[] {
  const names = new Set<string>();
  if (executor.type === 'apiCall') {
    for (const value of Object.values(executor.headers)) {
      for (const m of value.matchAll(SECRET_REF)) names.add(m[1]!);
    }
  } else {
    for (const m of executor.code.matchAll(CODE_SECRET_REF)) names.add(m[2]!);
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
