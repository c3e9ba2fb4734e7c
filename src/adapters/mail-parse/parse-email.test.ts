import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseEmail } from './parse-email.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const corpusDir = path.resolve(repoRoot, '..', 'shared', 'corpus', 'mail');
const haveCorpus = existsSync(corpusDir);
const corpus = (file: string): Buffer => readFileSync(path.join(corpusDir, file));
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe.skipIf(!haveCorpus)(`real messages from ${haveCorpus ? corpusDir : `${corpusDir} (missing: suite skipped)`}`, () => {
  it('decodes German umlauts in raw 8-bit Latin-1 headers and body (Outlook 2000)', async () => {
    const email = await parseEmail(corpus('zbateson-mail-mime-parser/m0001.txt'));
    expect(email.subject).toBe('Die Hasen und die Frösche (Microsoft Outlook 00)');
    expect(email.to).toEqual([{ address: 'schmuergen@example.com', name: 'Jürgen Schmürgen' }]);
    expect(email.bodyPlain).toContain('Die Hasen klagten einst über ihre mißliche Lage');
    expect(email.parseWarnings).toEqual([]);
  });

  it('decodes umlauts inside an encoded word that carries raw 8-bit bytes (Eudora)', async () => {
    const email = await parseEmail(corpus('zbateson-mail-mime-parser/m2004.txt'));
    expect(email.subject).toBe('Die Hasen und die Frösche');
    expect(email.to[0]?.name).toBe('Heinz Müller');
  });

  it('decodes UTF-7 (Outlook 2000): an encoded word in the subject and the body', async () => {
    const email = await parseEmail(corpus('zbateson-mail-mime-parser/m0006.txt'));
    expect(email.subject).toBe('Die Hasen und die Frösche (Microsoft Outlook 00)');
    expect(email.bodyPlain).toContain('Frösche');
    expect(email.bodyPlain).not.toMatch(/\+A[A-Za-z0-9+/]+-/);
  });

  it('decodes raw UTF-7 headers of a UTF-7 message, but never an address', async () => {
    const email = await parseEmail(corpus('zbateson-mail-mime-parser/m1011.txt'));
    expect(email.subject).toBe('Die Hasen und die Frösche');
    expect(email.to).toEqual([{ address: 'mueller@example.com', name: 'Heinz Müller' }]);
  });

  it('gives an HTML-only message a readable bodyPlain', async () => {
    const email = await parseEmail(corpus('nodemailer-mailparser/spam.eml'));
    expect(email.bodyHtml).toMatch(/<html|<body|<p/i);
    expect(email.bodyPlain).toContain('Im Jahre 2007 wurde er als „asozialer Penner“ beschimpft!');
    expect(email.bodyPlain).not.toMatch(/<\/?[a-z][^>]*>/i);
  });

  it('converts HTML that sits in multipart/mixed next to an image', async () => {
    const email = await parseEmail(corpus('enmime/mail/html-only-inline.raw'));
    expect(email.bodyPlain).toContain('Test of HTML section');
    expect(email.attachments).toMatchObject([{ filename: 'favicon.png', contentType: 'image/png', inline: true, contentId: '8B8481A2-25CA-4886-9B5A-8EB9115DD064@skynet' }]);
  });

  it('lists attachments with name, type, size and the sha256 of their content', async () => {
    const email = await parseEmail(corpus('mikel-mail/attachment_emails/attachment_pdf.eml'));
    expect(email.subject).toBe('Another PDF with 🎉 Unicode chars in it 🍿');
    expect(email.attachments).toHaveLength(1);
    const pdf = email.attachments[0]!;
    expect(pdf).toMatchObject({ filename: 'broken.pdf', contentType: 'application/pdf', size: 1026, inline: false, truncated: false, contentId: null });
    expect(Buffer.from(pdf.content!).subarray(0, 8).toString('latin1')).toBe('%PDF-1.4');
    expect(pdf.checksum).toBe(sha256(pdf.content!));
  });

  it('drops the content of an attachment over the cap but keeps its size and checksum', async () => {
    const full = (await parseEmail(corpus('mikel-mail/attachment_emails/attachment_pdf.eml'))).attachments[0]!;
    const capped = (await parseEmail(corpus('mikel-mail/attachment_emails/attachment_pdf.eml'), { maxAttachmentBytes: 100 })).attachments[0]!;
    expect(capped).toMatchObject({ filename: 'broken.pdf', size: 1026, content: null, truncated: true, checksum: full.checksum });
  });

  it('decodes a non-ASCII attachment filename', async () => {
    const email = await parseEmail(corpus('mikel-mail/attachment_emails/attachment_nonascii_filename.eml'));
    expect(email.attachments.map((a) => a.filename)).toEqual(['ciële.txt']);
  });

  it('reads a Postfix DSN: permanent failure, recipient and the bounced Message-ID', async () => {
    const email = await parseEmail(corpus('postal-mime/bounce.eml'));
    expect(email.bounce).toEqual({
      originalMessageId: 'e85f1c9b-9b51-4028-8ec0-0a657155028e@app.fastmail.com',
      recipients: ['htfgvhyufthdgcvhgjyfthgc@ethereal.email'],
      status: '5.0.0',
      action: 'failed',
      permanent: true,
      format: 'rfc3464',
      diagnostic: null,
    });
    expect(email.autoReply.auto).toBe(true);
    expect(email.attachments.map((a) => a.contentType)).toEqual(['message/delivery-status', 'message/rfc822']);
  });

  it('reads an Office 365 NDR', async () => {
    const email = await parseEmail(corpus('flanker/bounce/office365.eml'));
    expect(email.bounce).toMatchObject({ originalMessageId: '20171013111011.20866.254C2F3A4D7AA526@ninomail.com', status: '5.1.10', permanent: true });
  });

  it('reads a delay warning as not permanent', async () => {
    const email = await parseEmail(corpus('mikel-mail/multipart_report_emails/report_422.eml'));
    expect(email.bounce).toMatchObject({ action: 'delayed', status: '4.2.2', permanent: false });
  });

  it('parses a CR-only (classic Mac) bounce like its LF twin', async () => {
    const mac = await parseEmail(corpus('sisimai-set-of-emails/mac/lhost-exchange2007-01.eml'));
    const bsd = await parseEmail(corpus('sisimai-set-of-emails/bsd/lhost-exchange2007-01.eml'));
    expect(mac.subject).toBe('Undeliverable: Nyaan');
    expect(mac.bounce).toEqual(bsd.bounce);
    expect(mac.bodyPlain).toBe(bsd.bodyPlain);
  });

  it.each([
    ['sisimai-set-of-emails/bsd/rfc3834-01.eml', 'auto-submitted: auto-replied'],
    ['sisimai-set-of-emails/bsd/rfc3834-02.eml', 'x-auto-response-suppress: All'],
    ['sisimai-set-of-emails/bsd/rfc3834-03.eml', 'auto-reply subject'],
    ['chatwoot/auto_reply.eml', 'x-autoreply'],
    ['chatwoot/auto_reply_with_auto_submitted.eml', 'auto-submitted: auto-generated'],
  ])('flags the auto-reply %s', async (file, reason) => {
    const email = await parseEmail(corpus(file));
    expect(email.autoReply).toEqual({ auto: true, reason });
    expect(email.bounce).toBeNull();
  });

  it('parses threading headers of a real reply (Apple Mail)', async () => {
    const email = await parseEmail(corpus('talon/standard_replies/apple_mail_2.eml'));
    expect(email.messageId).toBe('68001B29-8EA4-444C-A894-0537D2CA5208@tictail.com');
    expect(email.inReplyTo).toBe('CABzQGhkMXDxUt_tSVQcg=43aniUhtsVfCZVzu-PG0kwS_uzqMw@mail.gmail.com');
    expect(email.references).toEqual(['CABzQGhkMXDxUt_tSVQcg=43aniUhtsVfCZVzu-PG0kwS_uzqMw@mail.gmail.com']);
    expect(email.headers['in-reply-to']).toBe('<CABzQGhkMXDxUt_tSVQcg=43aniUhtsVfCZVzu-PG0kwS_uzqMw@mail.gmail.com>');
    expect(email.autoReply.auto).toBe(false);
  });

  it('keeps extra In-Reply-To ids in references and drops a broken References entry', async () => {
    const multi = await parseEmail(corpus('chatwoot/multiple_in_reply_to.eml'));
    expect(multi.inReplyTo).toBe('4e6e35f5a38b4_479f13bb90078171@small-app-01.mail');
    expect(multi.references).toEqual(['4e6e35f5a38b4_479f13bb90078178@small-app-01.mail', '4e6e35f5a38b4_479f13bb90078131@small-app-01.mail']);
    const broken = await parseEmail(corpus('mikel-mail/error_emails/multiple_references_with_one_invalid.eml'));
    expect(broken.references).toEqual(['foo@bar.net', 'baz@bar.net']);
  });

  it('does not throw on a subject in the unknown charset "NONE"', async () => {
    const email = await parseEmail(corpus('mikel-mail/error_emails/bad_encoded_subject.eml'));
    expect(email.subject).toBe('TEST');
    expect(email.bodyPlain).toContain('TEST');
  });

  it('falls back to the raw bytes when mailparser runs out of time', async () => {
    const email = await parseEmail(corpus('nodemailer-mailparser/htmllargecallstack.eml'), { timeoutMs: 1 });
    expect(email.parseWarnings[0]).toBe('parser failed: timed out after 1 ms');
    expect(email.subject).toBe('Kill the HTML parser');
    expect(email.bodyPlain.length).toBeGreaterThan(100_000);
  });
});

describe('charsets old clients send', () => {
  const message = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

  it('reads raw Windows-1252 bytes in headers as Windows does: 0x85 is "…", 0x80 is "€"', async () => {
    const email = await parseEmail(message('From: =?iso-8859-1?q?J=FCrgen?= <j@example.com>\r\nTo: s@example.com\r\nSubject: Warte', [0x85], ' und zahle 5 ', [0x80],
      '\r\nContent-Type: text/plain; charset=windows-1252\r\n\r\nDanke ', [0x93], 'sehr', [0x94], '\r\n'));
    expect(email.subject).toBe('Warte… und zahle 5 €');
    expect(email.from).toEqual({ address: 'j@example.com', name: 'Jürgen' });
    expect(email.bodyPlain.trim()).toBe('Danke “sehr”');
  });

  it('reads a body declared ISO-8859-1 the way mail clients meant it (Windows-1252)', async () => {
    const email = await parseEmail(message('From: j@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nGr', [0xfc, 0xdf, 0x65, 0x85], '\r\n'));
    expect(email.bodyPlain.trim()).toBe('Grüße…');
  });

  it('decodes a UTF-7 part of a multipart message', async () => {
    const email = await parseEmail(message('From: j@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n',
      'Content-Type: text/plain; charset="UTF-7"\r\n\r\nGr+APw-+AN8-e, Fr+APY-sche\r\n--b--\r\n'));
    expect(email.bodyPlain.trim()).toBe('Grüße, Frösche');
  });
});

describe('hostile and broken input', () => {
  it('returns a result with warnings for an empty buffer', async () => {
    const email = await parseEmail(Buffer.alloc(0));
    expect(email).toMatchObject({ subject: '', bodyPlain: '', from: null, messageId: null, attachments: [] });
    expect(email.parseWarnings).toContain('empty message');
  });

  it('returns random bytes as text, with warnings', async () => {
    const email = await parseEmail(randomBytes(64 * 1024));
    expect(typeof email.subject).toBe('string');
    expect(email.bodyPlain.length).toBeGreaterThan(0);
    expect(email.bodyPlain).not.toContain('\u0000');
    expect(email.parseWarnings.length).toBeGreaterThan(0);
  });

  it('takes 2 MB of "A" without headers as a truncated plain-text body', async () => {
    const email = await parseEmail(Buffer.alloc(2 * 1024 * 1024, 'A'));
    expect(email.subject).toBe('');
    expect(email.bodyPlain).toBe('A'.repeat(1_000_000));
    expect(email.parseWarnings).toEqual(expect.arrayContaining(['no header section: input taken as plain text', 'body truncated at 1000000 chars']));
  });

  it('survives a 2 MB header line (over mailparser\'s header limit)', async () => {
    const raw = Buffer.concat([Buffer.from('From: a@b.example\r\nSubject: '), Buffer.alloc(2 * 1024 * 1024, 'B'), Buffer.from('\r\n\r\nHallo')]);
    const email = await parseEmail(raw);
    expect(email.parseWarnings[0]).toMatch(/^parser failed: /);
    expect(email.subject.length).toBeLessThanOrEqual(4096);
    expect(email.from?.address).toBe('a@b.example');
    expect(email.bodyPlain).toBe('Hallo');
  });

  it('strips NUL characters and directory parts of attachment names', async () => {
    const raw = [
      'From: a@b.example',
      'Subject: a\u0000b',
      'Content-Type: multipart/mixed; boundary=XX',
      '',
      '--XX',
      'Content-Type: text/plain',
      '',
      'x\u0000y',
      '--XX',
      'Content-Type: application/octet-stream',
      'Content-Disposition: attachment; filename="../../etc/passwd"',
      '',
      'root',
      '--XX--',
      '',
    ].join('\r\n');
    const email = await parseEmail(Buffer.from(raw, 'latin1'));
    expect(email.subject).toBe('ab');
    expect(email.bodyPlain.trim()).toBe('xy');
    expect(email.attachments.map((a) => a.filename)).toEqual(['passwd']);
  });
});
