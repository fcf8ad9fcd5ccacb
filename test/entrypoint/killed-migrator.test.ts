/**
 * A migrator killed at any instant (SIGKILL of the whole container: bash and the
 * kit's node process) leaves the database exactly at a migration boundary and
 * the migration lock free; the next start carries on.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { SqlConnection } from '../../src/db.ts';
import { ensureTable, TABLE } from '../../src/runtime/table.ts';
import { testDatabase } from '../helpers.ts';
import { appCommand, assertAppliedOnce, assertAtBoundary, finished, migrationLockRows, otherSessions, readStarts, startEntrypoint, syntheticPrismaDir, until, workDir } from './harness.ts';

const KILLS = 20;

/** Rows of the history, 0 before its table exists. */
async function recorded(conn: SqlConnection): Promise<number> {
  try {
    const [row] = await conn.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${TABLE}`);
    return Number(row?.n ?? 0);
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return 0; // undefined_table: not created yet
    throw error;
  }
}

/**
 * SIGKILL `run` once the history holds `rows` rows (and it printed `after`): the moment follows the deploy's own
 * progress, so on any machine the kill lands while it works (the server is already
 * running the next migration when one's commit is seen).
 */
async function killAtRow(run: ReturnType<typeof startEntrypoint>, conn: SqlConnection, rows: number, label: string, after?: RegExp): Promise<void> {
  let ended = false;
  void run.exited.then(() => (ended = true));
  if (after) await until(`${label} to print ${after}`, () => ended || after.test(run.stderr()), 60_000, 5);
  await until(`${label} to record ${rows} migrations`, async () => ended || (await recorded(conn)) >= rows, 60_000, 5);
  assert.equal(ended, false, `${label} ended before it was killed:\n${run.output()}`);
  run.killGroup();
  assert.equal((await finished(run, 10_000)).signal, 'SIGKILL', `${label} was killed`);
}

describe('a migrator killed during a deploy on PostgreSQL', () => {
  test(`${KILLS} SIGKILLs, each a few migrations into a deploy: each leaves a migration boundary and a free lock; the last deploy completes`, async (t) => {
    const db = await testDatabase(t, 'postgresql');
    // Each migration fills its table: most kills land inside a migration's transaction.
    const history = syntheticPrismaDir(t, 200, { rows: 5_000 });
    const starts = join(workDir(t), 'starts.log');
    const env = { DATABASE_URL: db.url, PRISMA_DIR: history.dir, RUN_MIGRATIONS: 'true', MIGRATION_LOCK_TIMEOUT: '30' };
    const conn = await db.connect();
    // A database with its history table: one migration at a time (a fresh one is built in batches, below).
    await ensureTable(conn);
    const progress: number[] = [0];
    for (let i = 0; i < KILLS; i++) {
      const run = startEntrypoint(t, appCommand(starts, `run-${i}`), env);
      await killAtRow(run, conn, (progress.at(-1) ?? 0) + Math.floor(Math.random() * 4), `run ${i}`, /Applying migration/);
      // The killed client's backend finishes (or aborts) what it was sent, then goes away.
      await until('the killed migrator’s session to end', async () => (await otherSessions(conn)).length === 0, 30_000, 20);
      await until('the migration lock to be released', async () => (await migrationLockRows(conn)).length === 0, 5_000, 20);
      progress.push(await assertAtBoundary(conn, history));
    }
    t.diagnostic(`applied after each kill: ${progress.slice(1).join(' ')} (of ${history.names.length})`);
    assert.ok((progress.at(-1) ?? 0) < history.names.length, 'migrations are left for the final deploy');
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
    const history = syntheticPrismaDir(t, 120, { rows: 5_000 });
    const starts = join(workDir(t), 'starts.log');
    for (let i = 0; i < 2; i++) {
      const db = await testDatabase(t, 'postgresql');
      const conn = await db.connect();
      const env = { DATABASE_URL: db.url, PRISMA_DIR: history.dir, RUN_MIGRATIONS: 'true', MIGRATION_LOCK_TIMEOUT: '30' };
      const run = startEntrypoint(t, appCommand(starts, `fresh-${i}`), env);
      // Somewhere in the first batch, whose migrations commit one by one as the server runs it.
      await killAtRow(run, conn, 1 + Math.floor(Math.random() * 60), `fresh run ${i}`);
      await until('the killed migrator’s session to end', async () => (await otherSessions(conn)).length === 0, 60_000, 20);
      await until('the migration lock to be released', async () => (await migrationLockRows(conn)).length === 0, 5_000, 20);
      const applied = await assertAtBoundary(conn, history);
      assert.ok(applied < history.names.length, `fresh run ${i} was killed before the end (${applied} applied)`);
      const last = startEntrypoint(t, appCommand(starts, `final-${i}`), env);
      assert.equal((await finished(last, 120_000)).code, 0, last.output());
      await assertAppliedOnce(conn, history.names);
      t.diagnostic(`fresh run ${i}: ${applied} of ${history.names.length} applied when killed`);
    }
    assert.deepEqual(readStarts(starts).map((s) => s.label), ['final-0', 'final-1']);
  });
});
