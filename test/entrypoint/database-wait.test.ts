/**
 * Containers that start before their database: they retry with a visible
 * heartbeat, then proceed when it comes up; when it never does, they give up
 * after DB_WAIT_TIMEOUT with one line naming the server.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openConnection, parseDatabaseUrl } from '../../src/db.ts';
import { freePort, startEmbeddedPostgres } from '../../src/authoring/embedded-postgres.ts';
import { appCommand, assertAppliedOnce, finished, lastFinished, readStarts, runEntrypoint, startEntrypoint, syntheticPrismaDir, until, workDir } from './harness.ts';
import { errorLines } from '../fixtures/kit.ts';
import { runScript, testDatabase } from '../helpers.ts';

describe('the database starts after the containers', () => {
  test('a migrator and two waiters started 5 s before PostgreSQL: heartbeat, then migrate once and start', async (t) => {
    const port = await freePort();
    const password = 'late-server-pw';
    const url = `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
    const history = syntheticPrismaDir(t, 10);
    const starts = join(workDir(t), 'starts.log');
    const env = { DATABASE_URL: url, PRISMA_DIR: history.dir, DB_WAIT_TIMEOUT: '90', MIGRATION_WAIT_TIMEOUT: '90' };
    const runs = [
      startEntrypoint(t, appCommand(starts, 'migrator'), { ...env, RUN_MIGRATIONS: 'true' }),
      startEntrypoint(t, appCommand(starts, 'waiter-1'), { ...env, RUN_MIGRATIONS: 'false' }),
      startEntrypoint(t, appCommand(starts, 'waiter-2'), { ...env, RUN_MIGRATIONS: 'false' }),
    ];
    // Each says it waits (a heartbeat every 2 s) before the server starts, however slow the machine.
    await until('a heartbeat from each container', () => runs.every((run) => /^… waiting for PostgreSQL/m.test(run.stderr())), 60_000);
    for (const run of runs) assert.equal(run.output().includes('Starting application'), false, 'nothing started without a database');
    const server = await startEmbeddedPostgres({ port, password });
    t.after(() => server.stop());

    const exits = await Promise.all(runs.map((run) => finished(run, 120_000)));
    exits.forEach((exit, i) => assert.equal(exit.code, 0, runs[i]?.output()));
    for (const run of runs) {
      assert.match(run.stderr(), new RegExp(`^… waiting for PostgreSQL database "postgres", schema "public" at 127\\.0\\.0\\.1:${port} \\(\\d+s\\)$`, 'm'), `a heartbeat while the server was down:\n${run.output()}`);
      assert.match(run.stdout(), /Database is reachable/);
    }
    const conn = await openConnection(parseDatabaseUrl(url));
    t.after(() => conn.close());
    const rows = await assertAppliedOnce(conn, history.names);
    const started = readStarts(starts);
    assert.deepEqual(started.map((s) => s.label).sort(), ['migrator', 'waiter-1', 'waiter-2']);
    for (const start of started) assert.ok(start.time >= Math.floor(lastFinished(rows)), `${start.label} started before the last migration was committed`);
  });

  test('a database that never comes up: heartbeat, then after DB_WAIT_TIMEOUT one line naming host:port and exit 1', async (t) => {
    const port = await freePort(); // nothing listens there
    const password = 'Never-Shown-Db-Pass-5150';
    const starts = join(workDir(t), 'starts.log');
    const started = Date.now();
    const run = await runEntrypoint(t, appCommand(starts), { DATABASE_URL: `postgresql://app:${password}@127.0.0.1:${port}/rastar`, RUN_MIGRATIONS: 'false', DB_WAIT_TIMEOUT: '3' });
    const elapsed = Date.now() - started;

    assert.equal(run.code, 1, run.output);
    assert.match(run.stderr, new RegExp(`^… waiting for PostgreSQL database "rastar", schema "public" at 127\\.0\\.0\\.1:${port} \\(\\d+s\\)$`, 'm'), 'a heartbeat');
    const errors = errorLines(run);
    assert.match(errors[0] ?? '', new RegExp(`^Error: Gave up after 3s: Can't reach database server at 127\\.0\\.0\\.1:${port} \\(database "rastar"\\)`), 'one line naming host:port');
    assert.match(run.stderr, /DB_WAIT_TIMEOUT/, 'and how to allow more time');
    assert.ok(elapsed >= 3000 && elapsed < 20_000, `gave up after about DB_WAIT_TIMEOUT (${elapsed}ms)`);
    assert.equal(run.output.includes(password), false, 'the password is never printed');
    assert.deepEqual(readStarts(starts), []);
  });
});

describe('a database that answers "no" is not waited for', () => {
  test('wrong password (P1000) or no such database (P1003): migrate wait fails at once, not after DB_WAIT_TIMEOUT, naming why', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const url = new URL(db.url);
    url.password = 'certainly-not-the-password';
    const wrongPassword = url.href;
    const noDatabase = db.url.replace(/\/[^/?]+(\?|$)/, '/rastar_no_such_database$1');
    for (const [what, databaseUrl, line] of [
      ['wrong password', wrongPassword, /^Error: Cannot connect to database server at 127\.0\.0\.1:\d+ \(database "[^"]+"\): authentication failed for user "[^"]+" \(P1000\)$/],
      ['no such database', noDatabase, /^Error: Database "rastar_no_such_database" does not exist on the server at 127\.0\.0\.1:\d+ \(P1003\)$/],
    ] as const) {
      const started = Date.now();
      const result = await runScript('migrate', ['wait', '--database-only'], { env: { DATABASE_URL: databaseUrl, DB_WAIT_TIMEOUT: '60' } });
      assert.equal(result.code, 1, `${what}: ${result.stderr}`);
      assert.match(errorLines(result)[0] ?? '', line, what);
      assert.ok(Date.now() - started < 15_000, `${what}: gave up after ${Date.now() - started}ms, not at once`);
      assert.ok(!result.stderr.includes('certainly-not-the-password'), 'the password is never printed');
    }
  });
});
