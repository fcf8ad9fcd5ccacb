/**
 * `make rehearse` on real databases: a migration that rewrites a table of 1,000,000 rows
 * is reported with its rewrite, its lock and its duration; the target is byte for byte
 * what it was (a role that may only read is enough); a failing migration is reported as
 * deploy reports it. PostgreSQL: Debian's newest installed server, whose pg_dump matches
 * it (the embedded servers ship no client tools), copied onto its own server and onto the
 * embedded test server (18).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { parseDatabaseUrl, type DatabaseTarget } from '../../src/db.ts';
import { progressReporter, savedRehearsalPath } from '../../src/authoring/rehearse.ts';
import { migrate, migrationNames, removeMigration, writeMigration } from '../fixtures/kit.ts';
import { startLocalPostgres, type LocalServer } from '../fixtures/local-postgres.ts';
import { childEnv, copyPrismaDir, execCapture, runScript, scriptArgs, serverPassword, serverUrl, tempDir, withConn, type RunResult } from '../helpers.ts';
import { until } from '../entrypoint/harness.ts';

const ROWS = 1_000_000;
const CREATE = '20990101000001_big';
const REWRITE = '20990101000002_rewrite_big';
const FAILING = '20990101000002_unique_secret';
const SECRET = 'secret-data-8d1f';

const SQL = {
  sqlite: {
    create: 'CREATE TABLE "Big" ("id" INTEGER NOT NULL PRIMARY KEY, "v" INTEGER NOT NULL);\nCREATE TABLE "Secret" ("id" INTEGER NOT NULL PRIMARY KEY, "v" TEXT NOT NULL);\n',
    fill: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS}) INSERT INTO "Big" ("id", "v") SELECT i, i FROM n; INSERT INTO "Secret" ("id", "v") VALUES (1, '${SECRET}'), (2, '${SECRET}')`,
    // How Prisma redefines a SQLite table.
    rewrite: 'CREATE TABLE "new_Big" ("id" INTEGER NOT NULL PRIMARY KEY, "v" BIGINT NOT NULL);\nINSERT INTO "new_Big" ("id", "v") SELECT "id", "v" FROM "Big";\nDROP TABLE "Big";\nALTER TABLE "new_Big" RENAME TO "Big";\n',
  },
  postgresql: {
    create: 'CREATE TABLE "Big" ("id" INTEGER NOT NULL PRIMARY KEY, "v" INTEGER NOT NULL);\nCREATE TABLE "Secret" ("id" INTEGER NOT NULL PRIMARY KEY, "v" TEXT NOT NULL);\n',
    fill: `INSERT INTO "Big" ("id", "v") SELECT g, g FROM generate_series(1, ${ROWS}) AS g; INSERT INTO "Secret" ("id", "v") VALUES (1, '${SECRET}'), (2, '${SECRET}')`,
    rewrite: 'ALTER TABLE "Big" ALTER COLUMN "v" TYPE BIGINT;\nCREATE INDEX "Big_v_idx" ON "Big" ("v");\n',
  },
} as const;
const UNIQUE_SECRET = 'CREATE UNIQUE INDEX "Secret_v_key" ON "Secret" ("v");\n';

type Provider = keyof typeof SQL;

/** A prisma/ folder whose `provider` history is only these migrations. */
function prismaWith(t: TestContext, provider: Provider, migrations: [string, string][]): string {
  const prisma = copyPrismaDir(t);
  for (const name of migrationNames(prisma, provider)) removeMigration(prisma, provider, name);
  for (const [name, sql] of migrations) writeMigration(prisma, provider, name, sql);
  return prisma;
}

/** Every table's rows, hashed (PostgreSQL), or the file's bytes (SQLite). */
async function fingerprint(target: DatabaseTarget): Promise<string> {
  if (target.provider === 'sqlite') return createHash('sha256').update(readFileSync(target.file)).digest('hex');
  return withConn(target, async (conn) => {
    const tables = ['Big', 'Secret', '_prisma_migrations'];
    const parts: string[] = [];
    for (const table of tables) {
      const [row] = await conn.query<{ h: string; n: string }>(`SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS h, count(*)::text AS n FROM "${table}" AS t`);
      parts.push(`${table}:${row?.n}:${row?.h}`);
    }
    return parts.join(' ');
  });
}

interface Report {
  provider: string;
  copy: { from: string; on: string; bytes: number };
  pending: string[];
  migrations: { name: string; ms: number; statements: number; locks: { table: string; mode: string; heldMs: number }[]; rewrites: { table: string; rows: number }[]; indexes: { index: string; table: string; ms: number | null }[]; findings: { rule: string; rows?: number }[] }[];
  failure?: { name: string; error: string };
  verdict: { totalMs: number; longestLocks: { table: string; mode: string; migration: string; blocks: string }[] };
}

function report(result: RunResult): Report {
  return JSON.parse(result.stdout) as Report;
}

/** A database holding CREATE and ROWS rows in "Big", built for `provider` at `url`. */
async function bigDatabase(t: TestContext, provider: Provider, url: string): Promise<DatabaseTarget> {
  const deployed = await migrate(url, ['deploy'], { PRISMA_DIR: prismaWith(t, provider, [[CREATE, SQL[provider].create]]) });
  assert.equal(deployed.code, 0, deployed.stderr);
  const target = parseDatabaseUrl(url);
  await withConn(target, (conn) => conn.exec(SQL[provider].fill));
  return target;
}

function assertRewriteReported(r: Report, provider: Provider): void {
  assert.deepEqual(r.pending, [REWRITE]);
  const [m] = r.migrations;
  assert.equal(m?.name, REWRITE);
  assert.ok((m?.ms ?? 0) > 0, 'its duration');
  assert.deepEqual(m?.rewrites, [{ table: 'Big', rows: ROWS }], 'the rewrite, with its rows');
  const lock = m?.locks.find((l) => l.table === (provider === 'sqlite' ? '(the whole database)' : 'Big'));
  assert.equal(lock?.mode, provider === 'sqlite' ? 'write lock' : 'AccessExclusiveLock', JSON.stringify(m?.locks));
  assert.ok((lock?.heldMs ?? 0) > 0 && (lock?.heldMs ?? 0) <= (m?.ms ?? 0), `held for part of the migration: ${JSON.stringify(lock)}`);
  assert.equal(r.verdict.longestLocks[0]?.migration, REWRITE);
  if (provider === 'postgresql') {
    // The new index, and the primary key's, which the rewrite built again.
    assert.deepEqual(m?.indexes.map((i) => `${i.index} on ${i.table}`).sort(), ['Big_pkey on Big', 'Big_v_idx on Big']);
    assert.equal(r.verdict.longestLocks[0]?.blocks, 'reads and writes');
  }
}

test('progress of a copy: a line at each quarter of a copy over 64 MiB, none for a smaller one', () => {
  const lines: string[] = [];
  const big = progressReporter(400 * 1024 * 1024, (line) => lines.push(line));
  for (let mib = 0; mib <= 400; mib += 30) big(mib * 1024 * 1024);
  big(400 * 1024 * 1024);
  assert.deepEqual(lines, ['  … 120 MiB copied', '  … 210 MiB copied', '  … 300 MiB copied', '  … 400 MiB copied']);
  const small = progressReporter(60 * 1024 * 1024, (line) => lines.push(line));
  for (let mib = 0; mib <= 60; mib += 5) small(mib * 1024 * 1024);
  assert.equal(lines.length, 4, 'nothing for 60 MiB');
});

describe('make rehearse on SQLite', () => {
  test('a migration that rebuilds a table of 1,000,000 rows: its rows, the write lock and its time; the database is byte for byte unchanged', async (t) => {
    const url = `file:${tempDir(t)}/app.db`;
    const target = await bigDatabase(t, 'sqlite', url);
    const before = await fingerprint(target);
    const prisma = prismaWith(t, 'sqlite', [
      [CREATE, SQL.sqlite.create],
      [REWRITE, SQL.sqlite.rewrite],
    ]);
    const result = await runScript('rehearse', ['--json'], { env: { DATABASE_URL: url, PRISMA_DIR: prisma } });
    assert.equal(result.code, 0, result.stderr);
    const r = report(result);
    assertRewriteReported(r, 'sqlite');
    assert.equal(r.copy.on, 'a temporary file');
    assert.equal(await fingerprint(target), before, 'the database file is unchanged');

    t.after(() => rmSync(savedRehearsalPath(target), { force: true }));
    const text = await runScript('rehearse', [], { env: { DATABASE_URL: url, PRISMA_DIR: prisma } });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`✓ ${REWRITE}: .*, 4 statements`));
    assert.match(text.stdout, /rewrite Big: written anew, 1000000 rows/);
    assert.match(text.stdout, /^Verdict: 1 of 1 migration applied to the copy in /m);
    assert.match(text.stdout, /The copy was dropped; nothing was written to the database\./);

    // make check shows the verdict while the pending set is the one rehearsed, and not after it changed.
    const check = await runScript('check-production-migrations', [], { env: { DATABASE_URL: url, PRISMA_DIR: prisma } });
    assert.match(check.stdout, /^✓ rehearsal +rehearsed \d{4}-\d\d-\d\d [\d:]+ UTC: all 1 applied to a copy in \d+ ms/m, check.stdout);
    writeMigration(prisma, 'sqlite', '20990101000003_more', 'CREATE TABLE "More" ("id" INTEGER NOT NULL PRIMARY KEY);\n');
    const changed = await runScript('check-production-migrations', [], { env: { DATABASE_URL: url, PRISMA_DIR: prisma } });
    assert.match(changed.stdout, /^- rehearsal +these pending migrations were not rehearsed/m, changed.stdout);
  });

  test('a failing migration: reported as deploy reports it (exit 1), the copy’s data never printed, the database unchanged', async (t) => {
    const url = `file:${tempDir(t)}/app.db`;
    const target = await bigDatabase(t, 'sqlite', url);
    const before = await fingerprint(target);
    t.after(() => rmSync(savedRehearsalPath(target), { force: true }));
    const prisma = prismaWith(t, 'sqlite', [
      [CREATE, SQL.sqlite.create],
      [FAILING, UNIQUE_SECRET],
    ]);
    const result = await runScript('rehearse', ['--json'], { env: { DATABASE_URL: url, PRISMA_DIR: prisma } });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`^Error: Migration ${FAILING} failed: .*UNIQUE constraint failed`, 'm'));
    assert.equal(report(result).failure?.name, FAILING);
    assert.doesNotMatch(result.stdout + result.stderr, new RegExp(SECRET));
    assert.equal(await fingerprint(target), before);
  });

  test('nothing pending: nothing copied; a database over REHEARSE_MAX_BYTES: refused with its size (exit 2); bad usage: exit 2', async (t) => {
    const url = `file:${tempDir(t)}/app.db`;
    await bigDatabase(t, 'sqlite', url);
    const current = await runScript('rehearse', [], { env: { DATABASE_URL: url, PRISMA_DIR: prismaWith(t, 'sqlite', [[CREATE, SQL.sqlite.create]]) } });
    assert.equal(current.code, 0, current.stderr);
    assert.match(current.stdout, /No pending migrations: nothing to rehearse\./);
    assert.doesNotMatch(current.stderr, /Copying/);

    const prisma = prismaWith(t, 'sqlite', [
      [CREATE, SQL.sqlite.create],
      [REWRITE, SQL.sqlite.rewrite],
    ]);
    const big = await runScript('rehearse', [], { env: { DATABASE_URL: url, PRISMA_DIR: prisma, REHEARSE_MAX_BYTES: '1MiB' } });
    assert.equal(big.code, 2, big.stderr);
    assert.match(big.stderr, /^Error: The database is \d+ MiB, over REHEARSE_MAX_BYTES \(1\.0 MiB\): nothing was copied/m);
    assert.doesNotMatch(big.stderr, /Copying/);
    const bad = await runScript('rehearse', ['--max-bytes', 'lots'], { env: { DATABASE_URL: url, PRISMA_DIR: prisma } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^Error: --max-bytes must be a size in bytes/m);
    const help = await runScript('rehearse', ['--help'], { env: { DATABASE_URL: url } });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--from <file>/);
    assert.match(help.stdout, /REHEARSE_MAX_BYTES/);
  });

  test('SIGKILL while a migration runs on the copy: the temporary copy stays until the next rehearsal removes it; a running rehearsal’s copy is left alone', async (t) => {
    const url = `file:${tempDir(t)}/app.db`;
    t.after(() => rmSync(savedRehearsalPath(parseDatabaseUrl(url)), { force: true }));
    assert.equal((await migrate(url, ['deploy'], { PRISMA_DIR: prismaWith(t, 'sqlite', [[CREATE, SQL.sqlite.create]]) })).code, 0);
    const tmp = tempDir(t); // the rehearsals' TMPDIR: only theirs in it
    const env = (migration: [string, string]) => ({ DATABASE_URL: url, TMPDIR: tmp, PRISMA_DIR: prismaWith(t, 'sqlite', [[CREATE, SQL.sqlite.create], migration]) });
    const quick: [string, string] = ['20990101000002_quick', 'CREATE TABLE "Quick" ("id" INTEGER);\n'];
    const endless: [string, string] = ['20990101000002_endless', 'WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g) SELECT count(*) FROM g;\n'];

    const killed = execCapture(process.execPath, [...scriptArgs('rehearse')], { env: childEnv(env(endless)) });
    killOnFailure(t, killed); // its endless query answers no other signal
    const copies = () => readdirSync(tmp).filter((name) => name.startsWith('rastar-rehearsal-'));
    await until('the copy to be made', () => copies().some((dir) => readdirSync(join(tmp, dir)).includes('copy.db')), 60_000, 20);
    const [copy = ''] = copies();
    assert.match(copy, new RegExp(`^rastar-rehearsal-${killed.pid}-`));

    const beside = await runScript('rehearse', [], { env: env(quick) });
    assert.equal(beside.code, 0, beside.stderr);
    assert.doesNotMatch(beside.stderr, /left behind/);
    assert.deepEqual(copies(), [copy], 'the running rehearsal’s copy is still there');

    process.kill(killed.pid, 'SIGKILL');
    await killed.done;
    assert.deepEqual(copies(), [copy], 'a killed rehearsal leaves its copy');
    const next = await runScript('rehearse', [], { env: env(quick) });
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stderr, new RegExp(`Removed .*${copy}, a copy a killed rehearsal left behind\\.`));
    assert.deepEqual(copies(), []);
  });
});

describe('make rehearse on PostgreSQL (Debian’s newest server, its pg_dump)', () => {
  let server: LocalServer | undefined;
  let skip: string | undefined;
  let readOnlyUrl = '';
  let target: DatabaseTarget;
  let before_ = '';
  // What the suite's setup made, removed when the suite ends (a hook has no test context).
  const cleanups: (() => unknown)[] = [];
  const suite = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;
  before(async () => {
    const started = await startLocalPostgres();
    if (typeof started === 'string') return void (skip = started);
    server = started;
    const admin = parseDatabaseUrl(server.url('postgres'));
    await withConn(admin, (conn) => conn.exec('CREATE DATABASE app'));
    target = await bigDatabase(suite, 'postgresql', server.url('app'));
    // A role that may read the database and nothing else.
    await withConn(target, (conn) =>
      conn.exec(`CREATE ROLE reader LOGIN PASSWORD '${server!.password}'; GRANT CONNECT ON DATABASE app TO reader; GRANT USAGE ON SCHEMA public TO reader; GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader; GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO reader`),
    );
    readOnlyUrl = server.url('app').replace('postgres:', 'reader:');
    before_ = await fingerprint(target);
  });
  after(async () => {
    if (server) for (const url of [server.url('app'), readOnlyUrl]) if (url) rmSync(savedRehearsalPath(parseDatabaseUrl(url)), { force: true });
    await server?.stop();
    for (const cleanup of cleanups) await cleanup();
  });

  test('a role that may only read; the copy on SHADOW_DATABASE_URL’s server: the rewrite of 1,000,000 rows, its ACCESS EXCLUSIVE lock, the index build; the database unchanged', async (t) => {
    if (skip) return t.skip(skip);
    const prisma = prismaWith(t, 'postgresql', [
      [CREATE, SQL.postgresql.create],
      [REWRITE, SQL.postgresql.rewrite],
    ]);
    const result = await runScript('rehearse', ['--json'], { env: { DATABASE_URL: readOnlyUrl, SHADOW_DATABASE_URL: server!.url('postgres'), PRISMA_DIR: prisma } });
    assert.equal(result.code, 0, result.stderr);
    const r = report(result);
    assertRewriteReported(r, 'postgresql');
    assert.equal(r.copy.on, "SHADOW_DATABASE_URL's server");
    assert.equal(await fingerprint(target), before_, 'every table as it was');
    assert.doesNotMatch(result.stdout + result.stderr, new RegExp(server!.password), 'no password printed');
    assert.deepEqual(await leftoverCopies(server!.url('postgres')), [], 'the copy was dropped');
  });

  test('the copy on another major (the embedded test server, 18): the same report', async (t) => {
    if (skip) return t.skip(skip);
    const prisma = prismaWith(t, 'postgresql', [
      [CREATE, SQL.postgresql.create],
      [REWRITE, SQL.postgresql.rewrite],
    ]);
    const result = await runScript('rehearse', ['--json'], { env: { DATABASE_URL: readOnlyUrl, SHADOW_DATABASE_URL: serverUrl(), PRISMA_DIR: prisma } });
    assert.equal(result.code, 0, result.stderr);
    assertRewriteReported(report(result), 'postgresql');
    assert.doesNotMatch(result.stdout + result.stderr, new RegExp(serverPassword()), 'no password printed');
    assert.deepEqual(await leftoverCopies(serverUrl()), [], 'the copy was dropped');
    assert.equal(await fingerprint(target), before_);
  });

  test("a failing migration, the copy on the database's own server (its role may create databases): reported as deploy reports it, exit 1, no data printed", async (t) => {
    if (skip) return t.skip(skip);
    const prisma = prismaWith(t, 'postgresql', [
      [CREATE, SQL.postgresql.create],
      [FAILING, UNIQUE_SECRET],
    ]);
    const result = await runScript('rehearse', [], { env: { DATABASE_URL: server!.url('app'), SHADOW_DATABASE_URL: undefined, PRISMA_DIR: prisma } });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`^Error: Migration ${FAILING} failed: could not create unique index "Secret_v_key"`, 'm'));
    assert.match(result.stdout, new RegExp(`✗ ${FAILING} failed on the copy`));
    assert.doesNotMatch(result.stdout + result.stderr, new RegExp(SECRET), 'the duplicated value is not printed');
    assert.equal(await fingerprint(target), before_);
    assert.deepEqual(await leftoverCopies(server!.url('postgres')), []);
  });

  test('a data migration: the rows it inserted, updated and deleted, per table (the counters forced out of the migrator after each migration)', async (t) => {
    if (skip) return t.skip(skip);
    const prisma = prismaWith(t, 'postgresql', [
      [CREATE, SQL.postgresql.create],
      ['20990101000002_data', 'UPDATE "Big" SET "v" = "v" + 1 WHERE "id" <= 1000;\nDELETE FROM "Big" WHERE "id" > 999990;\nINSERT INTO "Secret" ("id", "v") VALUES (3, \'x\');\n'],
    ]);
    const result = await runScript('rehearse', ['--json'], { env: { DATABASE_URL: readOnlyUrl, SHADOW_DATABASE_URL: server!.url('postgres'), PRISMA_DIR: prisma } });
    assert.equal(result.code, 0, result.stderr);
    const [m] = (JSON.parse(result.stdout) as { migrations: { rows: { table: string }[]; rewrites: unknown[] }[] }).migrations;
    assert.deepEqual(
      m?.rows.slice().sort((a, b) => a.table.localeCompare(b.table)),
      [
        { table: 'Big', inserted: 0, updated: 1000, deleted: 10 },
        { table: 'Secret', inserted: 1, updated: 0, deleted: 0 },
      ],
    );
    assert.deepEqual(m?.rewrites, []);
    assert.equal(await fingerprint(target), before_);
  });

  test('SIGINT while a migration runs on the copy: the copy is dropped, exit 130', async (t) => {
    if (skip) return t.skip(skip);
    const prisma = prismaWith(t, 'postgresql', [
      [CREATE, SQL.postgresql.create],
      ['20990101000002_slow', 'SELECT pg_sleep(300);\n'],
    ]);
    const run = execCapture(process.execPath, [...scriptArgs('rehearse')], { env: childEnv({ DATABASE_URL: server!.url('app'), SHADOW_DATABASE_URL: undefined, PRISMA_DIR: prisma }) });
    const sleeping = async () => (await withConn(parseDatabaseUrl(server!.url('postgres')), (conn) => conn.query<{ datname: string }>("SELECT datname FROM pg_stat_activity WHERE wait_event = 'PgSleep'"))).map((row) => row.datname);
    await until('the migration to run on the copy', async () => (await sleeping()).length === 1, 60_000, 50);
    assert.match((await sleeping())[0] ?? '', /^rastar_rehearsal_/);
    process.kill(run.pid, 'SIGINT');
    const result = await run.done;
    assert.equal(result.code, 130, result.stderr);
    assert.deepEqual(await leftoverCopies(server!.url('postgres')), [], 'the copy was dropped');
    assert.equal(await fingerprint(target), before_);
  });

  test('SIGKILL while a migration runs on the copy: the copy stays until the next rehearsal drops it; a running rehearsal’s copy is left alone', async (t) => {
    if (skip) return t.skip(skip);
    await withConn(parseDatabaseUrl(server!.url('postgres')), (conn) => conn.exec('CREATE DATABASE small'));
    t.after(() => withConn(parseDatabaseUrl(server!.url('postgres')), (conn) => conn.exec('DROP DATABASE IF EXISTS small WITH (FORCE)')));
    const url = server!.url('small');
    t.after(() => rmSync(savedRehearsalPath(parseDatabaseUrl(url)), { force: true }));
    const deployed = await migrate(url, ['deploy'], { PRISMA_DIR: prismaWith(t, 'postgresql', [[CREATE, SQL.postgresql.create]]) });
    assert.equal(deployed.code, 0, deployed.stderr);
    const env = (migration: [string, string]) => ({ DATABASE_URL: url, SHADOW_DATABASE_URL: undefined, PRISMA_DIR: prismaWith(t, 'postgresql', [[CREATE, SQL.postgresql.create], migration]) });
    const quick: [string, string] = ['20990101000002_quick', 'CREATE TABLE "Quick" ("id" INTEGER);\n'];

    const killed = execCapture(process.execPath, [...scriptArgs('rehearse')], { env: childEnv(env(['20990101000002_slow', 'SELECT pg_sleep(300);\n'])) });
    killOnFailure(t, killed);
    const sleeping = async () => (await withConn(parseDatabaseUrl(server!.url('postgres')), (conn) => conn.query<{ datname: string }>("SELECT datname FROM pg_stat_activity WHERE wait_event = 'PgSleep'"))).map((row) => row.datname);
    await until('the migration to run on the copy', async () => (await sleeping()).length === 1, 60_000, 50);
    const [copy = ''] = await sleeping();
    assert.match(copy, /^rastar_rehearsal_/);

    const beside = await runScript('rehearse', [], { env: env(quick) });
    assert.equal(beside.code, 0, beside.stderr);
    assert.doesNotMatch(beside.stderr, /left behind/);
    assert.deepEqual(await leftoverCopies(server!.url('postgres')), [copy], 'the running rehearsal’s copy is still there');

    process.kill(killed.pid, 'SIGKILL');
    await killed.done;
    assert.deepEqual(await leftoverCopies(server!.url('postgres')), [copy], 'a killed rehearsal leaves its copy');
    // Its session on the server's maintenance database (the one holding the copy's lock) ends once the server reads the closed socket.
    const owners = () => withConn(parseDatabaseUrl(server!.url('postgres')), async (conn) => (await conn.query("SELECT 1 FROM pg_stat_activity WHERE application_name = 'rastar-rehearse' AND datname = 'postgres'")).length);
    await until('the killed rehearsal’s session to end', async () => (await owners()) === 0, 60_000, 50);

    const next = await runScript('rehearse', [], { env: env(quick) });
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stderr, new RegExp(`Dropped ${copy}, a copy a killed rehearsal left behind\\.`));
    assert.deepEqual(await leftoverCopies(server!.url('postgres')), []);
  });

  test('FROM a backup file: the backup copied instead of the live database', async (t) => {
    if (skip) return t.skip(skip);
    const dir = tempDir(t);
    const backup = await runScript('backup', [], { env: { DATABASE_URL: server!.url('app'), BACKUP_DIR: dir, PRISMA_DIR: prismaWith(t, 'postgresql', [[CREATE, SQL.postgresql.create]]) } });
    assert.equal(backup.code, 0, backup.stderr);
    const [file] = readdirSync(dir).filter((name) => name.endsWith('.dump')).map((name) => join(dir, name));
    assert.ok(file, `a backup in ${dir}`);
    const prisma = prismaWith(t, 'postgresql', [
      [CREATE, SQL.postgresql.create],
      [REWRITE, SQL.postgresql.rewrite],
    ]);
    const result = await runScript('rehearse', ['--json', '--from', file], { env: { DATABASE_URL: readOnlyUrl, SHADOW_DATABASE_URL: server!.url('postgres'), PRISMA_DIR: prisma }, cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    const r = report(result);
    assert.match(r.copy.from, /^the backup /);
    assertRewriteReported(r, 'postgresql');
  });
});

/** Should the test fail before it killed `run`, the run is killed when the test ends (never a pid reused since). */
function killOnFailure(t: TestContext, run: { pid: number; done: Promise<unknown> }): void {
  let ended = false;
  void run.done.then(() => (ended = true));
  t.after(() => void (ended || process.kill(run.pid, 'SIGKILL')));
}

/** Scratch databases a rehearsal left behind on a server. */
async function leftoverCopies(url: string): Promise<string[]> {
  return withConn(parseDatabaseUrl(url), async (conn) => (await conn.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'rastar_rehearsal_%'")).map((row) => row.datname));
}
