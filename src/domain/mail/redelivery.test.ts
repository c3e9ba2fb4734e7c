import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { judgeRedelivery, redeliveryContent, REDELIVERY_WINDOW_MS } from './redelivery.ts';

const hash = (raw: string) => createHash('sha256').update(redeliveryContent(raw)).digest('hex');
const message = ['From: Erika <erika@example.com>', 'To: service@example.com', 'Subject: Zähler', 'Message-ID: <m1@example.com>', '', 'Stand 12345', ''].join('\r\n');

describe('redeliveryContent', () => {
  it('ignores trace headers and line endings, not what the author wrote', () => {
    const relayed = `Received: from mx.example by relay.example\r\nReturn-Path: <erika@example.com>\r\nDelivered-To: service@example.com\r\nX-Spam-Score: 0.1\r\n${message}`;
    expect(hash(relayed)).toBe(hash(message));
    expect(hash(message.replace(/\r\n/g, '\n'))).toBe(hash(message));
    expect(hash(message.replace('Stand 12345', 'Stand 12346'))).not.toBe(hash(message));
    expect(hash(message.replace('Subject: Zähler', 'Subject: Zähler 2'))).not.toBe(hash(message));
  });
});

describe('judgeRedelivery', () => {
  const at = '2025-11-03T10:00:00.000Z';
  const later = (ms: number) => new Date(Date.parse(at) + ms).toISOString();
  it('drops the same content at any time, and the same sender within the window; keeps the rest, noting the reuse', () => {
    const earlier = [{ from: 'erika@example.com', at, contentHash: 'h1' }];
    expect(judgeRedelivery({ from: 'x@example.com', contentHash: 'h1', at: later(30 * REDELIVERY_WINDOW_MS) }, earlier)).toMatchObject({ kind: 'redelivery', rule: 'same-content' });
    expect(judgeRedelivery({ from: 'Erika@Example.com', contentHash: 'h2', at: later(3_600_000) }, earlier)).toMatchObject({ kind: 'redelivery', rule: 'same-sender-within-window' });
    expect(judgeRedelivery({ from: 'erika@example.com', contentHash: 'h2', at: later(REDELIVERY_WINDOW_MS + 1) }, earlier)).toEqual({ kind: 'new', reusedId: true });
    expect(judgeRedelivery({ from: 'other@example.com', contentHash: 'h2', at }, earlier)).toEqual({ kind: 'new', reusedId: true });
    expect(judgeRedelivery({ from: 'erika@example.com', contentHash: 'h1', at }, [])).toEqual({ kind: 'new', reusedId: false });
  });
});
