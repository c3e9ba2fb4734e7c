export interface Clock {
  now(): Date;
  /** The same instant in milliseconds, without allocating a Date (hot paths); defaults to now().getTime(). */
  nowMs?(): number;
}

export const systemClock: Clock = { now: () => new Date(), nowMs: Date.now };
