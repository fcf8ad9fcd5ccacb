import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readHistory } from '../../src/runtime/history.ts';
import { PROVIDERS, runScript, testDatabase } from '../helpers.ts';

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
