/**
 * Prisma's `migrate resolve`, with Prisma's semantics and error codes, written the way
 * deploy writes history: one connection, the migration lock (the transaction's own
 * through a transaction pooler), one transaction. --applied records a migration as
 * applied without running it (baselining, or a failed one fixed by hand); its failed
 * rows are marked rolled back first, as Prisma's engine does. --rolled-back marks a
 * failed migration as rolled back so the next deploy retries it.
 */
import { openConnection, type DatabaseTarget } from '../db.ts';
import { KitError } from '../errors.ts';
import { assertLockfile, type History } from './history.ts';
import { writeUnderMigrationLock } from './lock.ts';
import { ensureTable, insertRowSql, markRolledBack, readRows, tableExists } from './table.ts';

export type Resolution = 'applied' | 'rolled-back';

const WHOLE_NAME = 'Hint: did you pass in the whole migration name? (example: "20201207184859_initial_migration")';

export async function resolveMigration(target: DatabaseTarget, history: History, name: string, resolution: Resolution): Promise<void> {
  assertLockfile(history);
  const migration = history.migrations.find((m) => m.name === name);
  if (resolution === 'applied' && !migration) {
    throw new KitError('RESOLVE', `The migration ${name} could not be found. Please make sure that the migration exists, and that you included the whole name of the directory. (example: "20201207184859_initial_migration")`, {
      prismaCode: 'P3017',
    });
  }
  await prepare(target, name, resolution);
  await writeUnderMigrationLock(target, 'rastar-resolve', async (conn) => {
    const rows = (await readRows(conn)).filter((row) => row.migration_name === name);
    if (resolution === 'rolled-back') {
      if (rows.length === 0) throw neverApplied(name);
      // Prisma's rule: some attempt did not finish; one already rolled back stays so (a second run is a no-op).
      if (rows.every((row) => row.finished_at !== null)) {
        throw new KitError('RESOLVE', `Migration \`${name}\` cannot be rolled back because it is not in a failed state.`, { prismaCode: 'P3012' });
      }
      await markRolledBack(conn, name);
      return;
    }
    if (rows.some((row) => row.finished_at !== null && row.rolled_back_at === null)) {
      throw new KitError('RESOLVE', `The migration \`${name}\` is already recorded as applied in the database.`, { prismaCode: 'P3008' });
    }
    await markRolledBack(conn, name);
    const now = new Date();
    // logs '' as Prisma's engine writes it: tables of Prisma 2 declare it NOT NULL.
    await conn.exec(insertRowSql(target, { name, checksum: (migration as { checksum: string }).checksum, startedAt: now, finishedAt: now, logs: '', appliedSteps: 0 }));
  });
}

function neverApplied(name: string): KitError {
  return new KitError('RESOLVE', `Migration \`${name}\` cannot be rolled back because it was never applied to the database. ${WHOLE_NAME}`, { prismaCode: 'P3011' });
}

/**
 * Reach the database the kit's way first (bounded retry, one masked line naming host and
 * port), then: --applied may be the first write (baselining), so the `?schema=` schema
 * and the history table are created here; --rolled-back needs a history table.
 */
async function prepare(target: DatabaseTarget, name: string, resolution: Resolution): Promise<void> {
  // --rolled-back only looks: a mistyped SQLite path must not leave an empty database behind.
  const conn = await openConnection(target, { applicationName: 'rastar-resolve', readonly: resolution === 'rolled-back' });
  try {
    if (resolution === 'applied') await ensureTable(conn);
    else if (!(await tableExists(conn))) throw neverApplied(name);
  } finally {
    await conn.close();
  }
}
