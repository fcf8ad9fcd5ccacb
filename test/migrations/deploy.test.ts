import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readHistory } from '../../src/runtime/history.ts';
import { copyPrismaDir, PROVIDERS, runScript, serverUrl, testDatabase } from '../helpers.ts';
import { writeMigration } from '../fixtures/kit.ts';

for (const provider of PROVIDERS) {
  describe(`deploy on ${provider}`, () => {
    test('applies every migration of an empty database once, then reports nothing pending', async (t) => {
      const db = await testDatabase(t, provider);
      const first = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } });
      assert.equal(first.code, 0, first.stderr);
      const names = readHistory(provider).migrations.map((m) => m.name);
      for (const name of names) assert.match(first.stdout, new RegExp(`Migration applied: ${name} \\(\\d+`));
      const second = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /No pending migrations/);
      const conn = await db.connect();
      const rows = await conn.query<{ migration_name: string }>('SELECT migration_name FROM "_prisma_migrations" ORDER BY migration_name');
      assert.deepEqual(rows.map((r) => r.migration_name), names);
    });
  });
}

describe('every command that deploys tells the same story', () => {
  test('deploy, verify --fix and reset --confirm each announce how a migration building an index CONCURRENTLY runs, then its success (PostgreSQL): in its transaction on a new database, statement by statement on one in use', async (t) => {
    const before = copyPrismaDir(t);
    const prisma = copyPrismaDir(t);
    const name = '20991231000000_concurrent_index';
    writeMigration(prisma, 'postgresql', name, 'CREATE INDEX CONCURRENTLY "Pack_name_concurrent_idx" ON "Pack" ("name");\n');
    const inTransaction = new RegExp(`^Note: ${name} builds indexes CONCURRENTLY; this database is new \\(no session uses its tables yet\\), so it builds them in its transaction\\.$`, 'm');
    const applied = new RegExp(`^✓ Migration applied: ${name} \\(\\d+(ms|\\.\\d+s)\\)$`, 'm');
    const runs: [string, string[]][] = [
      ['migrate', ['deploy']],
      ['reset-database', ['--confirm']], // drops everything, deploys again
    ];
    for (const [script, args] of runs) {
      const db = await testDatabase(t, 'postgresql');
      const result = await runScript(script, args, { env: { DATABASE_URL: db.url, PRISMA_DIR: prisma } });
      assert.equal(result.code, 0, `${script}: ${result.stderr}`);
      assert.match(result.stderr, inTransaction, script);
      assert.match(result.stdout, applied, script);
      assert.deepEqual(await invalidOrMissing(db, 'Pack_name_concurrent_idx'), [], script);
    }
    const db = await testDatabase(t, 'postgresql');
    const verified = await runScript('reset-migrations', ['--fix'], { env: { DATABASE_URL: db.url, PRISMA_DIR: prisma, SHADOW_DATABASE_URL: serverUrl() } });
    assert.match(verified.stderr, inTransaction, verified.stderr);
    assert.match(verified.stdout, new RegExp(`^✓ Migration applied: ${name} \\(`, 'm'), verified.stdout);

    // A database in use, or one whose other schema holds an application's tables: the index is built concurrently, outside a transaction.
    const used = await testDatabase(t, 'postgresql');
    assert.equal((await runScript('migrate', ['deploy'], { env: { DATABASE_URL: used.url, PRISMA_DIR: before } })).code, 0);
    const shared = await testDatabase(t, 'postgresql');
    await (await shared.connect()).exec('CREATE SCHEMA "other"; CREATE TABLE "other"."Orders" ("id" INTEGER)');
    for (const db of [used, shared]) {
      const result = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url, PRISMA_DIR: prisma } });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, new RegExp(`^Note: ${name} cannot run in a transaction \\([^)]*CONCURRENTLY\\); running it statement by statement\\.$`, 'm'));
      assert.doesNotMatch(result.stderr, inTransaction);
      assert.match(result.stdout, applied);
      assert.deepEqual(await invalidOrMissing(db, 'Pack_name_concurrent_idx'), []);
    }
  });
});

/** `[index]` unless the index exists and is valid. */
async function invalidOrMissing(db: Awaited<ReturnType<typeof testDatabase>>, index: string): Promise<string[]> {
  const rows = await (await db.connect()).query<{ valid: boolean }>('SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass($1)', [`"${index}"`]);
  return rows[0]?.valid ? [] : [index];
}
