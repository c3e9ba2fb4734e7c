// Public surface of the custom-code sandbox. Build one SandboxPool in the composition root and
// close it on shutdown; use `compile` for syntax checks without running anything.

export { compile, CompileCache } from './compile.ts';
export type { CompileError, CompileResult } from './compile.ts';
export { resolveLimits, SandboxPool } from './pool.ts';
export type { SandboxPoolOptions, SandboxPoolStats } from './pool.ts';
export { DEFAULT_SANDBOX_LIMITS, MAX_SANDBOX_LIMITS } from './types.ts';
export type {
  SandboxApiRequest,
  SandboxBridge,
  SandboxBridgeOp,
  SandboxError,
  SandboxErrorCode,
  SandboxFetchRequest,
  SandboxFetchResponse,
  SandboxJob,
  SandboxLane,
  SandboxLanguage,
  SandboxLimits,
  SandboxLogEntry,
  SandboxOwnErrorCode,
  SandboxResult,
} from './types.ts';
