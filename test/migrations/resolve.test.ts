import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { readHistory } from '../../src/runtime/history.ts';
import { EXTRA, HALF_WAY_SQL, MARKER_SQL, assertCleanFailure, errorLines, hasHistoryTable, migrate, output, rows, tables, writeMigration } from '../fixtures/kit.ts';
import { PROVIDERS, copyPrismaDir, testDatabase } from '../helpers.ts';

for (const provider of PROVIDERS) {
  const names = readHistory(provider).migrations.map((m) => m.name);

  describe(`resolve on ${provider}`, () => {
    test('--applied records an unapplied migration without running it; deploy then skips it', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      assert.equal((await migrate(db.url, ['deploy'])).code, 0);
      writeMigration(prisma, provider, EXTRA, MARKER_SQL);
      const result = await migrate(db.url, ['resolve', '--applied', EXTRA], { PRISMA_DIR: prisma });
      assert.equal(result.code, 0, output(result));
      assert.match(result.stdout, new RegExp(`Migration ${EXTRA} marked as applied`));

      const deployed = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
      assert.equal(deployed.code, 0, output(deployed));
      assert.match(deployed.stdout, /No pending migrations/);
      const conn = await db.connect();
      assert.ok(!(await tables(conn)).includes('Marker'), 'resolve --applied must not run the SQL');
      const row = (await rows(conn)).find((r) => r.migration_name === EXTRA);
      assert.ok(row?.finished_at, 'recorded as finished');
      const status = await migrate(db.url, ['status'], { PRISMA_DIR: prisma });
      assert.equal(status.code, 0, output(status));
    });

    test('--applied on an empty database baselines it: the history table is created and deploy applies the rest', async (t) => {
      const db = await testDatabase(t, provider);
      const result = await migrate(db.url, ['resolve', '--applied', names[0]!]);
      assert.equal(result.code, 0, output(result));
      const conn = await db.connect();
      assert.ok(await hasHistoryTable(conn));
      assert.deepEqual((await rows(conn)).map((r) => r.migration_name), [names[0]]);
      assert.deepEqual(await tables(conn), [], 'recorded, not run');
      const deployed = await migrate(db.url, ['deploy']);
      assert.doesNotMatch(deployed.stderr, new RegExp(`Applying migration \`${names[0]}\``));
      assert.match(deployed.stderr, new RegExp(`Applying migration \`${names[1]}\``));
    });

    test('--applied with a name that is not in the migrations folder is refused (P3017), exit 1', async (t) => {
      const db = await testDatabase(t, provider);
      assert.equal((await migrate(db.url, ['deploy'])).code, 0);
      const result = await migrate(db.url, ['resolve', '--applied', '20990101000000_no_such_migration']);
      assertCleanFailure(result, 1, /P3017/);
      assert.match(result.stderr, /20990101000000_no_such_migration/);
      assert.equal(errorLines(result).length, 1);
      assert.equal((await rows(await db.connect())).length, names.length, 'nothing recorded');
    });

    test('--applied on a migration already applied is refused with Prisma\'s P3008, exit 1', async (t) => {
      const db = await testDatabase(t, provider);
      assert.equal((await migrate(db.url, ['deploy'])).code, 0);
      const result = await migrate(db.url, ['resolve', '--applied', names[0]!]);
      assertCleanFailure(result, 1, /^Error: The migration `.+` is already recorded as applied in the database\. \(P3008\)$/m);
      assert.equal(errorLines(result).length, 1);
    });

    test('--rolled-back on a failed migration lets the next deploy apply the fixed file', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      const file = writeMigration(prisma, provider, EXTRA, HALF_WAY_SQL);
      assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma })).code, 1);
      writeFileSync(file, MARKER_SQL);

      const result = await migrate(db.url, ['resolve', '--rolled-back', EXTRA], { PRISMA_DIR: prisma });
      assert.equal(result.code, 0, output(result));
      assert.match(result.stdout, new RegExp(`Migration ${EXTRA} marked as rolled back; run make deploy`));

      const deployed = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
      assert.equal(deployed.code, 0, output(deployed));
      assert.match(deployed.stdout, new RegExp(`Migration applied: ${EXTRA}`));
      const conn = await db.connect();
      assert.ok((await tables(conn)).includes('Marker'));
      const extra = (await rows(conn)).filter((r) => r.migration_name === EXTRA);
      assert.equal(extra.length, 2, 'the rolled-back row stays, a new row records the success');
      assert.equal(extra.filter((r) => r.rolled_back_at !== null && r.finished_at === null).length, 1);
      assert.equal(extra.filter((r) => r.rolled_back_at === null && r.finished_at !== null).length, 1);
    });

    test('--applied on a failed migration someone finished by hand unblocks deploy without re-running it', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      writeMigration(prisma, provider, EXTRA, HALF_WAY_SQL);
      assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma })).code, 1);
      const conn = await db.connect();
      await conn.exec('CREATE TABLE "HalfWay" ("id" INTEGER NOT NULL PRIMARY KEY)'); // the fix, by hand

      const result = await migrate(db.url, ['resolve', '--applied', EXTRA], { PRISMA_DIR: prisma });
      assert.equal(result.code, 0, output(result));
      const deployed = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
      assert.equal(deployed.code, 0, output(deployed));
      assert.match(deployed.stdout, /No pending migrations/);
      const status = await migrate(db.url, ['status', '--json'], { PRISMA_DIR: prisma });
      assert.equal(status.code, 0, output(status));
      const extra = (await rows(conn)).filter((r) => r.migration_name === EXTRA);
      assert.equal(extra.filter((r) => r.finished_at !== null && r.rolled_back_at === null).length, 1, 'one live applied row');
    });

    test('--rolled-back on a migration that did not fail is refused with Prisma\'s P3012, exit 1', async (t) => {
      const db = await testDatabase(t, provider);
      assert.equal((await migrate(db.url, ['deploy'])).code, 0);
      const result = await migrate(db.url, ['resolve', '--rolled-back', names[0]!]);
      assertCleanFailure(result, 1, /^Error: Migration `.+` cannot be rolled back because it is not in a failed state\. \(P3012\)$/m);
      assert.equal(errorLines(result).length, 1);
    });

    test('--rolled-back on a name the database never saw is refused (P3011), with or without a history table', async (t) => {
      const db = await testDatabase(t, provider);
      if (provider === 'sqlite') {
        const missing = await migrate(db.url, ['resolve', '--rolled-back', names[0]!]);
        assertCleanFailure(missing, 1, /Cannot open SQLite database .*: the file does not exist/);
        assert.equal(existsSync((db.target as { file: string }).file), false, 'no empty database left behind');
      }
      const conn = await db.connect(); // creates the empty SQLite file
      const empty = await migrate(db.url, ['resolve', '--rolled-back', names[0]!]);
      assertCleanFailure(empty, 1, /P3011/);
      assert.doesNotMatch(empty.stderr, /Invariant violation/);
      assert.equal(await hasHistoryTable(conn), false, 'nothing created');

      assert.equal((await migrate(db.url, ['deploy'])).code, 0);
      const unknown = await migrate(db.url, ['resolve', '--rolled-back', '20990101000000_never']);
      assertCleanFailure(unknown, 1, /^Error: Migration `20990101000000_never` cannot be rolled back because it was never applied to the database\. Hint: did you pass in the whole migration name\? .* \(P3011\)$/m);
      assert.equal(errorLines(unknown).length, 1);
    });

    test('both flags, or neither, is bad usage: exit 2', async (t) => {
      const db = await testDatabase(t, provider);
      for (const args of [['resolve'], ['resolve', '--applied', names[0]!, '--rolled-back', names[0]!], ['resolve', '--applied']]) {
        const result = await migrate(db.url, args);
        assertCleanFailure(result, 2);
      }
      const neither = await migrate(db.url, ['resolve']);
      assert.match(neither.stderr, /exactly one of --applied <name> or --rolled-back <name>/);
    });
  });
}
