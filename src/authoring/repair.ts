/**
 * Realigning a history whose rows disagree with the folder (Flyway's `repair`): the rows
 * of an older history carry the same names with other checksums, so every one reads as
 * edited. Repair first proves that the live schema is what the applied migrations of
 * this folder yield (replayed on a shadow as deploy runs them, compared as baseline
 * compares, and by Prisma's engine), then rewrites the checksums of the applied rows to
 * the files', in one transaction under the migration lock. An edited migration whose
 * effect the comparison cannot see proves nothing: it is realigned only when accepted by
 * name. A failed row is touched only when named (`--rolled-back`), never rows of
 * migrations the folder does not have.
 */
import { openConnection, type DatabaseTarget } from '../db.ts';
import { KitError } from '../errors.ts';
import { assertLockfile, type History } from '../runtime/history.ts';
import { writeUnderMigrationLock } from '../runtime/lock.ts';
import { readStatus, type MigrationStatus } from '../runtime/status.ts';
import { historyTable, markRolledBack, readRows } from '../runtime/table.ts';
import { diff, historyTarget, withDatabaseEngine } from './engine.ts';
import { compareReplay, describeShadowFailure, unchangedBy, type PostgresServer } from './replay.ts';
import { readShape, shapeDifferences } from './shape.ts';
import { withPostgresServer } from './shadow.ts';
import { assertAccepted, type Progress } from './baseline.ts';

export interface RepairChange {
  name: string;
  /** The checksum the row had, and the file's. */
  from: string;
  to: string;
}

export interface RepairResult {
  checksums: RepairChange[];
  rolledBack: string[];
  /** Failed rows left as they are (name them with --rolled-back). */
  failedLeft: string[];
  /** Rows of migrations this folder does not have: reported, never touched. */
  unknown: string[];
  /** Edited migrations whose effect the comparison cannot see (data only, …): realigned only when accepted by name. */
  unverified: string[];
  /** False with --dry-run: what would change, nothing written. */
  written: boolean;
}

export async function repairHistory(
  target: DatabaseTarget,
  history: History,
  options: { rolledBack?: string; dryRun?: boolean; acceptUnverified?: string[]; progress?: Progress } = {},
): Promise<RepairResult> {
  assertLockfile(history);
  const progress = options.progress ?? (() => {});
  const status = await readOnly(target, (conn) => readStatus(conn, history));
  if (!status.hasTable) throw new KitError('HISTORY', 'The database has no migration history to repair.', { hint: 'To record what it holds as applied: make baseline' });
  const failedNames = status.failed.map((f) => f.name);
  if (options.rolledBack !== undefined && !failedNames.includes(options.rolledBack)) {
    throw new KitError('RESOLVE', `Migration ${options.rolledBack} is not failed in the database${failedNames.length ? ` (failed: ${failedNames.join(', ')})` : ''}; repair only marks a failed migration as rolled back.`, {
      prismaCode: 'P3012',
    });
  }

  progress(`Comparing the database with the ${status.applied.length} applied migrations of the folder…`);
  const unchanged = await assertNoDrift(target, history, status, progress);
  const unverified = status.edited.filter((name) => unchanged.includes(name));

  const rows = await readOnly(target, (conn) => readRows(conn));
  const scripts = new Map(history.migrations.map((m) => [m.name, m.checksum]));
  const checksums = status.edited.map((name) => {
    const row = rows.find((r) => r.migration_name === name && r.finished_at !== null && r.rolled_back_at === null);
    return { name, from: row?.checksum ?? '', to: scripts.get(name) as string };
  });
  const rolledBack = options.rolledBack === undefined ? [] : [options.rolledBack];
  const result = { checksums, rolledBack, failedLeft: failedNames.filter((n) => n !== options.rolledBack), unknown: status.unknown, unverified, written: false };
  if (options.dryRun || (checksums.length === 0 && rolledBack.length === 0)) return result;
  assertAccepted(unverified, options.acceptUnverified ?? [], 'repair');

  await writeUnderMigrationLock(target, 'rastar-repair', async (conn) => {
    for (const change of checksums) {
      await conn.query(`UPDATE ${historyTable(target)} SET checksum = $1 WHERE migration_name = $2 AND checksum = $3 AND finished_at IS NOT NULL AND rolled_back_at IS NULL`, [change.to, change.name, change.from]);
    }
    for (const name of rolledBack) if ((await markRolledBack(conn, name)) === 0) throw new KitError('HISTORY', `Migration ${name} changed while it was compared; nothing was written.`);
  });
  return { ...result, written: true };
}

/**
 * The live schema against what this folder's applied migrations yield; a difference is
 * named and refused. The applied migrations after which the shape did not change.
 */
async function assertNoDrift(target: DatabaseTarget, history: History, status: MigrationStatus, progress: Progress): Promise<string[]> {
  const applied = new Set(status.applied);
  const prefix = { ...history, migrations: history.migrations.filter((m) => applied.has(m.name)) };
  const live = await readOnly(target, readShape);
  const compare = async (server?: PostgresServer) => {
    const replay = await compareReplay(target, prefix, server, live, { progress });
    if (replay.failure) throw new KitError('SHADOW', `${describeShadowFailure(replay.failure)} Nothing was written.`, { hint: `Every applied migration must replay on an empty database for the comparison: fix ${replay.failure.name}, then repair again.` });
    const engine = await withDatabaseEngine(target, { readOnly: true, shadowServer: server }, async (open, datasource) => diff(open, historyTarget(prefix), datasource, false));
    return { replay, engine };
  };
  const { replay, engine } = target.provider === 'sqlite' ? await compare() : await withPostgresServer((server) => compare(server), progress);
  const differences = (replay.probes.at(-1)?.distance ?? 0) > 0 ? shapeDifferences(live, replay.last) : [];
  if (engine.changed || differences.length) {
    const lines = [...differences, ...(engine.changed ? [engine.output.trim()] : [])];
    throw new KitError('HISTORY', `The database differs from what its ${prefix.migrations.length} applied migrations yield (drift); nothing was written:\n${lines.join('\n')}`, {
      hint: 'Undo the hand change, or capture it in a new migration (make migrate NAME=…) and deploy it, then repair again.',
    });
  }
  return unchangedBy(prefix, replay.probes, prefix.migrations.length);
}

async function readOnly<T>(target: DatabaseTarget, work: (conn: Awaited<ReturnType<typeof openConnection>>) => Promise<T>): Promise<T> {
  const conn = await openConnection(target, { applicationName: 'rastar-repair', readonly: true });
  try {
    return await work(conn);
  } finally {
    await conn.close();
  }
}
