/**
 * A migrator killed at any instant (SIGKILL of the whole container: bash and the
 * kit's node process) leaves the database exactly at a migration boundary and
 * the migration lock free; the next start carries on.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ensureTable } from '../../src/runtime/table.ts';
import { testDatabase } from '../helpers.ts';
import { appCommand, assertAppliedOnce, assertAtBoundary, finished, migrationLockRows, otherSessions, readStarts, sleep, startEntrypoint, syntheticPrismaDir, until, workDir } from './harness.ts';

const KILLS = 25;

describe('a migrator killed during a deploy on PostgreSQL', () => {
  test(`${KILLS} SIGKILLs at random moments: each leaves a migration boundary and a free lock; the last deploy completes`, async (t) => {
    const db = await testDatabase(t, 'postgresql');
    // About 40 ms per migration here: most kills land inside a migration's transaction.
    const history = syntheticPrismaDir(t, 200, { rows: 20_000 });
    const starts = join(workDir(t), 'starts.log');
    const env = { DATABASE_URL: db.url, PRISMA_DIR: history.dir, RUN_MIGRATIONS: 'true', MIGRATION_LOCK_TIMEOUT: '30' };
    const conn = await db.connect();
    // A database with its history table: one migration at a time, each announced as it starts (a fresh one is built in batches, below).
    await ensureTable(conn);
    const progress: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      const run = startEntrypoint(t, appCommand(starts, `run-${i}`), env);
      let ended = false;
      void run.exited.then(() => (ended = true));
      await until(`run ${i} to start applying`, () => ended || /Applying migration/.test(run.stderr()), 60_000, 5);
      assert.equal(ended, false, `run ${i} ended before it was killed:\n${run.output()}`);
      await sleep(Math.floor(Math.random() * 350));
      run.killGroup();
      const exit = await finished(run, 10_000);
      assert.equal(exit.signal, 'SIGKILL', `run ${i} was killed (exit ${exit.code})`);
      // The killed client's backend finishes (or aborts) what it was sent, then goes away.
      await until('the killed migrator’s session to end', async () => (await otherSessions(conn)).length === 0, 30_000, 20);
      await until('the migration lock to be released', async () => (await migrationLockRows(conn)).length === 0, 5_000, 20);
      progress.push(await assertAtBoundary(conn, history));
    }
    t.diagnostic(`applied after each kill: ${progress.join(' ')} (of ${history.names.length})`);
    assert.ok((progress.at(-1) ?? 0) < history.names.length, 'migrations are left for the final deploy (else the kills came too late to prove anything)');
    assert.equal(readStarts(starts).length, 0, 'no killed migrator started its app');

    const last = startEntrypoint(t, appCommand(starts, 'final'), env);
    const exit = await finished(last, 120_000);
    assert.equal(exit.code, 0, last.output());
    assert.match(last.stdout(), /Database is now up to date! \d+ migrations? applied/);
    await assertAppliedOnce(conn, history.names);
    assert.equal(await assertAtBoundary(conn, history), history.names.length);
    assert.deepEqual(readStarts(starts).map((s) => s.label), ['final']);
  });

  test(`SIGKILLs while a fresh database is built several migrations to a round trip: each leaves a migration boundary and a free lock`, async (t) => {
    // About 5 s of work on this machine: the kill, within 1 s of the deploy's start, lands in it.
    const history = syntheticPrismaDir(t, 120, { rows: 20_000 });
    const starts = join(workDir(t), 'starts.log');
    for (let i = 0; i < 2; i++) {
      const db = await testDatabase(t, 'postgresql');
      const conn = await db.connect();
      const env = { DATABASE_URL: db.url, PRISMA_DIR: history.dir, RUN_MIGRATIONS: 'true', MIGRATION_LOCK_TIMEOUT: '30' };
      const run = startEntrypoint(t, appCommand(starts, `fresh-${i}`), env);
      let ended = false;
      void run.exited.then(() => (ended = true));
      // Batches announce their migrations once they committed: kill once the deploy has begun.
      await until(`fresh run ${i} to begin its deploy`, () => ended || /Datasource:/.test(run.stderr() + run.stdout()), 60_000, 5);
      await sleep(Math.floor(Math.random() * 1000));
      assert.equal(ended, false, `fresh run ${i} ended before it was killed:\n${run.output()}`);
      run.killGroup();
      assert.equal((await finished(run, 10_000)).signal, 'SIGKILL');
      await until('the killed migrator’s session to end', async () => (await otherSessions(conn)).length === 0, 60_000, 20);
      await until('the migration lock to be released', async () => (await migrationLockRows(conn)).length === 0, 5_000, 20);
      const applied = await assertAtBoundary(conn, history);
      const last = startEntrypoint(t, appCommand(starts, `final-${i}`), env);
      assert.equal((await finished(last, 120_000)).code, 0, last.output());
      await assertAppliedOnce(conn, history.names);
      t.diagnostic(`fresh run ${i}: ${applied} of ${history.names.length} applied when killed`);
    }
    assert.deepEqual(readStarts(starts).map((s) => s.label), ['final-0', 'final-1']);
  });
});
