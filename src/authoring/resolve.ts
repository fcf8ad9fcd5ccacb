/**
 * Prisma's `migrate resolve`, through Prisma's own engine so the semantics and
 * error codes are Prisma's: --applied records a migration as applied without
 * running it (baselining, or a failed one fixed by hand); --rolled-back marks a
 * failed migration as rolled back so the next deploy retries it.
 */
import { createMigrationAdapterFactory, openConnection, type DatabaseTarget } from '../db.ts';
import { KitError } from '../errors.ts';
import { openEngine, toMigrationList } from './engine.ts';
import { assertLockfile, displayPath, type History } from '../runtime/history.ts';
import { acquireFileLock } from '../runtime/lock.ts';
import { behindTransactionPooler } from '../runtime/pooler.ts';
import { ensureTable, tableExists } from '../runtime/table.ts';
import { lockTimeoutMs } from '../env.ts';

export type Resolution = 'applied' | 'rolled-back';

export async function resolveMigration(target: DatabaseTarget, history: History, name: string, resolution: Resolution): Promise<void> {
  assertLockfile(history);
  if (resolution === 'applied' && !history.migrations.some((m) => m.name === name)) {
    throw new KitError('RESOLVE', `Migration ${name} could not be found in ${displayPath(history.dir)}; check the name with: make status`, { prismaCode: 'P3017' });
  }
  await prepare(target, name, resolution);
  // SQLite: the kit's lock file keeps a deploy out meanwhile (the engine's own exclusive
  // locking is turned off, see db.ts). PostgreSQL: the engine takes the advisory lock itself.
  const release = target.provider === 'sqlite' ? await acquireFileLock(`${target.file}.migrate.lock`, { timeoutMs: lockTimeoutMs() }) : async () => {};
  const schema = `datasource db {\n  provider = "${target.provider}"\n}\n`;
  const engine = await openEngine('schema.prisma', schema, await createMigrationAdapterFactory(target)).catch(async (error) => {
    await release();
    throw error;
  });
  try {
    if (resolution === 'applied') {
      await engine.call((e) => e.markMigrationApplied({ migrationName: name, migrationsList: toMigrationList(history) }));
    } else {
      await engine.call((e) => e.markMigrationRolledBack({ migrationName: name }));
    }
  } catch (error) {
    throw error instanceof KitError ? new KitError('RESOLVE', error.message, { cause: error.cause, prismaCode: error.prismaCode }) : error;
  } finally {
    await engine.close();
    await release();
  }
}

/**
 * Reach the database the kit's way first (bounded retry, one masked line naming host and
 * port; the engine's own connect waits without bound), then: --applied may be the first
 * write (baselining), so the `?schema=` schema and the history table are created here
 * (the wasm engine fails with P1014 on a SQLite database without the table; the DDL is
 * the engine's own, see the contract test); --rolled-back needs a history table (the
 * engine's own answer to its absence is an "invariant violation").
 */
async function prepare(target: DatabaseTarget, name: string, resolution: Resolution): Promise<void> {
  // --rolled-back only looks: a mistyped SQLite path must not leave an empty database behind.
  const conn = await openConnection(target, { applicationName: 'rastar-resolve', readonly: resolution === 'rolled-back' });
  try {
    // The engine holds the migration lock as a session lock, which a transaction pooler would leave on a server connection.
    if (await behindTransactionPooler(conn)) {
      throw new KitError('REFUSED', `Resolve is refused through a transaction pooler: Prisma's engine holds the migration lock as a session lock, which would stay behind on the pooler's server connection; set DIRECT_DATABASE_URL to the PostgreSQL server itself`);
    }
    if (resolution === 'applied') {
      await ensureTable(conn);
    } else if (!(await tableExists(conn))) {
      throw new KitError('RESOLVE', `Migration \`${name}\` cannot be rolled back because it was never applied to the database (it has no _prisma_migrations table); check the name with: make status`, {
        prismaCode: 'P3011',
      });
    }
  } finally {
    await conn.close();
  }
}
