/**
 * Production behind a connection pooler: a real PgBouncer (SCRAM) in transaction
 * mode, the same with DIRECT_DATABASE_URL, and in session mode. Five migrators at
 * once must apply each migration exactly once, record no failure and leave no
 * advisory lock behind (checked on the server itself, past the pooler).
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { openConnection, parseDatabaseUrl, type DatabaseTarget } from '../../src/db.ts';
import { ADVISORY_LOCK_KEY } from '../../src/runtime/lock.ts';
import { readHistory } from '../../src/runtime/history.ts';
import { ensureTable, insertRowSql } from '../../src/runtime/table.ts';
import { assertCleanFailure, migrate, output, rows, writeMigration } from '../fixtures/kit.ts';
import { copyPrismaDir, runScript, serverUrl, testDatabase, type RunResult } from '../helpers.ts';
import { startPgBouncer } from '../pgbouncer.ts';

const REAL = readHistory('postgresql').migrations.map((m) => m.name);
const SLOW = '20990101000000_slow';
const CONCURRENT = '20990101000001_concurrent_index';
const ALL = [...REAL, SLOW, CONCURRENT];
const TRANSACTIONAL = [...REAL, SLOW];
const POOLER_NOTE = /^Note: a transaction pooler sits between the kit and the database/m;

/** A history whose deploy lasts long enough for five migrators to overlap, with one migration that cannot run in a transaction (unless `transactionalOnly`: a transaction pooler refuses those). */
function overlappingHistory(t: TestContext, transactionalOnly = false): string {
  const prisma = copyPrismaDir(t);
  writeMigration(prisma, 'postgresql', SLOW, 'SELECT pg_sleep(1);\nCREATE TABLE "Slow" ("id" INTEGER);\n');
  if (!transactionalOnly) writeMigration(prisma, 'postgresql', CONCURRENT, 'CREATE INDEX CONCURRENTLY "Slow_id_idx" ON "Slow" ("id");\n');
  return prisma;
}

async function advisoryLocksOnServer(database: string): Promise<number> {
  const server = parseDatabaseUrl(serverUrl());
  const conn = await openConnection(server);
  try {
    const [row] = await conn.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND l.objid = $1 AND d.datname = $2`,
      [ADVISORY_LOCK_KEY, database],
    );
    return row?.n ?? -1;
  } finally {
    await conn.close();
  }
}

/** Five `migrate deploy` at once; a gate (`migrate wait`) started just before them. */
async function fiveMigrators(env: NodeJS.ProcessEnv): Promise<{ migrators: RunResult[]; gate: RunResult }> {
  const gate = runScript('migrate', ['wait'], { env: { ...env, MIGRATION_WAIT_TIMEOUT: '60' } });
  await new Promise((done) => setTimeout(done, 300));
  const migrators = await Promise.all(Array.from({ length: 5 }, () => runScript('migrate', ['deploy'], { env })));
  return { migrators, gate: await gate };
}

/** Every migration applied exactly once, by exactly one migrator; no failed row; no lock left. */
async function assertExactlyOnce(db: { connect(): ReturnType<typeof openConnection>; target: DatabaseTarget }, migrators: RunResult[], expected = ALL): Promise<void> {
  for (const run of migrators) assert.equal(run.code, 0, output(run));
  const history = await rows(await db.connect());
  assert.deepEqual(history.map((row) => row.migration_name).sort(), [...expected].sort(), 'one row per migration');
  assert.deepEqual(history.filter((row) => row.finished_at === null), [], 'no failed or unfinished row');
  const appliedLines = migrators.flatMap((run) => [...run.stdout.matchAll(/^✓ Migration applied: (\S+)/gm)].map((m) => m[1]));
  assert.deepEqual(appliedLines.sort(), [...expected].sort(), 'each migration reported applied by exactly one migrator');
  assert.doesNotMatch(migrators.map(output).join('\n'), /failed/i);
  const database = db.target.provider === 'postgresql' ? db.target.config.database : '';
  assert.equal(await advisoryLocksOnServer(database), 0, 'no advisory lock left on the server');
}

describe('behind PgBouncer in transaction mode (SCRAM)', () => {
  test('five migrators at once: each migration applied exactly once, no failed row, no lock left; the gate polls and says why', async (t) => {
    const bouncer = await startPgBouncer(t, 'transaction');
    const db = await testDatabase(t, 'postgresql');
    const database = (db.target as DatabaseTarget & { provider: 'postgresql' }).config.database;
    const prisma = overlappingHistory(t, true);
    const env = { DATABASE_URL: bouncer.url(database), PRISMA_DIR: prisma };
    const { migrators, gate } = await fiveMigrators(env);
    await assertExactlyOnce(db, migrators, TRANSACTIONAL);
    for (const run of migrators) assert.match(run.stderr, POOLER_NOTE, `each migrator says a pooler was found\n${run.stderr}`);
    assert.ok(
      migrators.some((run) => /^(✓ Migration applied by another migrator: \S+|No pending migrations\. Database is up to date\.)$/m.test(run.stdout)),
      'the others report the work of another migrator',
    );
    assert.equal(gate.code, 0, output(gate));
    assert.match(gate.stderr, /transaction pooler .*LISTEN cannot work through it, so the gate polls every second/);
    assert.match(gate.stdout, new RegExp(`^Schema is up to date \\(${TRANSACTIONAL.length} migrations`, 'm'));

    const status = await migrate(bouncer.url(database), ['status'], { PRISMA_DIR: prisma });
    assert.equal(status.code, 0, output(status));
    assert.match(status.stdout, /^Database schema is up to date!$/m);
    const check = await runScript('check-production-migrations', [], { env });
    assert.match(check.stdout, /^✓ connection reachable \(PostgreSQL \d+/m, output(check));
    assert.match(check.stdout, new RegExp(`^✓ history +_prisma_migrations present, ${TRANSACTIONAL.length} of ${TRANSACTIONAL.length} applied$`, 'm'));
  });

  test('a ?schema= that PgBouncer cannot set (it refuses start-up options) is refused in one line naming DIRECT_DATABASE_URL; nothing written', async (t) => {
    const bouncer = await startPgBouncer(t, 'transaction');
    const db = await testDatabase(t, 'postgresql');
    const database = (db.target as DatabaseTarget & { provider: 'postgresql' }).config.database;
    const deployed = await migrate(`${bouncer.url(database)}?schema=app`, ['deploy']);
    assertCleanFailure(deployed, 2, /^Error: The server at 127\.0\.0\.1:\d+ refuses start-up parameters \(a pooler such as PgBouncer\?\), so \?schema=app cannot be set through it; set DIRECT_DATABASE_URL to the PostgreSQL server itself$/m);
    const [schema] = await (await db.connect()).query(`SELECT 1 FROM pg_namespace WHERE nspname = 'app'`);
    assert.equal(schema, undefined, 'no schema created');
    assert.equal((await rows(await db.connect())).length, 0);
  });

  test('with DIRECT_DATABASE_URL: the direct path (session lock, holder report, no pooler note), the apps keep the pooled URL', async (t) => {
    const bouncer = await startPgBouncer(t, 'transaction');
    const db = await testDatabase(t, 'postgresql');
    const database = (db.target as DatabaseTarget & { provider: 'postgresql' }).config.database;
    const env = { DATABASE_URL: bouncer.url(database), DIRECT_DATABASE_URL: db.url, PRISMA_DIR: overlappingHistory(t) };
    const { migrators, gate } = await fiveMigrators(env);
    await assertExactlyOnce(db, migrators);
    const all = migrators.map(output).join('\n');
    assert.doesNotMatch(all, POOLER_NOTE);
    assert.match(all, /^Waiting for the migration lock, held by pid \d+ "rastar-migrate" from /m, 'waiting migrators name the holder');
    const direct = new URL(db.url);
    for (const run of migrators) assert.match(run.stderr, new RegExp(`^Datasource: .* at ${direct.hostname}:${direct.port} `, 'm'), 'the kit works on the direct URL');
    assert.equal(gate.code, 0, output(gate));
    assert.doesNotMatch(gate.stderr, /pooler/, 'the gate listens on the direct connection');
  });
});

describe('behind PgBouncer in session mode', () => {
  test('behaves as a direct connection: session lock with holder report, no pooler note, exactly once', async (t) => {
    const bouncer = await startPgBouncer(t, 'session');
    const db = await testDatabase(t, 'postgresql');
    const database = (db.target as DatabaseTarget & { provider: 'postgresql' }).config.database;
    const { migrators, gate } = await fiveMigrators({ DATABASE_URL: bouncer.url(database), PRISMA_DIR: overlappingHistory(t) });
    await assertExactlyOnce(db, migrators);
    const all = migrators.map(output).join('\n');
    assert.doesNotMatch(all, POOLER_NOTE);
    assert.match(all, /^Waiting for the migration lock, held by pid \d+/m);
    assert.equal(gate.code, 0, output(gate));
    assert.doesNotMatch(gate.stderr, /pooler/);
  });
});

describe('a row of another migrator appears while this one waits', () => {
  test('on a direct connection: reported as applied by another migrator, no failure recorded, the rest applied', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const [first] = readHistory('postgresql').migrations;
    assert.ok(first);
    // Another tool (one that takes no lock of the kit's) applies the first migration in a transaction it keeps open.
    const other = await db.connect();
    await ensureTable(other);
    await other.exec(`BEGIN;\n${first.script};\n${insertRowSql(db.target, { name: first.name, checksum: first.checksum, startedAt: new Date(), finishedAt: new Date(), logs: null, appliedSteps: 1 })}`);
    const deploying = migrate(db.url, ['deploy']);
    // The kit's first migration now waits on the other transaction's new tables: let that one commit.
    const watcher = await db.connect();
    for (let i = 0; i < 200; i++) {
      const waiting = await watcher.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'rastar-migrate' AND wait_event_type = 'Lock'`);
      if (waiting.length) break;
      await new Promise((done) => setTimeout(done, 50));
    }
    await other.exec('COMMIT');
    const deployed = await deploying;
    assert.equal(deployed.code, 0, output(deployed));
    assert.match(deployed.stdout, new RegExp(`^✓ Migration applied by another migrator: ${first.name}$`, 'm'));
    assert.match(deployed.stdout, new RegExp(`\\(1 applied by another migrator\\)\\.$`, 'm'));
    const history = await rows(await db.connect());
    assert.deepEqual(history.map((row) => row.migration_name).sort(), [...REAL].sort());
    assert.deepEqual(history.filter((row) => row.finished_at === null), [], 'no failure recorded');
  });
});

describe('DIRECT_DATABASE_URL', () => {
  test('refused in one line when it or DATABASE_URL is not PostgreSQL; no password printed', async () => {
    const sqliteApp = await migrate('file:./x.db', ['status'], { DIRECT_DATABASE_URL: 'postgresql://u:s3cretpw@db:5432/app' });
    assertCleanFailure(sqliteApp, 2, /^Error: DIRECT_DATABASE_URL is for PostgreSQL behind a pooler, but DATABASE_URL is SQLite database /m);
    const sqliteDirect = await migrate('postgresql://u:s3cretpw@pooler:6432/app', ['status'], { DIRECT_DATABASE_URL: 'file:./x.db' });
    assertCleanFailure(sqliteDirect, 2, /^Error: DIRECT_DATABASE_URL is for PostgreSQL behind a pooler, but DIRECT_DATABASE_URL is SQLite database /m);
    const badDirect = await migrate('postgresql://u:s3cretpw@pooler:6432/app', ['status'], { DIRECT_DATABASE_URL: 'mysql://u:0therpw@db/app' });
    assertCleanFailure(badDirect, 2, /^Error: DIRECT_DATABASE_URL uses the unsupported scheme "mysql:"/m);
    for (const run of [sqliteApp, sqliteDirect, badDirect]) assert.doesNotMatch(output(run), /s3cretpw|0therpw/);
  });

  test('both passwords are masked when a command prints them', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const direct = new URL(db.url);
    const app = `postgresql://app:Pooled-Secret-9@127.0.0.1:1/${direct.pathname.slice(1)}`;
    const status = await migrate(app, ['status', '--json'], { DIRECT_DATABASE_URL: db.url });
    assert.equal(status.code, 1, output(status)); // all pending
    assert.equal(JSON.parse(status.stdout).datasource, `${direct.protocol}//${direct.username}:***@${direct.host}${direct.pathname}`);
    assert.doesNotMatch(output(status), new RegExp(`Pooled-Secret-9|:${decodeURIComponent(direct.password)}@`));
  });
});
