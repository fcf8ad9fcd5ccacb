/**
 * Every setting the library takes from the environment, named and validated here
 * and nowhere else (the scripts' own flags aside): a variable's name, default and
 * error live in one place. Read when asked, so a test's environment is honoured;
 * DATABASE_URL and DIRECT_DATABASE_URL are db.ts's (migrationTarget).
 */
import { isIP } from 'node:net';
import { KitError } from './errors.ts';
import { fs } from './node-builtins.ts';

const { readFileSync } = fs;


/** A duration given in seconds (whole or decimal, >= 0), returned in milliseconds. */
export function secondsFromEnv(name: string, fallbackSeconds: number): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallbackSeconds * 1000;
  if (!/^\d+(\.\d+)?$/.test(raw)) throw new KitError('BAD_USAGE', `${name} must be a number of seconds >= 0, got "${raw}"`);
  return Number(raw) * 1000;
}

const text = (name: string): string | undefined => process.env[name]?.trim() || undefined;

/** SHADOW_DATABASE_URL: a PostgreSQL server to replay histories on (default: an embedded one). */
export const shadowDatabaseUrl = () => text('SHADOW_DATABASE_URL');
/** PRISMA_DIR: the folder of schema.prisma and migrations/, relative to the working directory (unset: the project's prisma/). */
export const prismaDirSetting = () => text('PRISMA_DIR');
/** BACKUP_DIR: where backups go, relative to the project (unset: backups/). */
export const backupDirSetting = () => text('BACKUP_DIR');
/** NODE_ENV=production: destructive development commands refuse to run. */
export const isProduction = () => process.env.NODE_ENV === 'production';
/** ALLOW_DESTRUCTIVE_IN_PRODUCTION=true: the one command that resets or drops a production database on purpose. */
export const allowDestructiveInProduction = () => switchFromEnv('ALLOW_DESTRUCTIVE_IN_PRODUCTION', false);
/** DB_CONNECT_TIMEOUT: how long to retry an unreachable server. */
export const connectTimeoutMs = () => secondsFromEnv('DB_CONNECT_TIMEOUT', 5);
/** MIGRATION_LOCK_TIMEOUT: how long a migrator waits for another. */
export const lockTimeoutMs = () => secondsFromEnv('MIGRATION_LOCK_TIMEOUT', 120);
/** MIGRATION_DDL_LOCK_TIMEOUT: how long a migration's statements wait for a table lock (SQLite: for the database's write lock) before the attempt is rolled back and retried (0: no limit). */
export const ddlLockTimeoutMs = () => secondsFromEnv('MIGRATION_DDL_LOCK_TIMEOUT', 5);
/** MIGRATION_STATEMENT_TIMEOUT (PostgreSQL): a statement_timeout for migrations, only when set. */
export const statementTimeoutMs = () => (text('MIGRATION_STATEMENT_TIMEOUT') ? secondsFromEnv('MIGRATION_STATEMENT_TIMEOUT', 0) : undefined);
/** DB_WAIT_TIMEOUT: how long a starting container waits for its database to answer. */
export const dbWaitTimeoutMs = () => secondsFromEnv('DB_WAIT_TIMEOUT', 60);
/** MIGRATION_WAIT_TIMEOUT: how long a container that does not migrate waits for the schema. */
export const gateTimeoutMs = () => secondsFromEnv('MIGRATION_WAIT_TIMEOUT', 300);

/** A yes/no switch: true/1/yes or false/0/no; unset gives `fallback`. */
function switchFromEnv(name: string, fallback: boolean): boolean {
  const raw = text(name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  throw new KitError('BAD_USAGE', `${name} must be true or false, got "${process.env[name]}"`);
}

/** LINT_LARGE_TABLE_ROWS: above this many rows a blocking index build or table rewrite is a lint error (default 100,000). */
export function largeTableRows(): number {
  const raw = text('LINT_LARGE_TABLE_ROWS');
  if (raw === undefined) return 100_000;
  if (!/^\d+$/.test(raw)) throw new KitError('BAD_USAGE', `LINT_LARGE_TABLE_ROWS must be a whole number of rows, got "${raw}"`);
  return Number(raw);
}

/** A size in bytes: a whole number, or one with a unit (KiB, MiB, GiB, TiB; K, M, G, T, KB, MB, … read as the same powers of 1024). */
export function parseBytes(raw: string, name: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:i?B)?|B)?$/i.exec(raw.trim());
  if (!match) throw new KitError('BAD_USAGE', `${name} must be a size in bytes (e.g. 10GiB, 500MiB, 0 for no limit), got "${raw}"`);
  const power = match[2] ? 'KMGT'.indexOf(match[2].toUpperCase()) + 1 : 0;
  return Math.round(Number(match[1]) * 1024 ** power);
}

/** REHEARSE_MAX_BYTES: make rehearse refuses to copy a larger database (default 10 GiB; 0: no limit). */
export function rehearseMaxBytes(): number {
  const raw = text('REHEARSE_MAX_BYTES');
  return raw === undefined ? 10 * 1024 ** 3 : parseBytes(raw, 'REHEARSE_MAX_BYTES');
}

/** CONCURRENT_INDEXES: make migrate moves index builds on existing tables into a CONCURRENTLY migration (0/false keeps Prisma's output). */
export const concurrentIndexesSetting = () => switchFromEnv('CONCURRENT_INDEXES', true);

/** SESSION_SECRET, or the first line of the file SESSION_SECRET_FILE names (Docker secrets); undefined when neither is set. */
export function sessionSecretSetting(): string | undefined {
  const inline = process.env.SESSION_SECRET?.trim() || undefined;
  const file = text('SESSION_SECRET_FILE');
  if (inline && file) throw new KitError('BAD_USAGE', 'Set SESSION_SECRET or SESSION_SECRET_FILE, not both');
  if (!file) return inline;
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (error) {
    throw new KitError('BAD_USAGE', `SESSION_SECRET_FILE: cannot read ${file} (${(error as { code?: string }).code ?? 'error'})`);
  }
  return content.split(/\r?\n/)[0]?.trim() || undefined;
}
/**
 * COOKIE_SECURE: mark the panel's cookies Secure (and name them `__Host-…`) on every
 * request. Default: in production yes; in development only over HTTPS. `false` turns it
 * off in production too, for a plain-HTTP test.
 */
export const cookieSecureSetting = () => switchFromEnv('COOKIE_SECURE', isProduction());
/** One entry of TRUST_PROXY: an address (prefix 32 or 128) or a CIDR block. */
export interface TrustedProxy {
  network: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/**
 * TRUST_PROXY: the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are
 * believed, as addresses or CIDRs separated by commas (IPv4 and IPv6, e.g.
 * `127.0.0.1,10.0.0.0/8,::1`); unset or false: nobody. `true` (trust whoever
 * connects) is refused: any client could then pick its own address.
 */
export function trustProxySetting(): TrustedProxy[] {
  const raw = text('TRUST_PROXY');
  if (raw === undefined || ['false', '0', 'no'].includes(raw.toLowerCase())) return [];
  if (['true', '1', 'yes'].includes(raw.toLowerCase())) {
    throw new KitError('BAD_USAGE', `TRUST_PROXY no longer takes ${raw}: list the proxies to trust, addresses or CIDRs separated by commas, e.g. TRUST_PROXY=127.0.0.1,10.0.0.0/8,::1`);
  }
  return raw.split(',').map((entry) => {
    const [network = '', prefix, ...rest] = entry.trim().split('/');
    const version = isIP(network);
    const bits = version === 4 ? 32 : 128;
    if (version === 0 || rest.length > 0 || (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits))) {
      throw new KitError('BAD_USAGE', `TRUST_PROXY: "${entry.trim()}" is not an address or a CIDR (e.g. 10.0.0.0/8 or ::1), in "${raw}"`);
    }
    return { network, prefix: prefix === undefined ? bits : Number(prefix), family: version === 4 ? 'ipv4' : 'ipv6' };
  });
}
/** SESSION_MAX_AGE: how long an admin session lasts after login. */
export const sessionMaxAgeMs = () => secondsFromEnv('SESSION_MAX_AGE', 8 * 3600);
