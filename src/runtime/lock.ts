/**
 * One migrator at a time. PostgreSQL: the advisory lock key Prisma's own
 * engine and CLI take (so a `prisma migrate deploy` run by hand is excluded
 * too), held on the migrator's connection, with a timeout that names the holder;
 * and taken again inside every transaction that writes a history row, the last
 * line of defence that also holds through a transaction pooler.
 */
import { inTransaction, openConnection, tryKernelLock, type DatabaseTarget, type SqlConnection } from '../db.ts';
import { lockTimeoutMs } from '../env.ts';
import { KitError } from '../errors.ts';
import { sqlLiteral } from './sql-script.ts';
import { pollUntil } from './poll.ts';
import { behindTransactionPooler } from './pooler.ts';
import { historyTable } from './table.ts';
import { fs } from '../node-builtins.ts';

const { readFileSync, rmSync, writeFileSync } = fs;

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

/** The kit's own codes for the guard's failures (class RS), given to the errors it raises (see guardFailure). */
export const ALREADY_IN_HISTORY = 'RS001';
export const TRANSACTION_LOCK_TIMEOUT = 'RS002';
export const MOVED_BACKEND = 'RS003';

/**
 * Plain SQL has no RAISE: the guard fails a statement by casting a marked text to an
 * integer (SQLSTATE 22P02, the text quoted in the message). The text is built from a
 * value the statement reads, so the planner cannot fold the cast into a constant and
 * raise it for every row or none.
 */
const GUARD_MARK = 'rastar-guard:';

export interface TransactionLockOptions {
  timeoutMs: number;
  /** Fail with ALREADY_IN_HISTORY when a row for this migration is there. */
  guard?: string;
  /** The backend holding this migrator's session lock: fail with MOVED_BACKEND on any other (a pooler the probe missed). */
  backend?: number;
  /** For the rest of the transaction (the migration's script): lock_timeout and statement_timeout in ms, 0 or absent: the session's own. */
  script?: { lockTimeoutMs?: number; statementTimeoutMs?: number };
}

export interface TransactionLock {
  /** The statements, joined by ';' (none after the last). */
  sql: string;
  /** How many statements `sql` holds. */
  statements: number;
  /** The 0-based index, within `sql`, of the statement that waits for the lock. */
  lockAt: number;
}

/**
 * PostgreSQL, the first statements of a transaction that writes history rows, sent in
 * its one round trip: take the migration lock for the transaction (re-entrant where
 * this connection holds the session lock; waited for, up to `timeoutMs`, everywhere
 * else), then, given a migration name, fail if a row for it committed meanwhile. Plain
 * statements, nothing compiled per migration, no session state.
 * The check is a statement of its own after the lock's: at READ COMMITTED (the kit's
 * BEGIN) each statement reads a snapshot taken when it starts, so it sees every row
 * committed before the lock was granted; in the lock's own statement it would read one
 * taken before the wait.
 */
export function transactionLock(target: DatabaseTarget, { timeoutMs, guard: name, backend, script }: TransactionLockOptions): TransactionLock {
  const statements = backend
    ? // The session lock's backend takes it again at once; any other fails before it waits.
      [`SELECT pg_advisory_xact_lock(${ADVISORY_LOCK_KEY}) WHERE CASE WHEN pg_backend_pid() = ${Math.trunc(backend)} THEN true ELSE (${sqlLiteral(`${GUARD_MARK}moved-backend:`)} || pg_backend_pid())::int > 0 END`]
    : [`SET LOCAL lock_timeout = ${Math.max(1, Math.round(timeoutMs))}`, `SELECT pg_advisory_xact_lock(${ADVISORY_LOCK_KEY})`];
  const lockAt = statements.length - 1;
  if (name) statements.push(`SELECT (${sqlLiteral(`${GUARD_MARK}in-history:`)} || migration_name)::int FROM ${historyTable(target)} WHERE migration_name = ${sqlLiteral(name)} AND rolled_back_at IS NULL`);
  if (script?.lockTimeoutMs) statements.push(`SET LOCAL lock_timeout = ${Math.round(script.lockTimeoutMs)}`);
  else if (!backend) statements.push('SET LOCAL lock_timeout TO DEFAULT'); // the wait's timeout ends with the wait
  if (script?.statementTimeoutMs) statements.push(`SET LOCAL statement_timeout = ${Math.round(script.statementTimeoutMs)}`);
  return { sql: statements.join(';\n'), statements: statements.length, lockAt };
}

/**
 * The guard's failure, as the kit's code (ALREADY_IN_HISTORY, MOVED_BACKEND,
 * TRANSACTION_LOCK_TIMEOUT), of a round trip whose statement `lockAt` waited for the
 * lock; undefined for any other error. A lock timeout is the lock's only when the server
 * completed exactly the statements before it (see SqlConnection.exec).
 */
export function guardFailure(error: unknown, lockAt: number): string | undefined {
  const { code, message, completedStatements } = (error ?? {}) as { code?: string; message?: string; completedStatements?: number };
  if (code === '22P02' && message?.includes(`"${GUARD_MARK}in-history:`)) return ALREADY_IN_HISTORY;
  if (code === '22P02' && message?.includes(`"${GUARD_MARK}moved-backend:`)) return MOVED_BACKEND;
  if (code === '55P03' && completedStatements === lockAt) return TRANSACTION_LOCK_TIMEOUT;
  return undefined;
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
      const me: FileHolder = { pid: process.pid, host: process.getBuiltinModule('node:os').hostname(), since: new Date().toISOString(), applicationName: 'rastar-migrate' };
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
        const lock = transactionLock(target, { timeoutMs });
        await conn.exec(lock.sql).catch(async (error) => {
          throw guardFailure(error, lock.lockAt) === TRANSACTION_LOCK_TIMEOUT ? lockTimeoutError(timeoutMs, null) : error;
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
