/**
 * Exactly once, under the conditions an operator meets: a database whose default
 * isolation is not READ COMMITTED, migrators queued behind a transaction pooler,
 * migrations that write data (a second application shows as a second ledger entry,
 * where a second CREATE TABLE would only fail loudly).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DatabaseTarget, SqlConnection } from '../../src/db.ts';
import { readHistory } from '../../src/runtime/history.ts';
import { ADVISORY_LOCK_KEY } from '../../src/runtime/lock.ts';
import { migrate, output, rows, writeMigration } from '../fixtures/kit.ts';
import { copyPrismaDir, testDatabase } from '../helpers.ts';
import { startPgBouncer } from '../pgbouncer.ts';
import { until } from '../entrypoint/harness.ts';

const REAL = readHistory('postgresql').migrations.map((m) => m.name);
const LEDGER = '20990101000000_ledger';
const ENTRY = '20990101000001_ledger_entry';

const ISOLATION_LEVELS = ['read committed', 'repeatable read', 'serializable'] as const;

describe('a data migration through a transaction pooler, at every default isolation level', () => {
  for (const isolation of ISOLATION_LEVELS) {
    test(`${isolation}: two migrators queued on the migration lock apply it once; the second reports the first's work`, async (t) => {
      const bouncer = await startPgBouncer(t, 'transaction');
      const db = await testDatabase(t, 'postgresql');
      const database = (db.target as DatabaseTarget & { provider: 'postgresql' }).config.database;
      const prisma = copyPrismaDir(t);
      writeMigration(prisma, 'postgresql', LEDGER, 'CREATE TABLE "Ledger" ("id" SERIAL PRIMARY KEY, "entry" TEXT NOT NULL);\nCREATE TABLE "Gate" ("id" INTEGER PRIMARY KEY);\nINSERT INTO "Gate" VALUES (1);\n');
      const first = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
      assert.equal(first.code, 0, output(first));

      // The data migration appends to the ledger, then waits on a row this test holds:
      // whichever migrator runs it first keeps the migration lock while the other queues.
      writeMigration(prisma, 'postgresql', ENTRY, `INSERT INTO "Ledger" ("entry") VALUES ('${ENTRY}');\nSELECT 1 FROM "Gate" FOR UPDATE;\n`);
      const admin = await db.connect();
      await admin.exec(`ALTER DATABASE "${database}" SET default_transaction_isolation = '${isolation}'`);
      const holder = await db.connect();
      await holder.exec('BEGIN; SELECT 1 FROM "Gate" FOR UPDATE');

      // Both migrators first queue on the migration lock (this test holds it), so both read
      // the migration as pending before either runs it (the lock's queue is first come, first served).
      await holder.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_KEY]);
      const env = { PRISMA_DIR: prisma, MIGRATION_DDL_LOCK_TIMEOUT: '0' };
      const migrators = [migrate(bouncer.url(database), ['deploy'], env), migrate(bouncer.url(database), ['deploy'], env)];
      await until('both migrators queued on the migration lock', async () => (await waitingOn(admin)).filter((w) => w.kind === 'advisory').length === 2);
      await holder.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_KEY]);
      // One migrator runs the migration and waits on the row; the other waits for the migration lock inside its own attempt at it.
      await until('one migrator in the migration, the other queued on the migration lock to run it too', async () => {
        const waiting = (await waitingOn(admin)).filter((w) => w.query.includes(ENTRY));
        return waiting.length === 2 && waiting.some((w) => w.kind === 'advisory') && waiting.some((w) => w.kind === 'transactionid');
      });
      await holder.exec('COMMIT');
      const [a, b] = await Promise.all(migrators);
      for (const run of [a, b]) assert.equal(run?.code, 0, output(run as never));

      assert.deepEqual(await ledger(admin), [ENTRY], 'the data migration ran once');
      const history = await rows(admin);
      assert.deepEqual(history.filter((r) => r.migration_name === ENTRY).length, 1, 'one history row for it');
      assert.deepEqual(history.map((r) => r.migration_name).sort(), [...REAL, LEDGER, ENTRY].sort());
      const all = [a, b].map((run) => output(run as never)).join('\n');
      assert.equal([...all.matchAll(new RegExp(`^✓ Migration applied: ${ENTRY} `, 'gm'))].length, 1, all);
      assert.match(all, new RegExp(`^✓ Migration applied by another migrator: ${ENTRY}$`, 'm'));
    });
  }
});

/** The sessions of this database waiting for a lock: the lock's kind and their query. */
async function waitingOn(conn: SqlConnection): Promise<{ kind: string; query: string }[]> {
  return conn.query(`SELECT l.locktype AS kind, a.query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.datname = current_database()`);
}

async function ledger(conn: SqlConnection): Promise<string[]> {
  return (await conn.query<{ entry: string }>('SELECT "entry" FROM "Ledger" ORDER BY "id"')).map((r) => r.entry);
}
