/**
 * What the entrypoint is given: secrets from files (Docker secrets), refusals of
 * bad settings before anything is done, commands that are not apps executed as
 * given. No password ever reaches a log.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { openConnection, parseDatabaseUrl, projectRoot, withDatabase, type DatabaseTarget } from '../../src/db.ts';
import { readHistory } from '../../src/runtime/history.ts';
import { verifyPassword } from '../../src/seed.ts';
import { serverUrl, testDatabase } from '../helpers.ts';
import { appCommand, assertAppliedOnce, countingServer, finished, readStarts, runEntrypoint, startEntrypoint, until, workDir, type EntrypointResult } from './harness.ts';
import { errorLines } from '../fixtures/kit.ts';

// Distinctive, so that a leak anywhere in any output is found.
const DB_PASSWORD = 'Db-Pass-Zq7x-Never-Printed';
const ADMIN_PASSWORD = 'Admin-Pass-Kw3v-Never-Printed';

/** Every output of every run of this file, checked for the passwords at the end. */
const outputs: { name: string; output: string }[] = [];
function keep(name: string, run: EntrypointResult): EntrypointResult {
  outputs.push({ name, output: run.output });
  return run;
}

/** A login role with DB_PASSWORD owning a fresh database: the URL carries the distinctive password. */
async function databaseWithPassword(t: TestContext): Promise<{ url: string; target: DatabaseTarget }> {
  const db = await testDatabase(t, 'postgresql');
  const server = parseDatabaseUrl(serverUrl()) as DatabaseTarget & { provider: 'postgresql' };
  const role = `rastar_secret_${process.pid}_${Date.now().toString(36)}`;
  const database = (db.target as DatabaseTarget & { provider: 'postgresql' }).config.database;
  const admin = await openConnection(server);
  try {
    await admin.exec(`CREATE ROLE "${role}" LOGIN PASSWORD '${DB_PASSWORD}'`);
    await admin.exec(`ALTER DATABASE "${database}" OWNER TO "${role}"`);
  } finally {
    await admin.close();
  }
  t.after(async () => {
    const conn = await openConnection(server);
    try {
      await conn.exec(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`); // the role owns it: drop it first
      await conn.exec(`DROP ROLE IF EXISTS "${role}"`);
    } finally {
      await conn.close();
    }
  });
  const url = new URL(withDatabase(server, database).url);
  url.username = role;
  url.password = DB_PASSWORD;
  return { url: url.toString(), target: parseDatabaseUrl(url.toString()) };
}

describe('secrets from files', () => {
  test('DATABASE_URL_FILE and ADMIN_PASSWORD_FILE: the migrator migrates and seeds with them, a waiter starts with them', async (t) => {
    const { url, target } = await databaseWithPassword(t);
    const dir = workDir(t);
    const urlFile = join(dir, 'database_url');
    const passwordFile = join(dir, 'admin_password');
    writeFileSync(urlFile, `${url}\n`); // secrets often end with a newline
    writeFileSync(passwordFile, `${ADMIN_PASSWORD}\n`);
    const starts = join(dir, 'starts.log');
    const env = { DATABASE_URL_FILE: urlFile, ADMIN_PASSWORD_FILE: passwordFile, RECORD_ENV: 'DATABASE_URL,DATABASE_URL_FILE,ADMIN_PASSWORD,ADMIN_PASSWORD_FILE' };

    const migrator = keep('migrator with secrets', await runEntrypoint(t, appCommand(starts, 'migrator'), { ...env, RUN_MIGRATIONS: 'true' }));
    assert.equal(migrator.code, 0, migrator.output);
    assert.match(migrator.stdout, /✓ Admin user admin created/);
    const waiter = keep('waiter with secrets', await runEntrypoint(t, appCommand(starts, 'waiter'), { DATABASE_URL_FILE: urlFile, RUN_MIGRATIONS: 'false', RECORD_ENV: env.RECORD_ENV }));
    assert.equal(waiter.code, 0, waiter.output);

    const conn = await openConnection(target);
    t.after(() => conn.close());
    await assertAppliedOnce(conn, readHistory('postgresql').migrations.map((m) => m.name));
    const [admin] = await conn.query<{ passwordHash: string }>(`SELECT "passwordHash" FROM "AdminUser" WHERE username = 'admin'`);
    assert.ok(admin, 'the admin user exists');
    assert.equal(await verifyPassword(ADMIN_PASSWORD, admin.passwordHash), true, 'with the password of the file (its final newline dropped)');
    const started = readStarts(starts);
    assert.deepEqual(started.map((s) => s.label), ['migrator', 'waiter']);
    assert.deepEqual(started[0]?.env, { DATABASE_URL: 'set', DATABASE_URL_FILE: 'unset', ADMIN_PASSWORD: 'set', ADMIN_PASSWORD_FILE: 'unset' }, 'the app gets the values, not the file names');
  });
});

describe('DIRECT_DATABASE_URL_FILE', () => {
  test('the migrator and the waiter work on the direct URL of the file; the app gets both variables, not the file name', async (t) => {
    const { url, target } = await databaseWithPassword(t);
    const dir = workDir(t);
    const directFile = join(dir, 'direct_url');
    writeFileSync(directFile, `${url}\n`);
    // The apps' URL names a pooler that is not there: only the apps would use it.
    const appUrl = new URL(url);
    appUrl.port = '1';
    const starts = join(dir, 'starts.log');
    const env = { DATABASE_URL: appUrl.toString(), DIRECT_DATABASE_URL_FILE: directFile, RECORD_ENV: 'DATABASE_URL,DIRECT_DATABASE_URL,DIRECT_DATABASE_URL_FILE' };
    const migrator = keep('migrator with a direct URL file', await runEntrypoint(t, appCommand(starts, 'migrator'), { ...env, RUN_MIGRATIONS: 'true' }));
    assert.equal(migrator.code, 0, migrator.output);
    const waiter = keep('waiter with a direct URL file', await runEntrypoint(t, appCommand(starts, 'waiter'), { ...env, RUN_MIGRATIONS: 'false' }));
    assert.equal(waiter.code, 0, waiter.output);
    assert.doesNotMatch(migrator.output + waiter.output, new RegExp(DB_PASSWORD));
    const conn = await openConnection(target);
    t.after(() => conn.close());
    await assertAppliedOnce(conn, readHistory('postgresql').migrations.map((m) => m.name));
    const started = readStarts(starts);
    assert.deepEqual(started.map((s) => s.label), ['migrator', 'waiter']);
    assert.deepEqual(started[1]?.env, { DATABASE_URL: 'set', DIRECT_DATABASE_URL: 'set', DIRECT_DATABASE_URL_FILE: 'unset' });
  });
});

describe('bad input is refused before anything is done', () => {
  const cases: { name: string; env: (dir: string, port: number) => Record<string, string>; error: RegExp[] }[] = [
    {
      name: 'both DATABASE_URL and DATABASE_URL_FILE',
      env: (dir, port) => ({ DATABASE_URL: `postgresql://app:${DB_PASSWORD}@127.0.0.1:${port}/rastar`, DATABASE_URL_FILE: secret(dir, 'url', `postgresql://app:${DB_PASSWORD}@127.0.0.1:${port}/rastar`) }),
      error: [/^Error: both DATABASE_URL and DATABASE_URL_FILE are set$/m, /Set only one/],
    },
    {
      name: 'both ADMIN_PASSWORD and ADMIN_PASSWORD_FILE',
      env: (dir, port) => ({ ...pointAt(port), ADMIN_PASSWORD: ADMIN_PASSWORD, ADMIN_PASSWORD_FILE: secret(dir, 'admin', ADMIN_PASSWORD) }),
      error: [/^Error: both ADMIN_PASSWORD and ADMIN_PASSWORD_FILE are set$/m],
    },
    {
      name: 'a _FILE naming a directory',
      env: (dir, port) => ({ ...pointAt(port), ADMIN_PASSWORD_FILE: mkdir(join(dir, 'a-directory')) }),
      error: [/^Error: ADMIN_PASSWORD_FILE names .*a-directory, which cannot be read$/m],
    },
    {
      name: 'a _FILE naming a missing path',
      env: (dir) => ({ DATABASE_URL_FILE: join(dir, 'no-such-secret') }),
      error: [/^Error: DATABASE_URL_FILE names .*no-such-secret, which cannot be read$/m],
    },
    {
      name: 'a _FILE naming an empty file',
      env: (dir) => ({ DATABASE_URL_FILE: secret(dir, 'empty', '') }),
      error: [/^Error: DATABASE_URL_FILE names .*empty, which is empty$/m],
    },
    {
      name: 'an ADMIN_PASSWORD a compose engine did not expand',
      env: (_, port) => ({ ...pointAt(port), ADMIN_PASSWORD: '${ADMIN_PASSWORD:-}' }),
      error: [/^Error: ADMIN_PASSWORD is the unexpanded text \$\{ADMIN_PASSWORD:-\}$/m],
    },
    {
      name: 'a SESSION_SECRET file holding an unexpanded ${…}',
      env: (dir, port) => ({ ...pointAt(port), SESSION_SECRET_FILE: secret(dir, 'session', '${SESSION_SECRET}') }),
      error: [/^Error: SESSION_SECRET is the unexpanded text \$\{SESSION_SECRET\}$/m],
    },
    ...(['ADMIN_PASSWORD', 'SESSION_SECRET', 'TELEGRAM_BOT_TOKEN'] as const).map((name) => ({
      // What an unset ${VAR} in a compose file becomes: not a value, and not "unset" either.
      name: `${name} set but empty`,
      env: (_: string, port: number) => ({ ...pointAt(port), [name]: '' }),
      error: [new RegExp(`^Error: ${name} is set but empty$`, 'm'), new RegExp(`remove the variable to leave it unset`)],
    })),
    {
      name: 'DATABASE_URL set but empty (it would mean the default SQLite file)',
      env: () => ({ DATABASE_URL: '' }),
      error: [/^Error: DATABASE_URL is set but empty$/m],
    },
    {
      name: 'RUN_MIGRATIONS=yes',
      env: (_, port) => ({ ...pointAt(port), RUN_MIGRATIONS: 'yes' }),
      error: [/^Error: RUN_MIGRATIONS is "yes"$/m, /Accepted values: true or false/],
    },
    ...(['DB_WAIT_TIMEOUT', 'MIGRATION_WAIT_TIMEOUT', 'MIGRATION_LOCK_TIMEOUT', 'MIGRATION_DDL_LOCK_TIMEOUT', 'MIGRATION_STATEMENT_TIMEOUT'] as const).flatMap((name) =>
      ['-5', 'soon', '1e3'].map((value) => ({
        name: `${name}=${value}`,
        env: (_: string, port: number) => ({ ...pointAt(port), [name]: value }),
        error: [new RegExp(`^Error: ${name} is "${value}", not a number of seconds$`, 'm'), /number >= 0/],
      })),
    ),
  ];

  for (const { name, env, error } of cases) {
    test(`${name}: an Error: block naming it, exit 2 (bad configuration), no connection, no app`, async (t) => {
      const fake = await countingServer(t);
      const dir = workDir(t);
      const starts = join(dir, 'starts.log');
      const run = keep(name, await runEntrypoint(t, appCommand(starts), { RUN_MIGRATIONS: 'true', ...env(dir, fake.port) }, 20_000));
      assert.equal(run.code, 2, run.output);
      for (const pattern of error) assert.match(run.stderr, pattern);
      assert.equal(run.stdout, '', 'nothing was done (no step announced)');
      assert.equal(fake.connections(), 0, 'the database was not touched');
      assert.deepEqual(readStarts(starts), [], 'the app did not start');
    });
  }
});

describe('bad configuration the kit refuses', () => {
  test('DATABASE_URL=mysql://…: the kit\'s one line, exit 2, no second block, the password masked', async (t) => {
    const starts = join(workDir(t), 'starts.log');
    for (const RUN_MIGRATIONS of ['true', 'false']) {
      const run = keep(`mysql URL, RUN_MIGRATIONS=${RUN_MIGRATIONS}`, await runEntrypoint(t, appCommand(starts), { RUN_MIGRATIONS, DATABASE_URL: `mysql://app:${DB_PASSWORD}@127.0.0.1:3306/rastar` }, 20_000));
      assert.equal(run.code, 2, run.output);
      const errors = errorLines(run);
      assert.deepEqual(errors, ['Error: DATABASE_URL uses the unsupported scheme "mysql:" (mysql://app:***@127.0.0.1:3306/rastar); supported: file:./path.db (SQLite), postgresql://user:***@host:5432/db (PostgreSQL)'], run.stderr);
      assert.doesNotMatch(run.output, /did not answer|application was not started/, 'no second, wrong block');
      assert.deepEqual(readStarts(starts), []);
    }
  });
});

describe('commands that are not apps', () => {
  test('are executed as given (echo, sh, node, npm, npx prisma), without touching the database, their exit code passed on', async (t) => {
    const fake = await countingServer(t);
    const env = { ...pointAt(fake.port), RUN_MIGRATIONS: 'true', DATABASE_URL_FILE: '/nonexistent' };
    const echo = keep('echo hello', await runEntrypoint(t, ['echo', 'hello'], env, 20_000));
    assert.equal(echo.code, 0, echo.output);
    assert.equal(echo.stdout, 'hello\n');
    assert.equal(echo.stderr, '');
    const failing = keep('sh -c exit 3', await runEntrypoint(t, ['sh', '-c', 'exit 3'], env, 20_000));
    assert.equal(failing.code, 3);
    // node, npm and npx are commands like any other: with RUN_MIGRATIONS=true they still neither wait nor migrate.
    const node = keep('node -e', await runEntrypoint(t, ['node', '-e', 'console.log("node ran")'], env, 20_000));
    assert.equal(node.code, 0, node.output);
    assert.equal(node.stdout, 'node ran\n');
    const npm = keep('npm --version', await runEntrypoint(t, ['npm', '--version'], env, 60_000));
    assert.equal(npm.code, 0, npm.output);
    assert.match(npm.stdout, /^\d+\.\d+\.\d+\n$/);
    // From the project, as `docker exec … npx prisma` runs in /app.
    const started = startEntrypoint(t, ['npx', '--no-install', 'prisma', '--version'], { ...env, PRISMA_HIDE_UPDATE_MESSAGE: '1' }, { cwd: projectRoot });
    const prisma = keep('npx prisma --version', { ...(await finished(started, 60_000)), stdout: started.stdout(), stderr: started.stderr(), output: started.output() });
    assert.equal(prisma.code, 0, prisma.output);
    assert.match(prisma.stdout, /^prisma\s+: 7\./m);
    assert.doesNotMatch(echo.output + node.output + npm.output + prisma.output, /Running database migrations|Waiting/);
    assert.equal(fake.connections(), 0, 'the database was not touched');
  });

  test('app with no command after it is a configuration error, exit 2', async (t) => {
    const run = keep('app --', await runEntrypoint(t, ['app', '--'], { RUN_MIGRATIONS: 'true' }, 20_000));
    assert.equal(run.code, 2, run.output);
    assert.match(run.stderr, /^Error: app names no command$/m);
    assert.match(run.stderr, /app -- node server\.js/);
  });
});

after(() => {
  assert.ok(outputs.length > 10, 'the runs of this file were recorded');
  const leaks = outputs.filter(({ output }) => output.includes(DB_PASSWORD) || output.includes(ADMIN_PASSWORD) || output.includes(encodeURIComponent(DB_PASSWORD)));
  assert.deepEqual(leaks.map((leak) => leak.name), [], 'no password in any stdout or stderr');
});

function pointAt(port: number): { DATABASE_URL: string } {
  return { DATABASE_URL: `postgresql://app:${DB_PASSWORD}@127.0.0.1:${port}/rastar` };
}

function secret(dir: string, name: string, value: string): string {
  const file = join(dir, name);
  writeFileSync(file, value);
  return file;
}

function mkdir(dir: string): string {
  mkdirSync(dir);
  return dir;
}

describe('a stop signal while waiting', () => {
  test('SIGTERM to the entrypoint (PID 1 in a container) ends it at once, its waiting command too', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const starts = join(workDir(t), 'starts.log');
    const run = startEntrypoint(t, appCommand(starts), { DATABASE_URL: db.url, MIGRATION_WAIT_TIMEOUT: '60' });
    await until('the gate is waiting', () => /Waiting until the database schema is current/.test(run.output()), 30_000);
    const sent = Date.now();
    process.kill(run.pid, 'SIGTERM');
    const exit = await finished(run, 5_000);
    assert.equal(exit.code, 143);
    assert.ok(Date.now() - sent < 2_000, `took ${Date.now() - sent}ms`);
    assert.deepEqual(readStarts(starts), [], 'the app never started');
  });
});
