/**
 * Backups and restores, as the user runs them (`backup`, `restore`) and as the
 * entrypoint runs them before migrating (BACKUP_BEFORE_MIGRATE=true). SQLite on
 * temp files; PostgreSQL on a real server of Debian's newest installed major
 * (/usr/lib/postgresql/<major>/bin) started for this file, whose pg_dump matches
 * it, plus the embedded test server for what must fail (no pg_dump, a pg_dump
 * older than the server).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { parseDatabaseUrl, withDatabase, type DatabaseTarget } from '../src/db.ts';
import { readHistory } from '../src/runtime/history.ts';
import { copyPrismaDir, runScript, serverPassword, tempDir, testDatabase, withConn, type RunResult } from './helpers.ts';
import { appCommand, historyRows, readStarts, runEntrypoint, tableNames, workDir } from './entrypoint/harness.ts';
import { startLocalPostgres, type LocalServer } from './fixtures/local-postgres.ts';

const run = promisify(execFile);
const MIGRATIONS = readHistory('sqlite').migrations.map((m) => m.name);
const STAMP = '\\d{8}T\\d{6}Z';

/** A PRISMA_DIR copy holding only the first `count` migrations of both histories (an older image). */
function olderPrismaDir(t: TestContext, count: number): string {
  const dir = copyPrismaDir(t);
  for (const provider of ['sqlite', 'postgresql']) {
    for (const name of MIGRATIONS.slice(count)) rmSync(join(dir, 'migrations', provider, name), { recursive: true });
  }
  return dir;
}

async function deploy(url: string, prismaDir?: string): Promise<void> {
  const result = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: url, PRISMA_DIR: prismaDir } });
  assert.equal(result.code, 0, result.stderr);
}

const packs = (target: DatabaseTarget) => withConn(target, async (conn) => (await conn.query<{ name: string }>('SELECT "name" FROM "Pack" ORDER BY "name"')).map((row) => row.name));
const applied = (target: DatabaseTarget) => withConn(target, async (conn) => (await historyRows(conn)).filter((row) => row.finished_at !== null).map((row) => row.migration_name));

function backups(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** Every line of the output: never the password. */
function assertNoSecret(result: RunResult | { stdout: string; stderr: string }, secret: string): void {
  assert.ok(!`${result.stdout}\n${result.stderr}`.includes(secret), `the password appears in the output:\n${result.stdout}\n${result.stderr}`);
}

describe('backup and restore on SQLite', () => {
  test('backup writes <BACKUP_DIR>/<last applied migration>_<UTC time>.db; restore --confirm brings the data back; without --confirm it refuses', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    await deploy(db.url);
    await withConn(db.target, (conn) => conn.exec(`INSERT INTO "Pack" ("name", "createdAt", "updatedAt") VALUES ('alpha', 1, 1), ('beta', 1, 1)`));
    const dir = join(tempDir(t), 'backups');

    const before = Date.now();
    const backup = await runScript('backup', [], { env: { DATABASE_URL: db.url, BACKUP_DIR: dir } });
    assert.equal(backup.code, 0, backup.stderr);
    const files = backups(dir);
    assert.equal(files.length, 1, `one backup: ${files.join(', ')}`);
    const [file] = files as [string];
    assert.match(file, new RegExp(`^${MIGRATIONS.at(-1)}_${STAMP}\\.db$`), 'named after the last applied migration and the UTC time');
    const [, y, mo, d, h, mi, s] = /_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z\.db$/.exec(file)!;
    const when = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
    assert.ok(when >= Math.floor(before / 1000) * 1000 && when <= Date.now(), `the time in the name (${file}) is when it was taken, in UTC`);
    assert.match(backup.stdout, new RegExp(`Backup written: .*${file}`));

    await withConn(db.target, (conn) => conn.exec(`UPDATE "Pack" SET "name" = 'changed' WHERE "name" = 'alpha'; DELETE FROM "Pack" WHERE "name" = 'beta'; INSERT INTO "Pack" ("name", "createdAt", "updatedAt") VALUES ('gamma', 2, 2)`));
    assert.deepEqual(await packs(db.target), ['changed', 'gamma']);

    const refused = await runScript('restore', ['--file', join(dir, file)], { env: { DATABASE_URL: db.url } });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /CONFIRM=1/, 'names how to confirm');
    assert.deepEqual(await packs(db.target), ['changed', 'gamma'], 'nothing changed without --confirm');

    const restored = await runScript('restore', ['--file', join(dir, file), '--confirm'], { env: { DATABASE_URL: db.url } });
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await packs(db.target), ['alpha', 'beta'], 'the data of the backup is back');
    assert.deepEqual(await applied(db.target), MIGRATIONS);
    const status = await runScript('migrate', ['status'], { env: { DATABASE_URL: db.url } });
    assert.equal(status.code, 0, `the restored database is a healthy, up-to-date one:\n${status.stdout}${status.stderr}`);
  });

  test('backup --if-pending writes nothing when nothing is pending, and a backup when something is', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    await deploy(db.url);
    const dir = join(tempDir(t), 'backups');
    const none = await runScript('backup', ['--if-pending'], { env: { DATABASE_URL: db.url, BACKUP_DIR: dir } });
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /No pending migrations: no backup needed/);
    assert.deepEqual(backups(dir), [], 'no file written');

    const older = await testDatabase(t, 'sqlite');
    await deploy(older.url, olderPrismaDir(t, 2));
    const some = await runScript('backup', ['--if-pending'], { env: { DATABASE_URL: older.url, BACKUP_DIR: dir } });
    assert.equal(some.code, 0, some.stderr);
    assert.deepEqual(backups(dir).map((f) => f.replace(new RegExp(`_${STAMP}\\.db$`), '')), [MIGRATIONS[1]], 'named after the last applied migration');
  });

  test('BACKUP_DIR not writable (a path under a regular file): one clear error line, exit 1', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    await deploy(db.url);
    const file = join(tempDir(t), 'not-a-dir');
    writeFileSync(file, 'x');
    const result = await runScript('backup', [], { env: { DATABASE_URL: db.url, BACKUP_DIR: join(file, 'backups') } });
    assert.equal(result.code, 1, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.match(lines[0]!, new RegExp(`^Error: BACKUP_DIR ${file}/backups is not writable: ENOTDIR`));
    assert.ok(lines.length <= 2, `the error and at most a hint:\n${result.stderr}`);
    assert.match(lines[1] ?? '', /writable folder/);
    assert.equal(result.stdout, '');
  });

  test('entrypoint, RUN_MIGRATIONS=true BACKUP_BEFORE_MIGRATE=true, the first 2 migrations applied and the rest pending: a backup named after the last applied one, taken before applying', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    await deploy(db.url, olderPrismaDir(t, 2));
    await withConn(db.target, (conn) => conn.exec(`INSERT INTO "Pack" ("name", "createdAt", "updatedAt") VALUES ('before-upgrade', 1, 1)`));
    const dir = join(tempDir(t), 'backups');
    const starts = join(workDir(t), 'starts.log');
    const result = await runEntrypoint(t, appCommand(starts), { DATABASE_URL: db.url, RUN_MIGRATIONS: 'true', BACKUP_BEFORE_MIGRATE: 'true', BACKUP_DIR: dir });
    assert.equal(result.code, 0, result.output);
    assert.deepEqual(await applied(db.target), MIGRATIONS, 'then every migration was applied');
    assert.equal(readStarts(starts).length, 1, 'and the app started');
    const files = backups(dir);
    assert.equal(files.length, 1, files.join(', '));
    assert.match(files[0]!, new RegExp(`^${MIGRATIONS[1]}_${STAMP}\\.db$`));
    assert.ok(result.stdout.indexOf('Backup written') < result.stdout.indexOf('Migration applied'), `the backup comes first:\n${result.stdout}`);

    // Restored into a fresh file, the backup is the database as it was before the deploy.
    const fresh = parseDatabaseUrl(`file:${join(tempDir(t), 'restored', 'fresh.db')}`);
    const restored = await runScript('restore', ['--file', join(dir, files[0]!), '--confirm'], { env: { DATABASE_URL: fresh.url } });
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await applied(fresh), MIGRATIONS.slice(0, 2), 'the backup holds only the 2 migrations applied before');
    assert.deepEqual(await packs(fresh), ['before-upgrade'], 'and the data of then (not the seed that ran after)');
    assert.ok(!(await withConn(fresh, tableNames)).includes('McpToolLog'), 'no table of a later migration');
  });

  test('entrypoint with BACKUP_BEFORE_MIGRATE=true and BACKUP_DIR not writable: refuses to migrate, nothing applied, the app does not start', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    await deploy(db.url, olderPrismaDir(t, 2));
    const file = join(tempDir(t), 'not-a-dir');
    writeFileSync(file, 'x');
    const starts = join(workDir(t), 'starts.log');
    const result = await runEntrypoint(t, appCommand(starts), { DATABASE_URL: db.url, RUN_MIGRATIONS: 'true', BACKUP_BEFORE_MIGRATE: 'true', BACKUP_DIR: join(file, 'backups') });
    assert.notEqual(result.code, 0, result.output);
    assert.match(result.stderr, /^Error: BACKUP_DIR .* is not writable/m);
    assert.match(result.stderr, /^Error: the backup before migrating failed; nothing was migrated/m);
    assert.doesNotMatch(result.output, /Migration applied/);
    assert.deepEqual(await applied(db.target), MIGRATIONS.slice(0, 2), 'nothing applied');
    assert.deepEqual(readStarts(starts), [], 'the app did not start');
  });
});

// ---------------------------------------------------------------------------
// PostgreSQL

/** A directory whose only commands are node, bash and dirname: a PATH without pg_dump (and the rest of the PostgreSQL client). */
function pathWithoutPgDump(t: TestContext): string {
  const dir = join(tempDir(t), 'bin');
  mkdirSync(dir);
  for (const tool of ['bash', 'dirname']) {
    const found = (process.env.PATH ?? '').split(delimiter).map((p) => join(p, tool)).find((p) => existsSync(p));
    assert.ok(found, `${tool} on PATH`);
    symlinkSync(found, join(dir, tool));
  }
  symlinkSync(process.execPath, join(dir, 'node'));
  chmodSync(dir, 0o755);
  return dir;
}

const serverMajor = (target: DatabaseTarget) => withConn(target, async (conn) => Math.floor(Number((await conn.query<{ v: string }>("SELECT current_setting('server_version_num') AS v"))[0]!.v) / 10000));

describe('backup and restore on PostgreSQL (Debian\'s newest installed server, pg_dump of the same major)', () => {
  let server: LocalServer | undefined;
  let skip: string | undefined;
  before(async () => {
    const started = await startLocalPostgres();
    if (typeof started === 'string') skip = started;
    else server = started;
  });
  after(() => server?.stop());

  test('backup (pg_dump custom format), change data and schema, restore --confirm: the backup\'s data and schema are back; the password never shows', async (t) => {
    if (!server) return t.skip(`no PostgreSQL server binaries: ${skip}`);
    const name = `backup_${Date.now().toString(36)}`;
    const admin = parseDatabaseUrl(server.url('postgres')) as DatabaseTarget & { provider: 'postgresql' };
    await withConn(admin, (conn) => conn.exec(`CREATE DATABASE "${name}"`));
    const target = withDatabase(admin, name);
    const env = { DATABASE_URL: target.url, PATH: `${server.bin}${delimiter}${process.env.PATH}` };
    const outputs: RunResult[] = [];
    const script = async (name: string, args: string[], extra: Record<string, string> = {}) => {
      const result = await runScript(name, args, { env: { ...env, ...extra } });
      outputs.push(result);
      return result;
    };

    const deployed = await script('migrate', ['deploy'], { PRISMA_DIR: olderPrismaDir(t, 2) });
    assert.equal(deployed.code, 0, deployed.stderr);
    await withConn(target, (conn) => conn.exec(`INSERT INTO "Pack" ("name", "createdAt", "updatedAt") VALUES ('alpha', 1, 1), ('beta', 1, 1)`));
    const dir = join(tempDir(t), 'backups');
    const backup = await script('backup', ['--if-pending'], { BACKUP_DIR: dir });
    assert.equal(backup.code, 0, backup.stderr);
    const files = backups(dir);
    assert.equal(files.length, 1, files.join(', '));
    assert.match(files[0]!, new RegExp(`^${MIGRATIONS[1]}_${STAMP}\\.dump$`));
    const file = join(dir, files[0]!);
    const listed = await run(join(server.bin, 'pg_restore'), ['--list', file]);
    assert.match(listed.stdout, /Format: CUSTOM/, 'pg_dump custom format');
    assert.match(listed.stdout, /TABLE DATA public Pack/);

    // After the backup: the later migrations (one adds a foreign key into a table of the dump) and other data.
    const upgraded = await script('migrate', ['deploy']);
    assert.equal(upgraded.code, 0, upgraded.stderr);
    await withConn(target, (conn) => conn.exec(`UPDATE "Pack" SET "name" = 'changed' WHERE "name" = 'alpha'; DELETE FROM "Pack" WHERE "name" = 'beta'`));
    assert.deepEqual(await packs(target), ['changed']);

    // A damaged file fails and changes nothing: the restore is one transaction.
    const damaged = join(dir, 'damaged.dump');
    await run('cp', [file, damaged]);
    truncateSync(damaged, Math.floor(statSync(file).size / 2));
    const failed = await script('restore', ['--file', damaged, '--confirm']);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /^Error: pg_restore failed: .*(end of file|could not read)/m);
    assert.deepEqual(await packs(target), ['changed'], 'the failed restore changed nothing');
    assert.deepEqual(await applied(target), MIGRATIONS);

    const restored = await script('restore', ['--file', file, '--confirm']);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await packs(target), ['alpha', 'beta'], 'the data of the backup is back');
    assert.deepEqual(await applied(target), MIGRATIONS.slice(0, 2), 'and its history');
    assert.ok(!(await withConn(target, tableNames)).includes('McpToolLog'), 'a table created after the backup is gone');
    const again = await script('migrate', ['deploy']);
    assert.equal(again.code, 0, `the restored database deploys the later migrations again:\n${again.stderr}`);
    assert.deepEqual(await applied(target), MIGRATIONS);

    for (const result of outputs) assertNoSecret(result, server.password);
    await withConn(admin, (conn) => conn.exec(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  });

  test(`a pg_dump older than the server (the embedded test server): a clear error naming both majors, no file left`, async (t) => {
    if (!server) return t.skip(`no PostgreSQL client binaries: ${skip}`);
    const db = await testDatabase(t, 'postgresql');
    const serverVersion = await serverMajor(db.target);
    if (serverVersion <= server.major) return t.skip(`the test server is PostgreSQL ${serverVersion}, not newer than pg_dump ${server.major}`);
    await deploy(db.url);
    const dir = join(tempDir(t), 'backups');
    // Found on PATH (no client folders): pg_dump itself refuses, and its words are explained.
    const result = await runScript('backup', [], { env: { DATABASE_URL: db.url, BACKUP_DIR: dir, PATH: `${server.bin}${delimiter}${process.env.PATH}`, PG_CLIENT_ROOT: join(tempDir(t), 'none') } });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`^Error: pg_dump ${server.major} cannot dump a PostgreSQL ${serverVersion} server: server version mismatch`, 'm'));
    assert.match(result.stderr, new RegExp(`postgresql-client-${serverVersion}`), 'the hint names the client to install');
    assert.deepEqual(backups(dir), [], 'no partial file left');
    assertNoSecret(result, serverPassword());

    // Client folders by major (Debian's layout, the image's): refused before pg_dump runs, naming the newest installed.
    const root = join(tempDir(t), 'clients');
    mkdirSync(root);
    symlinkSync(dirname(server.bin), join(root, String(server.major)));
    const picked = await runScript('backup', [], { env: { DATABASE_URL: db.url, BACKUP_DIR: dir, PG_CLIENT_ROOT: root } });
    assert.equal(picked.code, 1, picked.stderr);
    assert.match(picked.stderr, new RegExp(`^Error: The newest PostgreSQL client installed is ${server.major} \\(${root}/${server.major}/bin\\), and a PostgreSQL ${serverVersion} server needs ${serverVersion} or newer`, 'm'));
    assert.match(picked.stderr, new RegExp(`postgresql-client-${serverVersion}`));
    assert.deepEqual(backups(dir), []);
  });
});

describe('backups required on PostgreSQL without pg_dump', () => {
  test('backup: a clear error naming pg_dump; the entrypoint refuses to migrate, nothing applied', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    await deploy(db.url, olderPrismaDir(t, 2));
    const path = pathWithoutPgDump(t);
    const dir = join(tempDir(t), 'backups');

    const result = await runScript('backup', [], { env: { DATABASE_URL: db.url, BACKUP_DIR: dir, PATH: path, PG_CLIENT_ROOT: join(tempDir(t), 'none') } });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^Error: pg_dump is not installed \(not found on PATH\)/m);
    assert.match(result.stderr, /postgresql-client/);
    assertNoSecret(result, serverPassword());

    const starts = join(workDir(t), 'starts.log');
    const entry = await runEntrypoint(t, appCommand(starts), { DATABASE_URL: db.url, PATH: path, PG_CLIENT_ROOT: join(tempDir(t), 'none'), RUN_MIGRATIONS: 'true', BACKUP_BEFORE_MIGRATE: 'true', BACKUP_DIR: dir });
    assert.notEqual(entry.code, 0, entry.output);
    assert.match(entry.stderr, /^Error: pg_dump is not installed/m);
    assert.match(entry.stderr, /^Error: the backup before migrating failed; nothing was migrated/m);
    assert.deepEqual(await applied(db.target), MIGRATIONS.slice(0, 2), 'nothing applied');
    assert.deepEqual(readStarts(starts), [], 'the app did not start');
    assert.deepEqual(backups(dir), []);
    assertNoSecret(entry, serverPassword());
  });
});

describe('a newer pg_restore into an older server', () => {
  test('the script header loses the SETs of settings the server lacks; nothing else changes', async () => {
    const { withoutUnknownSettings } = await import('../src/runtime/backup.ts');
    const script = [
      '\\restrict 3x4mpl3',
      '--',
      '-- PostgreSQL database dump',
      '--',
      'SET statement_timeout = 0;',
      'SET transaction_timeout = 0;',
      "SELECT pg_catalog.set_config('search_path', '', false);",
      '',
      'CREATE TABLE public.t (a text);',
      'SET transaction_timeout = 0;',
      'COPY public.t (a) FROM stdin;',
      'SET transaction_timeout = 0;',
      '\\.',
      '',
    ].join('\n');
    const filter = withoutUnknownSettings(new Set(['statement_timeout']));
    const chunks: string[] = [];
    filter.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
    const ended = new Promise((done) => filter.on('end', done));
    // Split mid-line, as a pipe does.
    for (let i = 0; i < script.length; i += 7) filter.write(script.slice(i, i + 7));
    filter.end();
    await ended;
    assert.equal(chunks.join(''), script.replace('SET transaction_timeout = 0;\n', ''), 'only the header\'s unknown SET is gone; a body line that looks alike is data');
  });
});
