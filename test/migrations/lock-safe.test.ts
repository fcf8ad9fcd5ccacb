/**
 * Lock-safe deploys on a real PostgreSQL: a migration whose ALTER waits behind a long
 * transaction gives up its place in the lock queue after MIGRATION_DDL_LOCK_TIMEOUT,
 * so the application's reads keep answering; it is retried, the blocker is named, and
 * it is applied once the blocker ends, or left pending (no failed row) if it never does.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import { openConnection, type SqlConnection } from '../../src/db.ts';
import { migrate, output, rows, writeMigration } from '../fixtures/kit.ts';
import { copyPrismaDir, runScript, scriptArgs, testDatabase, type RunResult, type TestDatabase } from '../helpers.ts';
import { until } from '../entrypoint/harness.ts';

const NAME = '20990101000000_add_nickname';

/** `migrate deploy` as a process, its stderr lines handed to `onLine` as they come. */
function deploying(env: NodeJS.ProcessEnv, onLine: (line: string) => void): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...scriptArgs('migrate'), 'deploy'], { env: { ...process.env, NODE_OPTIONS: '', ...env } });
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

const INDEX = '20990101000000_index_users';
const INDEX_SQL = 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "AdminUser_createdAt_idx" ON "AdminUser" ("createdAt");\n';

/** The project's history applied, a pending CREATE INDEX CONCURRENTLY, and an application transaction that wrote to the table and stays open. */
async function concurrentIndexSetup(t: TestContext): Promise<{ db: TestDatabase; env: NodeJS.ProcessEnv; app: SqlConnection }> {
  const db = await testDatabase(t, 'postgresql');
  const prismaDir = copyPrismaDir(t);
  assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prismaDir })).code, 0);
  writeMigration(prismaDir, 'postgresql', INDEX, INDEX_SQL);
  const app = await openConnection(db.target, { applicationName: 'busy-app' });
  t.after(() => app.close().catch(() => {}));
  await app.exec(`BEGIN; INSERT INTO "AdminUser" ("username", "passwordHash", "createdAt", "updatedAt") VALUES ('writer', 'x', 0, 0)`);
  return { db, env: { DATABASE_URL: db.url, PRISMA_DIR: prismaDir, MIGRATION_DDL_LOCK_TIMEOUT: '0.3' }, app };
}

async function indexState(conn: SqlConnection): Promise<{ valid: boolean }[]> {
  return conn.query(`SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'AdminUser_createdAt_idx'`);
}

test('CREATE INDEX CONCURRENTLY behind an open application transaction: retried, its INVALID leftover dropped and built again, applied once the transaction ends', async (t) => {
  const { db, env, app } = await concurrentIndexSetup(t);
  let retried!: () => void;
  const firstRetry = new Promise<void>((resolve) => (retried = resolve));
  const run = deploying(env, (line) => {
    if (new RegExp(`^Migration ${INDEX} waited 0\\.3s for its table locks \\(attempt 1 of 4\\)`).test(line)) retried();
  });
  await firstRetry;
  await app.exec('COMMIT');
  const result = await run;
  assert.equal(result.code, 0, output(result));
  assert.match(result.stderr, /^Note: 20990101000000_index_users: dropping the invalid index "AdminUser_createdAt_idx" an interrupted CREATE INDEX CONCURRENTLY left, to build it again\.$/m);
  assert.match(result.stdout, new RegExp(`^✓ Migration applied: ${INDEX} `, 'm'));
  const conn = await db.connect();
  assert.deepEqual(await indexState(conn), [{ valid: true }], 'one index, valid');
  const row = (await rows(conn)).find((r) => r.migration_name === INDEX);
  assert.ok(row?.finished_at && row.logs === null, 'recorded applied, no failure');
});

test('CREATE INDEX CONCURRENTLY whose blocker never ends: pending, no failed row, the INVALID leftover named; the next deploy drops it and builds it valid', async (t) => {
  const { db, env, app } = await concurrentIndexSetup(t);
  const result = await deploying(env, () => {});
  assert.equal(result.code, 1, output(result));
  assert.match(
    result.stderr,
    new RegExp(`^Error: Migration ${INDEX} could not take its table locks within 0\\.3s, 4 attempts\\. It stays pending: nothing of it was applied and no failed row was written; the interrupted build left the INVALID index "AdminUser_createdAt_idx", which the next deploy drops and builds again\\.$`, 'm'),
  );
  const conn = await db.connect();
  assert.equal((await rows(conn)).find((r) => r.migration_name === INDEX), undefined, 'no row: pending');
  assert.deepEqual(await indexState(conn), [{ valid: false }]);
  await app.exec('COMMIT');
  const again = await migrate(db.url, ['deploy'], env);
  assert.equal(again.code, 0, output(again));
  assert.match(again.stderr, /dropping the invalid index "AdminUser_createdAt_idx"/);
  assert.deepEqual(await indexState(conn), [{ valid: true }], 'built again, not kept INVALID by IF NOT EXISTS');
});

test('a deadlock with an application transaction: the migration is rolled back and retried, never recorded failed', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const prismaDir = copyPrismaDir(t);
  writeMigration(prismaDir, 'postgresql', '20990101000000_tables', 'CREATE TABLE "A" ("id" INTEGER);\nCREATE TABLE "B" ("id" INTEGER);\nINSERT INTO "B" VALUES (1);\nCREATE TABLE "Gate" ("id" INTEGER);\nINSERT INTO "Gate" VALUES (1);\n');
  assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prismaDir })).code, 0);
  const name = '20990101000001_touch_a_then_b';
  writeMigration(prismaDir, 'postgresql', name, 'ALTER TABLE "A" ADD COLUMN "x" INTEGER;\nSELECT 1 FROM "Gate" FOR UPDATE;\nUPDATE "B" SET "id" = "id";\n');
  // The application holds B's row, and will then want A: only the migration's deadlock check may fire (it waits last).
  const app = await openConnection(db.target, { applicationName: 'busy-app' });
  t.after(() => app.close().catch(() => {}));
  await app.exec(`SET deadlock_timeout = '1h'; BEGIN; UPDATE "B" SET "id" = "id"`);
  const gate = await openConnection(db.target);
  t.after(() => gate.close().catch(() => {}));
  await gate.exec('BEGIN; SELECT 1 FROM "Gate" FOR UPDATE');
  const watcher = await db.connect();
  const waiting = async (application: string, lock: string) =>
    (await watcher.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND wait_event = $2`, [application, lock])).length > 0;

  const run = deploying({ DATABASE_URL: db.url, PRISMA_DIR: prismaDir, MIGRATION_DDL_LOCK_TIMEOUT: '0' }, () => {});
  await until('the migration holds A and waits at the gate', () => waiting('rastar-migrate', 'transactionid'));
  const appRead = app.query('SELECT count(*) FROM "A"');
  await until('the application waits for A', () => waiting('busy-app', 'relation'));
  await gate.exec('COMMIT'); // the migration now wants B: a deadlock, and the migration is its victim
  await appRead; // the migration rolled back, so A is free
  await app.exec('COMMIT');
  const result = await run;
  assert.equal(result.code, 0, output(result));
  assert.match(result.stderr, new RegExp(`^Migration ${name} was ended by a deadlock with another session \\(attempt 1 of 4\\); rolled back, retrying in 1s…$`, 'm'));
  assert.match(result.stdout, new RegExp(`^✓ Migration applied: ${name} `, 'm'));
  const conn = await db.connect();
  assert.deepEqual((await rows(conn)).filter((r) => r.finished_at === null), [], 'no failed row');
  assert.equal((await conn.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'A' AND column_name = 'x'`)).length, 1);
});

test('SQLite: a database file another connection keeps locked for writing: retried, then applied once it lets go; never recorded failed', async (t) => {
  const db = await testDatabase(t, 'sqlite');
  const prismaDir = copyPrismaDir(t);
  assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prismaDir })).code, 0);
  const name = '20990101000000_add_nickname';
  writeMigration(prismaDir, 'sqlite', name, 'ALTER TABLE "AdminUser" ADD COLUMN "nickname" TEXT;\n');
  const app = await db.connect();
  await app.exec('BEGIN IMMEDIATE');
  const env = { DATABASE_URL: db.url, PRISMA_DIR: prismaDir, MIGRATION_DDL_LOCK_TIMEOUT: '0.2' };

  const givenUp = await deploying(env, () => {});
  assert.equal(givenUp.code, 1, output(givenUp));
  assert.match(givenUp.stderr, new RegExp(`^Error: Migration ${name} found the database file locked by another connection, 4 attempts\\. It stays pending: nothing of it was applied and no failed row was written\\.$`, 'm'));
  assert.equal((await rows(await db.connect())).find((r) => r.migration_name === name), undefined, 'no row');

  let retried!: () => void;
  const firstRetry = new Promise<void>((resolve) => (retried = resolve));
  const run = deploying(env, (line) => {
    if (line.startsWith(`Migration ${name} found the database file locked by another connection (attempt 1 of 4); rolled back, retrying in 1s…`)) retried();
  });
  await firstRetry;
  await app.exec('ROLLBACK');
  const result = await run;
  assert.equal(result.code, 0, output(result));
  assert.match(result.stdout, new RegExp(`^✓ Migration applied: ${name} `, 'm'));
  assert.deepEqual((await rows(await db.connect())).filter((r) => r.finished_at === null), []);
});
