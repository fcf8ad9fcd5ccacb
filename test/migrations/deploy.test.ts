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
  test('deploy, verify --fix and reset --confirm each announce a migration that runs without a transaction, then its success (PostgreSQL)', async (t) => {
    const prisma = copyPrismaDir(t);
    const name = '20991231000000_concurrent_index';
    writeMigration(prisma, 'postgresql', name, 'CREATE INDEX CONCURRENTLY "Pack_name_concurrent_idx" ON "Pack" ("name");\n');
    const runs: [string, string[]][] = [
      ['migrate', ['deploy']],
      ['reset-database', ['--confirm']], // drops everything, deploys again
    ];
    for (const [script, args] of runs) {
      const db = await testDatabase(t, 'postgresql');
      const result = await runScript(script, args, { env: { DATABASE_URL: db.url, PRISMA_DIR: prisma } });
      assert.equal(result.code, 0, `${script}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`^Note: ${name} cannot run in a transaction \\([^)]*CONCURRENTLY\\); running it statement by statement\\.$`, 'm'), script);
      assert.match(result.stdout, new RegExp(`^✓ Migration applied: ${name} \\(\\d+(ms|\\.\\d+s)\\)$`, 'm'), script);
    }
    const db = await testDatabase(t, 'postgresql');
    const verified = await runScript('reset-migrations', ['--fix'], { env: { DATABASE_URL: db.url, PRISMA_DIR: prisma, SHADOW_DATABASE_URL: serverUrl() } });
    assert.match(verified.stderr, new RegExp(`^Note: ${name} cannot run in a transaction`, 'm'), verified.stderr);
    assert.match(verified.stdout, new RegExp(`^✓ Migration applied: ${name} \\(`, 'm'), verified.stdout);
  });
});
