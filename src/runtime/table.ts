/**
 * Prisma's `_prisma_migrations` table, in its exact shape per provider, so that
 * a database deployed by the kit reads as a normal Prisma database.
 */
import { randomUUID } from 'node:crypto';
import { dialectOf, type DatabaseTarget, type Provider, type SqlConnection } from '../db.ts';
import { sqlLiteral } from './sql-script.ts';

export const TABLE = '_prisma_migrations';

/** The channel the migrator notifies after each committed migration (PostgreSQL): the gate listens on it. */
export const MIGRATIONS_CHANNEL = 'rastar_migrations';

/** Sent inside a migration's transaction, the notification is delivered exactly when its row commits. */
export function notifySql(target: DatabaseTarget, name: string): string {
  return dialectOf(target).notifySql(MIGRATIONS_CHANNEL, name);
}

/** Byte-for-byte the DDL Prisma's schema engine runs (see the contract test). */
const CREATE_TABLE: Record<Provider, string> = {
  sqlite: `CREATE TABLE "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`,
  postgresql: `CREATE TABLE "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`,
};

export interface MigrationRow {
  id: string;
  checksum: string;
  migration_name: string;
  logs: string | null;
  started_at: Date;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  applied_steps_count: number;
}

export function provider(conn: SqlConnection): Provider {
  return conn.target.provider;
}

/**
 * The table as the kit's own statements name it: schema-qualified on PostgreSQL,
 * so a migration that changes `search_path` cannot make the kit miss it.
 */
export function historyTable(target: DatabaseTarget): string {
  return dialectOf(target).qualified(target, TABLE);
}

/** Every table of the history's schema (PostgreSQL `?schema=`, default public), the history table included. */
async function allTables(conn: SqlConnection): Promise<string[]> {
  const { sql, params } = dialectOf(conn.target).tablesQuery(conn.target.provider === 'postgresql' ? conn.target.schema : 'main');
  return (await conn.query<{ name: string }>(sql, params)).map((row) => row.name);
}

export async function tableExists(conn: SqlConnection): Promise<boolean> {
  return (await allTables(conn)).includes(TABLE);
}

/** Names of the user's tables (everything but the history table and the database's own). */
export async function userTables(conn: SqlConnection): Promise<string[]> {
  return (await allTables(conn)).filter((name) => name !== TABLE);
}

/** PostgreSQL: how many tables schemas other than the target's hold (an application may be using them; `pg_*` are the server's own). SQLite: none. */
export async function tablesElsewhere(conn: SqlConnection): Promise<number> {
  if (conn.target.provider !== 'postgresql') return 0;
  const [row] = await conn.query<{ n: string }>("SELECT count(*)::text AS n FROM pg_catalog.pg_tables WHERE schemaname <> $1 AND schemaname <> 'information_schema' AND schemaname !~ '^pg_'", [conn.target.schema]);
  return Number(row?.n ?? 0);
}

/** Create the schema (PostgreSQL `?schema=`) and the table if missing. */
export async function ensureTable(conn: SqlConnection): Promise<void> {
  if (conn.target.provider === 'postgresql' && conn.target.schema !== 'public') {
    await conn.exec(`CREATE SCHEMA IF NOT EXISTS "${conn.target.schema.replace(/"/g, '""')}"`);
  }
  if (!(await tableExists(conn))) {
    try {
      await conn.exec(CREATE_TABLE[provider(conn)]);
    } catch (error) {
      // Else another migrator created it first. Inside a failed transaction the re-check fails too: the original error tells why.
      if (!(await tableExists(conn).catch(() => false))) throw error;
    }
  }
}

/** Every row, or only the live (not rolled back) rows of one migration. `exists`: the caller made sure the table is there (no query to look). */
export async function readRows(conn: SqlConnection, liveOf?: string, exists = false): Promise<MigrationRow[]> {
  if (!exists && !(await tableExists(conn))) return [];
  const where = liveOf === undefined ? '' : ' WHERE migration_name = $1 AND rolled_back_at IS NULL';
  const rows = await conn.query<Record<string, unknown>>(`SELECT * FROM ${historyTable(conn.target)}${where} ORDER BY started_at, migration_name`, liveOf === undefined ? [] : [liveOf]);
  return rows.map((row) => ({
    id: String(row.id),
    checksum: String(row.checksum),
    migration_name: String(row.migration_name),
    logs: row.logs === null ? null : String(row.logs),
    started_at: toDate(row.started_at) ?? new Date(0),
    finished_at: toDate(row.finished_at),
    rolled_back_at: toDate(row.rolled_back_at),
    applied_steps_count: Number(row.applied_steps_count),
  }));
}

function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value;
  if (typeof value === 'number' || typeof value === 'bigint') return new Date(Number(value));
  return new Date(String(value).replace(' ', 'T'));
}

/** Timestamps as Prisma's engine writes them through the adapters: ISO 8601 with `+00:00`. */
export function timestamp(date: Date): string {
  return date.toISOString().replace('Z', '+00:00');
}

/**
 * The logs of the row a migrator writes before it runs a migration that cannot run
 * in a transaction: the claim that keeps a second migrator off it. Replaced when it
 * ends (finished, or the failure); left as is, its migrator died.
 */
export const RUNNING_LOGS = 'Running without a transaction (started by a migrator; if none is running any more, it died part-way: resolve it)';

export function isRunningRow(row: Pick<MigrationRow, 'finished_at' | 'logs'>): boolean {
  return row.finished_at === null && row.logs === RUNNING_LOGS;
}

export interface RowValues {
  /** Default: a new UUID. */
  id?: string;
  name: string;
  checksum: string;
  startedAt: Date;
  finishedAt: Date | null;
  logs: string | null;
  appliedSteps: number;
  /**
   * PostgreSQL, in the migration's own transaction: stamp started_at with its start and
   * finished_at with the server's clock when the row is written (the dates are ignored).
   * 'segment': one of several transactions in one round trip (see segmentStartSql): the
   * start is the one segmentStartSql noted, and the row is written only in the
   * transaction that noted this row's id.
   */
  serverClock?: boolean | 'segment';
}

/** The INSERT as SQL text, so it can travel in the same round trip as the COMMIT. */
export function insertRowSql(target: DatabaseTarget, values: RowValues): string {
  const ts = (date: Date | null) => (date ? sqlLiteral(timestamp(date)) : 'NULL');
  const id = sqlLiteral(values.id ?? randomUUID());
  const columns = `INSERT INTO ${historyTable(target)} ("id", "checksum", "finished_at", "migration_name", "logs", "rolled_back_at", "started_at", "applied_steps_count")`;
  if (values.serverClock === 'segment') {
    // Not this segment's transaction (a script whose text the server read on into the next
    // segments): an error, which rolls back all that transaction did.
    const check = `CASE WHEN current_setting('${SEGMENT_ID}', true) = ${id} THEN true ELSE (${sqlLiteral(SEGMENT_MISMATCH)} || coalesce(current_setting('${SEGMENT_ID}', true), ''))::int > 0 END`;
    return `${columns} SELECT ${id}, ${sqlLiteral(values.checksum)}, clock_timestamp(), ${sqlLiteral(values.name)}, ${sqlLiteral(values.logs)}, NULL, to_timestamp(current_setting('${SEGMENT_START}')::float8), ${values.appliedSteps} WHERE ${check}`;
  }
  const [startedAt, finishedAt] = values.serverClock ? ['now()', 'clock_timestamp()'] : [ts(values.startedAt), ts(values.finishedAt)];
  return `${columns} VALUES (${id}, ${sqlLiteral(values.checksum)}, ${finishedAt}, ${sqlLiteral(values.name)}, ${sqlLiteral(values.logs)}, NULL, ${startedAt}, ${values.appliedSteps})`;
}

const SEGMENT_ID = 'rastar.segment_row';
const SEGMENT_START = 'rastar.segment_started';
const SEGMENT_MISMATCH = 'rastar-guard:other-segment:';

/**
 * PostgreSQL: the statement that opens one of several migrations' transactions sent in
 * one round trip (now() is the round trip's start for all of them): notes the row id it
 * will write and the migration's start, for the rest of the transaction only.
 */
export function segmentStartSql(rowId: string): string {
  return `SELECT set_config('${SEGMENT_ID}', ${sqlLiteral(rowId)}, true), set_config('${SEGMENT_START}', extract(epoch FROM clock_timestamp())::text, true)`;
}

/** Prisma's `migrate resolve --rolled-back`: the failed row stays, marked rolled back. */
export async function markRolledBack(conn: SqlConnection, name: string): Promise<number> {
  const rows = await conn.query<{ id: string }>(
    `UPDATE ${historyTable(conn.target)} SET rolled_back_at = $1 WHERE migration_name = $2 AND finished_at IS NULL AND rolled_back_at IS NULL RETURNING id`,
    [timestamp(new Date()), name],
  );
  return rows.length;
}
