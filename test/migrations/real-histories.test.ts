/**
 * What real public histories do and the kit must take as Prisma does: banner
 * comments, session settings, double-quoted strings on SQLite.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EXTRA, migrate, output, rows, writeMigration } from '../fixtures/kit.ts';
import { PROVIDERS, copyPrismaDir, runScript, serverUrl, testDatabase } from '../helpers.ts';

const BANNER = `-- ${'-'.repeat(96)}\n-- Init\n-- ${'-'.repeat(96)}\n`;

for (const provider of PROVIDERS) {
  describe(`real histories on ${provider}`, () => {
    test('a migration under a long banner comment deploys at once and leaves no lock behind', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      writeMigration(prisma, provider, EXTRA, `${BANNER}CREATE TABLE "Marker" ("id" INTEGER NOT NULL PRIMARY KEY);\n${BANNER}`);
      const first = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
      assert.equal(first.code, 0, output(first));
      assert.match(first.stdout, new RegExp(`Migration applied: ${EXTRA}`));
      const again = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma, MIGRATION_LOCK_TIMEOUT: '2' });
      assert.equal(again.code, 0, output(again));
      assert.match(again.stdout, /No pending migrations/);
    });
  });
}

describe('real histories on postgresql: session settings', () => {
  const probe = `CREATE TABLE "Probe" AS SELECT current_setting('search_path') AS search_path, current_setting('lock_timeout') AS lock_timeout, current_setting('statement_timeout') AS statement_timeout, current_user::text AS who;\n`;

  for (const [how, setter] of [
    ['in a transaction', ''],
    ['statement by statement (CONCURRENTLY)', 'CREATE TABLE "Indexed" ("id" INTEGER);\nCREATE INDEX CONCURRENTLY "Indexed_id_idx" ON "Indexed"("id");\n'],
  ] as const) {
    test(`a migration's SET reaches neither the next migration nor the kit's history row; each runs with the kit's lock_timeout unless it sets its own (${how})`, async (t) => {
      const db = await testDatabase(t, 'postgresql');
      const prisma = copyPrismaDir(t);
      // A database in use (its history deployed first): a new one builds CONCURRENTLY's indexes in the migration's transaction.
      assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma })).code, 0);
      const settings = `CREATE SCHEMA "elsewhere";\nSET search_path TO "elsewhere";\nSET lock_timeout = '3s';\nSET statement_timeout = '40s';\n${setter}CREATE TABLE "InElsewhere" ("id" INTEGER);\nCREATE TABLE "OwnProbe" AS SELECT current_setting('lock_timeout') AS lock_timeout;\n`;
      writeMigration(prisma, 'postgresql', '20991231000000_sets', settings);
      writeMigration(prisma, 'postgresql', '20991231000001_probe', probe);
      const deployed = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
      assert.equal(deployed.code, 0, output(deployed));
      const conn = await db.connect();
      const [seen] = await conn.query<Record<string, string>>('SELECT * FROM public."Probe"');
      // The kit's MIGRATION_DDL_LOCK_TIMEOUT (5 s by default) for every migration; its own SET for the one that set it.
      assert.deepEqual(seen, { search_path: '"$user", public', lock_timeout: '5s', statement_timeout: '0', who: 'postgres' });
      assert.deepEqual(await conn.query('SELECT lock_timeout FROM elsewhere."OwnProbe"'), [{ lock_timeout: '3s' }]);
      const names = (await rows(conn)).map((r) => r.migration_name);
      assert.ok(names.includes('20991231000000_sets') && names.includes('20991231000001_probe'), 'both rows are in public._prisma_migrations');
      assert.equal((await conn.query(`SELECT 1 FROM pg_tables WHERE schemaname = 'elsewhere' AND tablename = 'InElsewhere'`)).length, 1);
    });
  }
});

describe('real histories on sqlite: double-quoted strings', () => {
  const sqlite = 'INSERT INTO "Pack" ("name", "description", "isDefault", "createdAt", "updatedAt") VALUES (\'dq\', "first", false, 0, 0);\nUPDATE "Pack" SET "description" = "internal" WHERE "name" = "dq" AND "description" = "first";\n';
  const postgresql = 'INSERT INTO "Pack" ("name", "description", "isDefault", "createdAt", "updatedAt") VALUES (\'dq\', \'first\', false, 0, 0);\nUPDATE "Pack" SET "description" = \'internal\' WHERE "name" = \'dq\' AND "description" = \'first\';\n';

  test('deploy, verify and parity accept them as SQLite and Prisma do: as strings', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const prisma = copyPrismaDir(t);
    writeMigration(prisma, 'sqlite', EXTRA, sqlite);
    writeMigration(prisma, 'postgresql', EXTRA, postgresql);
    const env = { DATABASE_URL: db.url, PRISMA_DIR: prisma };

    const deployed = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
    assert.equal(deployed.code, 0, output(deployed));
    const conn = await db.connect();
    assert.deepEqual(await conn.query('SELECT "name", "description" FROM "Pack" WHERE "name" = \'dq\''), [{ name: 'dq', description: 'internal' }]);

    const verified = await runScript('reset-migrations', [], { env });
    assert.equal(verified.code, 0, output(verified));
    assert.match(verified.stdout, /Database verified/);

    const parity = await runScript('parity', ['--json'], { env: { PRISMA_DIR: prisma, SHADOW_DATABASE_URL: serverUrl() } });
    assert.equal(parity.code, 0, output(parity));
    assert.ok((JSON.parse(parity.stdout) as { items: { check: string; ok: boolean }[] }).items.every((i) => i.ok));
  });

  test('a double-quoted name that is a real column stays a column', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const prisma = copyPrismaDir(t);
    writeMigration(prisma, 'sqlite', EXTRA, `${sqlite}UPDATE "Pack" SET "description" = "name" WHERE "name" = "dq";\n`);
    assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma })).code, 0);
    const conn = await db.connect();
    assert.deepEqual(await conn.query('SELECT "description" FROM "Pack" WHERE "name" = \'dq\''), [{ description: 'dq' }]);
  });
});

describe('real histories on postgresql: a failure names its statement', () => {
  for (const [kind, sql, where] of [
    ['a syntax error (found before anything runs)', 'CREATE TABLE "A" ("id" INTEGER);\n\nCREATE TABLEX "B" ("id" INTEGER);\n', /\(statement 2 of 2, line 3: CREATE TABLEX "B" \("id" INTEGER\)\)/],
    ['an error while it runs', 'CREATE TABLE "A" ("id" INTEGER);\nINSERT INTO "A" VALUES (1), (1);\n-- the duplicate bites here\nALTER TABLE "A" ADD PRIMARY KEY ("id");\nCREATE TABLE "C" ("id" INTEGER);\n', /\(statement 3 of 4, line 4: ALTER TABLE "A" ADD PRIMARY KEY \("id"\)\)/],
  ] as const) {
    test(kind, async (t) => {
      const db = await testDatabase(t, 'postgresql');
      const prisma = copyPrismaDir(t);
      writeMigration(prisma, 'postgresql', EXTRA, sql);
      const failed = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, new RegExp(`^Error: Migration ${EXTRA} failed: .*Nothing of it was applied`, 'm'));
      assert.match(failed.stderr, where);
      assert.match(failed.stderr, new RegExp(`make resolve ROLLED_BACK=${EXTRA}`));
      const conn = await db.connect();
      assert.equal((await conn.query(`SELECT 1 FROM pg_tables WHERE tablename = 'A'`)).length, 0);
      assert.match((await rows(conn)).find((r) => r.migration_name === EXTRA)?.logs ?? '', where);
    });
  }
});
