import { describe, expect, it } from 'vitest';
import {
  MAX_REFERENCES,
  decideThread,
  findSubjectTokens,
  outboundThreadingHeaders,
  parseSubjectTokens,
  subjectToken,
  threadLookupKeys,
} from './threading.ts';
import type { ThreadDecision, ThreadLookup, ThreadingInput } from './threading.ts';

const customer = { address: 'anna@kunde.example', name: 'Anna Kunde' };
const stranger = { address: 'mallory@elsewhere.example', name: 'Mallory' };

function email(over: Partial<ThreadingInput>): ThreadingInput {
  return { inReplyTo: null, references: [], subject: 'Frage zu meiner Rechnung', from: customer, ...over };
}

// Ticket 7 holds messages a@dh and b@dh; ticket 9 holds c@dh. Ticket 42's participants are the
// customer (in any case spelling) and a colleague on Cc of an outbound reply.
const lookup: ThreadLookup = {
  knownMessages: new Map([
    ['a@dh', 7],
    ['b@dh', 7],
    ['c@dh', 9],
  ]),
  participants: new Map<number, readonly string[]>([
    [42, [' Anna@Kunde.Example ', 'kollege@kunde.example']],
    [43, ['someone@else.example']],
  ]),
  // The cases below are about addresses; what vouches for them is tested in 'who is believed'.
  senderAuthenticated: true,
};

describe('decideThread', () => {
  const cases: Array<[string, ThreadingInput, ThreadDecision]> = [
    ['In-Reply-To names a known message', email({ inReplyTo: 'c@dh', references: ['a@dh'] }), { kind: 'reply', ticketId: 9, via: 'in-reply-to' }],
    ['References only, newest known id wins', email({ references: ['a@dh', 'unknown@x', 'c@dh', 'other@x'] }), { kind: 'reply', ticketId: 9, via: 'references' }],
    ['unknown In-Reply-To falls back to References', email({ inReplyTo: 'nope@x', references: ['b@dh'] }), { kind: 'reply', ticketId: 7, via: 'references' }],
    ['headers beat the subject token', email({ inReplyTo: 'a@dh', subject: 'Re: [#42] x' }), { kind: 'reply', ticketId: 7, via: 'in-reply-to' }],
    ['token from a participant (case-insensitive, trimmed)', email({ subject: 'AW: Rechnung [#42]', from: { address: 'ANNA@kunde.example ', name: '' } }), { kind: 'reply', ticketId: 42, via: 'subject-token' }],
    ['token from a Cc participant of outbound mail', email({ subject: 'Re: [#42]', from: { address: 'kollege@kunde.example', name: '' } }), { kind: 'reply', ticketId: 42, via: 'subject-token' }],
    ['the same token from a stranger', email({ subject: 'Re: Rechnung [#42]', from: stranger }), { kind: 'new', reason: 'subject-token-from-stranger' }],
    ['token without a sender', email({ subject: '[#42]', from: null }), { kind: 'new', reason: 'subject-token-from-stranger' }],
    ['token of a ticket that does not exist', email({ subject: 'Re: [#999]' }), { kind: 'new', reason: 'subject-token-unknown-ticket' }],
    ['second token matches the participant', email({ subject: 'Fwd: [#43] Re: [#42]' }), { kind: 'reply', ticketId: 42, via: 'subject-token' }],
    ['nothing to go by', email({ inReplyTo: 'x@y', references: ['z@y'] }), { kind: 'new', reason: 'no-thread-reference' }],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(decideThread(input, lookup)).toEqual(expected);
  });
});

describe('who is believed for a subject token', () => {
  const spoofed = email({ subject: 'Re: Rechnung [#42]' });
  const unauthenticated: ThreadLookup = { ...lookup, senderAuthenticated: false };
  it('a participant address without SPF/DKIM/DMARC and only the bare token opens a new ticket', () => {
    expect(decideThread(spoofed, unauthenticated)).toEqual({ kind: 'new', reason: 'subject-token-unauthenticated' });
    expect(decideThread(spoofed, { knownMessages: lookup.knownMessages, participants: lookup.participants })).toEqual({ kind: 'new', reason: 'subject-token-unauthenticated' });
  });
  it('the keyed token threads a participant even when the domain cannot be verified', () => {
    const keyed = email({ subject: 'Re: Rechnung [#42-abcdefgh]' });
    expect(decideThread(keyed, { ...unauthenticated, keyedTokens: new Set([42]) })).toEqual({ kind: 'reply', ticketId: 42, via: 'subject-token' });
  });
  it('neither the keyed token nor authentication lets a stranger in', () => {
    const stranger42 = email({ subject: 'Re: [#42-abcdefgh]', from: stranger });
    expect(decideThread(stranger42, { ...lookup, keyedTokens: new Set([42]) })).toEqual({ kind: 'new', reason: 'subject-token-from-stranger' });
  });
});

describe('threadLookupKeys', () => {
  it('lists In-Reply-To, then References newest first, without repeats, and the subject tokens', () => {
    const keys = threadLookupKeys(email({ inReplyTo: 'c@dh', references: ['a@dh', 'b@dh', 'c@dh'], subject: 'Re: [#42] [#7] [#42]' }));
    expect(keys).toEqual({ messageIds: ['c@dh', 'b@dh', 'a@dh'], subjectTicketIds: [42, 7] });
  });
});

describe('subject tokens', () => {
  it.each([
    ['Re: Original [#123]', [123]],
    ['[#1] and [#2]', [1, 2]],
    ['[#0] [# 5] [#abc] #5 [5]', []],
    ['no token', []],
  ])('%s', (subject, ids) => {
    expect(findSubjectTokens(subject)).toEqual(ids);
  });
  it('reads keyed tokens with their digest, and bare ones', () => {
    expect(parseSubjectTokens('Re: x [#12-k7f2x6ab] [#13] [#14-short] [#15-K7F2X6AB]')).toEqual([
      { ticketId: 12, mac: 'k7f2x6ab' }, { ticketId: 13, mac: null }, { ticketId: 15, mac: 'k7f2x6ab' },
    ]);
    expect(subjectToken(12, 'k7f2x6ab')).toBe('[#12-k7f2x6ab]');
    expect(() => subjectToken(12, 'nope')).toThrow(RangeError);
  });
  it('formats and rejects non-ids', () => {
    expect(subjectToken(123)).toBe('[#123]');
    expect(() => subjectToken(0)).toThrow(RangeError);
    expect(() => subjectToken(1.5)).toThrow(RangeError);
  });
});

describe('outboundThreadingHeaders', () => {
  const base = { ticketId: 123, domain: 'Support.Example.COM', nonce: 'k3J9x', subject: 'Original' };

  it('answers the last message and adds Re: and the token once', () => {
    const out = outboundThreadingHeaders({ ...base, previousMessageIds: ['<first@cust>', 'dh.123.a@support.example.com'] });
    expect(out.messageId).toBe('dh.123.k3J9x@support.example.com');
    expect(out.subject).toBe('Re: Original [#123]');
    expect(out.inReplyTo).toBe('dh.123.a@support.example.com');
    expect(out.references).toEqual(['first@cust', 'dh.123.a@support.example.com']);
    expect(out.headers).toEqual({
      'Message-ID': '<dh.123.k3J9x@support.example.com>',
      'In-Reply-To': '<dh.123.a@support.example.com>',
      References: '<first@cust> <dh.123.a@support.example.com>',
    });
  });

  it.each([
    ['Re: Original [#123]', 'Re: Original [#123]'],
    ['AW: Original [#123]', 'AW: Original [#123]'],
    ['RE: Original', 'RE: Original [#123]'],
    ['Original [#99]', 'Re: Original [#99] [#123]'],
    ['', 'Re: [#123]'],
  ])('subject %j becomes %j', (subject, expected) => {
    expect(outboundThreadingHeaders({ ...base, subject, previousMessageIds: ['x@y'] }).subject).toBe(expected);
  });

  it.each([
    ['Original', 'Re: Original [#123-k7f2x6ab]'],
    ['Re: Original [#123]', 'Re: Original [#123-k7f2x6ab]'],
    ['Re: Original [#123-k7f2x6ab]', 'Re: Original [#123-k7f2x6ab]'],
    ['Re: [#99] Original', 'Re: [#99] Original [#123-k7f2x6ab]'],
  ])('with the keyed digest, subject %j becomes %j', (subject, expected) => {
    expect(outboundThreadingHeaders({ ...base, subject, previousMessageIds: ['x@y'], tokenMac: 'k7f2x6ab' }).subject).toBe(expected);
  });

  it('starts a thread without Re:, In-Reply-To or References', () => {
    const out = outboundThreadingHeaders({ ...base, previousMessageIds: [] });
    expect(out.subject).toBe('Original [#123]');
    expect(out.inReplyTo).toBeNull();
    expect(out.headers).toEqual({ 'Message-ID': '<dh.123.k3J9x@support.example.com>' });
  });

  it('keeps References bounded: the root plus the newest ids', () => {
    const ids = Array.from({ length: 50 }, (_, i) => `m${i}@x`);
    const out = outboundThreadingHeaders({ ...base, previousMessageIds: [...ids, 'm49@x', 'm3@x'] });
    expect(out.references).toHaveLength(MAX_REFERENCES);
    expect(out.references[0]).toBe('m0@x');
    expect(out.references.at(-1)).toBe('m49@x');
    expect(out.references.slice(1)).toEqual(ids.slice(50 - (MAX_REFERENCES - 1)));
    expect(out.inReplyTo).toBe('m49@x');
  });

  it('sanitises the domain and the nonce', () => {
    const out = outboundThreadingHeaders({ ...base, domain: 'help@Bad Domain>.example', nonce: 'a-b_c', previousMessageIds: [] });
    expect(out.messageId).toBe('dh.123.abc@baddomain.example');
    expect(() => outboundThreadingHeaders({ ...base, nonce: '--', previousMessageIds: [] })).toThrow(RangeError);
  });
});
