// A local HTTP receiver for the benchmarks, in a worker thread of its own (started by
// startReceiver in bench/harness.ts): node:http on 127.0.0.1 answering every request at once with
// the configured status and body. It counts requests and body bytes; requests carrying the marked
// header are counted apart (and how many distinct values the header had) and the last one's body is kept.
import { createServer } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

const { status, answer, markHeader } = workerData;
const headers = answer === null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) };
let received = 0;
let bytes = 0;
let marked = 0;
let lastMarkedBody = '';
const markValues = new Set();
const server = createServer((req, res) => {
  const chunks = [];
  const mark = markHeader !== null && req.headers[markHeader] !== undefined;
  req.on('data', (chunk) => {
    bytes += chunk.length;
    if (mark) chunks.push(chunk);
  });
  req.on('end', () => {
    received++;
    if (mark) {
      marked++;
      markValues.add(String(req.headers[markHeader]));
      lastMarkedBody = Buffer.concat(chunks).toString('utf8');
    }
    res.writeHead(status, headers).end(answer ?? undefined);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', () => parentPort.postMessage({ received, bytes, marked, distinct: markValues.size, lastMarkedBody }));
