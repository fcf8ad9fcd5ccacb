/**
 * One migrator at a time. PostgreSQL: the advisory lock key Prisma's own
 * engine and CLI take (so a `prisma migrate deploy` run by hand is excluded
 * too), held on the migrator's connection, with a timeout that names the holder.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { SqlConnection } from '../db.ts';
import { secondsFromEnv } from '../env.ts';
import { KitError } from '../errors.ts';

export const ADVISORY_LOCK_KEY = 72707369;

export interface LockHolder {
  pid: number;
  applicationName: string;
  clientAddress: string | null;
  since: Date | null;
}

export function describeHolder(holder: LockHolder | null): string {
  if (!holder) return 'an unknown session';
  const app = holder.applicationName ? ` "${holder.applicationName}"` : '';
  const from = holder.clientAddress ? ` from ${holder.clientAddress}` : '';
  const since = holder.since ? ` since ${holder.since.toISOString()}` : '';
  return `pid ${holder.pid}${app}${from}${since}`;
}

export async function lockHolder(conn: SqlConnection): Promise<LockHolder | null> {
  const rows = await conn.query<{ pid: number; application_name: string; client_addr: string | null; since: Date | null }>(
    `SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.backend_start AS since
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1
      LIMIT 1`,
    [ADVISORY_LOCK_KEY],
  );
  const row = rows[0];
  return row ? { pid: row.pid, applicationName: row.application_name, clientAddress: row.client_addr, since: row.since } : null;
}

export function lockTimeoutMs(): number {
  return secondsFromEnv('MIGRATION_LOCK_TIMEOUT', 120);
}

export interface LockOptions {
  timeoutMs: number;
  /** Called when the lock is busy, then every few seconds while waiting. */
  onWait?: (holder: LockHolder | null) => void;
}

/** Take the migration lock; resolves to its release. */
export async function acquireMigrationLock(conn: SqlConnection, options: LockOptions): Promise<() => Promise<void>> {
  if (conn.target.provider === 'sqlite') return acquireFileLock(`${conn.target.file}.migrate.lock`, options);
  const deadline = Date.now() + options.timeoutMs;
  let nextReport = 0;
  for (;;) {
    const [row] = await conn.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [ADVISORY_LOCK_KEY]);
    if (row?.locked) {
      return async () => {
        await conn.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_KEY]).catch(() => {});
      };
    }
    const now = Date.now();
    if (now >= deadline) {
      const holder = await lockHolder(conn);
      throw new KitError('LOCK_TIMEOUT', `Timed out after ${options.timeoutMs / 1000}s waiting for the migration lock, held by ${describeHolder(holder)}`, {
        prismaCode: 'P1002',
        hint: 'Another migrator is running. Wait for it, or raise MIGRATION_LOCK_TIMEOUT; if that session is stuck, end it with SELECT pg_terminate_backend(<pid>).',
      });
    }
    if (now >= nextReport) {
      options.onWait?.(await lockHolder(conn));
      nextReport = now + 5000;
    }
    await new Promise((done) => setTimeout(done, Math.min(100, Math.max(0, deadline - now))));
  }
}

/**
 * SQLite (one host, a shared volume): a lock file beside the database, created
 * exclusively, naming its holder. A holder that died on this host leaves a file
 * whose pid is gone: it is taken over.
 */
async function acquireFileLock(path: string, options: LockOptions): Promise<() => Promise<void>> {
  const deadline = Date.now() + options.timeoutMs;
  const me: FileHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), applicationName: 'rastar-migrate' };
  let nextReport = 0;
  for (;;) {
    try {
      writeFileSync(path, JSON.stringify(me), { flag: 'wx' });
      return async () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
    }
    const holder = readHolder(path);
    const died = holder ? holder.host === me.host && !processAlive(holder.pid) : ageMs(path) > 5000; // empty: died while writing it
    if (died) {
      rmSync(path, { force: true }); // its holder died: take it over
      continue;
    }
    const asHolder: LockHolder | null = holder ? { pid: holder.pid, applicationName: `${holder.applicationName} on ${holder.host}`, clientAddress: null, since: new Date(holder.since) } : null;
    const now = Date.now();
    if (now >= deadline) {
      throw new KitError('LOCK_TIMEOUT', `Timed out after ${options.timeoutMs / 1000}s waiting for the migration lock ${path}, held by ${describeHolder(asHolder)}`, {
        hint: `Another migrator is running. If it is gone for good, delete ${path}; raise MIGRATION_LOCK_TIMEOUT for long migrations.`,
      });
    }
    if (now >= nextReport) {
      options.onWait?.(asHolder);
      nextReport = now + 5000;
    }
    await new Promise((done) => setTimeout(done, 50));
  }
}

interface FileHolder {
  pid: number;
  host: string;
  since: string;
  applicationName: string;
}

function readHolder(path: string): FileHolder | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as FileHolder;
  } catch {
    return null; // vanished, or being written this instant
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}
