// How a run fails, as the custom code's author will read it.

/** @typedef {import('./types.ts').SandboxError} SandboxError */

/** Messages and stacks come from the script and could be huge; results stay small. */
const MAX_MESSAGE_CHARS = 2000;
const MAX_STACK_CHARS = 8000;

export class RunFailure extends Error {
  /**
   * @param {import('./types.ts').SandboxErrorCode} code
   * @param {string} message
   * @param {string} [scriptStack] QuickJS stack of the script's error
   */
  constructor(code, message, scriptStack) {
    super(message);
    this.code = code;
    this.scriptStack = scriptStack;
  }

  /** @returns {SandboxError} */
  toError() {
    let message = clip(this.message, MAX_MESSAGE_CHARS);
    if (this.code === 'syntax_error') {
      // QuickJS puts a parse error's position into its stack only: `    at custom-code.ts:2:7`.
      const at = /:(\d+):(\d+)\s*$/.exec(this.scriptStack ?? '');
      if (!at) return { code: this.code, message };
      const line = Number(at[1]);
      const column = Number(at[2]);
      return { code: this.code, message: `${message} (line ${line}, column ${column})`, line, column };
    }
    /** @type {SandboxError} */
    const error = { code: this.code, message };
    if (this.scriptStack) error.stack = clip(this.scriptStack, MAX_STACK_CHARS);
    return error;
  }
}

/** @param {unknown} error @returns {error is RunFailure} */
export function isRunFailure(error) {
  return error instanceof RunFailure;
}

/**
 * An exception of the host side of the worker (the wasm module, quickjs-emscripten): the run
 * failed for reasons outside the script.
 * @param {unknown} error
 */
export function hostFailure(error) {
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new RunFailure('sandbox_crashed', `the sandbox failed while running the code (${clip(detail, 500)})`);
}

/** @param {{ name: string, message: string }} described */
export function stackOverflowHint(described) {
  return described.name === 'RangeError' && described.message === 'Maximum call stack size exceeded'
    ? ' (stack overflow: the recursion is too deep)'
    : '';
}

/** @param {string} text @param {number} max */
function clip(text, max) {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
