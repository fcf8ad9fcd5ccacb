/**
 * Failed logins slow down whoever makes them: after a few free failures a user
 * name, and separately an address, must wait before the next attempt is even
 * checked, and each further failure doubles the wait (up to a ceiling). Waiting
 * it out always works, so the real admin is delayed, never locked out. In memory:
 * the panel is one process.
 */
export interface ThrottleOptions {
  freeFailures: number;
  firstDelayMs: number;
  maxDelayMs: number;
  /** A key quiet for this long starts afresh. */
  forgetAfterMs: number;
}

const DEFAULTS: ThrottleOptions = { freeFailures: 5, firstDelayMs: 1000, maxDelayMs: 60_000, forgetAfterMs: 15 * 60_000 };
const MAX_KEYS = 10_000;

interface Record {
  failures: number;
  blockedUntil: number;
  lastFailure: number;
}

export class LoginThrottle {
  private readonly records = new Map<string, Record>();
  private readonly options: ThrottleOptions;

  constructor(options: Partial<ThrottleOptions> = {}) {
    this.options = { ...DEFAULTS, ...options };
  }

  /**
   * Milliseconds to wait before an attempt for these keys may be checked; 0 when it
   * may go ahead, and then it counts as failed until `succeeded` says otherwise, so
   * that attempts sent in parallel cannot all pass before the first one fails.
   */
  attempt(keys: string[], now = Date.now()): number {
    const waitMs = Math.max(0, ...keys.map((key) => (this.current(key, now)?.blockedUntil ?? 0) - now));
    if (waitMs === 0) this.failed(keys, now);
    return waitMs;
  }

  private failed(keys: string[], now: number): void {
    const { freeFailures, firstDelayMs, maxDelayMs } = this.options;
    for (const key of keys) {
      const record = this.current(key, now) ?? { failures: 0, blockedUntil: 0, lastFailure: now };
      record.failures++;
      record.lastFailure = now;
      const over = record.failures - freeFailures;
      if (over >= 0) record.blockedUntil = now + Math.min(maxDelayMs, firstDelayMs * 2 ** Math.min(over, 30));
      this.records.delete(key); // re-inserted last: the map stays in order of last failure
      this.records.set(key, record);
    }
    // Bounded memory whatever an attacker sends: the longest-quiet keys go first.
    for (const key of this.records.keys()) {
      if (this.records.size <= MAX_KEYS) break;
      this.records.delete(key);
    }
  }

  succeeded(keys: string[]): void {
    for (const key of keys) this.records.delete(key);
  }

  private current(key: string, now: number): Record | undefined {
    const record = this.records.get(key);
    if (record && now - record.lastFailure > this.options.forgetAfterMs && record.blockedUntil <= now) {
      this.records.delete(key);
      return undefined;
    }
    return record;
  }
}
