/**
 * Apply pending migrations, each in one transaction together with its
 * `_prisma_migrations` row: a process killed at any instant leaves the database
 * exactly before or exactly after a migration. Never creates or resets anything
 * but the history table.
 */
import type { SqlConnection } from '../../db.ts';
import { KitError, errorMessage } from '../../errors.ts';
import { assertDeployable, type History, type Migration } from './history.ts';
import { acquireMigrationLock, type LockHolder } from './lock.ts';
import { MIGRATIONS_CHANNEL } from './gate.ts';
import { parseScript, scriptMode, sqlLiteral, statementLine, type Statement } from './sql-script.ts';
import { StatementError } from './sqlite-script.ts';
import { compareHistory, readStatus, recoveryHint, type MigrationStatus } from './status.ts';
import { ensureTable, historyTable, insertRowSql, readRows, tableExists, userTables } from './table.ts';

export type DeployEvent =
  | { event: 'waiting-for-lock'; holder: LockHolder | null }
  | { event: 'applying'; name: string }
  | { event: 'no-transaction'; name: string; reason: string }
  | { event: 'applied'; name: string; ms: number }
  | { event: 'edited'; names: string[] }
  | { event: 'unknown'; names: string[] };

export interface DeployOptions {
  lockTimeoutMs: number;
  onEvent?: (event: DeployEvent) => void;
}

export interface DeployResult {
  applied: { name: string; ms: number }[];
  status: MigrationStatus;
}

export async function deploy(conn: SqlConnection, history: History, options: DeployOptions): Promise<DeployResult> {
  const emit = options.onEvent ?? (() => {});
  assertDeployable(history);
  // Fast path, no lock: nothing to do is the common case at every container start.
  const before = await readStatus(conn, history).catch((error) => (isSqliteBusy(conn, error) ? null : Promise.reject(error)));
  if (before?.hasTable && before.pending.length === 0 && before.failed.length === 0) {
    report(before, emit);
    return { applied: [], status: before };
  }

  const release = await acquireMigrationLock(conn, { timeoutMs: options.lockTimeoutMs, onWait: (holder) => emit({ event: 'waiting-for-lock', holder }) });
  try {
    // Under the lock: another migrator may have created the tables (and the history) meanwhile.
    if (!(await tableExists(conn))) await assertEmptyOrBaselined(conn, history);
    await useWriteAheadLog(conn);
    await ensureTable(conn);
    const status = compareHistory(history.migrations, await readRows(conn));
    assertNoFailed(status);
    report(status, emit);
    const applied: DeployResult['applied'] = [];
    for (const migration of history.migrations.filter((m) => status.pending.includes(m.name))) {
      emit({ event: 'applying', name: migration.name });
      const ms = await applyOne(conn, migration, emit);
      if (ms === null) continue; // another migrator applied it first (SQLite)
      applied.push({ name: migration.name, ms });
      emit({ event: 'applied', name: migration.name, ms });
    }
    return { applied, status: compareHistory(history.migrations, await readRows(conn)) };
  } finally {
    await release();
  }
}

/** A second migrator may find a SQLite file busy before it takes the lock: it then waits for the lock. */
function isSqliteBusy(conn: SqlConnection, error: unknown): boolean {
  return conn.target.provider === 'sqlite' && /^SQLITE_(BUSY|LOCKED)/.test(String((error as { code?: string }).code));
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

function report(status: MigrationStatus, emit: (event: DeployEvent) => void): void {
  if (status.edited.length) emit({ event: 'edited', names: status.edited });
  if (status.unknown.length) emit({ event: 'unknown', names: status.unknown });
}

export function assertNoFailed(status: MigrationStatus): void {
  const failed = status.failed[0];
  if (!failed) return;
  throw new KitError('FAILED_MIGRATION_BLOCKS', `Migration ${failed.name} failed earlier and blocks every deploy until it is resolved.`, {
    prismaCode: 'P3009',
    hint: recoveryHint(failed.name),
  });
}

/** P3005: tables without a history mean the database was built outside migrations; deploying would collide. */
async function assertEmptyOrBaselined(conn: SqlConnection, history: History): Promise<void> {
  const tables = await userTables(conn);
  if (tables.length === 0) return;
  throw new KitError('HISTORY', `The database already has tables (${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', …' : ''}) but no migration history; it needs a baseline.`, {
    prismaCode: 'P3005',
    hint: baselineHint(history),
  });
}

export function baselineHint(history: History): string {
  return [
    'If these tables match the migrations, record them as applied, then deploy what remains:',
    ...history.migrations.map((m) => `  make resolve APPLIED=${m.name}`),
    '  make deploy',
    'Check first with: make check (it reports drift between the tables and the history)',
  ].join('\n');
}

/**
 * PostgreSQL: whatever a migration changed in the session (`SET search_path`,
 * `statement_timeout`, `ROLE`, …) goes back to the connection's start-up values,
 * so the next migration and the kit's own statements start from the same state.
 */
const RESET_SESSION = 'SET SESSION AUTHORIZATION DEFAULT;\nRESET ALL';

/** What the kit sends before a migration's script in its one round trip (PostgreSQL). */
const PG_PREFIX = 'BEGIN;\n';

/** Apply one migration; its duration in ms, or null when it turned out to be applied already. */
async function applyOne(conn: SqlConnection, migration: Migration, emit: (event: DeployEvent) => void): Promise<number | null> {
  const provider = conn.target.provider;
  const mode = scriptMode(migration.script, provider);
  const startedAt = new Date();
  const started = performance.now();
  if (mode.kind !== 'transactional') {
    emit({ event: 'no-transaction', name: migration.name, reason: mode.kind === 'self-managed' ? 'it manages its own transactions' : mode.reason });
    await applyStatementByStatement(conn, migration, startedAt);
    return performance.now() - started;
  }
  const row = (finishedAt: Date) => insertRowSql(conn.target, { name: migration.name, checksum: migration.checksum, startedAt, finishedAt, logs: null, appliedSteps: 1 });
  try {
    if (provider === 'sqlite') {
      // Foreign keys off for the connection: a table redefinition (copy, drop, rename) must not cascade.
      await conn.exec('PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE');
      if (await alreadyApplied(conn, migration.name)) {
        await conn.exec('ROLLBACK; PRAGMA foreign_keys = ON');
        return null;
      }
      await conn.exec(migration.script);
      const violations = await conn.query('PRAGMA foreign_key_check');
      if (violations.length) throw new Error(`foreign key check failed after the migration (${violations.length} violation(s))`);
      await conn.exec(`${row(new Date())};\nCOMMIT;\nPRAGMA foreign_keys = ON`);
    } else {
      // One round trip: the server parses the whole string before running any of it
      // (an unterminated quote, comment or $$ body fails it all), and skips the rest
      // after the first error, so the row and the COMMIT run only if the script did.
      // A failed transaction undoes the script's SETs too; after a COMMIT the reset does.
      // The server stamps the row: started_at when the transaction began, finished_at when the script is done.
      const rowSql = insertRowSql(conn.target, { name: migration.name, checksum: migration.checksum, startedAt, finishedAt: startedAt, logs: null, appliedSteps: 1, serverClock: true });
      await conn.exec(`${PG_PREFIX}${migration.script}\n;\n${rowSql};\n${notifySql(conn, migration.name)}COMMIT;\n${RESET_SESSION}`);
    }
  } catch (error) {
    await conn.exec(provider === 'sqlite' ? 'ROLLBACK; PRAGMA foreign_keys = ON' : 'ROLLBACK').catch(() => {});
    await recordFailure(conn, migration, startedAt, failureReason(error, migration, provider), 'Nothing of it was applied: it ran in a transaction that was rolled back.');
  }
  return performance.now() - started;
}

async function alreadyApplied(conn: SqlConnection, name: string): Promise<boolean> {
  const rows = await conn.query(`SELECT 1 FROM ${historyTable(conn.target)} WHERE migration_name = $1 AND rolled_back_at IS NULL`, [name]);
  return rows.length > 0;
}

/**
 * The error, and which statement of the migration raised it. SQLite names it (a
 * StatementError of the migration's own script, not of the kit's BEGIN). PostgreSQL
 * gives the error's position in the text it was sent (syntax and name errors, found
 * before anything runs), or else the count of statements it completed, the kit's BEGIN first.
 */
function failureReason(error: unknown, migration: Migration, provider: 'sqlite' | 'postgresql'): string {
  const reason = errorMessage(error).split('\n')[0] as string;
  const statements = parseScript(migration.script, provider);
  let index: number | null = null;
  if (error instanceof StatementError) index = statements[error.index - 1]?.text === error.statement.text ? error.index - 1 : null;
  else {
    const { position, completedStatements } = error as { position?: string; completedStatements?: number };
    const offset = Number(position) - 1 - PG_PREFIX.length;
    if (position !== undefined && offset >= 0 && offset < migration.script.length) index = lastStartingBefore(statements, offset);
    else if (typeof completedStatements === 'number') index = completedStatements - 1;
  }
  if (index === null || index < 0) return reason;
  const statement = statements[index];
  if (!statement) return `${reason} (after its last statement, when the kit recorded it or committed: a deferred constraint?)`;
  return `${reason} ${where(statement, index, statements.length)}`;
}

function lastStartingBefore(statements: Statement[], offset: number): number {
  let index = -1;
  while (index + 1 < statements.length && (statements[index + 1] as Statement).start <= offset) index++;
  return index;
}

/** `(statement 3 of 7, line 12: UPDATE "Config" SET …)`: where in migration.sql it failed. */
function where(statement: Statement, index: number, total: number): string {
  return `(statement ${index + 1} of ${total}, line ${statement.line}: ${statementLine(statement, 80)})`;
}

/** For scripts PostgreSQL cannot run in a transaction: statement by statement, like psql, then the row. */
async function applyStatementByStatement(conn: SqlConnection, migration: Migration, startedAt: Date): Promise<void> {
  const provider = conn.target.provider;
  const statements = parseScript(migration.script, provider);
  const resetSession = provider === 'postgresql' ? `${RESET_SESSION};\n` : '';
  let done = 0;
  try {
    for (const statement of statements) {
      await conn.exec(statement.text);
      done++;
    }
  } catch (error) {
    await conn.exec('ROLLBACK').catch(() => {}); // a failed statement may leave the script's own transaction open
    await conn.exec(resetSession).catch(() => {});
    const statement = statements[done] as Statement;
    await recordFailure(
      conn,
      migration,
      startedAt,
      `${errorMessage(error).split('\n')[0]} ${where(statement, done, statements.length)}`,
      `It ran without a transaction: statements 1-${done} of ${statements.length} remain applied; statement ${done + 1} failed.`,
      done,
    );
  }
  await conn.exec(`${resetSession}${insertRowSql(conn.target, { name: migration.name, checksum: migration.checksum, startedAt, finishedAt: new Date(), logs: null, appliedSteps: statements.length })};\n${notifySql(conn, migration.name)}`);
}

async function recordFailure(conn: SqlConnection, migration: Migration, startedAt: Date, reason: string, consequence: string, appliedSteps = 0): Promise<never> {
  const logs = `${reason}\n${consequence}`;
  await conn.exec(`${insertRowSql(conn.target, { name: migration.name, checksum: migration.checksum, startedAt, finishedAt: null, logs, appliedSteps })};\n${notifySql(conn, migration.name)}`).catch(() => {});
  throw new KitError('MIGRATION_FAILED', `Migration ${migration.name} failed: ${reason}. ${consequence}`, {
    prismaCode: 'P3018',
    hint: recoveryHint(migration.name),
  });
}

/**
 * PostgreSQL: wake the containers waiting at the gate (`migrate wait`). Sent inside
 * the migration's transaction, it is delivered exactly when the row commits.
 */
function notifySql(conn: SqlConnection, name: string): string {
  return conn.target.provider === 'postgresql' ? `SELECT pg_notify(${sqlLiteral(MIGRATIONS_CHANNEL)}, ${sqlLiteral(name)});\n` : '';
}
