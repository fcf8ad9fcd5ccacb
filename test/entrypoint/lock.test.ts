/**
 * The migration lock as a container meets it: a holder is named while the
 * migrator waits and in the error when it gives up; on SQLite the lock is the
 * kernel's, so one left by a dead migrator (any host) is free at once.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openConnection, projectRoot } from '../../src/db.ts';
import { ADVISORY_LOCK_KEY } from '../../src/runtime/lock.ts';
import { testDatabase, TSX_LOADER } from '../helpers.ts';
import { appCommand, assertAppliedOnce, historyRows, readStarts, runEntrypoint, syntheticPrismaDir, tableNames, workDir } from './harness.ts';
import { errorLines } from '../fixtures/kit.ts';

describe('the PostgreSQL migration lock held by another session', () => {
  test('the migrator names the holder while waiting, gives up after MIGRATION_LOCK_TIMEOUT with that report, applies nothing', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    // The same key held in another database of the server: not our lock (advisory locks are per database), never to be reported.
    const elsewhere = await openConnection((await testDatabase(t, 'postgresql')).target, { applicationName: 'other-database' });
    t.after(() => elsewhere.close());
    await elsewhere.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_KEY]);
    const holder = await openConnection(db.target, { applicationName: 'held-by-test' });
    t.after(() => holder.close());
    const [{ pid } = { pid: 0 }] = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await holder.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_KEY]);
    const starts = join(workDir(t), 'starts.log');

    const started = Date.now();
    const run = await runEntrypoint(t, appCommand(starts), { DATABASE_URL: db.url, RUN_MIGRATIONS: 'true', MIGRATION_LOCK_TIMEOUT: '2' });
    const elapsed = Date.now() - started;

    assert.equal(run.code, 1, run.output);
    const holderReport = new RegExp(`pid ${pid} "held-by-test" from 127\\.0\\.0\\.1 since \\d{4}-\\d\\d-\\d\\dT`);
    assert.match(run.stderr, new RegExp(`Waiting for the migration lock, held by ${holderReport.source}`), 'the holder is named while waiting');
    assert.match(errorLines(run)[0] ?? '', new RegExp(`^Error: Timed out after 2s waiting for the migration lock, held by ${holderReport.source}`), 'and in the first error');
    assert.match(run.stderr, /pg_terminate_backend/, 'the error says how to end a stuck holder');
    assert.doesNotMatch(run.stderr, /other-database/, 'a holder in another database is not reported');
    assert.match(run.stderr, /^Error: the database migrations failed; the application was not started/m);
    assert.ok(elapsed < 30_000, `gave up in about MIGRATION_LOCK_TIMEOUT (took ${elapsed}ms)`);
    assert.deepEqual(readStarts(starts), [], 'the app did not start');
    const conn = await db.connect();
    assert.deepEqual(await tableNames(conn), [], 'nothing applied, not even the history table');
  });
});

describe('the SQLite migration lock file', () => {
  /** A pid that surely belonged to a process which has exited. */
  function deadPid(): number {
    const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    return Number(child.stdout.trim());
  }

  test('a lock file naming a dead pid on this host is taken over', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const lock = `${(db.target as { file: string }).file}.migrate.lock`;
    const pid = deadPid();
    writeFileSync(lock, JSON.stringify({ pid, host: hostname(), since: new Date(Date.now() - 60_000).toISOString(), applicationName: 'rastar-migrate' }));
    const history = syntheticPrismaDir(t, 5);
    const starts = join(workDir(t), 'starts.log');

    const run = await runEntrypoint(t, appCommand(starts), { DATABASE_URL: db.url, PRISMA_DIR: history.dir, RUN_MIGRATIONS: 'true', MIGRATION_LOCK_TIMEOUT: '5' });

    assert.equal(run.code, 0, run.output);
    assert.doesNotMatch(run.output, /Timed out/);
    await assertAppliedOnce(await db.connect(), history.names);
    assert.equal(existsSync(lock), false, 'the lock is released (removed) after the deploy');
    assert.equal(readStarts(starts).length, 1);
  });

  test('a lock file whose pid now belongs to a younger process (a restarted container) is taken over', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const lock = `${(db.target as { file: string }).file}.migrate.lock`;
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    t.after(() => void other.kill('SIGKILL'));
    writeFileSync(lock, JSON.stringify({ pid: other.pid, host: hostname(), since: new Date(Date.now() - 60_000).toISOString(), applicationName: 'rastar-migrate' }));
    const history = syntheticPrismaDir(t, 3);
    const starts = join(workDir(t), 'starts.log');

    const run = await runEntrypoint(t, appCommand(starts), { DATABASE_URL: db.url, PRISMA_DIR: history.dir, RUN_MIGRATIONS: 'true', MIGRATION_LOCK_TIMEOUT: '3' });

    assert.equal(run.code, 0, run.output);
    await assertAppliedOnce(await db.connect(), history.names);
    assert.equal(existsSync(lock), false);
  });

  test('4 migrators at once over a stale lock file: it is taken over by one of them at a time', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const lock = `${(db.target as { file: string }).file}.migrate.lock`;
    writeFileSync(lock, JSON.stringify({ pid: deadPid(), host: hostname(), since: new Date().toISOString(), applicationName: 'rastar-migrate' }));
    const history = syntheticPrismaDir(t, 40, { rows: 2_000 });
    const starts = join(workDir(t), 'starts.log');
    const env = { DATABASE_URL: db.url, PRISMA_DIR: history.dir, RUN_MIGRATIONS: 'true', MIGRATION_LOCK_TIMEOUT: '120' };
    const runs = await Promise.all(Array.from({ length: 4 }, (_, i) => runEntrypoint(t, appCommand(starts, `m${i}`), env, 120_000)));
    runs.forEach((run, i) => assert.equal(run.code, 0, `migrator ${i}:\n${run.output}`));
    await assertAppliedOnce(await db.connect(), history.names);
    const appliers = runs.filter((run) => /Migration applied:/.test(run.stdout)).length;
    assert.equal(appliers, 1, 'one migrator applied everything; the others found it done');
    assert.equal(existsSync(lock), false);
  });

  test('the lock file of a migrator that died in another container (another host name) is taken over: the kernel freed its lock', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const lock = `${(db.target as { file: string }).file}.migrate.lock`;
    writeFileSync(lock, JSON.stringify({ pid: 4242, host: 'other-container', since: new Date(Date.now() - 5_000).toISOString(), applicationName: 'rastar-migrate' }));
    const history = syntheticPrismaDir(t, 3);
    const starts = join(workDir(t), 'starts.log');

    const run = await runEntrypoint(t, appCommand(starts), { DATABASE_URL: db.url, PRISMA_DIR: history.dir, RUN_MIGRATIONS: 'true', MIGRATION_LOCK_TIMEOUT: '2' });

    assert.equal(run.code, 0, run.output);
    assert.doesNotMatch(run.output, /Waiting for the migration lock|other-container/, 'never waited for the dead holder');
    await assertAppliedOnce(await db.connect(), history.names);
    assert.equal(existsSync(lock), false);
  });

  test('a live migrator in another process is respected, named in the error; the moment it is killed, the next migrator proceeds', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const lock = `${(db.target as { file: string }).file}.migrate.lock`;
    const holderScript = `import { acquireFileLock } from ${JSON.stringify(join(projectRoot, 'src', 'runtime', 'lock.ts'))};
await acquireFileLock(process.argv[1], { timeoutMs: 5000 });
console.log('held');
setInterval(() => {}, 1000);`;
    const holder = spawn(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', holderScript, lock], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => void holder.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (chunk: Buffer) => String(chunk).includes('held') && resolve());
      holder.on('exit', (code) => reject(new Error(`the holder exited (${code})`)));
    });
    const history = syntheticPrismaDir(t, 3);
    const starts = join(workDir(t), 'starts.log');
    const env = { DATABASE_URL: db.url, PRISMA_DIR: history.dir, RUN_MIGRATIONS: 'true', MIGRATION_LOCK_TIMEOUT: '1' };

    const refused = await runEntrypoint(t, appCommand(starts), env);
    assert.equal(refused.code, 1, refused.output);
    assert.match(errorLines(refused)[0] ?? '', new RegExp(`^Error: Timed out after 1s waiting for the migration lock .*\\.migrate\\.lock, held by pid ${holder.pid} "rastar-migrate on ${hostname().replace(/[.]/g, '\\.')}" since \\d{4}-`));
    assert.match(refused.stderr, /freed the moment its process ends/, 'says why waiting is the answer');
    assert.deepEqual(await historyRows(await db.connect()), [], 'nothing applied');

    holder.kill('SIGKILL'); // no cleanup runs: the lock file stays, the kernel lock goes
    await new Promise((resolve) => holder.once('exit', resolve));
    assert.equal(existsSync(lock), true, 'the dead holder left its lock file behind');
    const started = Date.now();
    const run = await runEntrypoint(t, appCommand(starts), env);
    assert.equal(run.code, 0, run.output);
    assert.ok(Date.now() - started < 20_000);
    await assertAppliedOnce(await db.connect(), history.names);
    assert.equal(readStarts(starts).length, 1);
  });
});
