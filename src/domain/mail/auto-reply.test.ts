import { describe, expect, it } from 'vitest';
import { LOOP_HEADER, classifyAutoReply } from './auto-reply.ts';
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
