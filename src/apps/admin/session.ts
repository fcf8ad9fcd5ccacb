/**
 * Admin sessions: a cookie signed with SESSION_SECRET (HMAC-SHA256, Hono's signed
 * cookies) that names the admin, a random session id and when it expires, and a row
 * per session in the database: logging out deletes it, so a copied cookie stops
 * working for good, across restarts; "log out everywhere" and a new password delete
 * them all. CSRF tokens are derived from the session id (before login, from a signed
 * nonce cookie that carries its own age): a form is accepted only from a page this
 * panel rendered for this browser.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getSignedCookie, setSignedCookie } from 'hono/cookie';
import { KitError } from '../../errors.ts';

export const SESSION_COOKIE = 'rastar_session';
const LOGIN_COOKIE = 'rastar_login';
const LOGIN_NONCE_AGE_S = 3600;
const MIN_SECRET_LENGTH = 32;

export interface SessionSecret {
  value: string;
  /** True when none was configured: sessions end when the process does. */
  generated: boolean;
}

/** The configured secret, checked; in development a random one when none is set. */
export function resolveSessionSecret(setting: string | undefined, production: boolean): SessionSecret {
  if (setting === undefined) {
    if (production) {
      throw new KitError('BAD_USAGE', `SESSION_SECRET (or SESSION_SECRET_FILE) is required in production: ${MIN_SECRET_LENGTH} or more random characters, e.g. from: openssl rand -base64 48`);
    }
    return { value: randomBytes(32).toString('base64url'), generated: true };
  }
  if (setting.length < MIN_SECRET_LENGTH) throw new KitError('BAD_USAGE', `SESSION_SECRET must be at least ${MIN_SECRET_LENGTH} characters long (it has ${setting.length})`);
  return { value: setting, generated: false };
}

export interface Session {
  adminId: number;
  id: string;
  expiresAt: number;
}

/** Where sessions live (data.ts: the AdminSession table). */
export interface SessionStore {
  create(row: Session & { createdAt: number }): Promise<void>;
  /** The stored session and its admin's name (deleting the admin deletes its sessions). */
  find(id: string): Promise<{ adminId: number; expiresAt: number; username: string } | undefined>;
  delete(id: string): Promise<void>;
  deleteAll(adminId: number): Promise<void>;
  deleteExpired(now: number): Promise<void>;
}

export interface SessionOptions {
  secret: string;
  maxAgeMs: number;
  store: SessionStore;
  /** Whether this request's cookies must be Secure (HTTPS, or COOKIE_SECURE). */
  secure: (c: Context) => boolean;
  /**
   * Cookies always Secure (COOKIE_SECURE, production): then named `__Host-…`, which a
   * browser accepts only Secure, for this host and path `/`, so that no sibling
   * subdomain or plain-HTTP page can plant or overwrite them.
   */
  alwaysSecure?: boolean;
  /** The time in ms (default Date.now; tests move it instead of waiting). */
  clock?: () => number;
}

export class Sessions {
  private readonly now: () => number;

  private readonly sessionCookie: string;

  private readonly loginCookie: string;

  constructor(private readonly options: SessionOptions) {
    this.now = options.clock ?? Date.now;
    const prefix = options.alwaysSecure ? '__Host-' : '';
    this.sessionCookie = `${prefix}${SESSION_COOKIE}`;
    this.loginCookie = `${prefix}${LOGIN_COOKIE}`;
  }

  async start(c: Context, adminId: number): Promise<Session> {
    const now = this.now();
    const session = { adminId, id: randomBytes(18).toString('base64url'), expiresAt: now + this.options.maxAgeMs };
    await this.options.store.deleteExpired(now);
    await this.options.store.create({ ...session, createdAt: now });
    await setSignedCookie(c, this.sessionCookie, `${session.adminId}:${session.id}:${session.expiresAt}`, this.options.secret, {
      ...this.cookieOptions(c),
      maxAge: Math.floor(this.options.maxAgeMs / 1000),
    });
    deleteCookie(c, this.loginCookie, this.cookieOptions(c));
    return session;
  }

  /** The request's session and its admin's name; undefined when absent, forged, expired or logged out. */
  async read(c: Context): Promise<(Session & { username: string }) | undefined> {
    const value = await getSignedCookie(c, this.options.secret, this.sessionCookie);
    if (!value) return undefined;
    const match = /^(\d{1,9}):([\w-]{24}):(\d{13})$/.exec(value);
    if (!match) return undefined;
    const session = { adminId: Number(match[1]), id: match[2] as string, expiresAt: Number(match[3]) };
    if (session.expiresAt <= this.now()) return undefined;
    // Logged out (here or elsewhere, before a restart or not): its row is gone.
    const stored = await this.options.store.find(session.id);
    if (!stored || stored.adminId !== session.adminId || stored.expiresAt <= this.now()) return undefined;
    return { ...session, username: stored.username };
  }

  async end(c: Context, session: Session | undefined): Promise<void> {
    if (session) await this.options.store.delete(session.id);
    deleteCookie(c, this.sessionCookie, this.cookieOptions(c));
  }

  /** Log out everywhere: every session of this admin, this one included. */
  async endAll(c: Context, adminId: number): Promise<void> {
    await this.options.store.deleteAll(adminId);
    deleteCookie(c, this.sessionCookie, this.cookieOptions(c));
  }

  csrfToken(session: Session): string {
    return this.mac(`csrf:${session.id}`);
  }

  /**
   * The login form's token, bound to a nonce cookie set here when the browser has none
   * fresh. The nonce carries when it was issued, under the signature: its age is the
   * server's to judge, whatever the browser keeps.
   */
  async loginToken(c: Context): Promise<string> {
    let nonce = await this.freshNonce(c);
    if (!nonce) {
      nonce = `${randomBytes(18).toString('base64url')}.${this.now()}`;
      await setSignedCookie(c, this.loginCookie, nonce, this.options.secret, { ...this.cookieOptions(c), maxAge: LOGIN_NONCE_AGE_S });
    }
    return this.mac(`login:${nonce}`);
  }

  async validLoginToken(c: Context, token: unknown): Promise<boolean> {
    const nonce = await this.freshNonce(c);
    return nonce !== undefined && sameText(token, this.mac(`login:${nonce}`));
  }

  private async freshNonce(c: Context): Promise<string | undefined> {
    const nonce = await getSignedCookie(c, this.options.secret, this.loginCookie);
    const issued = typeof nonce === 'string' ? Number(/^[\w-]{24}\.(\d{13})$/.exec(nonce)?.[1]) : NaN;
    const age = this.now() - issued;
    return age >= 0 && age < LOGIN_NONCE_AGE_S * 1000 ? (nonce as string) : undefined;
  }

  validToken(session: Session, token: unknown): boolean {
    return sameText(token, this.csrfToken(session));
  }

  private mac(text: string): string {
    return createHmac('sha256', this.options.secret).update(text).digest('base64url');
  }

  private cookieOptions(c: Context) {
    return { path: '/', httpOnly: true, sameSite: 'Lax' as const, secure: this.options.alwaysSecure === true || this.options.secure(c) };
  }
}

function sameText(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
