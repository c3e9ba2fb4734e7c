import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

/**
 * Checks an answer the API gave against its own OpenAPI document (GET /api/openapi.json): the
 * status must be declared for the operation, and a JSON body must be valid against the schema
 * declared for that status and media type. `api()` of the test app runs every answer through it,
 * so a status or a field the document does not promise fails the suite that observed it.
 */
export interface ConformanceViolation {
  method: string;
  url: string;
  status: number;
  problem: string;
}

/** Every violation any suite in this process observed (the test app's `api()` also throws). */
export const observedViolations: ConformanceViolation[] = [];

type Json = Record<string, any>;

interface Operation {
  regex: RegExp;
  staticLength: number;
  method: string;
  path: string;
  responses: Json;
}

export interface ConformanceChecker {
  /** The violation, or null when the answer is what the document promises (or is not an API operation). */
  check(method: string, url: string, status: number, contentType: string | undefined, body: string): ConformanceViolation | null;
  document: Json;
}

const checkers = new WeakMap<FastifyInstance, ConformanceChecker>();

/** The checker for an app (built once per app from its document). */
export function conformanceChecker(app: FastifyInstance): ConformanceChecker {
  const known = checkers.get(app);
  if (known) return known;
  const document = JSON.parse(JSON.stringify((app as unknown as { swagger(): Json }).swagger())) as Json;
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  ajv.addSchema({ $id: 'openapi:doc', components: document.components ?? {} });
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries<Json>(document.paths ?? {})) {
    const pattern = path.split(/\{[^}/]+\}/).map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')).join('[^/]+');
    for (const [method, operation] of Object.entries<Json>(item)) {
      if (!operation || typeof operation !== 'object' || !operation.responses) continue;
      operations.push({ regex: new RegExp(`^${pattern}$`), staticLength: path.replace(/\{[^}/]+\}/g, '').length, method: method.toUpperCase(), path, responses: operation.responses });
    }
  }
  const validators = new Map<object, ReturnType<Ajv2020['compile']>>();
  const validatorFor = (schema: Json) => {
    let v = validators.get(schema);
    if (!v) {
      // References point into the document's components: resolve them against it.
      const rewritten = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi:doc#/components/')) as Json;
      v = ajv.compile(rewritten);
      validators.set(schema, v);
    }
    return v;
  };

  const checker: ConformanceChecker = {
    document,
    check(method, url, status, contentType, body) {
      const path = decodeURI(url.split('?')[0]!).replace(/\/+$/, '') || '/';
      const upper = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
      // Static segments win over parameters (/customers/search before /customers/{id}), as in the router.
      const candidates = operations.filter((o) => o.method === upper && o.regex.test(path)).sort((a, b) => b.staticLength - a.staticLength);
      const operation = candidates[0];
      const violation = (problem: string): ConformanceViolation => ({ method: upper, url, status, problem });
      if (!operation) {
        // Not an operation of the document (health, the UI, an unknown route): errors still must be problems.
        if (status >= 400 && path.startsWith('/api/v1/') && !String(contentType ?? '').startsWith('application/problem+json')) {
          return violation(`an error outside any operation is ${contentType ?? 'untyped'}, not application/problem+json`);
        }
        return null;
      }
      const declared = operation.responses[String(status)] ?? operation.responses[`${String(status)[0]}XX`] ?? operation.responses.default;
      if (!declared) return violation(`${upper} ${operation.path} does not declare status ${status} (declared: ${Object.keys(operation.responses).join(', ')})`);
      const type = String(contentType ?? '').split(';')[0]!.trim();
      if (status >= 400 && type !== 'application/problem+json') return violation(`${upper} ${operation.path} answered ${status} as ${type || 'untyped'}, not application/problem+json`);
      const content = declared.content as Json | undefined;
      if (!content || !body || !/json/.test(type)) return null;
      const media = content[type] ?? (type === 'application/json' ? content['*/*'] : undefined);
      if (!media) return violation(`${upper} ${operation.path} ${status} does not declare the media type ${type} (declared: ${Object.keys(content).join(', ')})`);
      if (!media.schema) return null;
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        return violation(`${upper} ${operation.path} ${status}: the body is not JSON`);
      }
      const validate = validatorFor(media.schema);
      if (validate(parsed)) return null;
      const errors = (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
      return violation(`${upper} ${operation.path} ${status}: the body does not match the declared schema: ${errors.join('; ')}`);
    },
  };
  checkers.set(app, checker);
  return checker;
}

/** Checks an answer, records a violation and throws it, so the suite that saw it fails loudly. */
export function assertConforms(app: FastifyInstance, method: string, url: string, res: { statusCode: number; headers: Record<string, unknown>; body: string }): void {
  const violation = conformanceChecker(app).check(method, url, res.statusCode, res.headers['content-type'] as string | undefined, res.body);
  if (!violation) return;
  observedViolations.push(violation);
  throw new Error(`OpenAPI conformance: ${violation.problem} (${violation.method} ${violation.url}). Declare it in src/adapters/http/problem-responses.ts or the route's schema.`);
}
