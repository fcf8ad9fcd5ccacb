/**
 * Failed logins slow down whoever makes them, and only them (OWASP's advice on
 * credential stuffing: throttle per address and per user name and address, never
 * lock an account). An address, and a user name from one address, get a few free
 * failures; then each must wait before its next attempt is even checked, every
 * further failure doubling the wait up to a ceiling. A user name that fails from
 * many addresses is slowed wherever it fails: once it has used up its own free
 * failures, every address that has failed for it waits after each failure as long
 * as the name's count says, so an attacker's new address gets one check, not five.
 * An address that has not failed is checked at once, whatever happens elsewhere:
 * an attacker can slow their own addresses, never keep the admin out, and every
 * wait ends. In memory, bounded: the panel is one process.
 */
import { isIP } from 'node:net';

export interface ThrottleOptions {
  freeFailures: number;
  firstDelayMs: number;
  maxDelayMs: number;
  /** A key quiet for this long (and never less than maxDelayMs) starts afresh. */
  forgetAfterMs: number;
}

/** Who tries: the user name typed and the client's address. */
export interface LoginAttempt {
  username: string;
  address: string;
}

const DEFAULTS: ThrottleOptions = { freeFailures: 5, firstDelayMs: 1000, maxDelayMs: 60_000, forgetAfterMs: 15 * 60_000 };
/** Keys kept per kind (addresses, user names, pairs): beyond it the longest-quiet are forgotten first. */
export const MAX_KEYS = 10_000;

export class LoginThrottle {
  private readonly options: ThrottleOptions;
  private readonly addresses: FailureLog;
  private readonly pairs: FailureLog;
  private readonly usernames: FailureLog;

  constructor(options: Partial<ThrottleOptions> = {}) {
    this.options = { ...DEFAULTS, ...options };
    const keepMs = Math.max(this.options.forgetAfterMs, this.options.maxDelayMs);
    this.addresses = new FailureLog(keepMs);
    this.pairs = new FailureLog(keepMs);
    this.usernames = new FailureLog(keepMs);
  }

  /**
   * Milliseconds to wait before this attempt may be checked; 0 when it may go
   * ahead, and then it counts as failed until `succeeded` says otherwise, so that
   * attempts sent in parallel cannot all pass before the first one fails.
   */
  attempt(who: LoginAttempt, now = Date.now()): number {
    const keys = throttleKeys(who);
    const address = this.addresses.get(keys.address, now);
    const pair = this.pairs.get(keys.pair, now);
    const username = this.usernames.get(keys.username, now);
    const until = Math.max(
      address ? address.last + this.delay(address.count) : 0,
      // Only an address that has failed for this name feels the name's count.
      pair ? pair.last + Math.max(this.delay(pair.count), this.delay(username?.count ?? 0)) : 0,
    );
    const waitMs = Math.max(0, until - now);
    if (waitMs === 0) {
      this.addresses.add(keys.address, now);
      this.pairs.add(keys.pair, now);
      this.usernames.add(keys.username, now);
    }
    return waitMs;
  }

  /** The attempt was right: its address starts afresh; the user name's count drops the failure counted in advance, no more. */
  succeeded(who: LoginAttempt): void {
    const keys = throttleKeys(who);
    this.addresses.delete(keys.address);
    this.pairs.delete(keys.pair);
    this.usernames.undo(keys.username);
  }

  /** Keys held, per kind (tests: memory stays bounded). */
  get size(): { addresses: number; pairs: number; usernames: number } {
    return { addresses: this.addresses.size, pairs: this.pairs.size, usernames: this.usernames.size };
  }

  /** The wait after `failures` failures: none while free, then firstDelayMs doubling up to maxDelayMs. */
  private delay(failures: number): number {
    const { freeFailures, firstDelayMs, maxDelayMs } = this.options;
    const over = failures - freeFailures;
    return over < 0 ? 0 : Math.min(maxDelayMs, firstDelayMs * 2 ** Math.min(over, 30));
  }
}

function throttleKeys({ username, address }: LoginAttempt) {
  const name = username.toLowerCase();
  const from = addressKey(address);
  return { address: from, username: name, pair: `${name}\n${from}` };
}

/**
 * IPv6 by its /64: one host commonly holds a whole /64 and could otherwise try
 * from a new address each time. IPv4 and anything else as given.
 */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const groups = (part: string | undefined) => (part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const left = groups(head);
  const right = groups(tail);
  const all = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${all.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16)).join(':')}::/64`;
}

interface Failures {
  count: number;
  last: number;
}

/** Failures by key, in order of last failure; a key quiet for keepMs is forgotten, and no more than MAX_KEYS are kept. */
class FailureLog {
  private readonly records = new Map<string, Failures>();

  constructor(private readonly keepMs: number) {}

  get size(): number {
    return this.records.size;
  }

  get(key: string, now: number): Failures | undefined {
    const record = this.records.get(key);
    if (record && now - record.last > this.keepMs) {
      this.records.delete(key);
      return undefined;
    }
    return record;
  }

  add(key: string, now: number): void {
    const record = this.get(key, now) ?? { count: 0, last: now };
    record.count++;
    record.last = now;
    this.records.delete(key); // re-inserted last: the map stays in order of last failure
    this.records.set(key, record);
    // Bounded memory whatever an attacker sends: the expired and the longest-quiet go first.
    for (const [oldest, { last }] of this.records) {
      if (this.records.size <= MAX_KEYS && now - last <= this.keepMs) break;
      this.records.delete(oldest);
    }
  }

  undo(key: string): void {
    const record = this.records.get(key);
    if (record) record.count = Math.max(0, record.count - 1);
  }

  delete(key: string): void {
    this.records.delete(key);
  }
}
