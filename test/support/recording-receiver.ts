import { createServer, type IncomingHttpHeaders } from 'node:http';

/** One request the receiver got; `endedAt` is set when its answer was sent. */
export interface ReceivedCall {
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  startedAt: number;
  endedAt?: number;
}

/** What the receiver answers a call: status (200), a JSON body (none when undefined), after a delay. */
export interface ScriptedAnswer {
  status?: number;
  body?: unknown;
  delayMs?: number;
}

/**
 * A hook receiver like a team's own API on 127.0.0.1: records every call and answers what the
 * current test scripts (`answer`, `{}` by default).
 */
export interface RecordingReceiver {
  /** `http://127.0.0.1:<port>/hook` */
  url: string;
  calls: ReceivedCall[];
  answer: (call: ReceivedCall) => ScriptedAnswer;
  close(): Promise<void>;
}

export async function startRecordingReceiver(): Promise<RecordingReceiver> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const call: ReceivedCall = { headers: req.headers, body, json: body ? JSON.parse(body) : null, startedAt: performance.now() };
      receiver.calls.push(call);
      const a = receiver.answer(call);
      setTimeout(() => {
        call.endedAt = performance.now();
        res.statusCode = a.status ?? 200;
        res.setHeader('content-type', 'application/json');
        res.end(a.body === undefined ? '' : JSON.stringify(a.body));
      }, a.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const receiver: RecordingReceiver = {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`,
    calls: [],
    answer: () => ({ body: {} }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return receiver;
}
