/**
 * Writes the reference pages that are derived from code: docs/errors.md from the error
 * catalogue and docs/config.md from the configuration schema. `npm run docs` runs it; tests fail
 * when the committed pages are out of step.
 */
import { writeFileSync } from 'node:fs';
import { ERROR_CATALOGUE } from '../src/app/errors.ts';
import { CONFIG_KEYS } from '../src/config/schema.ts';

export function errorsPage(): string {
  const rows = Object.entries(ERROR_CATALOGUE).map(([code, e]) => `| \`${code}\` | ${e.status} | ${e.title} | ${e.hint} |`);
  return `# Errors

Every error the API returns is \`application/problem+json\` (RFC 9457) with a stable \`code\`:

\`\`\`json
{
  "type": "urn:deskhook:problem:rule_violation",
  "title": "The change breaks a rule of the ticket model",
  "status": 422,
  "code": "rule_violation",
  "detail": "status pending needs a dueBy in the future",
  "errors": [{ "field": "dueBy", "message": "status pending needs a dueBy in the future" }]
}
\`\`\`

- \`code\` never changes for a given kind of error; program against it, not against \`title\` or \`detail\`.
- \`errors\` lists each problem of a request with the field it concerns (dotted paths, e.g. \`webhooks.timeoutMs\`).
- \`429\` answers carry \`Retry-After\` (seconds).
- \`401\` answers carry \`WWW-Authenticate: Bearer\` (RFC 6750): bare when no token was sent,
  \`Bearer error="invalid_token", …\` when the token is unknown, expired or revoked; a read-only API
  key that writes gets \`403\` with \`Bearer error="insufficient_scope"\`.
- Every operation in \`/api/openapi.json\` declares the error statuses it can answer, each as
  \`application/problem+json\` with the one shared schema \`#/components/schemas/Problem\` (the members
  above; further members such as \`hook\`, \`invocationId\` or \`operation\` may appear). The test
  suites check every answer they receive against the document, status and body.
- A URL the HTTP parser cannot read (raw non-ASCII bytes such as \`?q=Zähler\` sent unencoded, or a
  path with broken percent-encoding such as \`/tickets/%ZZ\`) answers \`400 validation_failed\` with
  \`errors: [{"field": "url", …}]\`, like every other 400. Encode such characters as UTF-8 (\`?q=Z%C3%A4hler\`).
- A \`500 internal_error\` never contains internals; the server log has the details under the request id
  (the \`x-request-id\` header you sent, or the one generated).

This table is generated from \`src/app/errors.ts\` by \`npm run docs\`; a test keeps the two in step.

| code | status | title | what to do |
|---|---|---|---|
${rows.join('\n')}
`;
}

export function configPage(): string {
  const rows = CONFIG_KEYS.map((k) => {
    const def = k.default === null || k.default === '' ? '—' : `\`${String(k.default)}\``;
    const range = 'min' in k || 'max' in k ? ` (${'min' in k ? k.min : ''}–${'max' in k ? k.max : ''})` : '';
    const choices = 'choices' in k ? ` One of ${k.choices.map((c) => `\`${c}\``).join(', ')}.` : '';
    return `| \`${k.env}\` | ${k.type}${range} | ${def} | ${k.doc}${choices}${'secret' in k && k.secret ? ' *Secret: never logged.*' : ''} |`;
  });
  return `# Configuration

deskhook reads its configuration once at start: environment variables over an optional JSON file
(named by \`DESKHOOK_CONFIG\`, holding \`{"KEY": value}\` with the names below) over the defaults.
A bad value stops the start with one line naming the key, for example:

\`\`\`
deskhook: config PORT: expected a whole number, got "abc"
\`\`\`

Unknown keys in the file are refused the same way, so a typo never goes unnoticed.

This table is generated from \`src/config/schema.ts\` by \`npm run docs\`; a test keeps the two in step.

| key | type | default | meaning |
|---|---|---|---|
${rows.join('\n')}
`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL('../docs/errors.md', import.meta.url), errorsPage());
  writeFileSync(new URL('../docs/config.md', import.meta.url), configPage());
  process.stdout.write('wrote docs/errors.md and docs/config.md\n');
}
