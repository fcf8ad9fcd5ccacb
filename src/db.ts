/**
 * The only module that knows adapters, drivers and generated clients.
 * DATABASE_URL -> target -> { adapter factory, client, raw connection }.
 */
import { createRequire } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SqlDriverAdapter, SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { connectTimeoutMs } from './env.ts';
import { KitError, errorMessage } from './errors.ts';
import { RESET_SESSION, runPostgresScript } from './runtime/postgres-script.ts';
import { sqlIdentifier, sqlLiteral, type Provider } from './runtime/sql-script.ts';
import { acceptScripts, runSqliteScript, SCHEMA_NAMES_SQL, withoutExclusiveLocking } from './runtime/sqlite-script.ts';
import { fs } from './node-builtins.ts';

const { existsSync, mkdirSync } = fs;

export type { Provider };

export interface PgConfig {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  ssl: false | { rejectUnauthorized: boolean };
}

export type DatabaseTarget =
  | { provider: 'sqlite'; url: string; file: string }
  | { provider: 'postgresql'; url: string; config: PgConfig; schema: string };

export const DEFAULT_DATABASE_URL = 'file:./data/rastar.db';

/** The repository root: the nearest folder above this module holding package.json. */
export const projectRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(resolve(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

/** `postgresql://user:***@host:5432/db`: credentials never leave the process. */
export function maskUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):\S*@/i, '$1:***@');
}

/** Replace every occurrence of the targets' passwords (raw or URL-encoded) in a message. */
export function maskSecrets(text: string, ...targets: (DatabaseTarget | undefined)[]): string {
  // Up to the LAST `@`: a password pasted unencoded may hold `@`, `/`, `?` or `#` (over-masking is the safe side).
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):\S*@/gi, '$1:***@');
  for (const target of targets) {
    if (target?.provider !== 'postgresql' || !target.config.password) continue;
    for (const secret of new Set([target.config.password, encodeURIComponent(target.config.password)])) out = maskWhole(out, secret);
  }
  return out;
}

/**
 * Replace `secret` where it stands as a whole (no letter or digit glued to either
 * side): a password "p" must not turn every "p" of a message into `***`.
 */
function maskWhole(text: string, secret: string): string {
  const glued = (ch: string | undefined) => ch !== undefined && /[A-Za-z0-9]/.test(ch);
  let out = '';
  let from = 0;
  for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + 1)) {
    if (at < from || glued(text[at - 1]) || glued(text[at + secret.length])) continue;
    out += `${text.slice(from, at)}***`;
    from = at + secret.length;
  }
  return out + text.slice(from);
}

/**
 * A password pasted without percent-encoding (`postgresql://u:p@ss/w#rd@host/db`):
 * an `@` before the last one, or a `/`, `#` or `?` inside user:password (not a
 * host:port followed by a path).
 */
function unencodedCredentials(url: string): boolean {
  const rest = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const lastAt = rest.lastIndexOf('@');
  if (lastAt === -1) return false;
  const userinfo = rest.slice(0, lastAt);
  if (userinfo.includes('@')) return true;
  const colon = userinfo.indexOf(':');
  const cut = userinfo.search(/[/#?]/);
  return colon !== -1 && cut > colon && !/^\d+$/.test(userinfo.slice(colon + 1, cut));
}

/** Where a URL may come from, named in every message about it. */
export type UrlVariable = 'DATABASE_URL' | 'DIRECT_DATABASE_URL' | 'SHADOW_DATABASE_URL' | 'the datasource url of prisma.config.ts' | 'the shadowDatabaseUrl of prisma.config.ts' | '--url';

/**
 * Parse DATABASE_URL once; unset means the embedded SQLite default. A relative SQLite
 * path is relative to `baseDir`: the project root (where prisma.config.ts is) for the
 * kit's commands, the folder of the config that names it for the CLI's engine.
 */
export function parseDatabaseUrl(raw: string | undefined = process.env.DATABASE_URL, variable: UrlVariable = 'DATABASE_URL', baseDir = projectRoot): DatabaseTarget {
  const url = raw?.trim() || DEFAULT_DATABASE_URL;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'file') return sqliteTarget(url, variable, baseDir);
  if (scheme === 'postgres' || scheme === 'postgresql') return postgresTarget(url, variable);
  throw new KitError(
    'BAD_URL',
    `${variable} ${scheme ? `uses the unsupported scheme "${scheme}:"` : 'is not a URL'} (${maskUrl(url)}); supported: file:./path.db (SQLite), postgresql://user:password@host:5432/db (PostgreSQL)`,
  );
}

/**
 * The database the kit migrates and inspects: DIRECT_DATABASE_URL when set (Prisma's
 * `directUrl`: the server itself, past a pooler), else DATABASE_URL. The apps keep
 * DATABASE_URL. A direct URL belongs to a PostgreSQL DATABASE_URL only.
 */
export function migrationTarget(env: NodeJS.ProcessEnv = process.env): DatabaseTarget {
  const direct = env.DIRECT_DATABASE_URL?.trim();
  if (!direct) return parseDatabaseUrl(env.DATABASE_URL);
  const target = parseDatabaseUrl(direct, 'DIRECT_DATABASE_URL');
  const app = parseDatabaseUrl(env.DATABASE_URL);
  if (target.provider !== 'postgresql' || app.provider !== 'postgresql') {
    const which = target.provider !== 'postgresql' ? `DIRECT_DATABASE_URL is ${describeTarget(target)}` : `DATABASE_URL is ${env.DATABASE_URL?.trim() ? describeTarget(app) : 'unset (the SQLite default)'}`;
    throw new KitError('BAD_URL', `DIRECT_DATABASE_URL is for PostgreSQL behind a pooler, but ${which}; set both to postgresql:// URLs of the same database, or unset DIRECT_DATABASE_URL`);
  }
  return target;
}

function sqliteTarget(url: string, variable: UrlVariable, baseDir: string): DatabaseTarget {
  let path = url.slice('file:'.length).replace(/\?.*$/, '');
  if (path.startsWith('//')) path = path.slice(2); // file:///abs/path
  if (!path) throw new KitError('BAD_URL', `${variable} "${url}" names no file; example: file:./data/rastar.db`);
  const file = path === ':memory:' || isAbsolute(path) ? path : resolve(baseDir, path);
  return { provider: 'sqlite', url, file };
}

function postgresTarget(url: string, variable: UrlVariable): DatabaseTarget {
  if (unencodedCredentials(url)) {
    let host = 'no valid host';
    try {
      host = `the host "${new URL(url).hostname}"`;
    } catch {
      // not even a URL as written
    }
    throw new KitError('BAD_URL', `${variable} (${maskUrl(url)}) holds a password with unencoded special characters: as written it names ${host}; percent-encode the password (@ as %40, / as %2F, # as %23, ? as %3F, % as %25)`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new KitError('BAD_URL', `${variable} is not a valid PostgreSQL URL (${maskUrl(url)}); example: postgresql://user:password@host:5432/db (percent-encode special characters of the password: @ %40, / %2F, # %23, ? %3F, % %25)`);
  }
  // A stray `%` in a password makes decodeURIComponent throw a bare "URI malformed".
  const decode = (part: string, what: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new KitError('BAD_URL', `${variable} has an invalid %-escape in its ${what} (${maskUrl(url)}); write a literal % as %25`);
    }
  };
  const database = decode(parsed.pathname.replace(/^\//, ''), 'database name');
  if (!parsed.hostname || !database) {
    throw new KitError('BAD_URL', `${variable} must name a host and a database (${maskUrl(url)}); example: postgresql://user:password@host:5432/db`);
  }
  const port = parsed.port ? Number(parsed.port) : 5432;
  const sslmode = parsed.searchParams.get('sslmode') ?? 'prefer';
  const ssl = ['require', 'no-verify'].includes(sslmode)
    ? { rejectUnauthorized: false }
    : ['verify-ca', 'verify-full'].includes(sslmode)
      ? { rejectUnauthorized: true }
      : false;
  return {
    provider: 'postgresql',
    url,
    schema: parsed.searchParams.get('schema') || 'public',
    config: {
      host: decode(parsed.hostname, 'host').replace(/^\[|\]$/g, ''),
      port,
      user: decode(parsed.username, 'user name') || 'postgres',
      password: decode(parsed.password, 'password'),
      database,
      ssl,
    },
  };
}

/** Where a target lives, for messages: host:port/db or the file path. */
export function describeTarget(target: DatabaseTarget): string {
  return target.provider === 'sqlite'
    ? `SQLite database ${target.file}`
    : `PostgreSQL database "${target.config.database}", schema "${target.schema}" at ${target.config.host}:${target.config.port}`;
}

/** The target for people: where it lives, plus the masked URL on PostgreSQL. */
export function describeDatasource(target: DatabaseTarget): string {
  return target.provider === 'sqlite' ? describeTarget(target) : `${describeTarget(target)} (${maskUrl(target.url)})`;
}

/** The same target with another PostgreSQL database name (test databases, shadows). */
export function withDatabase(target: DatabaseTarget & { provider: 'postgresql' }, database: string): DatabaseTarget & { provider: 'postgresql' } {
  const url = new URL(target.url);
  url.pathname = `/${encodeURIComponent(database)}`;
  return { ...target, url: url.toString(), config: { ...target.config, database } };
}

// ---------------------------------------------------------------------------
// Raw connections for the migration runner

/** A plain connection: the runner's own transactions, whole scripts, `$1` parameters. */
export interface SqlConnection {
  readonly target: DatabaseTarget;
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  /**
   * Run a script: on PostgreSQL sent whole (simple query protocol; a failure carries
   * `completedStatements`, the server's count of statements done before it); on SQLite
   * statement by statement, accepting double-quoted strings as SQLite's own shell does
   * (a failure is a StatementError naming the statement).
   */
  exec(script: string): Promise<void>;
  /** PostgreSQL over TCP: this end's port, to compare with the client port the server sees. */
  readonly localPort?: number;
  /** PostgreSQL only: call `listener` on each NOTIFY on `channel`. */
  listen?(channel: string, listener: (payload: string) => void): Promise<void>;
  close(): Promise<void>;
}

/**
 * What differs between the two databases in the kit's own SQL, in one place: the
 * rest of the kit asks its connection's dialect instead of testing the provider.
 */
export interface Dialect {
  /** The product, for reports. */
  readonly name: 'SQLite' | 'PostgreSQL';
  /** One row `{ v }`: the server's version. */
  readonly versionSql: string;
  /** Every table of `schema` but the database's own, as rows `{ name }` in name order. */
  tablesQuery(schema: string): { sql: string; params: unknown[] };
  /** `name` quoted, in the target's schema: on PostgreSQL qualified, so a migration's `search_path` cannot redirect it. */
  qualified(target: DatabaseTarget, name: string): string;
  /** SQL that notifies `channel` when its transaction commits; '' where there are no notifications. */
  notifySql(channel: string, payload: string): string;
  /** Another connection held the database longer than the busy timeout (SQLite): "not yet", not a failure. */
  isBusy(error: unknown): boolean;
  /**
   * What opens the kit's write transactions. SQLite: IMMEDIATE takes the write lock at
   * once. PostgreSQL: READ COMMITTED whatever the database's default, so each statement
   * sees what committed before it: a history read after waiting for the migration lock
   * sees the row of the migrator that held it (at REPEATABLE READ or SERIALIZABLE the
   * snapshot would be older than the wait, and a migration would run twice).
   */
  readonly begin: string;
}

const DIALECTS: Record<Provider, Dialect> = {
  sqlite: {
    name: 'SQLite',
    versionSql: 'SELECT sqlite_version() AS v',
    tablesQuery: () => ({ sql: `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`, params: [] }),
    qualified: (_target, name) => sqlIdentifier(name),
    notifySql: () => '',
    isBusy: (error) => /^SQLITE_(BUSY|LOCKED)/.test(String((error as { code?: unknown } | null)?.code)),
    begin: 'BEGIN IMMEDIATE',
  },
  postgresql: {
    name: 'PostgreSQL',
    versionSql: "SELECT current_setting('server_version') AS v",
    tablesQuery: (schema) => ({ sql: 'SELECT tablename AS name FROM pg_catalog.pg_tables WHERE schemaname = $1 ORDER BY tablename', params: [schema] }),
    qualified: (target, name) => `${sqlIdentifier(target.provider === 'postgresql' ? target.schema : 'public')}.${sqlIdentifier(name)}`,
    notifySql: (channel, payload) => `SELECT pg_notify(${sqlLiteral(channel)}, ${sqlLiteral(payload)});\n`,
    isBusy: () => false,
    begin: 'BEGIN ISOLATION LEVEL READ COMMITTED',
  },
};

export function dialectOf(target: DatabaseTarget): Dialect {
  return DIALECTS[target.provider];
}

/** "SQLite 3.50.4", "PostgreSQL 18.1". */
export async function serverVersion(conn: SqlConnection): Promise<string> {
  const dialect = dialectOf(conn.target);
  const [row] = await conn.query<{ v: string }>(dialect.versionSql);
  return `${dialect.name} ${row?.v ?? '(unknown version)'}`;
}

/** `work` in one transaction (SQLite: BEGIN IMMEDIATE, the write lock at once): committed, or rolled back on failure. */
export async function inTransaction<T>(conn: SqlConnection, work: () => Promise<T>): Promise<T> {
  await conn.exec(dialectOf(conn.target).begin);
  try {
    const result = await work();
    await conn.exec('COMMIT');
    return result;
  } catch (error) {
    await conn.exec('ROLLBACK').catch(() => {});
    throw error;
  }
}

export interface ConnectOptions {
  /** Keep retrying an unreachable server this long (ms). */
  waitMs?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  /** Read-only session: SQLite opened read-only (and never created), PostgreSQL default_transaction_read_only. */
  readonly?: boolean;
}

export async function openConnection(target: DatabaseTarget, options: ConnectOptions = {}): Promise<SqlConnection> {
  return target.provider === 'sqlite' ? openSqlite(target, options) : openPostgres(target, options);
}

// Drivers and adapters load on first use: a no-op deploy must start fast.
const load = {
  sqlite: async () => (await import('better-sqlite3')).default,
  pg: async () => loadPgWithoutFetch(),
  sqliteAdapter: async () => (await import('@prisma/adapter-better-sqlite3')).PrismaBetterSqlite3,
  pgAdapter: async () => (await import('@prisma/adapter-pg')).PrismaPg,
};

/**
 * pg 8 probes for Cloudflare Workers at import time with `new Response(…)` when
 * `navigator` is missing (Node 20): that wakes Node's lazy fetch implementation,
 * about 12 MB of memory and 20 ms the migrator never uses. Hide `Response` for the
 * synchronous require only, then put the lazy global back untouched. Where `navigator`
 * exists (Node 21+) pg never probes, and the descriptor must not even be read: on Node 26
 * reading it loads fetch too (undici, about 15 MB).
 */
function loadPgWithoutFetch(): typeof pg {
  const require = createRequire(import.meta.url);
  if (typeof (globalThis as { navigator?: unknown }).navigator === 'object') return require('pg');
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'Response');
  if (!descriptor?.configurable) return require('pg');
  Object.defineProperty(globalThis, 'Response', { value: undefined, configurable: true, writable: true });
  try {
    return require('pg');
  } finally {
    Object.defineProperty(globalThis, 'Response', descriptor);
  }
}

async function openSqlite(target: DatabaseTarget & { provider: 'sqlite' }, options: ConnectOptions): Promise<SqlConnection> {
  const Database = await load.sqlite();
  let db: Database.Database;
  try {
    if (options.readonly) {
      // Missing file or folder: the driver says so in two ways (a TypeError without a code for the folder).
      if (target.file !== ':memory:' && !existsSync(target.file)) throw Object.assign(new Error('the file does not exist'), { code: 'SQLITE_CANTOPEN' });
      db = new Database(target.file, { readonly: true, fileMustExist: true });
    } else {
      mkdirSync(dirname(target.file), { recursive: true });
      db = new Database(target.file);
    }
    db.pragma('busy_timeout = 10000');
    db.pragma('foreign_keys = ON');
  } catch (error) {
    // P1003 (no such database) only when the file cannot be opened at all: a file that is not a database is not "missing".
    const cannotOpen = (error as { code?: string }).code === 'SQLITE_CANTOPEN';
    const reason = cannotOpen && options.readonly ? 'the file does not exist' : errorMessage(error);
    throw new KitError('CONNECTION', `Cannot open ${describeTarget(target)}: ${reason}`, { cause: error, prismaCode: cannotOpen ? 'P1003' : undefined });
  }
  return {
    target,
    async query<Row>(sql: string, params: unknown[] = []) {
      // SQLite reads $1, $2, … as parameters named "1", "2", … (never inside a literal).
      const statement = db.prepare(sql);
      const named = Object.fromEntries(params.map((value, k) => [String(k + 1), sqliteValue(value)]));
      if (statement.reader) return statement.all(named) as Row[];
      statement.run(named);
      return [];
    },
    async exec(script) {
      await runSqliteScript(script, (sql) => void db.exec(sql), () => new Set(db.prepare(SCHEMA_NAMES_SQL).pluck().all() as string[]));
    },
    async close() {
      db.close();
    },
  };
}

/**
 * SQLite's own kind of lock on `file` (fcntl on Unix): a write transaction held open
 * on a small database of its own. The kernel releases it when the holder's process
 * ends, however it ends, for every process sharing the file, other containers on a
 * shared volume included. Null when another process (or connection) holds it.
 */
export async function tryKernelLock(file: string): Promise<(() => void) | null> {
  const Database = await load.sqlite();
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file, { timeout: 0 });
  try {
    db.exec('BEGIN IMMEDIATE');
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY') return null;
    throw error;
  }
  return () => {
    db.exec('ROLLBACK');
    db.close();
  };
}

function sqliteValue(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

const retryableCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', '57P03']);

async function openPostgres(target: DatabaseTarget & { provider: 'postgresql' }, options: ConnectOptions): Promise<SqlConnection> {
  const pg = await load.pg();
  const deadline = Date.now() + (options.waitMs ?? connectTimeoutMs());
  let delay = 100;
  for (;;) {
    const client = new pg.Client({
      ...target.config,
      application_name: options.applicationName ?? 'rastar',
      connectionTimeoutMillis: 5000,
      options: startupOptions(target, options.readonly),
    });
    try {
      await client.connect();
      client.on('error', () => {}); // a dropped connection surfaces on the next query
      return {
        target,
        localPort: (client as unknown as { connection: { stream: { localPort?: number } } }).connection.stream.localPort,
        async query<Row>(sql: string, params: unknown[] = []) {
          return (await client.query(sql, params)).rows as Row[];
        },
        exec: (script) => execCounting(client, script),
        async listen(channel, listener) {
          client.on('notification', (message) => {
            if (message.channel === channel) listener(message.payload ?? '');
          });
          await client.query(`LISTEN "${channel.replace(/"/g, '""')}"`);
        },
        async close() {
          await client.end().catch(() => {});
        },
      };
    } catch (error) {
      await client.end().catch(() => {});
      if (refusedStartupOptions(target, error)) continue;
      // pg's own connect timeout carries no code: a server (or pooler) that accepts but does not answer yet.
      const code = (error as { code?: string }).code ?? (errorMessage(error) === 'timeout expired' ? 'ETIMEDOUT' : '');
      // Retry up to the deadline itself: the last try is made at the deadline, not given up
      // as soon as the next full back-off step would pass it.
      const remaining = deadline - Date.now();
      if (!retryableCodes.has(code) || remaining <= 0) throw connectionError(target, error);
      await new Promise((done) => setTimeout(done, Math.min(delay, remaining)));
      delay = Math.min(delay * 2, 1000);
    }
  }
}

/**
 * A script sent whole: no parameters, so the simple protocol. The server reports each
 * statement it completes; on a failure their count says which statement failed.
 */
function execCounting(client: pg.ClientBase, script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    client.query(new ScriptQuery(script, (error, completed) => (error ? reject(Object.assign(error, { completedStatements: completed })) : resolve())));
  });
}

/**
 * pg's Submittable for a script whose results nobody reads. pg's own Query keeps a
 * result object for every statement until the last one completes: a batch of a hundred
 * migrations holds thousands, which outlive the young generation and stay in the old
 * one until a full collection, megabytes of a deploy's peak memory.
 */
class ScriptQuery {
  #completed = 0;
  #done: ((error: Error | null, completed: number) => void) | null;
  constructor(
    readonly text: string,
    done: (error: Error | null, completed: number) => void,
  ) {
    this.#done = done;
  }
  submit(connection: pg.Connection & { query(text: string): void }): void {
    connection.query(this.text);
  }
  /** Also how pg ends a query it could not send, or one its connection lost. */
  handleError(error: Error): void {
    this.#settle(error);
  }
  handleReadyForQuery(): void {
    this.#settle(null);
  }
  handleCommandComplete(): void {
    this.#completed++;
  }
  /** A COPY … FROM STDIN has no data to read here: refused, as pg's own Query does. */
  handleCopyInResponse(connection: pg.Connection & { sendCopyFail(message: string): void }): void {
    connection.sendCopyFail('No source stream defined');
  }
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
  #settle(error: Error | null): void {
    const done = this.#done;
    this.#done = null;
    done?.(error, this.#completed);
  }
}

/** Servers (host:port) that refused the `options` start-up parameter. */
const noStartupOptions = new Set<string>();

/**
 * PgBouncer (before 1.20, and by default) refuses the `options` start-up parameter:
 * connect again without it. Read-only sessions then rest on the kit's reads being
 * reads; a `?schema=` cannot be set at all (a session SET would leak to the pooler's
 * other clients), so that is refused, pointing to the direct URL.
 */
function refusedStartupOptions(target: DatabaseTarget & { provider: 'postgresql' }, error: unknown): boolean {
  const key = `${target.config.host}:${target.config.port}`;
  if (noStartupOptions.has(key) || !/unsupported startup parameter/i.test(errorMessage(error))) return false;
  noStartupOptions.add(key);
  if (target.schema !== 'public') {
    throw new KitError('BAD_URL', `The server at ${key} refuses start-up parameters (a pooler such as PgBouncer?), so ?schema=${target.schema} cannot be set through it; set DIRECT_DATABASE_URL to the PostgreSQL server itself`);
  }
  return true;
}

/** Session settings sent at connect: the `?schema=` search_path, and read-only for checks. */
function startupOptions(target: DatabaseTarget & { provider: 'postgresql' }, readOnly?: boolean): string | undefined {
  if (noStartupOptions.has(`${target.config.host}:${target.config.port}`)) return undefined;
  const settings = [target.schema === 'public' ? '' : `-c search_path="${target.schema.replace(/"/g, '""')}"`, readOnly ? '-c default_transaction_read_only=on' : ''];
  return settings.filter(Boolean).join(' ') || undefined;
}

export function connectionError(target: DatabaseTarget, error: unknown): KitError {
  if (target.provider === 'sqlite') return new KitError('CONNECTION', `Cannot open ${describeTarget(target)}: ${errorMessage(error)}`, { cause: error });
  const { host, port, database, user } = target.config;
  const code = (error as { code?: string }).code;
  if (code === '3D000') return new KitError('CONNECTION', `Database "${database}" does not exist on the server at ${host}:${port}`, { cause: error, prismaCode: 'P1003' });
  const reason =
    code === '28P01' || code === '28000'
      ? `authentication failed for user "${user}"`
      : maskSecrets(errorMessage(error), target) || code || 'connection failed';
  // The server answered when it refused the credentials: "reach" would mislead.
  const refused = code === '28P01' || code === '28000';
  return new KitError('CONNECTION', `${refused ? 'Cannot connect to' : "Can't reach"} database server at ${host}:${port} (database "${database}"): ${reason}`, {
    cause: error,
    // Prisma's codes: P1000 authentication failed, P1001 unreachable.
    prismaCode: refused ? 'P1000' : 'P1001',
  });
}

// ---------------------------------------------------------------------------
// Prisma driver adapters

/** The adapter factory the application's PrismaClient uses. */
export async function createAdapterFactory(target: DatabaseTarget): Promise<SqlMigrationAwareDriverAdapterFactory> {
  if (target.provider === 'sqlite') {
    mkdirSync(dirname(target.file), { recursive: true });
    return new (await load.sqliteAdapter())({ url: target.file, timeout: 10000 });
  }
  return new (await load.pgAdapter())({ ...target.config }, { schema: target.schema });
}

/**
 * The adapter factory handed to Prisma's schema engine. On SQLite it is the app's
 * own. On PostgreSQL it mends three defects of @prisma/adapter-pg that only the
 * migration path meets: scripts split on every `;`, the internal "char" type
 * (OID 18) is unknown, and the shadow database is dropped before its pool closes.
 */
export async function createMigrationAdapterFactory(
  target: DatabaseTarget,
  options: {
    readOnly?: boolean;
    /** SQLite: never create the file (the CLI creates a database only through its create-database step). */
    mustExist?: boolean;
    /** PostgreSQL: create shadow databases on this server instead of the target's. */
    shadowServer?: DatabaseTarget & { provider: 'postgresql' };
  } = {},
): Promise<SqlMigrationAwareDriverAdapterFactory> {
  if (target.provider === 'sqlite') {
    const PrismaBetterSqlite3 = await load.sqliteAdapter();
    const factory = options.readOnly
      ? new PrismaBetterSqlite3({ url: target.file, readonly: true, fileMustExist: true })
      : options.mustExist
        ? new PrismaBetterSqlite3({ url: target.file, timeout: 10000, fileMustExist: true })
        : await createAdapterFactory(target);
    return {
      provider: factory.provider,
      adapterName: factory.adapterName,
      connect: async () => acceptScripts(withoutExclusiveLocking(await factory.connect())),
      connectToShadowDb: async () => acceptScripts(await new PrismaBetterSqlite3({ url: ':memory:' }).connect()),
    };
  }
  const PrismaPg = await load.pgAdapter();
  // Read-only checks: the server itself refuses any write of this session.
  // `?schema=`: the engine reads and writes `_prisma_migrations` unqualified, so without the
  // search_path it would find (or create) the table in "public" instead.
  const factory = new PrismaPg({ ...target.config, options: startupOptions(target, options.readOnly) }, { schema: target.schema });
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => mendPgAdapter(await factory.connect()),
    connectToShadowDb: () => createThrowawayShadow(options.shadowServer ?? target),
  };
}

const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;
const CHARACTER_COLUMN = 6; // ColumnTypeEnum.Character

type PgQueryable = {
  performIO(query: unknown): Promise<{ fields: { dataTypeID: number }[] }>;
  queryRaw(query: unknown): Promise<{ columnTypes: number[] }>;
};

/**
 * adapter-pg has no mapping for PostgreSQL's internal "char" type, which the
 * engine's catalog queries return (constraint and index kinds). Read it as text,
 * then hand it to the engine as the single character it expects.
 */
function mendCharColumns(queryable: object): void {
  const target = queryable as PgQueryable;
  const performIO = target.performIO.bind(target);
  const queryRaw = target.queryRaw.bind(target);
  let charColumns: number[] = [];
  target.performIO = async (query) => {
    const result = await performIO(query);
    charColumns = [];
    result.fields.forEach((field, index) => {
      if (field.dataTypeID === PG_CHAR_OID) {
        field.dataTypeID = PG_TEXT_OID;
        charColumns.push(index);
      }
    });
    return result;
  };
  target.queryRaw = async (query) => {
    const result = await queryRaw(query);
    for (const index of charColumns) result.columnTypes[index] = CHARACTER_COLUMN;
    return result;
  };
}

function mendPgAdapter(adapter: SqlDriverAdapter, onDispose?: () => Promise<void>): SqlDriverAdapter {
  if (typeof (adapter as unknown as Partial<PgQueryable>).performIO !== 'function') {
    throw new KitError('ENGINE', '@prisma/adapter-pg changed its internals; the pinned version is required (see package.json)');
  }
  mendCharColumns(adapter);
  const pool = (adapter as unknown as { underlyingDriver(): pg.Pool }).underlyingDriver();
  const startTransaction = adapter.startTransaction.bind(adapter);
  const dispose = adapter.dispose.bind(adapter);
  return Object.assign(adapter, {
    // Each script as deploy runs it (a shadow replay is a deploy), on one connection of
    // the pool, whose session is reset after it as deploy resets its own.
    async executeScript(script: string) {
      const client = await pool.connect();
      try {
        await runPostgresScript(script, (sql) => execCounting(client, sql));
        await client.query(RESET_SESSION);
      } catch (error) {
        (adapter as unknown as { onError(e: unknown): never }).onError(error);
      } finally {
        client.release();
      }
    },
    async startTransaction(...args: Parameters<SqlDriverAdapter['startTransaction']>) {
      const tx = await startTransaction(...args);
      mendCharColumns(tx);
      return tx;
    },
    async dispose() {
      await dispose();
      await onDispose?.();
    },
  });
}

/** A fresh database on the target's server, dropped when the engine lets go of it, failure or not. */
async function createThrowawayShadow(target: DatabaseTarget & { provider: 'postgresql' }): Promise<SqlDriverAdapter> {
  const name = `prisma_migrate_shadow_db_${globalThis.crypto.randomUUID()}`;
  const admin = await openConnection(target, { applicationName: 'rastar-shadow' });
  try {
    await admin.exec(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.close();
  }
  const shadow = withDatabase(target, name);
  const drop = async () => {
    const conn = await openConnection(target, { applicationName: 'rastar-shadow' });
    try {
      await conn.exec(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } finally {
      await conn.close();
    }
  };
  try {
    const PrismaPg = await load.pgAdapter();
    return mendPgAdapter(await new PrismaPg({ ...shadow.config }, { schema: 'public' }).connect(), drop);
  } catch (error) {
    await drop().catch(() => {});
    throw error;
  }
}

// ---------------------------------------------------------------------------
// Generated clients

const clientModules = {
  sqlite: () => import('./generated/sqlite/client.ts'),
  postgresql: () => import('./generated/postgresql/client.ts'),
};

export type AppClient = import('./generated/sqlite/client.ts').PrismaClient;

/** A PrismaClient generated for the target's provider, bound to its adapter. */
export async function createClient(target: DatabaseTarget = parseDatabaseUrl()): Promise<AppClient> {
  let module: { PrismaClient: new (options: { adapter: SqlMigrationAwareDriverAdapterFactory }) => unknown };
  try {
    module = await clientModules[target.provider]();
  } catch (error) {
    throw new KitError('SCHEMA', `The ${target.provider} client is not generated; run: make generate`, { cause: error });
  }
  return new module.PrismaClient({ adapter: await createAdapterFactory(target) }) as AppClient;
}
