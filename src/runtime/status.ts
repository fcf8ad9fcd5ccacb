/**
 * Where the database stands against its history: a pure comparison of the
 * migrations folder with the `_prisma_migrations` rows. Never writes.
 */
import type { SqlConnection } from '../db.ts';
import { checksumMatches, type History, type Migration } from './history.ts';
import { isRunningRow, readRows, tableExists, type MigrationRow } from './table.ts';

export interface MigrationStatus {
  /** Names in folder order. */
  applied: string[];
  pending: string[];
  /**
   * Started and never finished, not resolved: blocks every deploy (P3009). `running`:
   * a migration that runs without a transaction was claimed and has not finished yet;
   * it is in progress, or its migrator died (then it is failed).
   */
  failed: { name: string; logs: string | null; running: boolean }[];
  /** Applied, but the file's checksum differs from the recorded one. */
  edited: string[];
  /** Applied in the database, absent from the folder (a newer image deployed, or a deleted folder). */
  unknown: string[];
  hasTable: boolean;
  /** True when nothing is pending, failed, edited or unknown. */
  upToDate: boolean;
}

export function compareHistory(migrations: Migration[], rows: MigrationRow[], hasTable = true): MigrationStatus {
  const live = rows.filter((row) => row.rolled_back_at === null);
  const finished = new Map<string, MigrationRow>();
  const failedRows = new Map<string, MigrationRow>();
  for (const row of live) (row.finished_at ? finished : failedRows).set(row.migration_name, row);
  const known = new Set(migrations.map((m) => m.name));
  const applied: string[] = [];
  const pending: string[] = [];
  const edited: string[] = [];
  for (const migration of migrations) {
    const row = finished.get(migration.name);
    if (row) {
      applied.push(migration.name);
      if (row.checksum !== migration.checksum && !checksumMatches(migration.script, row.checksum)) edited.push(migration.name);
    } else if (!failedRows.has(migration.name)) pending.push(migration.name);
  }
  const failed = [...failedRows.values()].filter((row) => !finished.has(row.migration_name)).map((row) => ({ name: row.migration_name, logs: row.logs, running: isRunningRow(row) }));
  const unknown = [...finished.keys()].filter((name) => !known.has(name));
  return {
    applied,
    pending,
    failed,
    edited,
    unknown,
    hasTable,
    upToDate: pending.length === 0 && failed.length === 0 && edited.length === 0 && unknown.length === 0,
  };
}

export async function readStatus(conn: SqlConnection, history: History): Promise<MigrationStatus> {
  const hasTable = await tableExists(conn);
  return compareHistory(history.migrations, hasTable ? await readRows(conn) : [], hasTable);
}
