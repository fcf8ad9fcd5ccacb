/**
 * The one wait loop of the kit (locks, another migrator, the database, the schema):
 * try, report while waiting, give up at a deadline with the caller's error.
 */
export interface PollOptions {
  timeoutMs: number;
  /** Pause after the n-th failed try (0-based), before the deadline caps it. */
  intervalMs: number | ((tries: number) => number);
  /** Called at the first failed try, then at most every `reportEveryMs`, with the time waited so far. */
  onWait?: (waitedMs: number) => void | Promise<void>;
  reportEveryMs?: number;
  /** Report from the first failed try (default), or only once `reportEveryMs` has passed. */
  reportAtOnce?: boolean;
  /** The error to throw when the deadline passes; may look at what is in the way. */
  onTimeout: (waitedMs: number) => Error | Promise<Error>;
  /** The pause itself (default a timer); the gate's can be cut short by a notification. */
  sleep?: (ms: number) => Promise<void>;
}

const timer = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** Call `attempt` until it returns something other than undefined. */
export async function pollUntil<T>(attempt: () => Promise<T | undefined>, options: PollOptions): Promise<T> {
  const started = Date.now();
  const reportEveryMs = options.reportEveryMs ?? Infinity;
  let nextReport = options.reportAtOnce === false ? started + reportEveryMs : started;
  for (let tries = 0; ; tries++) {
    const result = await attempt();
    if (result !== undefined) return result;
    const now = Date.now();
    const waited = now - started;
    if (waited >= options.timeoutMs) throw await options.onTimeout(waited);
    if (options.onWait && now >= nextReport) {
      await options.onWait(waited);
      nextReport = now + reportEveryMs;
    }
    const interval = typeof options.intervalMs === 'function' ? options.intervalMs(tries) : options.intervalMs;
    await (options.sleep ?? timer)(Math.min(interval, Math.max(0, options.timeoutMs - waited)));
  }
}
