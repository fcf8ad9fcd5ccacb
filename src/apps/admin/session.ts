/**
 * Admin sessions: a cookie signed with SESSION_SECRET (HMAC-SHA256, Hono's signed
 * cookies) that names the admin, a random session id and when it expires. Nothing
 * is stored but the ids of sessions logged out before they expire, so sessions
 * survive a restart when the secret does. CSRF tokens are derived from the session
 * id (before login, from a signed nonce cookie): a form is accepted only from a
 * page this panel rendered for this browser.
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

export interface SessionOptions {
  secret: string;
  maxAgeMs: number;
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
  /** Logged-out session ids until they would have expired anyway. */
  private readonly revoked = new Map<string, number>();

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
    const session = { adminId, id: randomBytes(18).toString('base64url'), expiresAt: this.now() + this.options.maxAgeMs };
    await setSignedCookie(c, this.sessionCookie, `${session.adminId}:${session.id}:${session.expiresAt}`, this.options.secret, {
      ...this.cookieOptions(c),
      maxAge: Math.floor(this.options.maxAgeMs / 1000),
    });
    deleteCookie(c, this.loginCookie, this.cookieOptions(c));
    return session;
  }

  /** The request's session; undefined when absent, forged, expired or logged out. */
  async read(c: Context): Promise<Session | undefined> {
    const value = await getSignedCookie(c, this.options.secret, this.sessionCookie);
    if (!value) return undefined;
    const match = /^(\d{1,9}):([\w-]{24}):(\d{13})$/.exec(value);
    if (!match) return undefined;
    const session = { adminId: Number(match[1]), id: match[2] as string, expiresAt: Number(match[3]) };
    if (session.expiresAt <= this.now() || this.revoked.has(session.id)) return undefined;
    return session;
  }

  end(c: Context, session: Session | undefined): void {
    if (session) {
      const now = this.now();
      for (const [id, expiresAt] of this.revoked) if (expiresAt <= now) this.revoked.delete(id);
      this.revoked.set(session.id, session.expiresAt);
    }
    deleteCookie(c, this.sessionCookie, this.cookieOptions(c));
  }

  csrfToken(session: Session): string {
    return this.mac(`csrf:${session.id}`);
  }

  /** The login form's token, bound to a nonce cookie set here when the browser has none. */
  async loginToken(c: Context): Promise<string> {
    let nonce = await getSignedCookie(c, this.options.secret, this.loginCookie);
    if (!nonce) {
      nonce = randomBytes(18).toString('base64url');
      await setSignedCookie(c, this.loginCookie, nonce, this.options.secret, { ...this.cookieOptions(c), maxAge: LOGIN_NONCE_AGE_S });
    }
    return this.mac(`login:${nonce}`);
  }

  async validLoginToken(c: Context, token: unknown): Promise<boolean> {
    const nonce = await getSignedCookie(c, this.options.secret, this.loginCookie);
    return typeof nonce === 'string' && sameText(token, this.mac(`login:${nonce}`));
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
