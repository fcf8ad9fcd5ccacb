/**
 * The official `prisma` CLI (the pinned package, unmodified) on the kit's schema
 * engine, offline, on both providers: what it prints and its exit codes, read as a
 * user reads them; what the database holds afterwards, read directly.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openConnection, parseDatabaseUrl, projectRoot } from '../../src/db.ts';
import { readHistory } from '../../src/runtime/history.ts';
import { HALF_WAY_SQL, hasHistoryTable, migrate, output, rows, tables, writeMigration } from '../fixtures/kit.ts';
import { childEnv, copyPrismaDir, execCapture, PROVIDERS, serverUrl, tempDir, testDatabase, type RunResult } from '../helpers.ts';

const CLI = join(projectRoot, 'node_modules', 'prisma', 'build', 'index.js');

/** `npx prisma <args>` from the project root, as the runbook runs it; `pid` is the CLI's process. */
function startPrisma(args: string[], env: NodeJS.ProcessEnv, input?: string): { pid: number; done: Promise<RunResult> } {
  // prisma.config.ts sets PRISMA_SCHEMA_ENGINE_BINARY, as in a user's shell, unless `env` names one.
  const { PRISMA_SCHEMA_ENGINE_BINARY, ...parent } = process.env;
  return execCapture(process.execPath, [CLI, ...args], { cwd: projectRoot, env: childEnv({ PRISMA_HIDE_UPDATE_MESSAGE: '1', ...env }, parent), input });
}

function prisma(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<RunResult> {
  return startPrisma(args, env, input).done;
}

const REAL = readHistory('sqlite').migrations.map((m) => m.name);

test('prisma version names the kit engine', async () => {
  const result = await prisma(['version'], {});
  assert.equal(result.code, 0, output(result));
  assert.match(result.stdout, /^Schema Engine\s+: schema-engine-cli [0-9a-f]{40} \(the rastar kit's engine: .*\) \(at bin\/schema-engine, resolved by PRISMA_SCHEMA_ENGINE_BINARY\)$/m);
});

for (const provider of PROVIDERS) {
  describe(`npx prisma on ${provider}`, () => {
    test('migrate status (pending, exit 1), migrate deploy (the kit’s deploy), status (up to date, exit 0)', async (t) => {
      const db = await testDatabase(t, provider);
      if (provider === 'sqlite') await (await db.connect()).close(); // the file exists, empty
      const pending = await prisma(['migrate', 'status'], { DATABASE_URL: db.url });
      assert.equal(pending.code, 1, output(pending));
      assert.match(output(pending), new RegExp(`Following migrations? have not yet been applied:[\\s\\S]*${REAL.at(-1)}`));
      const deployed = await prisma(['migrate', 'deploy'], { DATABASE_URL: db.url });
      assert.equal(deployed.code, 0, output(deployed));
      assert.match(output(deployed), /All migrations have been successfully applied\./);
      const history = await rows(await db.connect());
      assert.deepEqual(history.map((row) => row.migration_name), REAL);
      assert.ok(history.every((row) => row.finished_at !== null && row.applied_steps_count === 1), 'the kit’s rows');
      const status = await prisma(['migrate', 'status'], { DATABASE_URL: db.url });
      assert.equal(status.code, 0, output(status));
      assert.match(status.stdout, /Database schema is up to date!/);
      const again = await migrate(db.url, ['deploy']);
      assert.match(again.stdout, /^No pending migrations\. Database is up to date\.$/m, 'make deploy agrees');
    });

    test('a failing migration: P3018 naming it, nothing of it left; resolve --rolled-back through the CLI', async (t) => {
      const db = await testDatabase(t, provider);
      const prismaDir = copyPrismaDir(t);
      const broken = '20990101000000_half_way';
      writeMigration(prismaDir, provider, broken, HALF_WAY_SQL);
      const env = { DATABASE_URL: db.url, PRISMA_DIR: prismaDir };
      const deployed = await prisma(['migrate', 'deploy'], env);
      assert.equal(deployed.code, 1, output(deployed));
      assert.match(output(deployed), /P3018/);
      assert.match(output(deployed), new RegExp(`Migration ${broken} failed`));
      assert.ok(!(await tables(await db.connect())).includes('HalfWay'), 'the failed migration left nothing');
      const status = await prisma(['migrate', 'status'], env);
      assert.equal(status.code, 1, output(status));
      assert.match(output(status), new RegExp(broken));
      const blocked = await prisma(['migrate', 'deploy'], env);
      assert.equal(blocked.code, 1, output(blocked));
      assert.match(blocked.stderr, /^Error: P3009$/m);
      assert.match(blocked.stderr, new RegExp(`^Migration ${broken} failed earlier and blocks every deploy until it is resolved\\.$`, 'm'));
      const resolved = await prisma(['migrate', 'resolve', '--rolled-back', broken], env);
      assert.equal(resolved.code, 0, output(resolved));
      assert.match(resolved.stdout, new RegExp(`Migration ${broken} marked as rolled back\\.`));
      const row = (await rows(await db.connect())).find((r) => r.migration_name === broken);
      assert.ok(row?.rolled_back_at, 'the row is marked rolled back');
    });

    test('db execute runs a multi-statement script (; in a comment), migrate reset --force empties the database', async (t) => {
      const db = await testDatabase(t, provider);
      const env = { DATABASE_URL: db.url };
      assert.equal((await prisma(['migrate', 'deploy'], env)).code, 0);
      const script = 'CREATE TABLE "Extra" ("id" INTEGER); -- one; two\nINSERT INTO "Extra" VALUES (1);\nINSERT INTO "Extra" VALUES (2);\n';
      const executed = await prisma(['db', 'execute', '--stdin'], env, script);
      assert.equal(executed.code, 0, output(executed));
      assert.match(executed.stdout, /Script executed successfully\./);
      const conn = await db.connect();
      assert.deepEqual(await conn.query('SELECT count(*) AS n FROM "Extra"').then((r) => Number(Object.values(r[0] as object)[0])), 2);
      await conn.close();
      const reset = await prisma(['migrate', 'reset', '--force'], env);
      assert.equal(reset.code, 0, output(reset));
      const after = await tables(await db.connect());
      assert.ok(!after.includes('Extra'), `reset dropped what the migrations do not create: ${after.join(', ')}`);
      assert.deepEqual((await rows(await db.connect())).map((r) => r.migration_name), REAL, 'and applied the history again');
    });

    test('db push creates the schema’s tables, db pull --print reads them back, migrate diff --output writes an empty script then', async (t) => {
      const db = await testDatabase(t, provider);
      const env = { DATABASE_URL: db.url };
      const pushed = await prisma(['db', 'push'], env);
      assert.equal(pushed.code, 0, output(pushed));
      assert.match(pushed.stdout, /Your database is now in sync with your Prisma schema/);
      assert.ok((await tables(await db.connect())).includes('AdminUser'), 'db push created the tables');
      const pulled = await prisma(['db', 'pull', '--print'], env);
      assert.equal(pulled.code, 0, output(pulled));
      assert.match(pulled.stdout, /^model AdminUser \{$/m);
      const file = join(tempDir(t), 'diff.sql');
      const schema = provider === 'sqlite' ? 'prisma/schema.prisma' : 'prisma/schema.postgresql.prisma';
      const diffed = await prisma(['migrate', 'diff', '--from-config-datasource', '--to-schema', schema, '--script', '--output', file], env);
      assert.equal(diffed.code, 0, output(diffed));
      assert.match(readFileSync(file, 'utf8'), /-- This is an empty migration\./);
    });

    test('migrate diff --exit-code: 2 with a script when the schemas differ, 0 when they match', async (t) => {
      const db = await testDatabase(t, provider);
      const schema = provider === 'sqlite' ? 'prisma/schema.prisma' : 'prisma/schema.postgresql.prisma';
      const differs = await prisma(['migrate', 'diff', '--from-empty', '--to-schema', schema, '--script', '--exit-code'], { DATABASE_URL: db.url });
      assert.equal(differs.code, 2, output(differs));
      assert.match(differs.stdout, /CREATE TABLE "AdminUser"/);
      const same = await prisma(['migrate', 'diff', '--from-migrations', `prisma/migrations/${provider}`, '--to-schema', schema, '--exit-code'], { DATABASE_URL: db.url });
      assert.equal(same.code, 0, output(same));
    });
  });
}

test('migrate dev is refused in one line naming make migrate; no folder written', async (t) => {
  const db = await testDatabase(t, 'sqlite');
  const prismaDir = copyPrismaDir(t);
  const result = await prisma(['migrate', 'dev', '--name', 'add_x'], { DATABASE_URL: db.url, PRISMA_DIR: prismaDir });
  assert.equal(result.code, 1, output(result));
  assert.match(result.stderr, /^Error: npx prisma migrate dev would write the migration for one provider only; create it for both with: make migrate NAME=<name>$/m);
  for (const provider of PROVIDERS) assert.deepEqual(readHistory(provider, join(prismaDir, 'migrations', provider)).migrations.map((m) => m.name), REAL);
});

test('resolve through the CLI: P3008 already applied, P3017 unknown name, P3012 not failed, P3011 never applied; each code once, exit 1', async (t) => {
  const db = await testDatabase(t, 'sqlite');
  const prismaDir = copyPrismaDir(t);
  const later = '20990101000000_later';
  for (const provider of PROVIDERS) writeMigration(prismaDir, provider, later, 'CREATE TABLE "Later" ("id" INTEGER);\n');
  const env = { DATABASE_URL: db.url, PRISMA_DIR: prismaDir };
  assert.equal((await prisma(['migrate', 'deploy'], { DATABASE_URL: db.url })).code, 0, 'the project’s history, without the later one');
  const first = REAL[0] as string;
  const cases: [string[], string, RegExp][] = [
    [['--rolled-back', later], 'P3011', new RegExp(`^Migration \`${later}\` cannot be rolled back because it was never applied to the database\.`, 'm')],
    [['--applied', first], 'P3008', new RegExp(`^The migration \`${first}\` is already recorded as applied in the database\.$`, 'm')],
    [['--applied', '20990101000000_nope'], 'P3017', /^The migration 20990101000000_nope could not be found\. Please make sure that the migration exists, and that you included the whole name of the directory\./m],
    [['--rolled-back', first], 'P3012', new RegExp(`^Migration \`${first}\` cannot be rolled back because it is not in a failed state\.$`, 'm')],
  ];
  for (const [args, code, message] of cases) {
    const result = await prisma(['migrate', 'resolve', ...args], env);
    assert.equal(result.code, 1, output(result));
    assert.match(result.stderr, new RegExp(`^Error: ${code}$`, 'm'));
    assert.equal(output(result).split(code).length - 1, 1, `${code} printed once:\n${output(result)}`);
    assert.match(result.stderr, message);
  }
});

test('the engine answers a method or an argument of a newer CLI with one error naming the versions to pin', async (t) => {
  const db = await testDatabase(t, 'sqlite');
  const engine = join(projectRoot, 'bin', 'schema-engine');
  const answer = await new Promise<string>((resolve, reject) => {
    const child = execFile(engine, ['--datasource', JSON.stringify({ url: db.url })], { cwd: projectRoot, timeout: 60_000 }, (error, stdout) => (error ? reject(error) : resolve(String(stdout))));
    child.stdin?.end(`${JSON.stringify({ id: 7, jsonrpc: '2.0', method: 'someFutureMethod', params: {} })}\n`);
  });
  const response = JSON.parse(answer.trim().split('\n').at(-1) as string) as { id: number; error?: { data?: { message?: string; is_panic?: boolean } } };
  assert.equal(response.id, 7);
  assert.equal(response.error?.data?.is_panic, false);
  assert.match(response.error?.data?.message ?? '', /^The kit's schema engine does not know the method "someFutureMethod": pin prisma 7\.10\.1 with @prisma\/schema-engine-wasm /);
  const unknownArgument = await new Promise<{ code: number; stderr: string }>((resolve) => {
    const child = execFile(engine, ['--no-such-flag'], { cwd: projectRoot, timeout: 60_000 }, (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr: String(stderr) }));
    child.stdin?.end();
  });
  assert.equal(unknownArgument.code, 1);
  const [, log] = unknownArgument.stderr.trim().split('\n'); // the CLI drops the first line and reads the rest as JSON logs
  assert.match((JSON.parse(log as string) as { fields: { message: string } }).fields.message, /does not know the argument "--no-such-flag": pin prisma 7\.10\.1/);
});

/** `make <target>` from the project root, outside any make of the test runner. */
function makeTarget(target: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const { MAKELEVEL, MAKEFLAGS, MFLAGS, PRISMA_SCHEMA_ENGINE_BINARY, ...parent } = process.env;
  return new Promise((resolve) => {
    execFile('make', ['--no-print-directory', target], { cwd: projectRoot, env: { ...parent, ...env }, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

test('3 npx prisma migrate deploy and 2 make deploy at once on PostgreSQL: each migration applied once, every exit 0', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const prismaDir = copyPrismaDir(t);
  writeMigration(prismaDir, 'postgresql', '20990101000000_slow', 'SELECT pg_sleep(1);\nCREATE TABLE "Slow" ("id" INTEGER);\n');
  const env = { DATABASE_URL: db.url, PRISMA_DIR: prismaDir };
  const runs = await Promise.all([prisma(['migrate', 'deploy'], env), makeTarget('deploy', env), prisma(['migrate', 'deploy'], env), makeTarget('deploy', env), prisma(['migrate', 'deploy'], env)]);
  for (const run of runs) assert.equal(run.code, 0, output(run));
  const history = await rows(await db.connect());
  assert.deepEqual(history.map((row) => row.migration_name).sort(), [...REAL, '20990101000000_slow'].sort(), 'one row per migration');
  assert.ok(history.every((row) => row.finished_at !== null));
});

test('a PRISMA_SCHEMA_ENGINE_BINARY of the user’s own: the CLI runs it, make commands say so', async (t) => {
  const db = await testDatabase(t, 'sqlite');
  const theirs = join(tempDir(t), 'their-engine');
  writeFileSync(theirs, '#!/bin/sh\necho "schema-engine-cli 0123456789abcdef0123456789abcdef01234567"\n');
  chmodSync(theirs, 0o755);
  const env = { DATABASE_URL: db.url, PRISMA_SCHEMA_ENGINE_BINARY: theirs };
  const version = await prisma(['version'], env);
  assert.equal(version.code, 0, output(version));
  assert.match(version.stdout, /^Schema Engine\s+: schema-engine-cli 0123456789abcdef0123456789abcdef01234567 \(at .*their-engine, resolved by PRISMA_SCHEMA_ENGINE_BINARY\)$/m);
  const status = await makeTarget('status', env);
  assert.equal(status.code, 2, output(status)); // make's code for the pending migrations, as without the variable
  assert.equal(status.stderr.split('\n')[0], `Note: PRISMA_SCHEMA_ENGINE_BINARY=${theirs}: npx prisma runs that schema engine, not the kit's (${join(projectRoot, 'bin', 'schema-engine')}); make commands run the kit itself.`);
  const ours = await makeTarget('status', { DATABASE_URL: db.url, PRISMA_SCHEMA_ENGINE_BINARY: join(projectRoot, 'bin', 'schema-engine') });
  assert.doesNotMatch(ours.stderr, /PRISMA_SCHEMA_ENGINE_BINARY/, 'the kit’s own engine: nothing to say');
});

test('a missing PostgreSQL database: migrate status is P1003 naming it; migrate deploy creates it, as Prisma does', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const name = `${db.target.provider === 'postgresql' ? db.target.config.database : ''}_missing`;
  const missing = db.url.replace(/\/[^/?]+(\?|$)/, `/${name}$1`);
  t.after(async () => {
    const server = await openConnection(parseDatabaseUrl(serverUrl()));
    await server.exec(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await server.close();
  });
  const status = await prisma(['migrate', 'status'], { DATABASE_URL: missing });
  assert.equal(status.code, 1, output(status));
  assert.match(status.stderr, new RegExp(`^Error: P1003: Database \`${name}\` does not exist on the database server at \`127\\.0\\.0\\.1:\\d+\`\\.$`, 'm'));
  const deployed = await prisma(['migrate', 'deploy'], { DATABASE_URL: missing });
  assert.equal(deployed.code, 0, output(deployed));
  assert.match(deployed.stdout, new RegExp(`^PostgreSQL database ${name} created at 127\\.0\\.0\\.1:\\d+$`, 'm'));
  assert.match(deployed.stdout, /All migrations have been successfully applied\./);
});

test('migrate deploy through the CLI waits for the migration lock, then times out naming its holder (P1002), nothing applied', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const holder = await db.connect();
  await holder.query("SELECT set_config('application_name', 'stuck-migrator', false), pg_advisory_lock(72707369)");
  const deployed = await prisma(['migrate', 'deploy'], { DATABASE_URL: db.url, MIGRATION_LOCK_TIMEOUT: '1' });
  assert.equal(deployed.code, 1, output(deployed));
  assert.match(deployed.stderr, /^Error: P1002$/m);
  assert.match(deployed.stderr, /^Timed out after 1s waiting for the migration lock, held by pid \d+ "stuck-migrator" /m);
  assert.equal(await hasHistoryTable(holder), false, 'nothing applied');
});

test('db execute --file on PostgreSQL: a $$ body holding ; and a quoted ; run as one script', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const file = join(tempDir(t), 'script.sql');
  writeFileSync(file, `CREATE TABLE "Log" ("line" TEXT);\nCREATE FUNCTION log_it() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  INSERT INTO "Log" VALUES ('a; b');\n  INSERT INTO "Log" VALUES ('c');\nEND;\n$$;\nSELECT log_it();\n`);
  const executed = await prisma(['db', 'execute', '--file', file], { DATABASE_URL: db.url });
  assert.equal(executed.code, 0, output(executed));
  assert.match(executed.stdout, /Script executed successfully\./);
  assert.deepEqual((await (await db.connect()).query<{ line: string }>('SELECT line FROM "Log" ORDER BY line')).map((r) => r.line), ['a; b', 'c']);
});

for (const provider of PROVIDERS) {
  test(`migrate diff on ${provider}: the other target kinds (schema to empty, migrations to the database, empty to migrations)`, async (t) => {
    const db = await testDatabase(t, provider);
    if (provider === 'sqlite') await (await db.connect()).close();
    const env = { DATABASE_URL: db.url };
    const schema = provider === 'sqlite' ? 'prisma/schema.prisma' : 'prisma/schema.postgresql.prisma';
    const dropped = await prisma(['migrate', 'diff', '--from-schema', schema, '--to-empty', '--script'], env);
    assert.equal(dropped.code, 0, output(dropped));
    assert.match(dropped.stdout, /^DROP TABLE ("public"\.)?"AdminUser";$/m);
    const behind = await prisma(['migrate', 'diff', '--from-migrations', `prisma/migrations/${provider}`, '--to-config-datasource', '--exit-code'], env);
    assert.equal(behind.code, 2, output(behind)); // the database is empty: it differs from the history
    assert.match(behind.stdout, /\[-\] Removed tables[\s\S]*AdminUser/);
    const created = await prisma(['migrate', 'diff', '--from-empty', '--to-migrations', `prisma/migrations/${provider}`, '--script'], env);
    assert.equal(created.code, 0, output(created));
    assert.match(created.stdout, /CREATE TABLE ("public"\.)?"AdminUser"/);
  });
}

/** The processes `pid` started, from /proc. */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
}

test('the engine killed in the middle of migrate deploy: the CLI’s error naming it, exit 1, nothing of the migration committed', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const prismaDir = copyPrismaDir(t);
  const stuck = '20990101000000_stuck';
  writeMigration(prismaDir, 'postgresql', stuck, 'CREATE TABLE "Stuck" ("id" INTEGER);\nSELECT pg_sleep(300);\n');
  const env = { DATABASE_URL: db.url, PRISMA_DIR: prismaDir };
  const run = startPrisma(['migrate', 'deploy'], env);
  const watcher = await db.connect();
  // By what it waits on, not its text: a fresh database's migrations travel several to a query.
  const sleeping = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()";
  let backends: unknown[] = [];
  for (let tries = 0; tries < 600 && backends.length === 0; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    backends = await watcher.query(sleeping);
  }
  assert.equal(backends.length, 1, 'the migration is running');
  const [supervisor] = childrenOf(run.pid);
  const [engine] = childrenOf(supervisor as number);
  process.kill(engine as number, 'SIGKILL');
  const result = await run.done; // without the kit's answer the CLI would exit 0 here, or wait for the sleep
  assert.equal(result.code, 1, output(result));
  assert.match(result.stderr, /^Error: The kit's schema engine stopped \(killed by SIGKILL\) before it answered applyMigrations; see what the database holds with: npx prisma migrate status$/m);
  await watcher.query(`SELECT pg_terminate_backend(pid) FROM (${sleeping}) AS s`); // the server noticed nothing yet
  assert.ok(!(await tables(watcher)).includes('Stuck'), 'the migration rolled back');
  assert.ok(!(await rows(watcher)).some((row) => row.migration_name === stuck), 'no row for it');
  const status = await prisma(['migrate', 'status'], env);
  assert.equal(status.code, 1, output(status));
  assert.match(status.stdout, new RegExp(`Following migration have not yet been applied:\\s+${stuck}`));
});

test('a database with tables and no history: P3005 and the baseline commands, nothing written; the baseline through the CLI', async (t) => {
  const db = await testDatabase(t, 'sqlite');
  const conn = await db.connect();
  await conn.exec('CREATE TABLE "Legacy" ("id" INTEGER)');
  const result = await prisma(['migrate', 'deploy'], { DATABASE_URL: db.url });
  assert.equal(result.code, 1, output(result));
  assert.match(result.stderr, /^Error: P3005$/m);
  assert.match(result.stderr, /^The database schema is not empty\. Read more about how to baseline an existing production database: https:\/\/pris\.ly\/d\/migrate-baseline$/m);
  assert.match(result.stderr, /: make baseline$/m);
  assert.deepEqual(await tables(conn), ['Legacy'], 'nothing else');
  assert.equal(await hasHistoryTable(conn), false, 'no history table');
  for (const name of REAL) {
    const resolved = await prisma(['migrate', 'resolve', '--applied', name], { DATABASE_URL: db.url });
    assert.equal(resolved.code, 0, output(resolved));
    assert.match(resolved.stdout, new RegExp(`Migration ${name} marked as applied\\.`));
  }
  const status = await prisma(['migrate', 'status'], { DATABASE_URL: db.url });
  assert.equal(status.code, 0, output(status));
  assert.match(status.stdout, /Database schema is up to date!/);
  assert.deepEqual(await tables(conn), ['Legacy'], 'the baseline ran no migration');
});

test('a DATABASE_URL the kit refuses: the kit’s one-line message through the CLI, no password', async () => {
  const result = await prisma(['migrate', 'status'], { DATABASE_URL: 'postgresql://u:p@ss/w#rd@127.0.0.1:1/app' });
  assert.equal(result.code, 1, output(result));
  assert.match(result.stderr, /holds a password with unencoded special characters: as written it names the host "ss"; percent-encode the password/);
  assert.doesNotMatch(result.stderr, /w#rd/);
});

test('an unreachable server: P1001 in one line, exit 1, no password', async () => {
  const result = await prisma(['migrate', 'status'], { DATABASE_URL: 'postgresql://app:Cli-Secret-77@127.0.0.1:1/app', DB_CONNECT_TIMEOUT: '0' });
  assert.equal(result.code, 1, output(result));
  assert.match(result.stderr, /^Error: P1001: Can't reach database server at `127\.0\.0\.1:1`$/m);
  assert.doesNotMatch(output(result), /Cli-Secret-77/);
});

