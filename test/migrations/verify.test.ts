import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readHistory } from '../../src/runtime/history.ts';
import { runScript, testDatabase } from '../helpers.ts';

const deploy = (url: string) => runScript('migrate', ['deploy'], { env: { DATABASE_URL: url } });
const verify = (url: string, ...args: string[]) => runScript('reset-migrations', args, { env: { DATABASE_URL: url } });

async function tableNames(db: Awaited<ReturnType<typeof testDatabase>>): Promise<string[]> {
  const conn = await db.connect();
  const rows =
    db.target.provider === 'sqlite'
      ? await conn.query<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
      : await conn.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`);
  return rows.map((r) => r.name);
}

describe('verify', () => {
  test('creates and migrates a missing SQLite dev database', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const result = await verify(db.url);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`: ${readHistory('sqlite').migrations.length} applied, 0 pending, 0 failed$`, 'm'));
    assert.match(result.stdout, /Database verified/);
    assert.ok((await tableNames(db)).includes('McpToolLog'));
  });

  test('restores a dropped table and column on SQLite without touching the data that remains', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    assert.equal((await deploy(db.url)).code, 0);
    const conn = await db.connect();
    await conn.exec(`INSERT INTO "Pack" ("name", "isDefault", "createdAt", "updatedAt") VALUES ('kept', 1, 1, 1)`);
    await conn.exec(`DROP TABLE "McpToolLog"; ALTER TABLE "Message" DROP COLUMN "replyToText"`);
    const result = await verify(db.url);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /Restored/);
    assert.match(result.stdout, /CREATE TABLE "McpToolLog"/);
    assert.match(result.stdout, /ADD COLUMN "replyToText"/);
    assert.ok((await tableNames(db)).includes('McpToolLog'));
    const columns = await conn.query<{ name: string }>(`SELECT name FROM pragma_table_info('Message')`);
    assert.ok(columns.some((c) => c.name === 'replyToText'));
    assert.deepEqual(await conn.query(`SELECT name FROM "Pack"`), [{ name: 'kept' }]);
  });

  test('never drops what the schema does not know; says so and exits 1', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    assert.equal((await deploy(db.url)).code, 0);
    const conn = await db.connect();
    await conn.exec(`CREATE TABLE "Notes" ("id" INTEGER PRIMARY KEY, "text" TEXT); INSERT INTO "Notes" VALUES (1, 'mine')`);
    const result = await verify(db.url);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /does not repair/);
    assert.deepEqual(await conn.query(`SELECT "text" FROM "Notes"`), [{ text: 'mine' }]);
  });

  test('on PostgreSQL only reports a missing table unless --fix', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    assert.equal((await deploy(db.url)).code, 0);
    const conn = await db.connect();
    await conn.exec(`DROP TABLE "McpToolLog"`);
    const report = await verify(db.url);
    assert.equal(report.code, 1, report.stdout + report.stderr);
    assert.match(report.stdout, /Missing/);
    assert.match(report.stdout, /make verify FIX=1/);
    assert.ok(!(await tableNames(db)).includes('McpToolLog'));
    const fixed = await verify(db.url, '--fix');
    assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
    assert.ok((await tableNames(db)).includes('McpToolLog'));
  });

  test('on PostgreSQL reports pending migrations without applying them', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const result = await verify(db.url);
    assert.equal(result.code, 1);
    assert.match(result.stdout, new RegExp(`: 0 applied, ${readHistory('postgresql').migrations.length} pending, 0 failed$`, 'm'));
    assert.deepEqual(await tableNames(db), []);
  });

  test('tables without a history: says a baseline is needed and prints the exact commands', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    assert.equal((await deploy(db.url)).code, 0);
    const conn = await db.connect();
    await conn.exec(`DROP TABLE "_prisma_migrations"`);
    const result = await verify(db.url);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /needs a baseline/);
    assert.match(result.stderr, new RegExp(`^Find which of the ${readHistory('sqlite').migrations.length} migrations the tables hold \\(compared by schema, read-only\\): make baseline$`, 'm'));
    assert.match(result.stderr, /make baseline CONFIRM=1 && make deploy/);
  });
});
