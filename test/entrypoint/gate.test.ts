/**
 * The gate of a container that does not migrate (RUN_MIGRATIONS=false): it starts
 * the app only once the database holds every migration of its own folder, gives up
 * loudly (timeout, failed migration), starts when its folder is older than the
 * database, and wakes promptly when the migrator commits.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openConnection, type Provider } from '../../src/db.ts';
import { MIGRATIONS_CHANNEL } from '../../src/runtime/table.ts';
import { readHistory } from '../../src/runtime/history.ts';
import { deploy } from '../../src/runtime/deploy.ts';
import { waitForSchema } from '../../src/runtime/gate.ts';
import { copyPrismaDir, PROVIDERS, runScript, testDatabase } from '../helpers.ts';
import { addMigration, appCommand, finished, historyRows, lastFinished, readStarts, runEntrypoint, startEntrypoint, syntheticPrismaDir, until, workDir } from './harness.ts';
import { errorLines } from '../fixtures/kit.ts';

const REAL = readHistory('postgresql').migrations.map((m) => m.name);

for (const provider of PROVIDERS) {
  describe(`the gate on ${provider}`, () => {
    test('gives up after MIGRATION_WAIT_TIMEOUT naming the migrations it waited for; the app does not start', async (t) => {
      const db = await testDatabase(t, provider);
      const starts = join(workDir(t), 'starts.log');
      const started = Date.now();
      const run = await runEntrypoint(t, appCommand(starts), { DATABASE_URL: db.url, RUN_MIGRATIONS: 'false', MIGRATION_WAIT_TIMEOUT: '2' });
      assert.equal(run.code, 1, run.output);
      assert.match(errorLines(run)[0] ?? '', new RegExp(`^Error: Gave up after 2s waiting for ${REAL.length} migration\\(s\\) to be applied: ${REAL.join(', ')}$`), 'the first error says what it waited for');
      assert.match(run.stderr, /RUN_MIGRATIONS=true/, 'says which container should have migrated');
      assert.match(run.stderr, /^Error: the database schema did not become current; the application was not started/m);
      assert.ok(Date.now() - started < 30_000);
      assert.deepEqual(readStarts(starts), [], 'the app did not start');
    });

    test('a failed migration in the database: exits 1 at once naming it and the commands that resolve it', async (t) => {
      const db = await testDatabase(t, provider);
      const prismaDir = copyPrismaDir(t);
      const broken = '20300101000000_broken';
      addMigration(prismaDir, broken, { postgresql: 'CREATE TABLE "Broken" ("id" INTEGER);\nSELECT 1/0;\n', sqlite: 'CREATE TABLE "Broken" ("id" INTEGER);\nINSERT INTO "Missing" VALUES (1);\n' });
      const deployed = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url, PRISMA_DIR: prismaDir } });
      assert.notEqual(deployed.code, 0, 'the broken migration failed');
      const failedRows = (await historyRows(await db.connect())).filter((row) => row.finished_at === null);
      assert.deepEqual(failedRows.map((row) => row.migration_name), [broken]);

      const starts = join(workDir(t), 'starts.log');
      const started = Date.now();
      const run = await runEntrypoint(t, appCommand(starts), { DATABASE_URL: db.url, PRISMA_DIR: prismaDir, RUN_MIGRATIONS: 'false', MIGRATION_WAIT_TIMEOUT: '60' });
      assert.equal(run.code, 1, run.output);
      assert.match(errorLines(run)[0] ?? '', new RegExp(`^Error: Migration ${broken} failed`), 'the first error names the failed migration');
      assert.match(run.stderr, new RegExp(`make resolve ROLLED_BACK=${broken}`));
      assert.ok(Date.now() - started < 30_000, 'it did not wait for the timeout');
      assert.deepEqual(readStarts(starts), []);
    });

    test('a folder older than the database: starts, and says the database has newer migrations', async (t) => {
      const db = await testDatabase(t, provider);
      const newer = copyPrismaDir(t);
      addMigration(newer, '20300101000000_newer', { postgresql: 'CREATE TABLE "Newer" ("id" INTEGER);\n', sqlite: 'CREATE TABLE "Newer" ("id" INTEGER);\n' });
      const deployed = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url, PRISMA_DIR: newer } });
      assert.equal(deployed.code, 0, deployed.stderr);

      const starts = join(workDir(t), 'starts.log');
      const run = await runEntrypoint(t, appCommand(starts), { DATABASE_URL: db.url, RUN_MIGRATIONS: 'false', MIGRATION_WAIT_TIMEOUT: '10' });
      assert.equal(run.code, 0, run.output);
      assert.match(run.stdout, /Note: the database has 1 newer migration\(s\) this image does not know \(20300101000000_newer\)/);
      assert.match(run.stdout, new RegExp(`Schema is up to date \\(${REAL.length} migrations`));
      assert.equal(readStarts(starts).length, 1, 'the app started');
    });
  });
}

/** Start a waiter, let it settle in the gate, deploy, and measure how soon after the last commit its app starts. */
async function wakeDelay(t: import('node:test').TestContext, provider: Provider): Promise<{ delayMs: number; notifications: number }> {
  const db = await testDatabase(t, provider);
  const history = syntheticPrismaDir(t, 20, { rows: provider === 'postgresql' ? 20_000 : 2_000 });
  const starts = join(workDir(t), 'starts.log');
  let notifications = 0;
  if (provider === 'postgresql') {
    const listener = await openConnection(db.target, { applicationName: 'test-listener' });
    t.after(() => listener.close());
    await listener.listen?.(MIGRATIONS_CHANNEL, () => notifications++);
  }
  const waiter = startEntrypoint(t, appCommand(starts, 'waiter'), { DATABASE_URL: db.url, PRISMA_DIR: history.dir, RUN_MIGRATIONS: 'false', MIGRATION_WAIT_TIMEOUT: '120' });
  // The heartbeat shows the gate is waiting for the migrations (not for the database).
  await until('the waiter to report it is waiting for migrations', () => /… waiting for \d+ migration\(s\)/.test(waiter.stderr()), 60_000);
  const deployed = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url, PRISMA_DIR: history.dir } });
  assert.equal(deployed.code, 0, deployed.stderr);
  const exit = await finished(waiter, 60_000);
  assert.equal(exit.code, 0, waiter.output());
  const committed = lastFinished(await historyRows(await db.connect()));
  const [start] = readStarts(starts);
  assert.ok(start, 'the waiter started its app');
  assert.ok(start.time >= Math.floor(committed), 'not before the last commit');
  return { delayMs: start.time - committed, notifications };
}

describe('the gate wakes when the migrator is done', () => {
  test('on PostgreSQL: the waiting container starts within ~3 s of the last commit (NOTIFY, or 1 s polling)', async (t) => {
    const { delayMs, notifications } = await wakeDelay(t, 'postgresql');
    t.diagnostic(`app started ${delayMs}ms after the last commit; NOTIFY on ${MIGRATIONS_CHANNEL} observed: ${notifications > 0 ? `yes (${notifications})` : 'no'}`);
    assert.ok(delayMs < 3000, `started ${delayMs}ms after the last commit`);
  });

  test('on PostgreSQL the NOTIFY alone wakes the gate: with polling pushed out to 60 s it still opens within 3 s of the commit', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const history = readHistory('postgresql');
    const waiter = await openConnection(db.target, { applicationName: 'test-waiter' });
    t.after(() => waiter.close());
    const gate = waitForSchema(waiter, history, { timeoutMs: 120_000, pollMs: 60_000 });
    await new Promise((done) => setTimeout(done, 500)); // settled in its wait: the first read found everything pending
    const migrator = await openConnection(db.target, { applicationName: 'test-migrator' });
    t.after(() => migrator.close());
    await deploy(migrator, history, { lockTimeoutMs: 10_000 });
    const committed = Date.now();
    const opened = await Promise.race([gate.then(() => Date.now()), new Promise<never>((_, fail) => setTimeout(() => fail(new Error('the gate did not open within 10 s: no notification woke it')), 10_000))]);
    assert.ok(opened - committed < 3000, `opened ${opened - committed}ms after the commit`);
    assert.equal((await gate).status.upToDate, true);
  });

  test('on SQLite (polling): the waiting container starts within ~3 s of the last commit', async (t) => {
    const { delayMs } = await wakeDelay(t, 'sqlite');
    t.diagnostic(`app started ${delayMs}ms after the last commit`);
    assert.ok(delayMs < 3000, `started ${delayMs}ms after the last commit`);
  });

  test('on SQLite: a waiter and a second migrator keep waiting through a migration longer than the 10 s busy timeout, then start', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const prismaDir = copyPrismaDir(t);
    // About 12 s of work in one transaction: the file stays locked that long.
    const slow = 'WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 85000000) SELECT count(*) FROM g;\nCREATE TABLE "Slow" ("id" INTEGER);\n';
    addMigration(prismaDir, '20300101000000_slow', { postgresql: 'CREATE TABLE "Slow" ("id" INTEGER);\n', sqlite: slow });
    const starts = join(workDir(t), 'starts.log');
    const env = { DATABASE_URL: db.url, PRISMA_DIR: prismaDir, MIGRATION_WAIT_TIMEOUT: '120' };
    const migrator = startEntrypoint(t, appCommand(starts, 'migrator'), { ...env, RUN_MIGRATIONS: 'true' });
    await until('the slow migration to start', () => /Applying migration `20300101000000_slow`/.test(migrator.stderr()), 60_000);
    const waiter = startEntrypoint(t, appCommand(starts, 'waiter'), { ...env, RUN_MIGRATIONS: 'false' });
    // A second migrator started meanwhile (RUN_MIGRATIONS=true by mistake) must wait as well, not fail.
    const second = startEntrypoint(t, appCommand(starts, 'second-migrator'), { ...env, RUN_MIGRATIONS: 'true' });
    const [migrated, waited, secondExit] = await Promise.all([finished(migrator, 120_000), finished(waiter, 120_000), finished(second, 120_000)]);
    assert.equal(migrated.code, 0, migrator.output());
    assert.equal(waited.code, 0, waiter.output());
    assert.equal(secondExit.code, 0, second.output());
    const rows = await historyRows(await db.connect());
    const slowRow = rows.find((row) => row.migration_name === '20300101000000_slow');
    assert.ok(slowRow?.finished_at, 'the slow migration is applied');
    const started = readStarts(starts).find((s) => s.label === 'waiter');
    assert.ok(started && started.time >= new Date(slowRow.finished_at).getTime(), 'the waiter started after it');
  });
});
