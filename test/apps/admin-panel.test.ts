import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { startAdminPanel, type AdminPanel, type AdminPanelOptions } from '../../src/apps/admin-panel.ts';
import { createClient, parseDatabaseUrl } from '../../src/db.ts';
import { seedDatabase } from '../../src/seed.ts';
import { ADMIN, PanelClient } from '../fixtures/panel.ts';
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

/** The migrations page as a logged-in admin sees it. */
async function migrationsPage(panel: AdminPanel, db: TestDatabase): Promise<string> {
  const client = await createClient(db.target);
  try {
    await seedDatabase(client, { adminUsername: ADMIN.username, adminPassword: ADMIN.password, defaultPackName: 'Default' });
  } finally {
    await client.$disconnect();
  }
  const browser = new PanelClient(panel.url);
  assert.equal((await browser.login()).status, 302);
  const page = await browser.get('/migrations');
  assert.equal(page.status, 200);
  return page.body;
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
      assert.deepEqual(await get(app, '/healthz'), { status: 200, type: 'text/plain; charset=UTF-8', body: 'ok\n' });
      const ready = await get(app, '/readyz');
      assert.equal(ready.status, 200, ready.body);
      assert.deepEqual(JSON.parse(ready.body), { status: 'ready' });
      assert.equal((await fetch(`${app.url}/`, { redirect: 'manual' })).status, 302, 'the pages are behind the login');
      const page = await migrationsPage(app, db);
      assert.match(page, new RegExp(`Provider: ${provider}`));
      assert.match(page, /Status: <strong id="readiness">ready<\/strong>/);
      for (const { name } of readHistory(provider).migrations) assert.match(page, new RegExp(`<code>${name}</code></td><td class="applied">applied</td><td>\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC</td><td>\\d{4}-[^<]+ UTC</td><td>\\d+ ms</td>`));
      assert.equal((await fetch(`${app.url}/nope`, { redirect: 'manual' })).status, 302, 'an unknown page without a session goes to the login too');
      assert.equal((await fetch(`${app.url}/readyz`, { method: 'POST' })).status, 405);
    });

    test('is not ready while a migration of its own folder is pending; says why in the log and behind the login, not in public', async (t) => {
      const db = await migrated(t, provider);
      const logged: string[] = [];
      const app = await panel(t, { target: db.target, migrationsDir: historyWithExtraMigration(t, provider), log: (line) => logged.push(line) });
      assert.equal((await get(app, '/healthz')).status, 200, 'liveness never depends on the database');
      const ready = await get(app, '/readyz');
      assert.equal(ready.status, 503);
      assert.deepEqual(JSON.parse(ready.body), { status: 'not-ready' });
      await get(app, '/readyz');
      assert.deepEqual(logged, [`Not ready: 1 pending migration: ${EXTRA}`], 'logged once, when it changed');
      assert.match(await migrationsPage(app, db), new RegExp(`<code>${EXTRA}</code></td><td class="pending">pending</td><td>—</td>`));
    });

    test('is not ready when a migration failed, and names it', async (t) => {
      const db = await migrated(t, provider);
      const conn = await db.connect();
      await conn.query('INSERT INTO "_prisma_migrations" ("id", "checksum", "migration_name", "logs") VALUES ($1, $2, $3, $4)', ['failed-row', 'x'.repeat(64), EXTRA, 'boom']);
      const logged: string[] = [];
      const app = await panel(t, { target: db.target, migrationsDir: historyWithExtraMigration(t, provider), log: (line) => logged.push(line) });
      const ready = await get(app, '/readyz');
      assert.equal(ready.status, 503);
      assert.deepEqual(JSON.parse(ready.body), { status: 'not-ready' });
      assert.deepEqual(logged, [`Not ready: migration ${EXTRA} failed`]);
      assert.match(await migrationsPage(app, db), new RegExp(`<code>${EXTRA}</code></td><td class="failed">failed</td>.*<td><pre>boom</pre></td></tr>`), 'a failed migration shows its logs');
    });

    test('is not ready on an unmigrated database', async (t) => {
      const db = await testDatabase(t, provider);
      const logged: string[] = [];
      const app = await panel(t, { target: db.target, log: (line) => logged.push(line) });
      const ready = await get(app, '/readyz');
      assert.equal(ready.status, 503);
      assert.deepEqual(JSON.parse(ready.body), { status: 'not-ready' });
      const reason = (logged[0] ?? '').replace(/^Not ready: /, '');
      // An empty PostgreSQL database has everything pending; a SQLite file that does not exist is unreachable (and is not created).
      const count = readHistory(provider).migrations.length;
      assert.match(reason, provider === 'postgresql' ? new RegExp(`^${count} pending migrations: 20251228134626_test, `) : /^database unreachable: .*does not exist/);
    });

    test('escapes what the database says: a hostile migration name is shown as text', async (t) => {
      const db = await migrated(t, provider);
      const conn = await db.connect();
      const hostile = '<script>alert("x")</script>';
      await conn.query('INSERT INTO "_prisma_migrations" ("id", "checksum", "migration_name", "finished_at", "applied_steps_count") VALUES ($1, $2, $3, CURRENT_TIMESTAMP, 1)', ['hostile-row', 'x'.repeat(64), hostile]);
      const app = await panel(t, { target: db.target });
      const page = await migrationsPage(app, db);
      assert.ok(!page.includes('<script>'), page);
      assert.match(page, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;<\/code><\/td><td class="unknown">unknown</);
      assert.equal((await get(app, '/readyz')).status, 200, 'a migration only the database knows (a newer release) does not make an older panel unready');
    });
  });
}

describe('admin panel against an unreachable PostgreSQL', () => {
  test('is live but not ready, and never shows the password', async (t) => {
    const secret = 'n0t-4-l0g-s3cr3t';
    const target = parseDatabaseUrl(`postgresql://rastar:${secret}@127.0.0.1:${await freePort()}/rastar`);
    const logged: string[] = [];
    const app = await panel(t, { target, log: (line) => logged.push(line) });
    assert.equal((await get(app, '/healthz')).status, 200);
    const ready = await get(app, '/readyz');
    assert.equal(ready.status, 503);
    assert.deepEqual(JSON.parse(ready.body), { status: 'not-ready' }, 'nothing of the database in public');
    assert.match(logged.shift() ?? '', /^Not ready: database unreachable: Can't reach database server at 127\.0\.0\.1:\d+/);
    const login = await new PanelClient(app.url).login();
    assert.equal(login.status, 503, 'the login cannot check a password without the database');
    assert.match(login.body, /The database did not answer: try again in a moment\./);
    assert.equal(logged.length, 1);
    assert.match(logged[0] as string, /^Error on POST \/login: /);
    for (const text of [ready.body, login.body, ...logged]) assert.ok(!text.includes(secret), text);
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
