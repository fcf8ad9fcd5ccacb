/**
 * One migrator at a time. PostgreSQL: the advisory lock key Prisma's own
 * engine and CLI take (so a `prisma migrate deploy` run by hand is excluded
 * too), held on the migrator's connection, with a timeout that names the holder;
 * and taken again inside every transaction that writes a history row, the last
 * line of defence that also holds through a transaction pooler.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { inTransaction, openConnection, tryKernelLock, type DatabaseTarget, type SqlConnection } from '../db.ts';
import { lockTimeoutMs } from '../env.ts';
import { KitError } from '../errors.ts';
import { sqlLiteral } from './sql-script.ts';
import { pollUntil } from './poll.ts';
import { behindTransactionPooler } from './pooler.ts';
import { historyTable } from './table.ts';

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
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) -- advisory locks are per database
      LIMIT 1`,
    [ADVISORY_LOCK_KEY],
  );
  const row = rows[0];
  return row ? { pid: row.pid, applicationName: row.application_name, clientAddress: row.client_addr, since: row.since } : null;
}

/** SQLSTATEs of the kit's own guard (class RS). */
export const ALREADY_IN_HISTORY = 'RS001';
export const TRANSACTION_LOCK_TIMEOUT = 'RS002';
export const MOVED_BACKEND = 'RS003';

export interface TransactionLockOptions {
  timeoutMs: number;
  /** Raise ALREADY_IN_HISTORY when a row for this migration is there. */
  guard?: string;
  /** The backend holding this migrator's session lock: raise MOVED_BACKEND on any other (a pooler the probe missed). */
  backend?: number;
  /** For the rest of the transaction (the migration's script): lock_timeout and statement_timeout in ms, 0 or absent: the session's own. */
  script?: { lockTimeoutMs?: number; statementTimeoutMs?: number };
}

/**
 * PostgreSQL, the first statement of a transaction that writes history rows: take the
 * migration lock for the transaction (re-entrant where this connection holds the
 * session lock; waited for, up to `timeoutMs`, everywhere else), then, given a
 * migration name, raise ALREADY_IN_HISTORY if a row for it committed meanwhile. One
 * statement run by the server: no round trip of its own, no session state.
 */
export function transactionLockSql(target: DatabaseTarget, { timeoutMs, guard: name, backend, script }: TransactionLockOptions): string {
  const moved = backend
    ? `
  IF pg_backend_pid() <> ${Math.trunc(backend)} THEN
    RAISE EXCEPTION 'this client was moved off the server connection holding its migration lock' USING ERRCODE = '${MOVED_BACKEND}';
  END IF;`
    : '';
  const guard = name
    ? `
  IF EXISTS (SELECT 1 FROM ${historyTable(target)} WHERE migration_name = ${sqlLiteral(name)} AND rolled_back_at IS NULL) THEN
    RAISE EXCEPTION 'migration % is already in the history', ${sqlLiteral(name)} USING ERRCODE = '${ALREADY_IN_HISTORY}';
  END IF;`
    : '';
  return `DO $rastar_lock$
DECLARE
  previous text := current_setting('lock_timeout');
BEGIN${moved}
  PERFORM set_config('lock_timeout', '${Math.max(1, Math.round(timeoutMs))}', true);
  BEGIN
    PERFORM pg_advisory_xact_lock(${ADVISORY_LOCK_KEY});
  EXCEPTION WHEN lock_not_available THEN
    RAISE EXCEPTION 'timed out waiting for the migration lock' USING ERRCODE = '${TRANSACTION_LOCK_TIMEOUT}';
  END;
  PERFORM set_config('lock_timeout', ${script?.lockTimeoutMs ? `'${Math.round(script.lockTimeoutMs)}'` : 'previous'}, true);${script?.statementTimeoutMs ? `\n  PERFORM set_config('statement_timeout', '${Math.round(script.statementTimeoutMs)}', true);` : ''}${guard}
END
$rastar_lock$`;
}

export function lockTimeoutError(timeoutMs: number, holder: LockHolder | null, path?: string): KitError {
  return new KitError('LOCK_TIMEOUT', `Timed out after ${timeoutMs / 1000}s waiting for the migration lock${path ? ` ${path}` : ''}, held by ${describeHolder(holder)}`, {
    prismaCode: path ? undefined : 'P1002',
    hint: path
      ? 'Another migrator is running (the lock is freed the moment its process ends, on any host): wait for it, or raise MIGRATION_LOCK_TIMEOUT for long migrations.'
      : 'Another migrator is running. Wait for it, or raise MIGRATION_LOCK_TIMEOUT; if that session is stuck, end it with SELECT pg_terminate_backend(<pid>).',
  });
}

export interface LockOptions {
  timeoutMs: number;
  /** Called when the lock is busy, then every few seconds while waiting. */
  onWait?: (holder: LockHolder | null) => void;
}

export interface MigrationLock {
  release(): Promise<void>;
  /** PostgreSQL: the backend that holds the session lock. */
  backend?: number;
}

/** Take the migration lock. */
export async function acquireMigrationLock(conn: SqlConnection, options: LockOptions): Promise<MigrationLock> {
  if (conn.target.provider === 'sqlite') return { release: await acquireFileLock(`${conn.target.file}.migrate.lock`, options) };
  return pollUntil(
    async () => {
      const [row] = await conn.query<{ locked: boolean; pid: number }>('SELECT pg_try_advisory_lock($1) AS locked, pg_backend_pid() AS pid', [ADVISORY_LOCK_KEY]);
      if (!row?.locked) return undefined;
      return {
        backend: row.pid,
        async release() {
          await conn.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_KEY]).catch(() => {});
        },
      };
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: 100,
      onWait: async () => options.onWait?.(await lockHolder(conn)),
      reportEveryMs: 5000,
      onTimeout: async () => lockTimeoutError(options.timeoutMs, await lockHolder(conn)),
    },
  );
}

/**
 * SQLite: a kernel lock on `<path>.sqlite` (see tryKernelLock), so a migrator that
 * died, on this host or in another container sharing the volume, never leaves it
 * taken. `path` itself names the holder for the wait report only: written once the
 * lock is held, removed on release, ignored when the lock is free.
 */
export async function acquireFileLock(path: string, options: LockOptions): Promise<() => Promise<void>> {
  const holder = (): LockHolder | null => {
    const file = readHolder(path);
    return file ? { pid: file.pid, applicationName: `${file.applicationName} on ${file.host}`, clientAddress: null, since: new Date(file.since) } : null;
  };
  return pollUntil(
    async () => {
      const unlock = await tryKernelLock(`${path}.sqlite`);
      if (!unlock) return undefined;
      const me: FileHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), applicationName: 'rastar-migrate' };
      writeFileSync(path, JSON.stringify(me));
      return async () => {
        rmSync(path, { force: true });
        unlock();
      };
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: 50,
      onWait: () => options.onWait?.(holder()),
      reportEveryMs: 5000,
      onTimeout: () => lockTimeoutError(options.timeoutMs, holder(), path),
    },
  );
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
    return null; // not written yet, or being written this instant
  }
}

/**
 * A write to the history outside deploy (baseline, repair): one connection, the migration
 * lock, one transaction. Through a transaction pooler the lock is the transaction's own
 * (a session lock would stay on whichever server connection took it, for the application).
 */
export async function writeUnderMigrationLock<T>(target: DatabaseTarget, applicationName: string, work: (conn: SqlConnection) => Promise<T>): Promise<T> {
  const conn = await openConnection(target, { applicationName });
  try {
    const timeoutMs = lockTimeoutMs();
    if (await behindTransactionPooler(conn)) {
      return await inTransaction(conn, async () => {
        await conn.exec(transactionLockSql(target, { timeoutMs })).catch(async (error) => {
          throw (error as { code?: string }).code === TRANSACTION_LOCK_TIMEOUT ? lockTimeoutError(timeoutMs, null) : error;
        });
        return work(conn);
      });
    }
    const lock = await acquireMigrationLock(conn, { timeoutMs });
    try {
      return await inTransaction(conn, () => work(conn));
    } finally {
      await lock.release();
    }
  } finally {
    await conn.close();
  }
}
