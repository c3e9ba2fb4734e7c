import { describe, expect, it } from 'vitest';
import { detectBounce, failedRecipients, parseDeliveryStatus } from './bounce.ts';
import type { MailAddress } from './inbound-email.ts';

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
      format: 'rfc3464',
      diagnostic: null,
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
    expect(detectBounce({ contentType: 'text/plain', deliveryStatus: null, originalHeaders: null, bodyPlain: 'Action: failed' })).toBeNull();
    expect(detectBounce({ contentType: null, deliveryStatus: null, originalHeaders: null })).toBeNull();
  });

  it('reads a delivery-status part in a multipart/mixed message', () => {
    const deliveryStatus = 'Final-Recipient: rfc822; a@b.example\nAction: delayed\nStatus: 4.3.0\n';
    expect(detectBounce({ contentType: 'multipart/mixed; boundary=x', deliveryStatus, originalHeaders: null })).toMatchObject({ action: 'delayed', permanent: false, recipients: ['a@b.example'] });
  });

  it('returns a bounce without details when the status part is empty', () => {
    expect(detectBounce({ contentType: DSN_TYPE, deliveryStatus: '', originalHeaders: null })).toEqual({ originalMessageId: null, recipients: [], status: null, action: 'unknown', permanent: false, format: 'rfc3464', diagnostic: null });
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

const DAEMON: MailAddress = { address: 'MAILER-DAEMON@mx.example', name: 'Mail Delivery System' };
const US: MailAddress[] = [{ address: 'support@deskhook.example', name: '' }];
const text = (bodyPlain: string, subject = 'Mail delivery failed: returning message to sender', from: MailAddress | null = DAEMON) =>
  detectBounce({ contentType: 'text/plain', deliveryStatus: null, originalHeaders: null, bodyPlain, subject, from, to: US, headers: {} });

describe('detectBounce on text reports', () => {
  it('reads a qmail report: recipient, status, returned Message-ID', () => {
    const body = [
      'Hi. This is the qmail-send program at mx.example.',
      "I'm afraid I wasn't able to deliver your message to the following addresses.",
      "This is a permanent error; I've given up. Sorry it didn't work out.",
      '',
      '<anna@kunde.example>:',
      'remote host said: 550 Unknown user (#5.1.1)',
      '',
      '--- Below this line is a copy of the message.',
      '',
      'Return-Path: <support@deskhook.example>',
      'Message-ID: <dh.42.abc@deskhook.example>',
      'To: anna@kunde.example',
      '',
      'Message-ID: <smuggled@elsewhere.example>',
    ].join('\n');
    expect(text(body, 'failure notice')).toEqual({
      originalMessageId: 'dh.42.abc@deskhook.example', recipients: ['anna@kunde.example'], status: '5.1.1',
      action: 'failed', permanent: true, format: 'qmail', diagnostic: 'remote host said: 550 Unknown user (#5.1.1)',
    });
  });

  it('takes X-Failed-Recipients and never the sender the bounce is addressed to', () => {
    const bounce = detectBounce({
      contentType: 'text/plain', deliveryStatus: null, originalHeaders: null, from: DAEMON, to: US,
      subject: 'Mail delivery failed', headers: { 'x-failed-recipients': 'anna@kunde.example' },
      bodyPlain: 'A message that you sent could not be delivered.\nSMTP error after MAIL FROM:<support@deskhook.example>: 550 5.7.0 rejected',
    });
    expect(bounce).toMatchObject({ recipients: ['anna@kunde.example'], status: '5.7.0', permanent: true });
  });

  it('tells a delay from a failure', () => {
    const body = 'This is an automatically generated Delivery Status Notification.\nDelivery to anna@kunde.example has been delayed.\nThe server will retry for 5 days.';
    expect(text(body, 'Delivery Status Notification (Delay)')).toMatchObject({ action: 'delayed', permanent: false, status: null });
  });

  it('reads German reports', () => {
    const body = 'Ihre Nachricht konnte nicht zugestellt werden an:\n  anna@kunde.example\nEmpfänger unbekannt';
    expect(text(body, 'Unzustellbar: Ihre Anfrage')).toMatchObject({ recipients: ['anna@kunde.example'], permanent: true });
  });

  it('is not a bounce when a person writes about one', () => {
    const body = 'Hallo, meine Mail an anna@kunde.example konnte nicht zugestellt werden (550 5.1.1). Was tun?';
    expect(text(body, 'Unzustellbar?', { address: 'kunde@example.org', name: 'Kurt Kunde' })).toBeNull();
    expect(text('Quarantine digest: 3 messages for anna@kunde.example are held.', 'Your digest')).toBeNull();
  });

  it('a report from a mail system that names nobody is a bounce without recipients', () => {
    expect(text('Your message could not be delivered.')).toMatchObject({ recipients: [], permanent: true });
    expect(text('Your message could not be delivered.', 'Hallo', { address: 'kunde@example.org', name: 'Kurt' })).toBeNull();
  });

  // A super-linear pattern takes minutes on this input; the test's timeout is the bound.
  it('stays linear on pathological report text', { timeout: 5_000 }, () => {
    expect(text(`${'-'.repeat(200_000)}\n${'a@'.repeat(100_000)}\n${' '.repeat(500_000)}x`)?.recipients).toEqual([]);
  });
});

describe('failedRecipients', () => {
  const sent = { direction: 'out', toEmail: ['Anna@Kunde.example'], ccEmails: ['chef@kunde.example'] };
  const failed = (recipients: string[]) => ({ permanent: true, recipients });

  it('names the recipients of our email that the bounce names, without regard to case', () => {
    expect(failedRecipients(sent, failed(['anna@kunde.example', 'other@elsewhere.example']))).toEqual(['Anna@Kunde.example']);
  });

  it('a bounce naming nobody counts for every recipient; one naming only others for none', () => {
    expect(failedRecipients(sent, failed([]))).toEqual(['Anna@Kunde.example', 'chef@kunde.example']);
    expect(failedRecipients(sent, failed(['other@elsewhere.example']))).toEqual([]);
  });

  it('fails nothing for a delay, or for an email deskhook did not send', () => {
    expect(failedRecipients(sent, { permanent: false, recipients: ['anna@kunde.example'] })).toEqual([]);
    expect(failedRecipients({ ...sent, direction: 'in' }, failed(['anna@kunde.example']))).toEqual([]);
  });
});
