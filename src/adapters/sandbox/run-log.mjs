// The log of one run, bounded by `maxLogBytes`.
//
// Decision: logging past the limit does not fail the run. The log keeps what fits (the entry that
// crosses the limit is cut at a character boundary) and ends with one `warn` entry saying the rest
// was dropped; later log calls cost the script almost nothing. A chatty debug statement must not
// break a production webhook, and the output, not the log, is what the caller waits for.

/** @typedef {import('./types.ts').SandboxLogEntry} SandboxLogEntry */

/** Each entry costs this much on top of its message, so a flood of empty lines is bounded too. */
export const LOG_ENTRY_OVERHEAD_BYTES = 32;

export class RunLog {
  /** @type {SandboxLogEntry[]} */ entries = [];
  #used = 0;

  /** @param {number} maxBytes */
  constructor(maxBytes) {
    this.maxBytes = maxBytes;
  }

  /** Characters a message may still have; 0 once the log is closed. */
  get remaining() {
    return Math.max(0, this.maxBytes - this.#used);
  }

  /**
   * @param {string} level from the script: anything but `warn` and `error` counts as `log`
   * @param {string} message
   * @returns {number} the remaining budget
   */
  add(level, message) {
    if (this.#used >= this.maxBytes) return 0;
    const at = new Date().toISOString();
    const kind = level === 'warn' || level === 'error' ? level : 'log';
    const bytes = Buffer.byteLength(message) + LOG_ENTRY_OVERHEAD_BYTES;
    if (this.#used + bytes <= this.maxBytes) {
      this.#used += bytes;
      this.entries.push({ level: kind, message, at });
      return this.remaining;
    }
    const room = this.maxBytes - this.#used - LOG_ENTRY_OVERHEAD_BYTES;
    if (room > 0) this.entries.push({ level: kind, message: cutUtf8(message, room), at });
    this.entries.push({ level: 'warn', message: `[deskhook] log output exceeded ${this.maxBytes} bytes; the rest of this run's log was dropped`, at });
    this.#used = this.maxBytes;
    return 0;
  }
}

/** @param {string} text @param {number} maxBytes */
function cutUtf8(text, maxBytes) {
  // A cut through a multi-byte character decodes to U+FFFD; drop that partial character.
  return Buffer.from(text).subarray(0, maxBytes).toString().replace(/\uFFFD$/, '');
}
