/**
 * Exactly once, under the conditions an operator meets: a database whose default
 * isolation is not READ COMMITTED, migrators queued behind a transaction pooler,
 * migrations that write data (a second application shows as a second ledger entry,
 * where a second CREATE TABLE would only fail loudly).
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { openConnection, parseDatabaseUrl, type DatabaseTarget, type SqlConnection } from '../../src/db.ts';
import { readHistory } from '../../src/runtime/history.ts';
import { ADVISORY_LOCK_KEY } from '../../src/runtime/lock.ts';
import { EXTRA, HALF_WAY_SQL, assertCleanFailure, errorLines, hasHistoryTable, migrate, output, rows, tables, writeMigration } from '../fixtures/kit.ts';
import { PROVIDERS, copyPrismaDir, runScript, serverUrl, testDatabase } from '../helpers.ts';
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
      // A migrator that ends before it queues (it could not connect, …) fails the test with its own words.
      const ended = migrators.map((run) => run.then((result) => assert.fail(`a migrator ended before the migration lock was free:\n${output(result)}`)));
      ended.forEach((end) => end.catch(() => {}));
      await until('both migrators queued on the migration lock', async () => {
        await Promise.race([...ended, Promise.resolve()]);
        return (await waitingOn(admin)).filter((w) => w.kind === 'advisory').length === 2;
      });
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

describe('through a transaction pooler, nothing outlives its transaction', () => {
  test('a migration that cannot run in one transaction is refused before any migration runs, naming DIRECT_DATABASE_URL; with it, it applies', async (t) => {
    const bouncer = await startPgBouncer(t, 'transaction');
    const db = await testDatabase(t, 'postgresql');
    const database = (db.target as DatabaseTarget & { provider: 'postgresql' }).config.database;
    const prisma = copyPrismaDir(t);
    const name = '20990101000000_concurrent_index';
    writeMigration(prisma, 'postgresql', name, 'CREATE INDEX CONCURRENTLY "AdminUser_created_idx" ON "AdminUser" ("createdAt");\n');
    const refused = await migrate(bouncer.url(database), ['deploy'], { PRISMA_DIR: prisma });
    assertCleanFailure(
      refused,
      2,
      new RegExp(`^Error: Migration ${name} cannot run in one transaction \\(CREATE/DROP INDEX CONCURRENTLY\\), and a transaction pooler sits between the kit and the database: nothing of it was applied; set DIRECT_DATABASE_URL to the PostgreSQL server itself$`, 'm'),
    );
    assert.equal(errorLines(refused).length, 1);
    const conn = await db.connect();
    assert.deepEqual(await rows(conn), [], 'no migration ran, not even the ones before it');
    assert.deepEqual(await tables(conn), []);
    const direct = await migrate(bouncer.url(database), ['deploy'], { PRISMA_DIR: prisma, DIRECT_DATABASE_URL: db.url });
    assert.equal(direct.code, 0, output(direct));
    assert.match(direct.stdout, new RegExp(`^✓ Migration applied: ${name} `, 'm'));
  });

  test("a migration's SET ROLE, search_path and timeouts, and the kit's own, stay off every pooled server connection; its history row is written as the kit's user", async (t) => {
    const bouncer = await startPgBouncer(t, 'transaction');
    const db = await testDatabase(t, 'postgresql');
    const database = (db.target as DatabaseTarget & { provider: 'postgresql' }).config.database;
    const role = `rastar_owner_${database.slice(-12)}`;
    const admin = await db.connect();
    await admin.exec(`CREATE ROLE "${role}" NOLOGIN; GRANT CREATE ON SCHEMA public TO "${role}"`);
    t.after(async () => {
      const server = await openConnection(parseDatabaseUrl(serverUrl()));
      await server.exec(`DROP ROLE IF EXISTS "${role}"`).catch(() => {});
      await server.close();
    });
    const prisma = copyPrismaDir(t);
    const name = '20990101000000_owned_table';
    writeMigration(prisma, 'postgresql', name, `SET ROLE "${role}";\nSET search_path TO pg_catalog;\nSET statement_timeout = '4321s';\nCREATE TABLE public."Owned" ("id" INTEGER);\n`);
    const deployed = await migrate(bouncer.url(database), ['deploy'], { PRISMA_DIR: prisma, MIGRATION_DDL_LOCK_TIMEOUT: '7', MIGRATION_STATEMENT_TIMEOUT: '99' });
    assert.equal(deployed.code, 0, output(deployed));
    const [owner] = await admin.query<{ owner: string }>(`SELECT tableowner AS owner FROM pg_tables WHERE tablename = 'Owned'`);
    assert.equal(owner?.owner, role, "the migration's role owns what it created");
    assert.ok((await rows(admin)).some((r) => r.migration_name === name && r.finished_at), 'its history row (the role may not write the history table)');
    const seen = await pooledSessions(bouncer.url(database), admin, database);
    for (const session of seen) assert.deepEqual(session, seen[0], `every pooled server connection has the settings it started with:\n${JSON.stringify(seen)}`);
    assert.equal(seen[0]?.role, 'none');
    assert.notEqual(seen[0]?.statement_timeout, '4321s');
    assert.notEqual(seen[0]?.lock_timeout, '7s');
    await admin.exec(`DROP TABLE public."Owned"`);
  });
});

describe('history written outside deploy, through a transaction pooler', () => {
  test('baseline and resolve record under the transaction lock and leave no lock behind', async (t) => {
    const bouncer = await startPgBouncer(t, 'transaction');
    const db = await testDatabase(t, 'postgresql');
    const database = (db.target as DatabaseTarget & { provider: 'postgresql' }).config.database;
    const deployed = await migrate(db.url, ['deploy']);
    assert.equal(deployed.code, 0, output(deployed));
    const conn = await db.connect();
    await conn.exec('DROP TABLE "_prisma_migrations"'); // a database built without the kit's history
    const pooled = { DATABASE_URL: bouncer.url(database), SHADOW_DATABASE_URL: serverUrl() };
    const recorded = await runScript('baseline', ['--apply'], { env: pooled });
    assert.equal(recorded.code, 0, output(recorded));
    assert.match(recorded.stdout, new RegExp(`^✓ Recorded ${REAL.length} migrations as applied\\.$`, 'm'));
    assert.deepEqual((await rows(conn)).map((r) => r.migration_name), REAL);
    const [locks] = await conn.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, [ADVISORY_LOCK_KEY]);
    assert.equal(locks?.n, 0, 'no advisory lock left on any server connection');

    // Resolve writes the same way: a failed migration rolled back, then recorded as applied, through the pooler.
    const prisma = copyPrismaDir(t);
    writeMigration(prisma, 'postgresql', EXTRA, HALF_WAY_SQL);
    const viaPooler = (args: string[]) => migrate(bouncer.url(database), args, { PRISMA_DIR: prisma });
    assert.equal((await viaPooler(['deploy'])).code, 1);
    const rolledBack = await viaPooler(['resolve', '--rolled-back', EXTRA]);
    assert.equal(rolledBack.code, 0, output(rolledBack));
    assert.match(rolledBack.stdout, new RegExp(`Migration ${EXTRA} marked as rolled back`));
    const applied = await viaPooler(['resolve', '--applied', EXTRA]);
    assert.equal(applied.code, 0, output(applied));
    const extra = (await rows(conn)).filter((r) => r.migration_name === EXTRA);
    assert.deepEqual(extra.map((r) => [r.finished_at !== null, r.rolled_back_at !== null]).sort(), [[false, true], [true, false]], 'the failed row rolled back, one applied row');
    assertCleanFailure(await viaPooler(['resolve', '--applied', EXTRA]), 1, /^Error: The migration `20991231000000_add_marker` is already recorded as applied in the database\. \(P3008\)$/m);
    // This database's only: another test's migrator on the same server may hold the key for its own.
    const [after] = await conn.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, [ADVISORY_LOCK_KEY]);
    assert.equal(after?.n, 0, 'resolve left no advisory lock on any server connection');
  });
});

/** Every server connection the pooler holds for `database`, asked at once (so each client gets another one): its identity and settings. */
async function pooledSessions(url: string, direct: SqlConnection, database: string): Promise<Record<string, string>[]> {
  const [count] = await direct.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()`, [database]);
  const clients = await Promise.all(Array.from({ length: (count?.n ?? 0) + 1 }, () => openConnection(parseDatabaseUrl(url))));
  try {
    for (const client of clients) await client.exec('BEGIN');
    return await Promise.all(
      clients.map(async (client) => {
        const [row] = await client.query<Record<string, string>>(
          `SELECT current_user AS "user", current_setting('role') AS role, current_setting('search_path') AS search_path, current_setting('statement_timeout') AS statement_timeout, current_setting('lock_timeout') AS lock_timeout`,
        );
        return row as Record<string, string>;
      }),
    );
  } finally {
    for (const client of clients) await client.close();
  }
}

/** A fresh PostgreSQL database, the project's history plus `sql` as migration `name`, deployed. */
async function deployWith(t: TestContext, name: string, sql: string): Promise<{ db: Awaited<ReturnType<typeof testDatabase>>; result: Awaited<ReturnType<typeof migrate>> }> {
  const db = await testDatabase(t, 'postgresql');
  const prisma = copyPrismaDir(t);
  writeMigration(prisma, 'postgresql', name, sql);
  return { db, result: await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma }) };
}

describe('what a failed migration leaves is what the kit records', () => {
  test('PostgreSQL: a COMMIT after a comment ended by a lone carriage return is seen: the first part stays applied and is reported so', async (t) => {
    const name = '20990101000000_own_commit';
    const { db, result: failed } = await deployWith(t, name, 'CREATE TABLE "Half" ("id" INTEGER);\n-- the first part is done\rCOMMIT;\nINSERT INTO "NoSuchTable" VALUES (1);\n');
    assertCleanFailure(failed, 1, new RegExp(`^Error: Migration ${name} failed: .*"NoSuchTable".* It ran without a transaction: statements 1-2 of 3 remain applied; statement 3 failed\\. \\(P3018\\)$`, 'm'));
    const conn = await db.connect();
    assert.ok((await tables(conn)).includes('Half'), 'the server committed the first part');
    const row = (await rows(conn)).find((r) => r.migration_name === name);
    assert.equal(row?.applied_steps_count, 2);
    assert.match(row?.logs ?? '', /statements 1-2 of 3 remain applied/);
  });

  test("PostgreSQL: a failure inside the script's own transaction is reported rolled back with it, not applied", async (t) => {
    const name = '20990101000000_own_transaction';
    const { db, result: failed } = await deployWith(t, name, 'CREATE TABLE "Before" ("id" INTEGER);\nBEGIN;\nCREATE TABLE "Inside" ("id" INTEGER);\nINSERT INTO "NoSuchTable" VALUES (1);\nCOMMIT;\n');
    assertCleanFailure(
      failed,
      1,
      new RegExp(`It ran without a transaction: statement 1 of 5 remains applied; statements 2-3 were rolled back with the transaction the script opened; statement 4 failed\\. \\(P3018\\)$`, 'm'),
    );
    const conn = await db.connect();
    const present = await tables(conn);
    assert.ok(present.includes('Before') && !present.includes('Inside'), present.join(', '));
    assert.equal((await rows(conn)).find((r) => r.migration_name === name)?.applied_steps_count, 1);
  });

  for (const provider of PROVIDERS) {
    test(`${provider}: when the failed row cannot be written, the kit says so and the migration reads as pending`, async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      const deployed = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
      assert.equal(deployed.code, 0, output(deployed));
      // The history table refuses rows of failures (a full disk, a revoked grant, a trigger).
      const conn = await db.connect();
      await conn.exec(
        provider === 'sqlite'
          ? `CREATE TRIGGER "refuse_failures" BEFORE INSERT ON "_prisma_migrations" WHEN NEW.finished_at IS NULL BEGIN SELECT RAISE(ABORT, 'no room for failures'); END`
          : `CREATE FUNCTION refuse_failures() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.finished_at IS NULL THEN RAISE EXCEPTION 'no room for failures'; END IF; RETURN NEW; END $$;
             CREATE TRIGGER "refuse_failures" BEFORE INSERT ON "_prisma_migrations" FOR EACH ROW EXECUTE FUNCTION refuse_failures()`,
      );
      writeMigration(prisma, provider, EXTRA, HALF_WAY_SQL);
      const failed = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
      assertCleanFailure(failed, 1, new RegExp(`^Error: Migration ${EXTRA} failed: .*NoSuchTable.* Nothing of it was applied: it ran in a transaction that was rolled back\\. Its failure could not be recorded in _prisma_migrations \\(.*no room for failures.*\\): it stays pending\\. \\(P3018\\)$`, 'm'));
      assert.match(failed.stderr, /^Nothing to resolve: fix the migration \(or what it needs\), then make deploy$/m);
      assert.doesNotMatch(failed.stderr, /make resolve/);
      assert.equal((await rows(conn)).find((r) => r.migration_name === EXTRA), undefined, 'no row');
      const status = await migrate(db.url, ['status'], { PRISMA_DIR: prisma });
      assert.match(status.stdout, new RegExp(`^\\[ \\] ${EXTRA} +pending$`, 'm'));
    });
  }
});

describe('PostgreSQL decides how an enum value added in a migration may be used', () => {
  async function withMood(t: TestContext): Promise<{ db: Awaited<ReturnType<typeof testDatabase>>; prisma: string }> {
    const db = await testDatabase(t, 'postgresql');
    const prisma = copyPrismaDir(t);
    writeMigration(prisma, 'postgresql', '20990101000000_mood', `CREATE TYPE "Mood" AS ENUM ('ok');\n`);
    const first = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
    assert.equal(first.code, 0, output(first));
    return { db, prisma };
  }

  test('a value used where the server refuses it in the adding transaction: the rolled-back attempt runs again statement by statement and applies', async (t) => {
    const { db, prisma } = await withMood(t);
    const name = '20990101000001_great_mood';
    writeMigration(prisma, 'postgresql', name, `ALTER TYPE "Mood" ADD VALUE 'great';\nCREATE TABLE "Feeling" ("mood" "Mood" NOT NULL DEFAULT 'great');\n`);
    const deployed = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
    assert.equal(deployed.code, 0, output(deployed));
    assert.match(deployed.stderr, new RegExp(`^Note: ${name} cannot run in a transaction \\(it uses an enum value it adds, which PostgreSQL refuses inside the transaction that adds it\\); running it statement by statement\\.$`, 'm'));
    assert.match(deployed.stdout, new RegExp(`^✓ Migration applied: ${name} `, 'm'));
    const conn = await db.connect();
    assert.deepEqual((await rows(conn)).filter((r) => r.migration_name === name).map((r) => [r.applied_steps_count, r.logs]), [[2, null]]);
  });

  test('the label only as text (a text default): one transaction, so a failure leaves nothing of it', async (t) => {
    const { db, prisma } = await withMood(t);
    const name = '20990101000001_meh';
    writeMigration(prisma, 'postgresql', name, `ALTER TYPE "Mood" ADD VALUE 'meh';\nCREATE TABLE "Note" ("text" TEXT DEFAULT 'meh');\nINSERT INTO "NoSuchTable" VALUES (1);\n`);
    const failed = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
    assertCleanFailure(failed, 1, /Nothing of it was applied: it ran in a transaction that was rolled back\./);
    assert.doesNotMatch(failed.stderr, /statement by statement/);
    const conn = await db.connect();
    assert.ok(!(await tables(conn)).includes('Note'));
    assert.deepEqual((await conn.query<{ v: string }>(`SELECT unnest(enum_range(NULL::"Mood"))::text AS v`)).map((r) => r.v), ['ok']);
  });
});

describe('PostgreSQL settings the kit relies on', () => {
  test('standard_conforming_strings off: refused before anything runs, naming the setting (the kit would split scripts elsewhere than the server)', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const database = (db.target as DatabaseTarget & { provider: 'postgresql' }).config.database;
    const conn = await db.connect();
    await conn.exec(`ALTER DATABASE "${database}" SET standard_conforming_strings = off`);
    const refused = await migrate(db.url, ['deploy']);
    assertCleanFailure(refused, 2, new RegExp(`^Error: standard_conforming_strings is off for this connection: .*ALTER DATABASE "${database}" SET standard_conforming_strings = on`, 'm'));
    assert.equal(await hasHistoryTable(conn), false, 'nothing written');
  });

  test('a migration that runs RESET ALL is announced: from there the DDL lock timeout no longer holds', async (t) => {
    const name = '20990101000000_reset_all';
    const { result: deployed } = await deployWith(t, name, 'SET search_path TO public;\nRESET ALL;\nCREATE TABLE "AfterReset" ("id" INTEGER);\n');
    assert.equal(deployed.code, 0, output(deployed));
    assert.match(deployed.stderr, new RegExp(`^Note: ${name} resets its session's settings \\(line 2: RESET ALL\\): after that statement its statements wait for table locks without MIGRATION_DDL_LOCK_TIMEOUT\\.$`, 'm'));
  });
});
