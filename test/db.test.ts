import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULT_DATABASE_URL, maskSecrets, maskUrl, parseDatabaseUrl, projectRoot, type DatabaseTarget } from '../src/db.ts';
import { KitError } from '../src/errors.ts';
import { freePort } from '../src/authoring/embedded-postgres.ts';
import { readHistory } from '../src/runtime/history.ts';
import { assertCleanFailure, errorLines, hasHistoryTable, migrate, output, tables } from './fixtures/kit.ts';
import { copyPrismaDir, serverUrl, tempDir, testDatabase } from './helpers.ts';

const SECRET = 's3cr3t-Pa55';

function pg(target: DatabaseTarget): DatabaseTarget & { provider: 'postgresql' } {
  assert.equal(target.provider, 'postgresql');
  return target as DatabaseTarget & { provider: 'postgresql' };
}

function badUrl(raw: string): KitError {
  try {
    parseDatabaseUrl(raw);
  } catch (error) {
    assert.ok(error instanceof KitError, String(error));
    return error;
  }
  assert.fail(`${raw} was accepted`);
}

describe('parseDatabaseUrl', () => {
  test('unset or blank means the SQLite file data/rastar.db in the project root', () => {
    for (const raw of [undefined, '', '   ']) {
      const target = parseDatabaseUrl(raw);
      assert.equal(target.provider, 'sqlite');
      assert.equal(target.url, DEFAULT_DATABASE_URL);
      assert.equal(target.provider === 'sqlite' && target.file, join(projectRoot, 'data', 'rastar.db'));
    }
  });

  test('relative SQLite paths resolve against the project root whatever the working directory', (t) => {
    const before = process.cwd();
    t.after(() => process.chdir(before));
    process.chdir(tempDir(t));
    assert.deepEqual(
      ['file:./data/rastar.db', 'file:data/x.db', 'file:../elsewhere/y.db', 'file:./z.db?connection_limit=1'].map((raw) => (parseDatabaseUrl(raw) as { file: string }).file),
      [join(projectRoot, 'data', 'rastar.db'), join(projectRoot, 'data', 'x.db'), join(projectRoot, '..', 'elsewhere', 'y.db'), join(projectRoot, 'z.db')],
    );
  });

  test('absolute SQLite paths are kept, with or without file://', () => {
    assert.equal((parseDatabaseUrl('file:/var/lib/app.db') as { file: string }).file, '/var/lib/app.db');
    assert.equal((parseDatabaseUrl('file:///var/lib/app.db') as { file: string }).file, '/var/lib/app.db');
  });

  test('postgres:// and postgresql:// give the same PostgreSQL target with decoded credentials', () => {
    for (const scheme of ['postgres', 'postgresql', 'POSTGRESQL']) {
      const target = pg(parseDatabaseUrl(`${scheme}://app:p%40ss%2Fw0rd@db.internal:6543/rastar`));
      assert.deepEqual(target.config, { host: 'db.internal', port: 6543, user: 'app', password: 'p@ss/w0rd', database: 'rastar', ssl: false });
      assert.equal(target.schema, 'public');
    }
    assert.equal(pg(parseDatabaseUrl('postgresql://app@db/rastar')).config.port, 5432);
  });

  test('?schema= selects the PostgreSQL schema', () => {
    assert.equal(pg(parseDatabaseUrl('postgresql://app:x@db:5432/rastar?schema=tenant_1')).schema, 'tenant_1');
  });

  test('sslmode maps to the driver: require/no-verify encrypt, verify-* also verify, others do not', () => {
    const ssl = (mode: string) => pg(parseDatabaseUrl(`postgresql://app:x@db/rastar?sslmode=${mode}`)).config.ssl;
    assert.deepEqual(ssl('require'), { rejectUnauthorized: false });
    assert.deepEqual(ssl('no-verify'), { rejectUnauthorized: false });
    assert.deepEqual(ssl('verify-ca'), { rejectUnauthorized: true });
    assert.deepEqual(ssl('verify-full'), { rejectUnauthorized: true });
    assert.equal(ssl('disable'), false);
    assert.equal(pg(parseDatabaseUrl('postgresql://app:x@db/rastar')).config.ssl, false);
  });

  test('an unsupported scheme is a one-line configuration error naming the supported schemes', () => {
    for (const raw of [`mysql://app:${SECRET}@db:3306/rastar`, 'http://example.com/db', 'garbage', 'sqlite:./x.db']) {
      const error = badUrl(raw);
      assert.equal(error.code, 'BAD_URL');
      assert.equal(error.exitCode, 2);
      assert.doesNotMatch(error.message, /\n/);
      assert.match(error.message, /file:/);
      assert.match(error.message, /postgresql:\/\//);
      assert.ok(!error.message.includes(SECRET), error.message);
    }
  });

  test('a malformed PostgreSQL URL is a configuration error that does not echo the password', () => {
    for (const raw of [`postgresql://app:${SECRET}@[not-a-host`, 'postgresql://', `postgresql://app:${SECRET}@db`]) {
      const error = badUrl(raw);
      assert.equal(error.exitCode, 2, raw);
      assert.ok(!error.message.includes(SECRET), error.message);
    }
  });
});

describe('maskUrl and maskSecrets', () => {
  test('maskUrl hides the password and keeps everything else', () => {
    assert.equal(maskUrl(`postgresql://app:${SECRET}@db:5432/rastar?schema=x`), 'postgresql://app:***@db:5432/rastar?schema=x');
    assert.equal(maskUrl('postgresql://app@db:5432/rastar'), 'postgresql://app@db:5432/rastar');
    assert.equal(maskUrl('file:./data/rastar.db'), 'file:./data/rastar.db');
  });

  test('maskUrl hides a password pasted with unencoded @ / # ? characters entirely', () => {
    for (const password of ['s3cr@t-Pa55', 's3cr/t-Pa55', 's3cr#t-Pa55', 's3cr?t-Pa55', 'a@b/c@d']) {
      const masked = maskUrl(`postgresql://app:${password}@db:5432/rastar`);
      assert.equal(masked, 'postgresql://app:***@db:5432/rastar', password);
    }
  });

  test('maskSecrets hides the password of the target wherever it appears, raw or URL-encoded', () => {
    const target = parseDatabaseUrl('postgresql://app:p%40ss%2Fw0rd@db/rastar');
    const text = maskSecrets('password "p@ss/w0rd" rejected; tried postgresql://app:p%40ss%2Fw0rd@db/rastar and p%40ss%2Fw0rd', target);
    assert.ok(!text.includes('p@ss/w0rd') && !text.includes('p%40ss%2Fw0rd'), text);
  });
});

describe('DATABASE_URL seen from the scripts', () => {
  test('an unsupported scheme exits 2 with one line naming the supported schemes', async () => {
    for (const url of ['mysql://app:pw@db:3306/rastar', 'http://example.com', 'garbage']) {
      const result = await migrate(url, ['status']);
      assertCleanFailure(result, 2, /supported: file:.*postgresql:\/\//);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
  });

  test('a malformed PostgreSQL URL exits 2', async () => {
    const result = await migrate(`postgresql://app:${SECRET}@[oops/db`, ['deploy']);
    assertCleanFailure(result, 2, /not a valid PostgreSQL URL/);
    assert.ok(!output(result).includes(SECRET));
  });

  test('unset DATABASE_URL uses data/rastar.db in the project root, from any working directory', async (t) => {
    // Empty counts as unset (and keeps a developer's .env out of the test); status writes nothing.
    const result = await migrate('', ['status'], {}, tempDir(t));
    assert.match(result.stderr, new RegExp(`Datasource: SQLite database ${join(projectRoot, 'data', 'rastar.db').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  test('a relative SQLite path resolves against the project root, not the working directory, and its folders are created', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'nested', 'deeper', 'app.db');
    let cwd = join(tempDir(t), 'a', 'b');
    // Read against a working directory no deeper than the checkout, the path's `..` steps stop
    // at / and name the same file: go deeper until the two differ, wherever the checkout is.
    while (join(cwd, relative(projectRoot, file)) === file) cwd = join(cwd, 'c');
    mkdirSync(cwd, { recursive: true });
    const result = await migrate(`file:./${relative(projectRoot, file)}`, ['deploy'], {}, cwd);
    assert.equal(result.code, 0, output(result));
    assert.ok(existsSync(file), 'database created at the path relative to the project root');
    assert.ok(!existsSync(join(cwd, relative(projectRoot, file))), 'nothing created relative to the working directory');
  });

  test('deploy into a non-public PostgreSQL schema puts every table there and nothing in public', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const url = `${db.url}?schema=tenant_a`;
    const deployed = await migrate(url, ['deploy']);
    assert.equal(deployed.code, 0, output(deployed));
    assert.match(deployed.stderr, /schema "tenant_a"/);
    const conn = await db.connect();
    const bySchema = await conn.query<{ schemaname: string; tablename: string }>(`SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('public', 'tenant_a') ORDER BY tablename`);
    assert.deepEqual([...new Set(bySchema.map((r) => r.schemaname))], ['tenant_a']);
    assert.ok(bySchema.some((r) => r.tablename === '_prisma_migrations'));
    assert.ok(bySchema.some((r) => r.tablename === 'McpToolLog'));

    const status = await migrate(url, ['status']);
    assert.equal(status.code, 0, output(status));
    // resolve goes through Prisma's engine: it must look in the same schema, not create a table in public.
    const name = readHistory('postgresql').migrations[0]!.name;
    const resolve = await migrate(url, ['resolve', '--rolled-back', name]);
    assertCleanFailure(resolve, 1, /P3012/);
    const applied = await migrate(url, ['resolve', '--applied', name]);
    assertCleanFailure(applied, 1, /P3008/);
    const publicTables = await conn.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
    assert.deepEqual(publicTables, []);
  });

  test('sslmode=require against a server without TLS fails with one readable line, exit 1', async () => {
    const result = await migrate(`${serverUrl()}?sslmode=require`, ['status'], { DB_CONNECT_TIMEOUT: '0' });
    assertCleanFailure(result, 1, /SSL/i);
    assert.equal(errorLines(result).length, 1);
  });

  test('sslmode=disable connects as usual', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const result = await migrate(`${db.url}?sslmode=disable`, ['deploy']);
    assert.equal(result.code, 0, output(result));
  });
});

describe('an unreachable database', () => {
  test('is retried for DB_CONNECT_TIMEOUT seconds, then one line names host and port, exit 1', async () => {
    const port = await freePort();
    const started = Date.now();
    const result = await migrate(`postgresql://app:${SECRET}@127.0.0.1:${port}/rastar`, ['deploy'], { DB_CONNECT_TIMEOUT: '1' });
    const elapsed = Date.now() - started;
    assertCleanFailure(result, 1, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.deepEqual(errorLines(result).length, 1, result.stderr);
    assert.ok(elapsed >= 900, `gave up after ${elapsed}ms, before the 1 s timeout`);
    assert.ok(elapsed < 15_000, `took ${elapsed}ms`);
  });
});

describe('DB_CONNECT_TIMEOUT', () => {
  test('a value that is not a number of seconds is bad configuration: exit 2', async () => {
    const result = await migrate(serverUrl(), ['status'], { DB_CONNECT_TIMEOUT: 'soon' });
    assertCleanFailure(result, 2, /DB_CONNECT_TIMEOUT must be a number of seconds/);
  });
});

describe('the password never appears in any output', () => {
  test('closed port or wrong password, for deploy, status, resolve and create', async (t) => {
    const { port } = pg(parseDatabaseUrl(serverUrl())).config;
    const closed = await freePort();
    const prisma = copyPrismaDir(t);
    const name = readHistory('postgresql').migrations[0]!.name;
    const urls = {
      closed: `postgresql://app:${SECRET}@127.0.0.1:${closed}/rastar`,
      'wrong password': `postgresql://postgres:${SECRET}@127.0.0.1:${port}/postgres`,
    };
    const commands = [['deploy'], ['status'], ['status', '--json'], ['resolve', '--applied', name], ['resolve', '--rolled-back', name], ['create', '--name', 'leak_check']];
    const runs = Object.entries(urls).flatMap(([kind, url]) =>
      commands.map(async (args) => ({ kind, args, result: await migrate(url, args, { DB_CONNECT_TIMEOUT: '1', PRISMA_DIR: prisma, SHADOW_DATABASE_URL: undefined }) })),
    );
    for (const { kind, args, result } of await Promise.all(runs)) {
      const label = `${kind}: migrate ${args.join(' ')}`;
      assert.equal(result.code, 1, `${label}\n${output(result)}`);
      assert.ok(!output(result).includes(SECRET), `${label} printed the password:\n${output(result)}`);
      assert.equal(errorLines(result).length, 1, `${label}\n${result.stderr}`);
      assert.match(result.stderr, kind === 'closed' ? /P1001/ : /P1000|authentication failed/i, `${label}\n${result.stderr}`);
    }
    assert.deepEqual(readHistory('postgresql', join(prisma, 'migrations', 'postgresql')).migrations.length, readHistory('postgresql').migrations.length, 'create wrote nothing');
  });
});

describe('passwords with special characters', () => {
  test('pasted unencoded (@ / # ? %), they never appear in any output; unparsable ones exit 2 with the encoding hint', async () => {
    const port = await freePort();
    const passwords = ['s3cr@t-Pa55', 's3cr/t-Pa55', 's3cr#t-Pa55', 's3cr?t-Pa55', 's3cr%t-Pa55'];
    const results = await Promise.all(passwords.map((password) => migrate(`postgresql://app:${password}@127.0.0.1:${port}/rastar`, ['status'], { DB_CONNECT_TIMEOUT: '0' })));
    results.forEach((result, i) => {
      const password = passwords[i]!;
      const secretParts = password.split(/[@/#?%]/);
      for (const part of secretParts) assert.ok(!output(result).includes(part), `${password}: "${part}" leaked:\n${output(result)}`);
      assert.ok([1, 2].includes(result.code), `${password}: exit ${result.code}`);
      assert.equal(errorLines(result).length, 1, result.stderr);
      if (result.code === 2) assert.match(result.stderr, /%/, 'says how to encode');
    });
  });
});

describe('passwords pasted unencoded, and short ones', () => {
  test('an unencoded password is refused in one line naming the host it would have reached and how to encode it', async () => {
    const port = await freePort();
    const result = await migrate(`postgresql://u:p@ss/w#rd@127.0.0.1:${port}/rastar`, ['status']);
    assertCleanFailure(result, 2, /holds a password with unencoded special characters: as written it names the host "ss"; percent-encode the password \(@ as %40, \/ as %2F, # as %23, \? as %3F/);
    assert.equal(errorLines(result).length, 1, result.stderr);
    for (const part of ['p@ss', 'w#rd', 'ss/w']) assert.ok(!output(result).includes(part), `"${part}" leaked:\n${output(result)}`);
  });

  test('a password of one or two letters is masked where it stands alone, and the message stays readable', async () => {
    const port = await freePort();
    for (const password of ['p', 'ab']) {
      const result = await migrate(`postgresql://app:${password}@127.0.0.1:${port}/rastar`, ['status'], { DB_CONNECT_TIMEOUT: '0' });
      assertCleanFailure(result, 1, /Can't reach database server at 127\.0\.0\.1:\d+ \(database "rastar"\)/);
      assert.match(result.stderr, /^Datasource: PostgreSQL database "rastar", schema "public" at 127\.0\.0\.1:\d+ \(postgresql:\/\/app:\*\*\*@127\.0\.0\.1:\d+\/rastar\)$/m);
      assert.doesNotMatch(output(result), new RegExp(`:${password}@|\\b${password}\\b`));
    }
  });
});

describe('SQLite target that cannot be created', () => {
  test('a path below a regular file fails with one clear line, exit 1, no stack trace', async (t) => {
    const file = join(tempDir(t), 'not-a-dir');
    writeFileSync(file, 'plain file');
    const result = await migrate(`file:${file}/app.db`, ['deploy']);
    assertCleanFailure(result, 1, /Cannot open SQLite database/);
    assert.equal(errorLines(result).length, 1, result.stderr);
  });

  test('a read-only data directory fails with one clear line (skipped as root: root writes anyway)', { skip: process.getuid?.() === 0 }, async (t) => {
    const dir = join(tempDir(t), 'data');
    mkdirSync(dir, { mode: 0o555 });
    const result = await migrate(`file:${dir}/app.db`, ['deploy']);
    assertCleanFailure(result, 1, /Cannot open SQLite database/);
  });

  test('SQLite parameters: $1 inside a string literal stays text, and a parameter may be used twice', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const conn = await db.connect();
    await conn.exec(`CREATE TABLE "Note" ("id" INTEGER PRIMARY KEY, "body" TEXT, "tag" TEXT)`);
    await conn.query(`INSERT INTO "Note" ("body", "tag") VALUES ('costs $1 or $2', $1)`, ['price']);
    const rows = await conn.query<{ body: string; tag: string; same: number }>(`SELECT "body", "tag", $1 = $1 AS same FROM "Note" WHERE "tag" = $1`, ['price']);
    assert.deepEqual(rows, [{ body: 'costs $1 or $2', tag: 'price', same: 1 }]);
  });

  test('the SQLite database and tables are created on first deploy', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const result = await migrate(db.url, ['deploy']);
    assert.equal(result.code, 0, output(result));
    const conn = await db.connect();
    assert.ok(await hasHistoryTable(conn));
    assert.ok((await tables(conn)).includes('McpToolLog'));
  });
});

describe('a PostgreSQL script sent whole', () => {
  test('runs every statement, rows and empty statements included, and the session answers after', async (t) => {
    const conn = await (await testDatabase(t, 'postgresql')).connect();
    await conn.exec(`CREATE TABLE note (id int);\n;\nSELECT generate_series(1, 1000);\nINSERT INTO note VALUES (1), (2);`);
    assert.deepEqual(await conn.query('SELECT count(*)::int AS n FROM note'), [{ n: 2 }]);
  });

  test('a failure says how many statements completed before it, and undoes the script with them', async (t) => {
    const conn = await (await testDatabase(t, 'postgresql')).connect();
    const error = await conn.exec(`CREATE TABLE note (id int);\nINSERT INTO note VALUES (1);\nINSERT INTO note VALUES ('x');\nINSERT INTO note VALUES (3);`).then(
      () => assert.fail('the script succeeded'),
      (error: unknown) => error as { message: string; completedStatements?: number },
    );
    assert.match(error.message, /invalid input syntax for type integer: "x"/);
    assert.equal(error.completedStatements, 2);
    assert.deepEqual(await conn.query(`SELECT to_regclass('note') AS t`), [{ t: null }]);
  });

  test('a COPY … FROM STDIN is refused, not waited on forever, and the session answers after', async (t) => {
    const conn = await (await testDatabase(t, 'postgresql')).connect();
    await conn.exec('CREATE TABLE note (id int)');
    await assert.rejects(conn.exec('COPY note FROM STDIN'), /No source stream defined/);
    assert.deepEqual(await conn.query('SELECT count(*)::int AS n FROM note'), [{ n: 0 }]);
  });

  test('a session the server ends mid-script fails the script instead of leaving it waiting', async (t) => {
    const conn = await (await testDatabase(t, 'postgresql')).connect();
    await assert.rejects(conn.exec('SELECT 1;\nSELECT pg_terminate_backend(pg_backend_pid());\nSELECT 2;'), /terminat/i);
  });
});
