import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readHistory } from '../../src/runtime/history.ts';
import { runScript, testDatabase } from '../helpers.ts';

const reset = (url: string, env: NodeJS.ProcessEnv = {}, ...args: string[]) => runScript('reset-database', args, { env: { DATABASE_URL: url, NODE_ENV: 'development', ...env } });

describe('reset', () => {
  test('re-creates the SQLite dev database: data gone, every migration applied', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    assert.equal((await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } })).code, 0);
    let conn = await db.connect();
    await conn.exec(`INSERT INTO "Pack" ("name", "isDefault", "createdAt", "updatedAt") VALUES ('old', 1, 1, 1)`);
    await conn.close();
    const result = await reset(db.url);
    assert.equal(result.code, 0, result.stderr);
    const names = readHistory('sqlite').migrations.map((m) => m.name);
    for (const name of names) assert.match(result.stdout, new RegExp(`Migration applied: ${name} `));
    conn = await db.connect();
    assert.deepEqual(await conn.query(`SELECT * FROM "Pack"`), []);
    assert.equal((await conn.query(`SELECT * FROM "_prisma_migrations"`)).length, names.length);
  });

  test('refuses PostgreSQL without confirmation (exit 2, names the flag), changes nothing', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    assert.equal((await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } })).code, 0);
    const conn = await db.connect();
    await conn.exec(`INSERT INTO "Pack" ("name", "isDefault", "createdAt", "updatedAt") VALUES ('keep', true, 1, 1)`);
    const refused = await reset(db.url);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /CONFIRM=1/);
    assert.equal((await conn.query(`SELECT * FROM "Pack"`)).length, 1);
    const confirmed = await reset(db.url, {}, '--confirm');
    assert.equal(confirmed.code, 0, confirmed.stderr);
    assert.equal((await conn.query(`SELECT * FROM "Pack"`)).length, 0);
  });

  test('refuses in production whatever the flags', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const refused = await reset(db.url, { NODE_ENV: 'production' }, '--confirm');
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /production/);
  });
});
