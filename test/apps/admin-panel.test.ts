import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { startAdminPanel, type AdminPanel, type AdminPanelOptions } from '../../src/apps/admin-panel.ts';
import { parseDatabaseUrl } from '../../src/db.ts';
import { readHistory } from '../../src/runtime/history.ts';
import { copyPrismaDir, PROVIDERS, runScript, testDatabase, type TestDatabase } from '../helpers.ts';
import { freePort } from '../processes.ts';

const EXTRA = '29991231000000_add_extra_table';

async function panel(t: TestContext, options: Omit<AdminPanelOptions, 'port'>): Promise<AdminPanel> {
  const started = await startAdminPanel({ port: 0, host: '127.0.0.1', ...options });
  t.after(() => started.close());
  return started;
}

async function get(panel: AdminPanel, path: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`${panel.url}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

async function migrated(t: TestContext, provider: (typeof PROVIDERS)[number]): Promise<TestDatabase> {
  const db = await testDatabase(t, provider);
  const deployed = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } });
  assert.equal(deployed.code, 0, deployed.stderr);
  return db;
}

/** A copy of the histories with one more migration, as a newer image would ship. */
function historyWithExtraMigration(t: TestContext, provider: (typeof PROVIDERS)[number]): string {
  const prisma = copyPrismaDir(t);
  for (const p of PROVIDERS) {
    mkdirSync(join(prisma, 'migrations', p, EXTRA));
    writeFileSync(join(prisma, 'migrations', p, EXTRA, 'migration.sql'), 'CREATE TABLE "Extra" ("id" INTEGER NOT NULL PRIMARY KEY);\n');
  }
  return join(prisma, 'migrations', provider);
}

for (const provider of PROVIDERS) {
  describe(`admin panel on ${provider}`, () => {
    test('is live, ready and lists every migration as applied on a migrated database', async (t) => {
      const db = await migrated(t, provider);
      const app = await panel(t, { target: db.target });
      assert.match(app.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(await get(app, '/healthz'), { status: 200, type: 'text/plain; charset=utf-8', body: 'ok\n' });
      const ready = await get(app, '/readyz');
      assert.equal(ready.status, 200, ready.body);
      assert.deepEqual(JSON.parse(ready.body), { status: 'ready' });
      const page = await get(app, '/');
      assert.equal(page.status, 200);
      assert.match(page.type, /^text\/html/);
      assert.match(page.body, new RegExp(`Provider: ${provider}`));
      for (const { name } of readHistory(provider).migrations) assert.match(page.body, new RegExp(`<code>${name}</code></td><td class="applied">applied<`));
      assert.equal((await get(app, '/nope')).status, 404);
      assert.equal((await fetch(`${app.url}/readyz`, { method: 'POST' })).status, 405);
    });

    test('is not ready while a migration of its own folder is pending, and names it', async (t) => {
      const db = await migrated(t, provider);
      const app = await panel(t, { target: db.target, migrationsDir: historyWithExtraMigration(t, provider) });
      assert.equal((await get(app, '/healthz')).status, 200, 'liveness never depends on the database');
      const ready = await get(app, '/readyz');
      assert.equal(ready.status, 503);
      assert.deepEqual(JSON.parse(ready.body), { status: 'not-ready', reason: `1 pending migration: ${EXTRA}` });
      assert.match((await get(app, '/')).body, new RegExp(`<code>${EXTRA}</code></td><td class="pending">pending<`));
    });

    test('is not ready when a migration failed, and names it', async (t) => {
      const db = await migrated(t, provider);
      const conn = await db.connect();
      await conn.query('INSERT INTO "_prisma_migrations" ("id", "checksum", "migration_name", "logs") VALUES ($1, $2, $3, $4)', ['failed-row', 'x'.repeat(64), EXTRA, 'boom']);
      const app = await panel(t, { target: db.target, migrationsDir: historyWithExtraMigration(t, provider) });
      const ready = await get(app, '/readyz');
      assert.equal(ready.status, 503);
      assert.deepEqual(JSON.parse(ready.body), { status: 'not-ready', reason: `migration ${EXTRA} failed` });
      assert.match((await get(app, '/')).body, new RegExp(`<code>${EXTRA}</code></td><td class="failed">failed<`));
    });

    test('is not ready on an unmigrated database', async (t) => {
      const db = await testDatabase(t, provider);
      const app = await panel(t, { target: db.target });
      const ready = await get(app, '/readyz');
      assert.equal(ready.status, 503);
      const { reason } = JSON.parse(ready.body) as { reason: string };
      // An empty PostgreSQL database has everything pending; a SQLite file that does not exist is unreachable (and is not created).
      assert.match(reason, provider === 'postgresql' ? /^4 pending migrations: 20251228134626_test, / : /^database unreachable: .*does not exist/);
    });

    test('escapes what the database says: a hostile migration name is shown as text', async (t) => {
      const db = await migrated(t, provider);
      const conn = await db.connect();
      const hostile = '<script>alert("x")</script>';
      await conn.query('INSERT INTO "_prisma_migrations" ("id", "checksum", "migration_name", "finished_at", "applied_steps_count") VALUES ($1, $2, $3, CURRENT_TIMESTAMP, 1)', ['hostile-row', 'x'.repeat(64), hostile]);
      const app = await panel(t, { target: db.target });
      const page = (await get(app, '/')).body;
      assert.ok(!page.includes('<script>'), page);
      assert.match(page, /&#60;script&#62;alert\(&#34;x&#34;\)&#60;\/script&#62;<\/code><\/td><td class="unknown">unknown</);
      assert.equal((await get(app, '/readyz')).status, 200, 'a migration only the database knows (a newer release) does not make an older panel unready');
    });
  });
}

describe('admin panel against an unreachable PostgreSQL', () => {
  test('is live but not ready, and never shows the password', async (t) => {
    const secret = 'n0t-4-l0g-s3cr3t';
    const target = parseDatabaseUrl(`postgresql://rastar:${secret}@127.0.0.1:${await freePort()}/rastar`);
    const app = await panel(t, { target });
    assert.equal((await get(app, '/healthz')).status, 200);
    const ready = await get(app, '/readyz');
    assert.equal(ready.status, 503);
    assert.match(JSON.parse(ready.body).reason, /^database unreachable: Can't reach database server at 127\.0\.0\.1:\d+/);
    const page = (await get(app, '/')).body;
    assert.match(page, /postgresql:\/\/rastar:\*\*\*@127\.0\.0\.1/);
    for (const body of [ready.body, page]) assert.ok(!body.includes(secret), body);
  });

  test('closes cleanly, even with a keep-alive connection open', async (t) => {
    const target = parseDatabaseUrl(`postgresql://rastar:x@127.0.0.1:${await freePort()}/rastar`);
    const app = await startAdminPanel({ port: 0, host: '127.0.0.1', target });
    await get(app, '/healthz'); // fetch keeps the socket alive
    await app.close();
    assert.equal(app.server.listening, false);
    await assert.rejects(fetch(`${app.url}/healthz`));
    t.diagnostic('closed');
  });
});
