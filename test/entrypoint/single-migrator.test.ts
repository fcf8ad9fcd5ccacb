/**
 * Single migrator, even by mistake: many containers started together, several of
 * them with RUN_MIGRATIONS=true, apply each migration exactly once, and no app
 * starts before the last migration is committed.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { testDatabase } from '../helpers.ts';
import { appCommand, assertAppliedOnce, finished, lastFinished, readStarts, startEntrypoint, syntheticPrismaDir, workDir, type Entrypoint } from './harness.ts';

const GENEROUS = { MIGRATION_LOCK_TIMEOUT: '240', MIGRATION_WAIT_TIMEOUT: '240', DB_WAIT_TIMEOUT: '60' };

/** The processes of `runs` that printed at least one applied migration. */
function appliers(runs: Entrypoint[]): number[] {
  return runs.flatMap((run, i) => (/Migration applied:/.test(run.stdout()) ? [i] : []));
}

describe('entrypoints started together on PostgreSQL', () => {
  test('20 at once, 5 of them migrators: every migration applied once, all exit 0, no app starts before the last commit', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const history = syntheticPrismaDir(t, 80, { rows: 20_000 });
    const dir = workDir(t);
    const starts = join(dir, 'starts.log');
    const runs: Entrypoint[] = [];
    for (let i = 0; i < 20; i++) {
      const migrator = i % 4 === 0; // 0, 4, 8, 12, 16: spread among the others
      runs.push(
        startEntrypoint(t, appCommand(starts, migrator ? `migrator-${i}` : `waiter-${i}`), {
          DATABASE_URL: db.url,
          PRISMA_DIR: history.dir,
          RUN_MIGRATIONS: migrator ? 'true' : 'false',
          ...GENEROUS,
        }),
      );
    }
    const exits = await Promise.all(runs.map((run) => finished(run, 240_000)));
    exits.forEach((exit, i) => assert.equal(exit.code, 0, `entrypoint ${i} exited ${exit.code ?? exit.signal}:\n${runs[i]?.output()}`));
    // Node.js 20 warns on every start under lite mode unless the entrypoint tells it first.
    runs.forEach((run, i) => assert.doesNotMatch(run.output(), /^Warning: /m, `entrypoint ${i} printed a warning:\n${run.output()}`));

    const conn = await db.connect();
    const rows = await assertAppliedOnce(conn, history.names);
    const committed = lastFinished(rows);
    const started = readStarts(starts);
    assert.equal(started.length, 20, 'every entrypoint started its app once');
    for (const start of started) {
      assert.ok(start.time >= Math.floor(committed), `${start.label} started at ${start.time}, before the last migration finished at ${committed}`);
    }
    assert.equal(appliers(runs).length, 1, `exactly one migrator applied migrations (the lock excluded the others): ${appliers(runs).join(', ')}`);
    const waited = runs.filter((run) => /Waiting for the migration lock|No pending migrations/.test(run.output())).length;
    t.diagnostic(`${waited} migrator(s) found the work done or waited for the lock; gate outputs: ${runs.filter((run) => /waited/.test(run.stdout())).length} waited`);
  });
});

describe('entrypoints started together on SQLite', () => {
  test('4 migrators on one file: every migration applied once, all exit 0, the lock file is gone after', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const history = syntheticPrismaDir(t, 60, { rows: 2_000 });
    const dir = workDir(t);
    const starts = join(dir, 'starts.log');
    const runs = Array.from({ length: 4 }, (_, i) =>
      startEntrypoint(t, appCommand(starts, `migrator-${i}`), { DATABASE_URL: db.url, PRISMA_DIR: history.dir, RUN_MIGRATIONS: 'true', ...GENEROUS }),
    );
    const exits = await Promise.all(runs.map((run) => finished(run, 180_000)));
    exits.forEach((exit, i) => assert.equal(exit.code, 0, `entrypoint ${i} exited ${exit.code ?? exit.signal}:\n${runs[i]?.output()}`));
    const conn = await db.connect();
    const rows = await assertAppliedOnce(conn, history.names);
    const committed = lastFinished(rows);
    const started = readStarts(starts);
    assert.equal(started.length, runs.length, 'every entrypoint started its app once');
    for (const start of started) assert.ok(start.time >= Math.floor(committed), `${start.label} started before the last migration finished`);
    assert.equal(appliers(runs).length, 1, `exactly one migrator applied migrations: ${appliers(runs).join(', ')}`);
    assert.equal(existsSync(`${(db.target as { file: string }).file}.migrate.lock`), false, 'the lock file is removed');
  });
});
