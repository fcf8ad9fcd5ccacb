/**
 * Lock-safe deploys on a real PostgreSQL: a migration whose ALTER waits behind a long
 * transaction gives up its place in the lock queue after MIGRATION_DDL_LOCK_TIMEOUT,
 * so the application's reads keep answering; it is retried, the blocker is named, and
 * it is applied once the blocker ends, or left pending (no failed row) if it never does.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { openConnection, projectRoot, type SqlConnection } from '../../src/db.ts';
import { migrate, output, rows, writeMigration } from '../fixtures/kit.ts';
import { copyPrismaDir, runScript, testDatabase, TSX_LOADER, type RunResult, type TestDatabase } from '../helpers.ts';

const NAME = '20990101000000_add_nickname';

/** `migrate deploy` as a process, its stderr lines handed to `onLine` as they come. */
function deploying(env: NodeJS.ProcessEnv, onLine: (line: string) => void): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', TSX_LOADER, join(projectRoot, 'scripts', 'migrate.ts'), 'deploy'], { env: { ...process.env, NODE_OPTIONS: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      const before = stderr.split('\n').length - 1;
      stderr += chunk;
      for (const line of stderr.split('\n').slice(before, -1)) onLine(line);
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** The project's history applied, one pending migration that alters AdminUser, and a session holding a read lock on it. */
async function blockedSetup(t: TestContext): Promise<{ db: TestDatabase; env: NodeJS.ProcessEnv; blocker: SqlConnection }> {
  const db = await testDatabase(t, 'postgresql');
  const prismaDir = copyPrismaDir(t);
  assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prismaDir })).code, 0);
  writeMigration(prismaDir, 'postgresql', NAME, 'ALTER TABLE "AdminUser" ADD COLUMN "nickname" TEXT;\n');
  const blocker = await openConnection(db.target, { applicationName: 'long-report' });
  t.after(() => blocker.close().catch(() => {}));
  await blocker.exec('BEGIN');
  await blocker.query('SELECT count(*) FROM "AdminUser"');
  return { db, env: { DATABASE_URL: db.url, PRISMA_DIR: prismaDir, MIGRATION_DDL_LOCK_TIMEOUT: '1' }, blocker };
}

test('a migration blocked by a long transaction: reads keep answering, the blocker is named, the migration applies once it ends', async (t) => {
  const { db, env, blocker } = await blockedSetup(t);
  const reader = await db.connect();
  let retried!: () => void;
  const firstRetry = new Promise<void>((resolve) => (retried = resolve));
  const run = deploying(env, (line) => {
    if (/waited 1s for its table locks/.test(line)) retried();
  });
  // The application's reads while the migration waits: each answers within about the DDL lock timeout.
  const readTimes: number[] = [];
  const reading = (async () => {
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      const started = performance.now();
      await reader.query('SELECT count(*) FROM "AdminUser"');
      readTimes.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  await firstRetry;
  await reading;
  await blocker.exec('COMMIT');
  const result = await run;
  assert.equal(result.code, 0, output(result));
  assert.match(result.stderr, new RegExp(`^Migration ${NAME} waited 1s for its table locks \\(attempt 1 of 4\\), blocked by pid \\d+ "long-report" idle in transaction since \\S+: SELECT count\\(\\*\\) FROM "AdminUser"; rolled back, retrying in 1s…$`, 'm'));
  assert.match(result.stdout, new RegExp(`✓ Migration applied: ${NAME}`));
  assert.ok(readTimes.length >= 5 && Math.max(...readTimes) < 2500, `reads answered in ${readTimes.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  const columns = await reader.query<{ column_name: string }>(`SELECT column_name FROM information_schema.columns WHERE table_name = 'AdminUser' AND column_name = 'nickname'`);
  assert.equal(columns.length, 1, 'applied');
});

test('a blocker that never ends: exit 1 with the report, nothing applied, no failed row; the next deploy applies it', async (t) => {
  const { db, env, blocker } = await blockedSetup(t);
  const result = await deploying({ ...env, MIGRATION_DDL_LOCK_TIMEOUT: '0.3' }, () => {});
  assert.equal(result.code, 1, output(result));
  assert.match(result.stderr, new RegExp(`^Error: Migration ${NAME} could not take its table locks within 0\\.3s, 4 attempts; blocked by pid \\d+ "long-report" idle in transaction since \\S+: SELECT count\\(\\*\\) FROM "AdminUser"\\. It stays pending: nothing of it was applied and no failed row was written\\.$`, 'm'));
  assert.equal(result.stderr.match(/retrying in/g)?.length, 3, 'three retries, with backoff');
  const conn = await db.connect();
  assert.ok(!(await rows(conn)).some((r) => r.migration_name === NAME), 'no row');
  await blocker.exec('COMMIT');
  const again = await migrate(db.url, ['deploy'], env);
  assert.equal(again.code, 0, output(again));
  assert.match(again.stdout, new RegExp(`✓ Migration applied: ${NAME}`));
});

test('MIGRATION_DDL_LOCK_TIMEOUT negative or not a number: one line, exit 2', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  for (const value of ['-1', 'soon']) {
    const result = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url, MIGRATION_DDL_LOCK_TIMEOUT: value } });
    assert.equal(result.code, 2, output(result));
    assert.match(result.stderr, new RegExp(`^Error: MIGRATION_DDL_LOCK_TIMEOUT must be a number of seconds >= 0, got "${value}"$`, 'm'));
  }
});
