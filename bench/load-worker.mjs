// The benchmarks' load generator, in a worker thread of its own (started by startLoadWorker in
// bench/harness.ts): autocannon runs, timed sequences of single requests and SMTP blasts. Every
// time is measured here, so the process being measured never runs its own client.
import { parentPort } from 'node:worker_threads';
import autocannon from 'autocannon';
import nodemailer from 'nodemailer';
import { Agent, request } from 'undici';

const agent = new Agent({ keepAliveTimeout: 60_000, connections: 1 });

async function runAutocannon({ bodies, ...options }) {
  let n = 0;
  const requests = bodies?.length ? [{ setupRequest: (r) => ({ ...r, body: bodies[n++ % bodies.length] }) }] : undefined;
  // Off the main thread autocannon hands back its raw result (histograms encoded); aggregateResult
  // decodes the latencies as it does on the main thread. Requests/s: completed requests over the run's wall time.
  const raw = await autocannon({ ...options, ...(requests ? { requests } : {}) });
  const result = autocannon.aggregateResult([raw], options);
  return { requestsPerSecond: raw.totalCompletedRequests / raw.duration, p50Ms: result.latency.p50, p99Ms: result.latency.p99, errors: result.errors, non2xx: result.non2xx };
}

async function runSequence(requests) {
  const answers = [];
  for (const r of requests) {
    const began = performance.now();
    const res = await request(r.url, { method: r.method ?? 'GET', headers: r.headers ?? {}, body: r.body, dispatcher: agent });
    const body = await res.body.text();
    if (r.json) JSON.parse(body);
    answers.push({ ms: performance.now() - began, status: res.statusCode, body });
  }
  return answers;
}

async function runSmtp({ port, connections, messages }) {
  const client = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: connections, maxMessages: Infinity });
  const began = performance.now();
  try {
    await Promise.all(messages.map((m) => client.sendMail(m)));
    return performance.now() - began;
  } finally {
    client.close();
  }
}

const KINDS = { ping: async () => true, autocannon: runAutocannon, sequence: runSequence, smtp: runSmtp, close: () => agent.close() };

parentPort.on('message', ({ id, kind, payload }) => {
  KINDS[kind](payload).then(
    (result) => parentPort.postMessage({ id, ok: true, result }),
    (err) => parentPort.postMessage({ id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
