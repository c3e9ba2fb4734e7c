// How much of an email recognition reads. What a customer writes about themselves (a contract
// number, a name, an address) is near the top; a huge body (a pasted log, a forwarded archive,
// a hostile message of a megabyte of blanks) is not read to its end. Every pattern recognition
// runs is linear in what it reads, and these bounds keep what it reads small, so that no input
// makes recognition slow. Pure.

/** At most this many characters of the plain-text body are read (64 KiB). */
export const MAX_RECOGNITION_BODY_CHARS = 64 * 1024;
/** At most this many lines of the body are read (before quoted history is cut off). */
export const MAX_RECOGNITION_LINES = 2_000;
/** The subject and the sender's display name are read up to this many characters. */
export const MAX_RECOGNITION_HEADER_CHARS = 1_000;
/**
 * A line longer than this (trimmed) is never a quote marker (attribution, header block,
 * separator): real ones are a few hundred characters at most.
 */
export const MAX_MARKER_LINE = 1_000;

/** The first MAX_RECOGNITION_LINES lines of at most MAX_RECOGNITION_BODY_CHARS characters. */
export function boundBody(body: string): string {
  let text = body.length > MAX_RECOGNITION_BODY_CHARS ? body.slice(0, MAX_RECOGNITION_BODY_CHARS) : body;
  let at = -1;
  for (let n = 0; n < MAX_RECOGNITION_LINES; n++) {
    at = text.indexOf('\n', at + 1);
    if (at === -1) return text;
  }
  text = text.slice(0, at);
  return text;
}

/** A header value (subject, display name) cut to MAX_RECOGNITION_HEADER_CHARS. */
export function boundHeader(value: string): string {
  return value.length > MAX_RECOGNITION_HEADER_CHARS ? value.slice(0, MAX_RECOGNITION_HEADER_CHARS) : value;
}
