/**
 * The admin panel (the migrator's container in production): liveness and
 * readiness for orchestrators, and behind a login the pages of the bot's data and
 * of the migrations. Routing, cookies and HTML escaping are Hono's; sessions,
 * CSRF tokens and the login throttle are in ./admin/. Prints nothing: `log`
 * receives one line per login or error (see `oneLine`), the script prints it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import { createClient, maskSecrets, parseDatabaseUrl, type DatabaseTarget } from '../db.ts';
import { cookieSecureSetting, isProduction, sessionMaxAgeMs, sessionSecretSetting, trustProxySetting } from '../env.ts';
import { KitError, errorMessage } from '../errors.ts';
import { readHistory } from '../runtime/history.ts';
import { hashPassword, verifyPassword } from '../seed.ts';
import type { CheckReport } from '../authoring/check.ts';
import * as data from './admin/data.ts';
import { MAX_BODY_BYTES, SERVER_LIMITS, type ServerLimits } from './admin/limits.ts';
import { notReadyReason, snapshot } from './admin/migrations.ts';
import { migrationsPage, packsPage, threadPage, toolLogsPage, userPage, usersPage } from './admin/pages.ts';
import { BadRequest, booleanFilter, PAGE_SIZE, paging, recordId, textFilter } from './admin/params.ts';
import { resolveSessionSecret, Sessions, type Session } from './admin/session.ts';
import { TrustedProxies } from './admin/proxy.ts';
import { LoginThrottle, type ThrottleOptions } from './admin/throttle.ts';
import { errorPage, isolate, loginPage, STYLESHEET, type Viewer } from './admin/views.ts';

export interface AdminPanelOptions {
  /** 0 picks a free port (tests). */
  port: number;
  /** Default: all interfaces, as a container needs. */
  host?: string;
  /** Default: parsed from DATABASE_URL. */
  target?: DatabaseTarget;
  /** The migrations folder to compare with (default: the provider's folder under PRISMA_DIR or prisma/). */
  migrationsDir?: string;
  /** Default: SESSION_SECRET / SESSION_SECRET_FILE; in development a random one per start. */
  sessionSecret?: string;
  /** Default: SESSION_MAX_AGE. */
  sessionMaxAgeMs?: number;
  throttle?: Partial<ThrottleOptions>;
  /** The server's timeouts and connection cap (default: SERVER_LIMITS in ./admin/limits.ts; tests make them small). */
  limits?: Partial<ServerLimits>;
  /** The time in ms for sessions and the login throttle (default Date.now; tests move it instead of waiting). */
  clock?: () => number;
  /** Logins, failed logins and errors, one line each, written by `oneLine` (never a password). */
  log?: (line: string) => void;
}

export interface AdminPanel {
  server: Server;
  /** Where to open it, e.g. http://localhost:3000. */
  url: string;
  /** What the operator should know about this start (a generated session secret). */
  warnings: string[];
  close(): Promise<void>;
}

type Env = { Bindings: HttpBindings; Variables: { session: Session; viewer: Viewer } };

const PUBLIC = new Set(['/healthz', '/readyz', '/login', '/assets/panel.css']);
const MAX_USERNAME = 200;
const MAX_PASSWORD = 1024;
const CONTROL = /[\u0000-\u001f\u007f]/;

export async function startAdminPanel(options: AdminPanelOptions): Promise<AdminPanel> {
  const target = options.target ?? parseDatabaseUrl();
  const secret = options.sessionSecret === undefined ? resolveSessionSecret(sessionSecretSetting(), isProduction()) : resolveSessionSecret(options.sessionSecret, false);
  const proxies = new TrustedProxies(trustProxySetting());
  const forceSecure = cookieSecureSetting();
  const client = await createClient(target);
  const sessions = new Sessions({
    store: data.sessionStore(client),
    secret: secret.value,
    maxAgeMs: options.sessionMaxAgeMs ?? sessionMaxAgeMs(),
    secure: (c) => new URL(c.req.url).protocol === 'https:' || proxies.saysHttps((c.env as HttpBindings).incoming.socket.remoteAddress, c.req.header('x-forwarded-proto')),
    alwaysSecure: forceSecure,
    clock: options.clock,
  });
  const clock = options.clock ?? Date.now;
  const throttle = new LoginThrottle(options.throttle);
  const write = options.log ?? (() => {});
  const log = (line: string) => write(oneLine(line));
  // Compared against when the user name is unknown, so both answers take as long.
  const decoyHash = hashPassword(crypto.randomUUID());

  // Probes may arrive in bursts: concurrent requests share one look at the database.
  const look = shared(() => snapshot(target, options.migrationsDir));
  const runCheck = shared(async (): Promise<CheckReport | { error: string }> => {
    try {
      // Loaded on demand: the check needs the schema engine, the rest of the panel does not.
      const { checkProduction } = await import('../authoring/check.ts');
      return await checkProduction(target, readHistory(target.provider, options.migrationsDir));
    } catch (error) {
      return { error: maskSecrets(errorMessage(error), target) };
    }
  });

  const address = (c: Context<Env>) => proxies.clientAddress(c.env.incoming.socket.remoteAddress, c.req.header('x-forwarded-for'));
  const html = (c: Context<Env>, status: number, page: unknown) => c.html(page as string, status as 200);

  const app = new Hono<Env>();
  app.use(async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  });
  app.use(
    secureHeaders({
      contentSecurityPolicy: { defaultSrc: ["'self'"], formAction: ["'self'"], frameAncestors: ["'none'"], scriptSrc: ["'none'"], baseUri: ["'none'"], objectSrc: ["'none'"] },
      xFrameOptions: 'DENY', // what frame-ancestors 'none' says, for browsers that read only this
      strictTransportSecurity: false, // the proxy that terminates TLS decides
    }),
  );
  app.use(bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => c.text('request body too large\n', 413) }));

  app.all('/healthz', (c) => (isRead(c) ? c.text('ok\n') : notAllowed(c)));
  // In public only ready or not: the reason (migration names, the database's host) goes to
  // the log when it changes, and to the migrations page behind the login.
  let lastReason: string | undefined;
  app.all('/readyz', async (c) => {
    if (!isRead(c)) return notAllowed(c);
    const reason = notReadyReason(await look());
    if (reason !== lastReason) log(reason ? `Not ready: ${reason}` : 'Ready');
    lastReason = reason;
    return c.json({ status: reason ? 'not-ready' : 'ready' }, reason ? 503 : 200);
  });
  app.get('/assets/panel.css', (c) => {
    c.header('Content-Type', 'text/css; charset=utf-8');
    return c.body(STYLESHEET);
  });

  // Everything else needs a session: pages send the browser to the login page, forms get 401.
  app.use(async (c, next) => {
    if (PUBLIC.has(c.req.path)) return next();
    // One read: the session row and its admin's name (deleting an admin deletes its sessions).
    const session = await sessions.read(c);
    if (!session) {
      if (!isRead(c)) return c.text('login required\n', 401);
      return c.redirect(`/login?next=${encodeURIComponent(c.req.path + new URL(c.req.url).search)}`, 302);
    }
    c.set('session', session);
    c.set('viewer', { username: session.username, csrf: sessions.csrfToken(session) });
    if (c.req.method === 'POST') {
      const form = await readForm(c);
      if (!sessions.validToken(session, form._csrf)) return html(c, 403, errorPage('Form refused', 'The form is missing its CSRF token or it is not valid: reload the page and try again.', c.get('viewer')));
    }
    return next();
  });

  app.get('/login', async (c) => {
    if (await sessions.read(c)) return c.redirect(safeNext(c.req.query('next')), 302);
    return html(c, 200, loginPage(await sessions.loginToken(c), { next: c.req.query('next') }));
  });
  app.post('/login', async (c) => {
    const form = await readForm(c);
    const username = typeof form.username === 'string' ? form.username.trim() : '';
    const password = typeof form.password === 'string' ? form.password : '';
    const next = typeof form.next === 'string' ? form.next : undefined;
    const again = async (status: number, error: string) => html(c, status, loginPage(await sessions.loginToken(c), { error, username: username.slice(0, MAX_USERNAME), next }));
    if (!(await sessions.validLoginToken(c, form._csrf))) return again(403, 'The login form expired: please try again.');
    if (!username || !password || username.length > MAX_USERNAME || password.length > MAX_PASSWORD) return again(400, 'Enter a user name and a password.');
    const from = address(c);
    const waitMs = throttle.attempt({ username, address: from }, clock());
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      c.header('Retry-After', String(seconds));
      return again(429, `Too many failed logins: try again in ${seconds} s.`);
    }
    // A control character is never part of a name (PostgreSQL refuses a NUL in text outright): a failed login, counted and logged.
    if (CONTROL.test(username)) {
      log(`Failed login (a control character in the user name) from ${from}`);
      return again(400, 'Enter a user name and a password.');
    }
    const admin = await data.findAdmin(client, username);
    const matches = await verifyPassword(password, admin?.passwordHash ?? (await decoyHash));
    if (!admin || !matches) {
      log(`Failed login${admin ? ` for ${admin.username}` : ' (unknown user name)'} from ${from}`);
      return again(401, 'Wrong user name or password.');
    }
    throttle.succeeded({ username, address: from });
    await data.recordLogin(client, admin.id);
    await sessions.start(c, admin.id);
    log(`Admin ${admin.username} logged in from ${from}`);
    return c.redirect(safeNext(next), 302);
  });
  app.post('/logout', async (c) => {
    await sessions.end(c, c.get('session'));
    return c.redirect('/login', 302);
  });
  app.post('/logout/everywhere', async (c) => {
    await sessions.endAll(c, c.get('session').adminId);
    log(`Admin ${c.get('viewer').username} logged out everywhere`);
    return c.redirect('/login', 302);
  });

  app.get('/', (c) => c.redirect('/migrations', 302));
  app.get('/migrations', async (c) => html(c, 200, migrationsPage(c.get('viewer'), target, await look())));
  app.post('/migrations/check', async (c) => {
    const [snap, check] = await Promise.all([look(), runCheck()]);
    return html(c, 200, migrationsPage(c.get('viewer'), target, snap, check));
  });

  app.get('/users', async (c) => {
    const q = textFilter(query(c), 'q');
    return html(c, 200, usersPage(c.get('viewer'), q, await data.listUsers(client, target.provider, q, paging(query(c)))));
  });
  app.get('/users/:id', async (c) => {
    const id = recordId(c.req.param('id'));
    const user = id && (await data.userWithThreads(client, id, paging(query(c))));
    return user ? html(c, 200, userPage(c.get('viewer'), user)) : notFound(c);
  });
  app.get('/threads/:id', async (c) => {
    const id = recordId(c.req.param('id'));
    const thread = id && (await data.threadWithMessages(client, id, paging(query(c))));
    return thread ? html(c, 200, threadPage(c.get('viewer'), thread)) : notFound(c);
  });
  // Where a message is shown (replies and tool logs link here): the page of its thread that holds it.
  app.get('/messages/:id', async (c) => {
    const id = recordId(c.req.param('id'));
    const place = id && (await data.messagePlace(client, id, PAGE_SIZE));
    if (!place) return notFound(c);
    return c.redirect(`/threads/${place.threadId}${place.page > 1 ? `?page=${place.page}` : ''}#message-${id}`, 302);
  });

  app.get('/tool-logs', async (c) => {
    const rawMessage = c.req.query('message');
    const message = rawMessage ? recordId(rawMessage) : undefined;
    if (rawMessage && message === undefined) throw new BadRequest('message must be a message id');
    const filter = { tool: textFilter(query(c), 'tool'), session: textFilter(query(c), 'session'), success: booleanFilter(query(c), 'success'), message };
    return html(c, 200, toolLogsPage(c.get('viewer'), filter, await data.listToolLogs(client, filter, paging(query(c)))));
  });

  const packs = async (c: Context<Env>, status: number, form: Parameters<typeof packsPage>[2]) => html(c, status, packsPage(c.get('viewer'), await data.listPacks(client, paging(query(c))), form));
  const packInput = async (c: Context<Env>) => {
    const form = await readForm(c);
    return { name: typeof form.name === 'string' ? form.name.trim() : '', description: typeof form.description === 'string' ? form.description.trim() : '' };
  };
  // After a write the browser is sent here with what was done to which pack; the
  // message is built from the database, so a crafted link cannot put words on the page.
  app.get('/packs', async (c) => {
    const id = recordId(c.req.query('pack'));
    const [page, pack] = await Promise.all([data.listPacks(client, paging(query(c))), id === undefined ? undefined : data.findPack(client, id)]);
    const name = isolate(pack?.name ?? '');
    const done = { created: `Pack ${name} created`, saved: `Pack ${name} saved`, default: `${name} is now the default pack` }[c.req.query('done') ?? ''];
    return html(c, 200, packsPage(c.get('viewer'), page, { flash: pack && done ? `✓ ${done}` : undefined }));
  });
  app.post('/packs', async (c) => {
    const input = await packInput(c);
    const problem = data.packInputError(input);
    const written = problem ? { ok: false as const, error: problem } : await data.createPack(client, input);
    if (!written.ok) return packs(c, 400, { error: written.error, ...input });
    return c.redirect(`/packs?done=created&pack=${written.id}`, 303);
  });
  app.post('/packs/:id', async (c) => {
    const id = recordId(c.req.param('id'));
    if (id === undefined) return notFound(c);
    const input = await packInput(c);
    const problem = data.packInputError(input);
    const written = problem ? { ok: false as const, error: problem } : await data.updatePack(client, id, input);
    if (!written) return notFound(c);
    if (!written.ok) return packs(c, 400, { error: written.error, packId: id, ...input });
    return c.redirect(`/packs?done=saved&pack=${id}`, 303);
  });
  app.post('/packs/:id/default', async (c) => {
    const id = recordId(c.req.param('id'));
    if (id === undefined || !(await data.setDefaultPack(client, id))) return notFound(c);
    return c.redirect(`/packs?done=default&pack=${id}`, 303);
  });

  app.notFound((c) => notFound(c as Context<Env>));
  app.onError((error, c) => {
    if (error instanceof BadRequest) return html(c as Context<Env>, 400, errorPage('Bad request', error.message, c.get('viewer')));
    // Nothing of the cause reaches the browser; the message has no password (masked).
    const reason = maskSecrets(errorMessage(error).split('\n').filter(Boolean).at(-1) ?? '', target);
    log(`Error on ${c.req.method} ${c.req.path}: ${reason}`);
    // P1xxx: the database did not answer; the page says so and the request can be retried.
    if (/^P10/.test(String((error as { code?: unknown }).code))) return html(c as Context<Env>, 503, errorPage('Database unavailable', 'The database did not answer: try again in a moment.', c.get('viewer')));
    return c.text('internal error\n', 500);
  });

  // Bounded: a client that sends slowly, or too many at once, cannot hold the process (./admin/limits.ts).
  const limits = { ...SERVER_LIMITS, ...options.limits };
  const server = createServer(
    { headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, keepAliveTimeout: limits.keepAliveTimeoutMs, connectionsCheckingInterval: limits.checkIntervalMs },
    getRequestListener((request, env) => app.fetch(request, env)),
  );
  server.maxConnections = limits.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (error) => {
    await client.$disconnect();
    throw error;
  });
  const { port } = server.address() as AddressInfo;
  const host = !options.host || ['0.0.0.0', '::'].includes(options.host) ? 'localhost' : options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    url: `http://${host}:${port}`,
    warnings: secret.generated ? ['SESSION_SECRET is not set: sessions use a random secret and end when the panel stops (set it in production)'] : [],
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // keep-alive sockets would hold close() open
      await closed;
      await Promise.all([look.running, runCheck.running]); // let open connections finish and close
      await client.$disconnect();
    },
  };
}

/** `work` run once for all callers that ask while it runs; `running` settles when it ends. */
function shared<T>(work: () => Promise<T>): (() => Promise<T>) & { running?: Promise<unknown> } {
  let current: Promise<T> | undefined;
  const run = Object.assign(() => {
    current ??= work().finally(() => (current = undefined));
    run.running = current.catch(() => {});
    return current;
  }, { running: undefined as Promise<unknown> | undefined });
  return run;
}

const query = (c: Context) => (name: string) => c.req.query(name);

/** A posted form; one that cannot be read (a malformed multipart body) is the sender's mistake. */
async function readForm(c: Context): Promise<Record<string, unknown>> {
  try {
    return await c.req.parseBody();
  } catch {
    throw new BadRequest('The form could not be read.');
  }
}
const isRead = (c: Context) => c.req.method === 'GET' || c.req.method === 'HEAD';

function notAllowed(c: Context) {
  c.header('Allow', 'GET, HEAD');
  return c.text('method not allowed\n', 405);
}

function notFound(c: Context<Env>) {
  return c.html(errorPage('Not found', `There is no page at ${isolate(c.req.path)}.`, c.get('viewer')) as string, 404);
}

/** What `oneLine` writes as an escape: control characters, line and paragraph separators, bidi controls, lone surrogates, and the backslash itself. */
const UNSAFE_IN_LOG = /[\\\p{Cc}\p{Cs}\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;
const SHORT_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * A log line that stays one line and says what it holds: the request paths and
 * names in it come from outside, so a newline, a line separator or a bidi control
 * is written as a visible escape (`\n`, `\u{2028}`, `\u{202e}`), and a backslash
 * doubled so that an escape cannot be faked.
 */
export function oneLine(text: string): string {
  return text.replace(UNSAFE_IN_LOG, (c) => SHORT_ESCAPES[c] ?? `\\u{${(c.codePointAt(0) as number).toString(16)}}`);
}

const SELF = 'http://panel.invalid';

/**
 * Where to go after login: a path of this panel only, never another site. Read as a
 * browser reads a Location (tabs and newlines dropped, `\\` taken for `/`), so that
 * `/\t/evil.example` is seen as the `//evil.example` it becomes; what passes is sent
 * back re-encoded, never with a raw control character.
 */
export function safeNext(next: string | undefined): string {
  if (!next?.startsWith('/')) return '/migrations';
  let url: URL;
  try {
    url = new URL(next, SELF);
  } catch {
    return '/migrations';
  }
  return url.origin === SELF ? `${url.pathname}${url.search}${url.hash}` : '/migrations';
}

/** PORT from the environment: default 3000, an integer 0–65535 otherwise a usage error. */
export function parsePort(raw: string | undefined, fallback = 3000): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new KitError('BAD_USAGE', `PORT must be an integer between 0 and 65535, got "${raw}"`);
  }
  return port;
}
