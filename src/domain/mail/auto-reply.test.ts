import { describe, expect, it } from 'vitest';
import { LOOP_HEADER, classifyAutoReply, detectBounce, parseDeliveryStatus } from './auto-reply.ts';
import type { MailAddress } from './inbound-email.ts';

const person: MailAddress = { address: 'anna@kunde.example', name: 'Anna Kunde' };

describe('classifyAutoReply', () => {
  const auto: Array<[string, Record<string, string>, string, MailAddress | null, string]> = [
    ['our own loop header', { 'x-deskhook-loop': 'instance-1' }, 'Hallo', person, `loop: ${LOOP_HEADER}`],
    ['Auto-Submitted: auto-replied', { 'auto-submitted': 'auto-replied' }, 'Hallo', person, 'auto-submitted: auto-replied'],
    ['Auto-Submitted with a comment', { 'auto-submitted': 'auto-generated (failure)' }, 'x', person, 'auto-submitted: auto-generated (failure)'],
    ['Precedence: bulk', { precedence: 'bulk' }, 'x', person, 'precedence: bulk'],
    ['Precedence: junk', { precedence: 'Junk' }, 'x', person, 'precedence: junk'],
    ['Precedence: list', { precedence: 'list' }, 'x', person, 'precedence: list'],
    ['Precedence: auto_reply', { precedence: 'auto_reply' }, 'x', person, 'precedence: auto_reply'],
    ['X-Auto-Response-Suppress: All', { 'x-auto-response-suppress': 'All' }, 'x', person, 'x-auto-response-suppress: All'],
    ['X-Auto-Response-Suppress: DR, OOF', { 'x-auto-response-suppress': 'DR, OOF' }, 'x', person, 'x-auto-response-suppress: DR, OOF'],
    ['X-Autoreply: yes', { 'x-autoreply': 'yes' }, 'x', person, 'x-autoreply'],
    ['X-Autorespond', { 'x-autorespond': 'Out of office' }, 'x', person, 'x-autorespond'],
    ['Return-Path: <>', { 'return-path': '<>' }, 'x', person, 'null return-path'],
    ['X-Failed-Recipients (Exim)', { 'x-failed-recipients': 'a@b' }, 'x', person, 'x-failed-recipients'],
    ['MAILER-DAEMON sender', {}, 'x', { address: 'MAILER-DAEMON@mx.example', name: '' }, 'mailer-daemon sender'],
    ['postmaster sender', {}, 'x', { address: 'postmaster@example.no', name: '' }, 'mailer-daemon sender'],
    ['"Mail Delivery System" without an address', { from: '"" (Mail Delivery System)' }, 'x', null, 'mailer-daemon sender'],
    ['DSN content type', { 'content-type': 'multipart/report; report-type=delivery-status; boundary="b"' }, 'x', person, 'report: delivery-status'],
    ['read receipt', { 'content-type': 'multipart/report; report-type="disposition-notification"' }, 'x', person, 'report: disposition-notification'],
    ['List-Id', { 'list-id': '<news.example.com>' }, 'x', person, 'list-id'],
    ['List-Unsubscribe', { 'list-unsubscribe': '<mailto:u@x>' }, 'x', person, 'list-unsubscribe'],
    ['Automatic reply subject', {}, 'Automatic reply: Nyaan', person, 'auto-reply subject'],
    ['Apple "Auto reply:" subject', {}, 'Auto reply: Nyaan', person, 'auto-reply subject'],
    ['German Outlook subject', {}, 'Automatische Antwort: Ihre Anfrage', person, 'auto-reply subject'],
    ['Out of Office subject', {}, 'Out of Office: back Monday', person, 'auto-reply subject'],
  ];
  it.each(auto)('auto: %s', (_name, headers, subject, from, reason) => {
    expect(classifyAutoReply(headers, subject, from)).toEqual({ auto: true, reason });
  });

  const human: Array<[string, Record<string, string>, string]> = [
    ['plain customer mail', { 'message-id': '<a@b>', 'content-type': 'text/plain' }, 'Frage zu meiner Rechnung'],
    ['Auto-Submitted: no', { 'auto-submitted': 'no' }, 'Hallo'],
    ['X-Autoreply: no', { 'x-autoreply': 'no' }, 'Hallo'],
    ['Precedence: normal', { precedence: 'normal' }, 'Hallo'],
    ['suppress header without a known token', { 'x-auto-response-suppress': 'None' }, 'Hallo'],
    ['a normal Return-Path', { 'return-path': '<anna@kunde.example>' }, 'Hallo'],
    ['"out of office" mid-subject', {}, 'Question about your out of office policy'],
  ];
  it.each(human)('human: %s', (_name, headers, subject) => {
    expect(classifyAutoReply(headers, subject, person)).toEqual({ auto: false, reason: null });
  });
});

const DSN_TYPE = 'multipart/report; report-type=delivery-status; boundary="x"';
const ORIGINAL = 'Return-Path: <support@deskhook.example>\nMessage-ID: <dh.42.abc@deskhook.example>\nSubject: Re: [#42]\n\nbody';

describe('detectBounce', () => {
  it('reads a permanent failure with the original Message-ID', () => {
    const deliveryStatus = 'Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; anna@kunde.example\nAction: failed\nStatus: 5.1.1 (user unknown)\n';
    expect(detectBounce({ contentType: DSN_TYPE, deliveryStatus, originalHeaders: ORIGINAL })).toEqual({
      originalMessageId: 'dh.42.abc@deskhook.example',
      recipients: ['anna@kunde.example'],
      status: '5.1.1',
      action: 'failed',
      permanent: true,
    });
  });

  it('reports a delay as not permanent', () => {
    const deliveryStatus = 'Final-Recipient: rfc822;a@b.example\nAction: delayed\nStatus: 4.4.7\n';
    expect(detectBounce({ contentType: DSN_TYPE, deliveryStatus, originalHeaders: null })).toMatchObject({ action: 'delayed', status: '4.4.7', permanent: false, originalMessageId: null });
  });

  it('picks the most severe of several recipients and keeps them all', () => {
    const deliveryStatus = [
      'Reporting-MTA: dns; mx',
      'Original-Recipient: rfc822;a@x',
      'Final-Recipient: rfc822;a@x',
      'Action: delayed',
      'Status: 4.2.2',
      'Final-Recipient: rfc822;<B@x>',
      'Action: failed',
      'Status: 5.2.1',
      'Final-Recipient: rfc822;b@x',
      'Action: failed',
    ].join('\r\n');
    expect(detectBounce({ contentType: DSN_TYPE, deliveryStatus, originalHeaders: null })).toMatchObject({ recipients: ['a@x', 'B@x'], action: 'failed', status: '5.2.1', permanent: true });
  });

  it('infers the action from the status when Action is missing', () => {
    expect(detectBounce({ contentType: DSN_TYPE, deliveryStatus: 'Final-Recipient: rfc822; a@x\nStatus: 5.0.0', originalHeaders: null })).toMatchObject({ action: 'failed', permanent: true });
  });

  it('ignores other reports and ordinary mail', () => {
    expect(detectBounce({ contentType: 'multipart/report; report-type=disposition-notification', deliveryStatus: 'Action: failed', originalHeaders: null })).toBeNull();
    expect(detectBounce({ contentType: 'text/plain', deliveryStatus: 'Action: failed', originalHeaders: null })).toBeNull();
    expect(detectBounce({ contentType: null, deliveryStatus: null, originalHeaders: null })).toBeNull();
  });

  it('returns a bounce without details when the status part is empty', () => {
    expect(detectBounce({ contentType: DSN_TYPE, deliveryStatus: '', originalHeaders: null })).toEqual({ originalMessageId: null, recipients: [], status: null, action: 'unknown', permanent: false });
  });
});

describe('parseDeliveryStatus', () => {
  it('finds recipient groups without blank lines between them', () => {
    const text = 'Reporting-MTA: dns; a\nFinal-Recipient: rfc822; one@x\nAction: failed\nStatus: 5.1.1\nFinal-Recipient: rfc822; two@x\nAction: delivered\nStatus: 2.0.0';
    expect(parseDeliveryStatus(text).map((r) => [r.final, r.action, r.status])).toEqual([
      ['one@x', 'failed', '5.1.1'],
      ['two@x', 'delivered', '2.0.0'],
    ]);
  });
});
