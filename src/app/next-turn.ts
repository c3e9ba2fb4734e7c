/**
 * Lets timers, sockets and other requests run before the next piece of a long job. The API, the
 * SMTP server and the workers share one event loop, and on SQLite every statement is synchronous:
 * awaiting a database call only yields to other promise callbacks, never to I/O. A loop over many
 * items (a bulk change, an import, a burst of mail) therefore calls this between items, so that
 * no job holds the loop for longer than one item takes.
 */
export const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));
