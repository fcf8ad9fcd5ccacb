/**
 * Apply pending migrations, each in one transaction together with its
 * `_prisma_migrations` row: a process killed at any instant leaves the database
 * exactly before or exactly after a migration. Never creates or resets anything
 * but the history table.
 */
import { dialectOf, type SqlConnection } from '../db.ts';
import { KitError, errorMessage } from '../errors.ts';
import { assertDeployable, type History, type Migration } from './history.ts';
import { describeBlocker, watchBlockers, type Blocker } from './blockers.ts';
import { ALREADY_IN_HISTORY, acquireMigrationLock, guardFailure, lockHolder, lockTimeoutError, MOVED_BACKEND, transactionLock, TRANSACTION_LOCK_TIMEOUT, type LockHolder } from './lock.ts';
import { behindTransactionPooler } from './pooler.ts';
import { concurrentIndexBuild, parseScript, scriptMode, sqlLiteral, startsWith, statementLine, transactionControl, withoutConcurrently, type Statement, type Token } from './sql-script.ts';
import { StatementError } from './sqlite-script.ts';
import { failedStatementIndex, RESET_SESSION, UNSAFE_NEW_ENUM_VALUE, where } from './postgres-script.ts';
import { pollUntil } from './poll.ts';
import { assertNoFailed, baselineNeeded, failedMigrationBlocks, recoveryHint } from './recovery.ts';
import { compareHistory, readStatus, type MigrationStatus } from './status.ts';
import { ensureTable, historyTable, insertRowSql, notifySql, readRows, RUNNING_LOGS, segmentStartSql, TABLE, tableExists, tablesElsewhere, timestamp, userTables, type MigrationRow } from './table.ts';
import { ddlLockTimeoutMs, statementTimeoutMs } from '../env.ts';

export type DeployEvent =
  | { event: 'waiting-for-lock'; holder: LockHolder | null }
  | { event: 'applying'; name: string }
  | { event: 'no-transaction'; name: string; reason: string }
  /** PostgreSQL, a database built from nothing: the migration's CREATE/DROP INDEX CONCURRENTLY ran as plain ones in its transaction. */
  | { event: 'concurrently-in-transaction'; name: string }
  /** PostgreSQL: the migration resets the session's settings (RESET ALL, RESET lock_timeout): after that statement the kit's timeouts no longer hold. */
  | { event: 'timeouts-reset'; name: string; line: number; statement: string }
  | { event: 'applied'; name: string; ms: number }
  | { event: 'applied-by-other'; name: string }
  | { event: 'transaction-pooler' }
  | { event: 'waiting-for-migrator'; name: string }
  /** A conflict with another session (a table lock not had within MIGRATION_DDL_LOCK_TIMEOUT, a deadlock, a serialization failure, SQLite's busy file): rolled back, retried after `retryInMs`. */
  | { event: 'lock-wait'; name: string; cause: Conflict; attempt: number; of: number; retryInMs: number; waitedMs: number; blockers: Blocker[] }
  /** An index an interrupted CREATE INDEX CONCURRENTLY left INVALID, dropped before the statement builds it again. */
  | { event: 'invalid-index'; name: string; index: string }
  | { event: 'edited'; names: string[] }
  | { event: 'unknown'; names: string[] };

export interface DeployOptions {
  lockTimeoutMs: number;
  /** PostgreSQL: lock_timeout of each migration's statements (default MIGRATION_DDL_LOCK_TIMEOUT, 5 s; 0: none). */
  ddlLockTimeoutMs?: number;
  /** PostgreSQL: statement_timeout of each migration (default MIGRATION_STATEMENT_TIMEOUT; unset: the server's). */
  statementTimeoutMs?: number;
  onEvent?: (event: DeployEvent) => void;
  /**
   * Awaited after each migration this deploy applied, on an idle connection (a rehearsal
   * reads what it changed); every migration then travels alone.
   */
  afterEach?: (name: string) => Promise<void>;
}

export interface DeployResult {
  applied: { name: string; ms: number }[];
  /** Pending when this migrator looked, then applied by another one (never recorded twice). */
  appliedByOthers: string[];
  status: MigrationStatus;
}

export async function deploy(conn: SqlConnection, history: History, options: DeployOptions): Promise<DeployResult> {
  const emit = options.onEvent ?? (() => {});
  assertDeployable(history);
  const script = { lockTimeoutMs: options.ddlLockTimeoutMs ?? ddlLockTimeoutMs(), statementTimeoutMs: options.statementTimeoutMs ?? statementTimeoutMs() };
  // Fast path, no lock: nothing to do is the common case at every container start.
  const before = await readStatus(conn, history).catch((error) => (isSqliteBusy(conn, error) ? null : Promise.reject(error)));
  if (before?.hasTable && before.pending.length === 0 && before.failed.length === 0) {
    report(before, emit);
    return { applied: [], appliedByOthers: [], status: before };
  }

  await assertStandardStrings(conn);
  // Through a transaction pooler a session lock would stay behind on whichever server
  // connection took it: the lock each migration takes in its own transaction is the lock then.
  const pooled = await behindTransactionPooler(conn);
  if (pooled) emit({ event: 'transaction-pooler' });
  const lock = pooled ? { release: async () => {} } : await acquireMigrationLock(conn, { timeoutMs: options.lockTimeoutMs, onWait: (holder) => emit({ event: 'waiting-for-lock', holder }) });
  const session: Session = { conn, lockTimeoutMs: options.lockTimeoutMs, backend: lock.backend, pooled, emit, script };
  try {
    await useWriteAheadLog(conn);
    await sqliteWriteLockWait(conn, script.lockTimeoutMs);
    let fresh = false;
    let status = await underTransactionLock(session, async () => {
      // Another migrator may have created the tables (and the history) meanwhile.
      if (!(await tableExists(conn))) {
        await assertEmptyOrBaselined(conn, history);
        fresh = true;
      }
      await ensureTable(conn);
      return compareHistory(history.migrations, await readRows(conn, undefined, true));
    });
    if (pooled) status = await whileOthersRun(session, history, status);
    assertNoFailed(status);
    if (pooled) refuseOutsideTransaction(history, status);
    report(status, emit);
    const applied: DeployResult['applied'] = [];
    const appliedByOthers: string[] = [];
    const pending = history.migrations.filter((m) => status.pending.includes(m.name));
    session.lastPending = pending.at(-1)?.name;
    // A database built from nothing has no application on its tables yet: its
    // migrations may travel several to a round trip (see applyBatch).
    const batching = fresh && conn.target.provider === 'postgresql' && session.backend !== undefined && !options.afterEach;
    // Index builds CONCURRENTLY spare the application's writes: plain ones only where no schema holds a table yet.
    const plainIndexes = batching && (await tablesElsewhere(conn)) === 0;
    // After a batch that failed, the rest of it goes one at a time: the first reports its failure as always.
    let oneByOneUntil = 0;
    for (let next = 0; next < pending.length; ) {
      const batch = batching && next >= oneByOneUntil ? nextBatch(pending, next, plainIndexes) : [];
      if (batch.length > 1 || batch[0]?.plainIndexes) {
        const committed = await applyBatch(session, batch);
        for (const [k, done] of committed.entries()) {
          if (batch[k]?.plainIndexes) emit({ event: 'concurrently-in-transaction', name: done.name });
          emit({ event: 'applying', name: done.name });
          applied.push(done);
          emit({ event: 'applied', ...done });
        }
        next += committed.length;
        if (committed.length < batch.length) oneByOneUntil = next + batch.length - committed.length;
        continue;
      }
      const migration = pending[next++] as Migration;
      emit({ event: 'applying', name: migration.name });
      const ms = await applyOne(session, migration);
      if (ms === null) {
        appliedByOthers.push(migration.name);
        emit({ event: 'applied-by-other', name: migration.name });
        continue;
      }
      applied.push({ name: migration.name, ms });
      emit({ event: 'applied', name: migration.name, ms });
      await options.afterEach?.(migration.name);
    }
    return { applied, appliedByOthers, status: compareHistory(history.migrations, await readRows(conn, undefined, true)) };
  } finally {
    await lock.release();
  }
}

interface Session {
  conn: SqlConnection;
  lockTimeoutMs: number;
  /** The backend holding the session lock (direct path). */
  backend?: number;
  /** A transaction pooler sits in between: only what happens inside one transaction is safe. */
  pooled: boolean;
  emit: (event: DeployEvent) => void;
  /** Timeouts of the migrations' own statements (PostgreSQL). */
  script: { lockTimeoutMs: number; statementTimeoutMs?: number };
  /**
   * PostgreSQL: the names of the database's INVALID indexes, read at the first
   * CREATE INDEX CONCURRENTLY and again after a failed statement (only a failed build
   * leaves one, and under the migration lock only this migrator builds).
   */
  invalidIndexNames?: Promise<Set<string>>;
  /** The last migration this deploy applies: its commit notifies the waiting containers. */
  lastPending?: string;
}

/**
 * The NOTIFY that wakes the waiting containers, in the transaction that records `name`
 * as applied: only for the deploy's last migration. A waiter needs every migration of
 * its folder (one whose folder ends earlier, an older image, wakes on its poll), and a
 * notification per migration would make every waiter read the history after each one,
 * load on the server the deploy is using. Failures always notify.
 */
function appliedNotifySql(session: Session, name: string): string {
  return name === session.lastPending ? notifySql(session.conn.target, name) : '';
}

/** PostgreSQL: how each transaction that writes history begins, in its one round trip. */
interface LockedBegin {
  /** BEGIN and the lock's statements (see transactionLock), each followed by ';'. */
  sql: string;
  statements: number;
  /** The index of the statement that waits for the lock. */
  lockAt: number;
}

/** BEGIN, the migration lock and, given a migration name, the guard; `forScript`: a migration's script follows. */
function lockedBegin(session: Session, guard?: string, forScript = false): LockedBegin {
  const lock = transactionLock(session.conn.target, { timeoutMs: session.lockTimeoutMs, guard, backend: session.backend, script: forScript ? session.script : undefined });
  return { sql: `${dialectOf(session.conn.target).begin};\n${lock.sql};\n`, statements: 1 + lock.statements, lockAt: 1 + lock.lockAt };
}

/** One round trip opened by `begin`; a failure of the guard comes back with the kit's code (see guardFailure). */
async function execLocked(conn: SqlConnection, begin: LockedBegin, rest: string): Promise<void> {
  try {
    await conn.exec(begin.sql + rest);
  } catch (error) {
    const code = guardFailure(error, begin.lockAt);
    if (code) Object.assign(error as object, { code });
    throw error;
  }
}

/** PostgreSQL: run `work` in a transaction holding the migration lock (SQLite: the lock file is held). */
async function underTransactionLock<T>(session: Session, work: () => Promise<T>): Promise<T> {
  const { conn } = session;
  if (conn.target.provider !== 'postgresql') return work();
  try {
    await execLocked(conn, lockedBegin(session), '');
    const result = await work();
    await conn.exec('COMMIT');
    return result;
  } catch (error) {
    await conn.exec('ROLLBACK').catch(() => {});
    throw await guardError(session, error);
  }
}

/** The guard's lock errors (timeout, moved backend) as the kit's; any other error as it is. */
async function guardError(session: Session, error: unknown): Promise<unknown> {
  const code = (error as { code?: string }).code;
  if (code === MOVED_BACKEND) {
    return new KitError('CONNECTION', `A transaction pooler moved this migrator off the server connection holding its migration lock (pid ${session.backend}); it stopped before writing anything more`, {
      hint: 'Set DIRECT_DATABASE_URL to the PostgreSQL server itself, then run make deploy again. Until the pooler closes that connection, the lock may stay with it.',
    });
  }
  if (code !== TRANSACTION_LOCK_TIMEOUT) return error;
  return lockTimeoutError(session.lockTimeoutMs, await lockHolder(session.conn).catch(() => null));
}

/**
 * Behind a pooler, another migrator may be running a migration that runs without a
 * transaction (its claim row reads as unfinished): wait for it to end, as the
 * session lock would have made this migrator wait.
 */
async function whileOthersRun(session: Session, history: History, status: MigrationStatus): Promise<MigrationStatus> {
  const running = () => (status.failed.length && status.failed.every((f) => f.running) ? (status.failed[0] as { name: string }).name : undefined);
  if (!running()) return status;
  return pollUntil(
    async () => {
      status = compareHistory(history.migrations, await readRows(session.conn, undefined, true));
      return running() ? undefined : status;
    },
    {
      timeoutMs: session.lockTimeoutMs,
      intervalMs: 500,
      onWait: () => session.emit({ event: 'waiting-for-migrator', name: running() as string }),
      reportEveryMs: 0,
      onTimeout: () => runningTooLong(running() as string, session.lockTimeoutMs),
    },
  );
}

function runningTooLong(name: string, timeoutMs: number): KitError {
  return new KitError('LOCK_TIMEOUT', `Migration ${name} has been running in another migrator (without a transaction) for more than ${timeoutMs / 1000}s`, {
    hint: `If no migrator is running any more, it died part-way through ${name}: ${recoveryHint(name).split('\n').join('; ')}. Else raise MIGRATION_LOCK_TIMEOUT.`,
  });
}

/**
 * Another migrator's row for `name` appeared after this one read the history: applied
 * (null: move on), failed (that failure blocks, and is not recorded twice), or still
 * running without a transaction (wait for it).
 */
async function othersRow(session: Session, name: string): Promise<null> {
  return pollUntil(
    async () => {
      const row = await liveRow(session.conn, name);
      if (!row || row.finished_at) return null;
      if (row.logs !== RUNNING_LOGS) throw failedMigrationBlocks(name, row.logs);
      return undefined;
    },
    {
      timeoutMs: session.lockTimeoutMs,
      intervalMs: 200,
      onWait: () => session.emit({ event: 'waiting-for-migrator', name }),
      reportEveryMs: 0,
      onTimeout: () => runningTooLong(name, session.lockTimeoutMs),
    },
  );
}

/** Once the deploy has made sure of the history table. */
async function liveRow(conn: SqlConnection, name: string): Promise<MigrationRow | undefined> {
  return (await readRows(conn, name, true))[0];
}

/**
 * PostgreSQL: the kit reads migration SQL, and writes its own literals, with
 * standard_conforming_strings on (the default since 9.1): with it off a backslash in a
 * plain string escapes the next character, and a script would be split elsewhere than
 * the server splits it. Refused before anything runs.
 */
async function assertStandardStrings(conn: SqlConnection): Promise<void> {
  if (conn.target.provider !== 'postgresql') return;
  const [row] = await conn.query<{ on: string }>("SELECT current_setting('standard_conforming_strings') AS on");
  if (row?.on === 'on') return;
  throw new KitError('REFUSED', `standard_conforming_strings is off for this connection: the kit reads migrations as PostgreSQL does with it on (its default since 9.1); turn it on with ALTER DATABASE "${conn.target.config.database}" SET standard_conforming_strings = on (or for the role), then deploy again`);
}

/**
 * Through a transaction pooler only what happens inside one transaction is safe: a
 * migration run statement by statement would run on several server connections and
 * leave its session settings (and the kit's timeouts) on them for the application.
 * Refused before any migration runs.
 */
function refuseOutsideTransaction(history: History, status: MigrationStatus): void {
  for (const migration of history.migrations.filter((m) => status.pending.includes(m.name))) {
    const mode = scriptMode(migration.script, 'postgresql');
    if (mode.kind !== 'transactional') throw refusedThroughPooler(migration.name, mode.kind === 'self-managed' ? 'it manages its own transactions' : mode.reason);
  }
}

function refusedThroughPooler(name: string, why: string): KitError {
  return new KitError('REFUSED', `Migration ${name} cannot run in one transaction (${why}), and a transaction pooler sits between the kit and the database: nothing of it was applied; set DIRECT_DATABASE_URL to the PostgreSQL server itself`);
}

/** PostgreSQL's SQLSTATE for a use of an enum value in the transaction that added it. */
const ENUM_VALUE_USED = 'it uses an enum value it adds, which PostgreSQL refuses inside the transaction that adds it';

/** A second migrator may find a SQLite file busy before it takes the lock: it then waits for the lock. */
function isSqliteBusy(conn: SqlConnection, error: unknown): boolean {
  return dialectOf(conn.target).isBusy(error);
}

/**
 * SQLite: put the database in WAL mode (persistent, like most SQLite apps run).
 * A commit then appends to the log instead of waiting for the fsyncs of a rollback
 * journal, and readers (the app, a waiting container) never block the migrator nor
 * the other way round. Each migration still commits atomically with its row.
 * Not possible while another connection holds the file: the deploy then runs in
 * the file's own mode.
 */
async function useWriteAheadLog(conn: SqlConnection): Promise<void> {
  if (conn.target.provider !== 'sqlite' || conn.target.file === ':memory:') return;
  await conn.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL').catch(() => {});
}

/**
 * SQLite: a migration waits for the database's write lock (another connection writing:
 * the app, a backup) as long as a PostgreSQL migration waits for a table lock; then the
 * attempt is retried like one (0: no limit).
 */
async function sqliteWriteLockWait(conn: SqlConnection, ms: number): Promise<void> {
  if (conn.target.provider === 'sqlite') await conn.exec(`PRAGMA busy_timeout = ${ms ? Math.max(1, Math.round(ms)) : 2 ** 31 - 1}`);
}

function report(status: MigrationStatus, emit: (event: DeployEvent) => void): void {
  if (status.edited.length) emit({ event: 'edited', names: status.edited });
  if (status.unknown.length) emit({ event: 'unknown', names: status.unknown });
}

async function assertEmptyOrBaselined(conn: SqlConnection, history: History): Promise<void> {
  const tables = await userTables(conn);
  if (tables.length > 0) throw baselineNeeded(tables, history);
}

/**
 * PostgreSQL, in a migration's transaction after its script: the kit's own statements
 * (the history row, the notification) run as the user the kit connected as, whatever
 * role the script took (SESSION AUTHORIZATION DEFAULT also clears a SET ROLE, which
 * RESET ALL keeps); undone when the transaction ends.
 */
const KIT_IDENTITY = 'SET LOCAL SESSION AUTHORIZATION DEFAULT;\n';

/** Milliseconds on a monotonic clock. Not `performance.now()`: its first use loads eleven of Node's modules, memory a deploy does without. */
function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** At most this many migrations, and this much of their SQL, travel in one round trip. */
const BATCH_MIGRATIONS = 100;
const BATCH_BYTES = 256 * 1024;

/**
 * The migrations from `from` on that may share a round trip: each runs in one
 * transaction (with `plainIndexes`, one that builds or drops indexes CONCURRENTLY
 * too, with plain ones), and none resets the session (its timeouts notice, see applyOne).
 */
function nextBatch(pending: Migration[], from: number, plainIndexes: boolean): (Migration & { plainIndexes?: true })[] {
  const batch: (Migration & { plainIndexes?: true })[] = [];
  let bytes = 0;
  for (const migration of pending.slice(from, from + BATCH_MIGRATIONS)) {
    const script = migration.script;
    bytes += script.length;
    if ((batch.length && bytes > BATCH_BYTES) || /reset/i.test(script)) break;
    if (scriptMode(script, 'postgresql').kind === 'transactional') {
      batch.push({ name: migration.name, checksum: migration.checksum, script });
      continue;
    }
    const plain = plainIndexes ? withoutConcurrently(script) : null;
    if (plain === null) break;
    batch.push({ name: migration.name, checksum: migration.checksum, script: plain, plainIndexes: true });
  }
  return batch;
}

/**
 * PostgreSQL, a database this deploy built from nothing: several migrations in one
 * round trip, each still in a transaction of its own with the migration lock, the
 * guard and its row, exactly as applyOne sends one. The server runs the string in
 * order and skips all of it after the first error, so what committed is a prefix of
 * the batch: the migrations whose rows (this deploy's ids) are there. Each transaction
 * opens with segmentStartSql and its row is written only in the transaction that
 * noted its id: a script whose text the server read on into the next migrations (an
 * unclosed quote the kit's lexer saw closed) fails instead of committing a mix.
 * Returns the committed prefix with each migration's duration by the server's clock.
 */
async function applyBatch(session: Session, batch: Migration[]): Promise<{ name: string; ms: number }[]> {
  const { conn } = session;
  const ids = batch.map(() => globalThis.crypto.randomUUID());
  const sql = batch
    .map((migration, k) => {
      const id = ids[k] as string;
      const row = insertRowSql(conn.target, { id, name: migration.name, checksum: migration.checksum, startedAt: new Date(), finishedAt: null, logs: null, appliedSteps: 1, serverClock: 'segment' });
      return `${lockedBegin(session, migration.name, true).sql}${segmentStartSql(id)};\n${migration.script}\n;\n${KIT_IDENTITY}${row};\n${appliedNotifySql(session, migration.name)}COMMIT;\n${RESET_SESSION};\n`;
    })
    .join('');
  // Each segment's RESET ALL runs between its COMMIT and the next BEGIN, where PostgreSQL
  // takes it into the next transaction: a failure there rolls the reset back too, and a SET
  // of an earlier migration would reach the ones that follow one at a time. Reset again.
  await conn.exec(sql).catch(async () => {
    await rollback(conn);
    await conn.exec(RESET_SESSION);
  });
  const rows = await conn.query<{ id: string; ms: string | number }>(`SELECT id, extract(epoch FROM finished_at - started_at) * 1000 AS ms FROM ${historyTable(conn.target)} WHERE id = ANY($1::text[])`, [ids]);
  const ms = new Map(rows.map((row) => [row.id, Number(row.ms)]));
  const committed: { name: string; ms: number }[] = [];
  for (const [k, migration] of batch.entries()) {
    const took = ms.get(ids[k] as string);
    if (took === undefined) break;
    committed.push({ name: migration.name, ms: took });
  }
  return committed;
}

/** Apply one migration; its duration in ms, or null when another migrator applied it first. */
async function applyOne(session: Session, pending: Migration): Promise<number | null> {
  // The script read once, held only while it is applied (see readHistory's lazyScripts).
  const migration: Migration = { name: pending.name, checksum: pending.checksum, script: pending.script };
  const { conn } = session;
  const provider = conn.target.provider;
  const mode = scriptMode(migration.script, provider);
  const startedAt = new Date();
  const started = monotonicMs();
  if (mode.kind !== 'transactional') {
    const done = await applyStatementByStatement(session, migration, startedAt, mode.kind === 'self-managed' ? 'it manages its own transactions' : mode.reason);
    return done ? monotonicMs() - started : null;
  }
  const begin = provider === 'postgresql' ? lockedBegin(session, migration.name, true) : { sql: '', statements: 0, lockAt: -1 };
  // Read again only when the word is there at all: most migrations never RESET.
  if (provider === 'postgresql' && /reset/i.test(migration.script)) {
    const reset = parseScript(migration.script, provider).find((st) => resetsTimeouts(st.tokens));
    if (reset) session.emit({ event: 'timeouts-reset', name: migration.name, line: reset.line, statement: statementLine(reset, 60) });
  }
  try {
    const applied = await withConflictRetries(session, migration.name, async () => {
      if (provider === 'sqlite') return applySqlite(conn, migration, startedAt);
      // One round trip: the server parses the whole string before running any of it
      // (an unterminated quote, comment or $$ body fails it all), and skips the rest
      // after the first error, so the row and the COMMIT run only if the script did.
      // The guard first: the transaction's lock, and no row of another migrator yet.
      // A failed transaction undoes the script's SETs too; after a COMMIT the reset does.
      // The server stamps the row: started_at when the transaction began, finished_at when the script is done.
      const rowSql = insertRowSql(conn.target, { name: migration.name, checksum: migration.checksum, startedAt, finishedAt: startedAt, logs: null, appliedSteps: 1, serverClock: true });
      await execLocked(conn, begin, `${migration.script}\n;\n${KIT_IDENTITY}${rowSql};\n${appliedNotifySql(session, migration.name)}COMMIT;\n${RESET_SESSION}`);
      return true;
    });
    if (!applied) return othersRow(session, migration.name);
  } catch (error) {
    await rollback(conn);
    if (error instanceof KitError && error.code === 'LOCK_TIMEOUT') throw error; // pending, not failed: no row
    if ((error as { code?: string }).code === UNSAFE_NEW_ENUM_VALUE) {
      // Rolled back whole: nothing of it was applied. Outside a transaction the value commits before its use.
      if (session.pooled) throw refusedThroughPooler(migration.name, ENUM_VALUE_USED);
      const done = await applyStatementByStatement(session, migration, startedAt, ENUM_VALUE_USED);
      return done ? monotonicMs() - started : null;
    }
    if ((error as { code?: string }).code === ALREADY_IN_HISTORY) return othersRow(session, migration.name);
    const lockError = await guardError(session, error);
    if (lockError !== error) throw lockError;
    // A tool that takes no lock (or an older migrator) may have applied it meanwhile: its
    // row explains the failure (the tables already exist), which is then no failure at all.
    if (await liveRow(conn, migration.name)) return othersRow(session, migration.name);
    const reason = failureReason(error, migration, provider, begin);
    const consequence = 'Nothing of it was applied: it ran in a transaction that was rolled back.';
    const row = insertRowSql(conn.target, { name: migration.name, checksum: migration.checksum, startedAt, finishedAt: null, logs: `${reason}\n${consequence}`, appliedSteps: 0 });
    // Recorded under the guard: never beside the row of a migrator that applied it meanwhile.
    let recorded: boolean;
    try {
      recorded = await writeGuarded(session, migration.name, `${row};\n${notifySql(conn.target, migration.name)}`);
    } catch (writeError) {
      if (writeError instanceof KitError) throw writeError;
      throw migrationFailed(migration.name, reason, `${consequence} ${notRecorded(writeError, 'it stays pending')}`, false);
    }
    if (!recorded) return null;
    throw migrationFailed(migration.name, reason, consequence);
  }
  return monotonicMs() - started;
}

/** SQLite: the migration and its row in one write transaction; false when another migrator's row is there. */
async function applySqlite(conn: SqlConnection, migration: Migration, startedAt: Date): Promise<boolean> {
  // Foreign keys off for the connection: a table redefinition (copy, drop, rename) must not cascade.
  await conn.exec('PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE');
  if (await liveRow(conn, migration.name)) {
    await rollback(conn);
    return false;
  }
  await conn.exec(migration.script);
  const violations = await conn.query('PRAGMA foreign_key_check');
  if (violations.length) throw new Error(`foreign key check failed after the migration (${violations.length} violation(s))`);
  const row = insertRowSql(conn.target, { name: migration.name, checksum: migration.checksum, startedAt, finishedAt: new Date(), logs: null, appliedSteps: 1 });
  await conn.exec(`${row};\nCOMMIT;\nPRAGMA foreign_keys = ON`);
  return true;
}

/** End whatever transaction a failure left open (SQLite: and turn foreign keys back on). */
async function rollback(conn: SqlConnection): Promise<void> {
  await conn.exec('ROLLBACK').catch(() => {});
  if (conn.target.provider === 'sqlite') await conn.exec('PRAGMA foreign_keys = ON').catch(() => {});
}

/** "The failure could not be recorded (…)": what the history shows instead. */
function notRecorded(error: unknown, instead: string): string {
  return `Its failure could not be recorded in ${TABLE} (${errorMessage(error).split('\n')[0]}): ${instead}.`;
}

/** Conflicts with other sessions: the work they interrupted was rolled back and may simply run again. */
export type Conflict = 'lock-timeout' | 'deadlock' | 'serialization' | 'busy';

const CONFLICTS: Record<string, Conflict> = { '55P03': 'lock-timeout', '40P01': 'deadlock', '40001': 'serialization' };

function conflictOf(conn: SqlConnection, error: unknown): Conflict | null {
  if (dialectOf(conn.target).isBusy(error)) return 'busy';
  return CONFLICTS[(error as { code?: string }).code ?? ''] ?? null;
}

/** Waits between the attempts of a migration interrupted by a conflict. */
const RETRY_DELAYS_MS = [1000, 2000, 4000];

/**
 * One migration's transaction, attempted again when a conflict with another session
 * rolled it back (lock_timeout on a table lock, a deadlock, a serialization failure,
 * SQLite's busy file): nothing of it stays and no row is written. The application's
 * queries queue behind a waiting ALTER for at most MIGRATION_DDL_LOCK_TIMEOUT. The
 * sessions in the way are named; after the last attempt the migration stays pending.
 */
async function withConflictRetries<T>(session: Session, name: string, attempt: () => Promise<T>): Promise<T> {
  const timeoutMs = session.script.lockTimeoutMs;
  for (let n = 1; ; n++) {
    const watch = session.backend && timeoutMs ? watchBlockers(session.conn.target, session.backend, Math.min(1000, timeoutMs / 2)) : undefined;
    try {
      const result = await attempt();
      await watch?.stop();
      return result;
    } catch (error) {
      const blockers = (await watch?.stop()) ?? [];
      const cause = conflictOf(session.conn, error);
      if (!cause) throw error;
      await rollback(session.conn);
      const retryInMs = RETRY_DELAYS_MS[n - 1];
      if (retryInMs === undefined) throw gaveUp(name, cause, timeoutMs, n, blockers, 'nothing of it was applied and no failed row was written');
      session.emit({ event: 'lock-wait', name, cause, attempt: n, of: RETRY_DELAYS_MS.length + 1, retryInMs, waitedMs: timeoutMs, blockers });
      await new Promise((done) => setTimeout(done, retryInMs));
    }
  }
}

/** What interrupted an attempt at a migration, in words. */
export function describeConflict(cause: Conflict, lockTimeoutMs: number): string {
  switch (cause) {
    case 'lock-timeout':
      return `waited ${lockTimeoutMs / 1000}s for its table locks`;
    case 'deadlock':
      return 'was ended by a deadlock with another session';
    case 'serialization':
      return 'was ended by a serialization conflict with another session';
    case 'busy':
      return 'found the database file locked by another connection';
  }
}

function gaveUp(name: string, cause: Conflict, timeoutMs: number, attempts: number, blockers: Blocker[], consequence: string): KitError {
  const by = blockers.length ? `; blocked by ${blockers.map(describeBlocker).join('; ')}` : '';
  return new KitError('LOCK_TIMEOUT', `Migration ${name} ${cause === 'lock-timeout' ? `could not take its table locks within ${timeoutMs / 1000}s` : describeConflict(cause, timeoutMs)}, ${attempts} attempts${by}. It stays pending: ${consequence}.`, {
    hint:
      cause === 'busy'
        ? 'Wait for the other connection to finish its write (a long transaction of the app?), then deploy again.'
        : 'Wait for the blocking sessions to end (or end them: SELECT pg_terminate_backend(<pid>)), or raise MIGRATION_DDL_LOCK_TIMEOUT (0: wait without limit); then deploy again.',
  });
}

/**
 * The error, and which statement of the migration raised it. SQLite names it (a
 * StatementError of the migration's own script, not of the kit's BEGIN). PostgreSQL
 * gives the error's position in the text it was sent (syntax and name errors, found
 * before anything runs), or else the count of statements it completed, the kit's first.
 */
function failureReason(error: unknown, migration: Migration, provider: 'sqlite' | 'postgresql', begin: { sql: string; statements: number }): string {
  const reason = errorMessage(error).split('\n')[0] as string;
  const statements = parseScript(migration.script, provider);
  const index =
    error instanceof StatementError
      ? statements[error.index - 1]?.text === error.statement.text
        ? error.index - 1
        : null
      : failedStatementIndex(error, statements, migration.script, { chars: begin.sql.length, statements: begin.statements });
  if (index === null || index < 0) return reason;
  const statement = statements[index];
  if (!statement) return `${reason} (after its last statement, when the kit recorded it or committed: a deferred constraint?)`;
  return `${reason} ${where(statement, index, statements.length)}`;
}

/**
 * For scripts PostgreSQL cannot run in a transaction: first a claim row (under the
 * transaction lock and the guard, like any row), then statement by statement like
 * psql, then the claim becomes the finished row. False when another migrator had it.
 * A conflict with another session runs the interrupted work again: the statement, or
 * the script's own transaction from its BEGIN. Given up before anything of it
 * committed, the claim goes and the migration stays pending.
 */
async function applyStatementByStatement(session: Session, migration: Migration, startedAt: Date, why: string): Promise<boolean> {
  const { conn } = session;
  const provider = conn.target.provider;
  const statements = parseScript(migration.script, provider);
  const resetSession = provider === 'postgresql' ? `${RESET_SESSION};\n` : '';
  const id = globalThis.crypto.randomUUID();
  const claim = insertRowSql(conn.target, { id, name: migration.name, checksum: migration.checksum, startedAt, finishedAt: null, logs: RUNNING_LOGS, appliedSteps: 0 });
  // The migration's timeouts for the session follow the claim's COMMIT in its round trip (RESET_SESSION undoes them).
  const timeouts = provider === 'postgresql' ? sessionTimeoutsSql(session) : '';
  if (!(await writeGuarded(session, migration.name, `${claim};\n`, timeouts))) return false;
  session.emit({ event: 'no-transaction', name: migration.name, reason: why });
  const table = historyTable(conn.target);
  const progress = new ScriptProgress();
  for (let attempt = 1; ; attempt++) {
    const statement = statements[progress.done];
    if (!statement) break;
    try {
      if (provider === 'postgresql') await dropInvalidIndex(session, migration.name, statement);
      await conn.exec(statement.text);
      progress.completed(statement);
      attempt = 0;
    } catch (error) {
      await rollback(conn); // a failed statement may leave the script's own transaction open
      session.invalidIndexNames = undefined;
      const failing = progress.done;
      const undone = progress.failed();
      const cause = conflictOf(conn, error);
      const retryInMs = cause ? RETRY_DELAYS_MS[attempt - 1] : undefined;
      if (cause && retryInMs !== undefined) {
        session.emit({ event: 'lock-wait', name: migration.name, cause, attempt, of: RETRY_DELAYS_MS.length + 1, retryInMs, waitedMs: session.script.lockTimeoutMs, blockers: [] });
        await new Promise((done) => setTimeout(done, retryInMs));
        continue;
      }
      await conn.exec(resetSession).catch(() => {});
      if (cause && progress.committed === 0) {
        // Nothing of it committed: the claim goes, the migration stays pending.
        const dropped = await conn.exec(`DELETE FROM ${table} WHERE id = ${sqlLiteral(id)};\n${notifySql(conn.target, migration.name)}`).then(
          () => 'nothing of it was applied and no failed row was written',
          (e) => `nothing of it was applied, but its claim row could not be removed (${errorMessage(e).split('\n')[0]}); remove it with: make resolve ROLLED_BACK=${migration.name}`,
        );
        const leftover = provider === 'postgresql' ? await invalidIndex(conn, statement).catch(() => null) : null;
        const invalid = leftover ? `; the interrupted build left the INVALID index ${leftover}, which the next deploy drops and builds again` : '';
        throw gaveUp(migration.name, cause, session.script.lockTimeoutMs, attempt, [], dropped + invalid);
      }
      const reason = `${errorMessage(error).split('\n')[0]} ${where(statement, failing, statements.length)}`;
      const consequence = progress.describe(failing, statements.length, undone);
      const written = await conn.exec(`UPDATE ${table} SET logs = ${sqlLiteral(`${reason}\n${consequence}`)}, applied_steps_count = ${progress.committed} WHERE id = ${sqlLiteral(id)};\n${notifySql(conn.target, migration.name)}`).then(
        () => '',
        (e) => ` ${notRecorded(e, 'its row still says it is running')}`,
      );
      throw migrationFailed(migration.name, reason, consequence + written);
    }
  }
  const now = provider === 'postgresql' ? 'clock_timestamp()' : sqlLiteral(timestamp(new Date()));
  await conn.exec(`${resetSession}UPDATE ${table} SET finished_at = ${now}, logs = NULL, applied_steps_count = ${statements.length} WHERE id = ${sqlLiteral(id)};\n${appliedNotifySql(session, migration.name)}`);
  return true;
}

/**
 * Where a script run statement by statement stands: which statements completed, which
 * of them committed (outside any transaction, or by the script's own COMMIT), and the
 * BEGIN of the transaction the script has open, which a failure rolls back.
 */
class ScriptProgress {
  /** Statements completed: the index of the next one. */
  done = 0;
  /** Statements whose effects are committed: a prefix of the completed ones. */
  committed = 0;
  /** Index of the BEGIN of the script's open transaction, or null. */
  private openAt: number | null = null;

  completed(statement: Statement): void {
    const control = transactionControl(statement.tokens);
    if (control === 'begin') this.openAt = this.done;
    this.done++;
    if (control === 'commit' || control === 'rollback') this.openAt = null;
    if (this.openAt === null) this.committed = this.done;
  }

  /** The failed statement's transaction is rolled back: the script runs again from its BEGIN. The statements undone, as [first, last] (0-based), or null. */
  failed(): [number, number] | null {
    if (this.openAt === null) return null;
    const undone: [number, number] | null = this.done > this.openAt ? [this.openAt, this.done - 1] : null;
    this.done = this.openAt;
    this.openAt = null;
    return undone;
  }

  /** What remains of a failed run, in words. */
  describe(failing: number, total: number, undone: [number, number] | null): string {
    const applied = this.committed ? `${statements(1, this.committed)} of ${total} ${this.committed === 1 ? 'remains' : 'remain'} applied` : `none of its ${total} statements remains applied`;
    const rolledBack = undone ? `; ${statements(undone[0] + 1, undone[1] + 1)} ${undone[0] === undone[1] ? 'was' : 'were'} rolled back with the transaction the script opened` : '';
    return `It ran without a transaction: ${applied}${rolledBack}; statement ${failing + 1} failed.`;
  }
}

/** `RESET ALL`, `RESET lock_timeout`: back to the server's default, not to the kit's MIGRATION_DDL_LOCK_TIMEOUT. */
function resetsTimeouts(tokens: readonly Token[]): boolean {
  return startsWith(tokens, 'RESET') && ['ALL', 'LOCK_TIMEOUT'].includes(tokens[1]?.value ?? '');
}

/** "statement 3", "statements 1-4". */
function statements(first: number, last: number): string {
  return first === last ? `statement ${first}` : `statements ${first}-${last}`;
}

/**
 * PostgreSQL, before a `CREATE INDEX CONCURRENTLY name ON table`: an index of that name
 * left INVALID by an interrupted build (cancelled, timed out, killed) is dropped, so the
 * statement builds it again; with IF NOT EXISTS it would keep the invalid one.
 */
async function dropInvalidIndex(session: Session, migration: string, statement: Statement): Promise<void> {
  const built = concurrentIndexBuild(statement);
  if (!built) return;
  session.invalidIndexNames ??= session.conn.query<{ name: string }>('SELECT c.relname AS name FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid').then((rows) => new Set(rows.map((r) => r.name)));
  if (!(await session.invalidIndexNames).has(built.index)) return;
  const index = await invalidIndex(session.conn, statement);
  if (!index) return;
  session.emit({ event: 'invalid-index', name: migration, index });
  await session.conn.exec(`DROP INDEX CONCURRENTLY IF EXISTS ${index}`);
}

/** The INVALID index a `CREATE INDEX CONCURRENTLY name ON table` statement left (its name as SQL), or null. */
async function invalidIndex(conn: SqlConnection, statement: Statement): Promise<string | null> {
  const built = concurrentIndexBuild(statement);
  if (!built) return null;
  const [invalid] = await conn.query<{ index: string }>(
    `SELECT c.oid::regclass::text AS index FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = to_regclass($1) AND c.relname = $2 AND NOT i.indisvalid`,
    [built.table, built.index],
  );
  return invalid?.index ?? null;
}

/**
 * Write history rows in a transaction of their own, under the transaction lock and the
 * guard for `name` (PostgreSQL; SQLite: the lock file is held and the row checked).
 * False, with nothing written, when another migrator's row for `name` is there.
 * `after` runs in the same round trip once the rows are committed.
 */
async function writeGuarded(session: Session, name: string, sql: string, after = ''): Promise<boolean> {
  const { conn } = session;
  if (conn.target.provider === 'sqlite') {
    if (await liveRow(conn, name)) return othersRow(session, name).then(() => false);
    await conn.exec(sql + after);
    return true;
  }
  try {
    await execLocked(conn, lockedBegin(session, name), `${sql}COMMIT;\n${after}`);
    return true;
  } catch (error) {
    await conn.exec('ROLLBACK').catch(() => {});
    if ((error as { code?: string }).code === ALREADY_IN_HISTORY) return othersRow(session, name).then(() => false);
    throw await guardError(session, error);
  }
}

/** The migration timeouts for a migration run statement by statement (undone by RESET_SESSION after it). */
function sessionTimeoutsSql(session: Session): string {
  const { lockTimeoutMs, statementTimeoutMs } = session.script;
  return [lockTimeoutMs ? `SET lock_timeout = ${Math.round(lockTimeoutMs)}` : '', statementTimeoutMs ? `SET statement_timeout = ${Math.round(statementTimeoutMs)}` : ''].filter(Boolean).join(';\n');
}

/** `recorded`: its failed row was written (else nothing of it is in the history: there is nothing to resolve). */
function migrationFailed(name: string, reason: string, consequence: string, recorded = true): KitError {
  return new KitError('MIGRATION_FAILED', `Migration ${name} failed: ${reason}. ${consequence}`, {
    prismaCode: 'P3018',
    hint: recorded ? recoveryHint(name) : 'Nothing to resolve: fix the migration (or what it needs), then make deploy',
  });
}
