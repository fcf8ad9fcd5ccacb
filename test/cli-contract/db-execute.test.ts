/**
 * Prisma's `DbExecute.test.ts` (packages/migrate/src/__tests__, 7.x) as the kit's contract:
 * every kept case (SQLite, PostgreSQL and the generic ones; MySQL, SQL Server, CockroachDB
 * and MongoDB are not the kit's), run with the real CLI in a fresh fixture folder.
 *
 * A resolved command is exit 0 with `Script executed successfully.` on stdout; a rejected
 * one is exit 1 with `Error: <message>` on stderr, an engine error's message being
 * `<code>\n\n<text>` when it has a Prisma code.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import { openConnection, parseDatabaseUrl } from '../../src/db.ts';
import { serverUrl, testDatabase } from '../helpers.ts';
import { BLOG_SCHEMA, config, F_NO_CONFIG, INTROSPECTION_SQLITE_DB, INTROSPECTION_SQLITE_SCHEMA, POSTGRES_BLOG_SCHEMA, schemaFolderFiles, SQLITE_DBEXECUTE_SCRIPT } from './fixtures.ts';
import { fixture, output, prisma, prismaCalled, sqliteRows, sqliteTables, stderrAfterConfigLine, type Files } from './harness.ts';

const SUCCESS = 'Script executed successfully.\n';

/** The PostgreSQL `sqlScript`: a schema created and dropped. */
const PG_SCRIPT = `-- Drop & Create & Drop
DROP SCHEMA IF EXISTS "test-dbexecute";
CREATE SCHEMA "test-dbexecute";
DROP SCHEMA "test-dbexecute";`;

/** `should pass using a transaction with --file`: the script inside BEGIN … COMMIT. */
const inTransaction = (script: string) => `-- start a transaction
BEGIN;

${script}

-- commit changes
COMMIT;`;

/** F-valid-config-only. */
const VALID_CONFIG_ONLY: Files = { 'prisma.config.ts': config('file:./dev.db') };

/** F-schema-only-sqlite (its unused variant configs and schemas left out: db execute reads no schema). */
const schemaOnlySqlite = (url = 'file:dev.db'): Files => ({ 'prisma.config.ts': config(url), 'prisma/schema.prisma': BLOG_SCHEMA });

const INTROSPECTION_TABLES = ['Post', 'Profile', 'User', '_Migration', 'sqlite_sequence'];

/** F-introspection-sqlite, its config naming `url` (its dev.db is INTROSPECTION_SQLITE_DB). */
const introspectionSqlite = (url = 'file:dev.db'): Files => ({ 'prisma.config.ts': config(url), 'schema.prisma': INTROSPECTION_SQLITE_SCHEMA });

function assertExecuted(result: Awaited<ReturnType<typeof prisma>>): void {
  assert.equal(result.code, 0, output(result));
  assert.equal(stripVTControlCharacters(result.stdout), SUCCESS, output(result));
}

/** Exit 1 with `Error: <code>` then the engine's message (Prisma's EngineError, `<code>\n\n<message>\n`). */
function assertEngineError(result: Awaited<ReturnType<typeof prisma>>, code: string): string {
  assert.equal(result.code, 1, output(result));
  const text = stderrAfterConfigLine(result.stderr);
  assert.match(text, new RegExp(`^Error: ${code}\\n\\n`, 'm'), output(result));
  assert.doesNotMatch(result.stdout, /Script executed successfully/, output(result));
  return text;
}

/** Exit 1, `Error: <message>` with no Prisma code (Prisma's plain Error, `e.code === undefined`). */
function assertPlainError(result: Awaited<ReturnType<typeof prisma>>): string {
  assert.equal(result.code, 1, output(result));
  const text = stderrAfterConfigLine(result.stderr);
  assert.match(text, /^Error: /m, output(result));
  assert.doesNotMatch(text, /^Error: P\d{4}\b/m, `no Prisma code\n${output(result)}`);
  assert.doesNotMatch(result.stdout, /Script executed successfully/, output(result));
  return text;
}

// ---------------------------------------------------------------------------
// db execute › prisma.config.ts

test('db execute › prisma.config.ts › should require a datasource in the config', async (t) => {
  const dir = fixture(t, { ...F_NO_CONFIG, 'script.sql': '-- noop' });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  const text = assertPlainError(result);
  assert.match(text, /^Error: The datasource\.url property is required in your Prisma config file when using prisma db execute\.$/m, output(result));
  assert.ok(!existsSync(join(dir, 'dev.db')), 'no database file');
});

// ---------------------------------------------------------------------------
// db execute › generic

for (const cliCommand of ['prisma', 'prisma7'] as const) {
  const other = cliCommand === 'prisma' ? 'prisma7' : 'prisma';
  test(`db execute › generic › ${cliCommand} › renders help and help errors with the selected executable`, async (t) => {
    const dir = fixture(t, VALID_CONFIG_ONLY);
    const run = (args: string[]) => prismaCalled(cliCommand, dir, args);
    const help = await run(['db', 'execute', '--help']);
    assert.equal(help.code, 0, output(help));
    const helpText = stripVTControlCharacters(help.stdout);
    assert.ok(helpText.includes(`${cliCommand} db execute --file ./script.sql`), output(help));
    assert.ok(!helpText.includes(`${other} db execute --file ./script.sql`), output(help));
    const bare = await run(['db', 'execute']);
    assert.equal(bare.code, 1, output(bare));
    const text = stderrAfterConfigLine(bare.stderr);
    assert.ok(text.includes('Either --stdin or --file must be provided.'), output(bare));
    assert.ok(text.includes(`See \`${cliCommand} db execute -h\``), output(bare));
    assert.ok(!text.includes(`See \`${other} db execute -h\``), output(bare));
  });
}

test('db execute › generic › should fail if missing --file and --stdin', async (t) => {
  const dir = fixture(t, VALID_CONFIG_ONLY);
  const result = await prisma(dir, ['db', 'execute']);
  const text = assertPlainError(result);
  assert.ok(text.includes('Error: Either --stdin or --file must be provided.\nSee `prisma db execute -h`'), output(result));
  assert.ok(!existsSync(join(dir, 'dev.db')), 'no database file');
});

test('db execute › generic › should fail if both --file and --stdin are provided', async (t) => {
  const dir = fixture(t, VALID_CONFIG_ONLY);
  const result = await prisma(dir, ['db', 'execute', '--file=1', '--stdin']);
  const text = assertPlainError(result);
  assert.ok(text.includes('Error: --stdin and --file cannot be used at the same time. Only 1 must be provided.\nSee `prisma db execute -h`'), output(result));
  assert.ok(!existsSync(join(dir, 'dev.db')), 'no database file');
});

test('db execute › generic › should fail if --file does no exists', async (t) => {
  const dir = fixture(t, VALID_CONFIG_ONLY);
  const result = await prisma(dir, ['db', 'execute', '--file=./doesnotexists.sql']);
  const text = assertPlainError(result);
  assert.match(text, /^Error: Provided --file at \.\/doesnotexists\.sql doesn't exist\.$/m, output(result));
  assert.ok(!existsSync(join(dir, 'dev.db')), 'no database file');
});

// ---------------------------------------------------------------------------
// db execute › SQLite

test('db execute › SQLite › should pass with --stdin', { skip: process.platform === 'win32' ? 'Prisma skips it on Windows' : false }, async (t) => {
  const dir = fixture(t, schemaOnlySqlite());
  // `echo "<sqlScript>" | … --stdin` through /bin/sh: the shell eats the double quotes, echo adds a newline.
  const stdin = `${SQLITE_DBEXECUTE_SCRIPT.replace(/"/g, '')}\n`;
  const result = await prisma(dir, ['db', 'execute', '--stdin'], {}, stdin);
  assertExecuted(result);
  assert.equal(stderrAfterConfigLine(result.stderr), '', `nothing on stderr but the config diagnostic\n${output(result)}`);
  assert.deepEqual(sqliteTables(join(dir, 'dev.db')), [], 'dev.db at the config’s folder, the table created and dropped');
});

test('db execute › SQLite › should pass with --file', async (t) => {
  const dir = fixture(t, { ...schemaOnlySqlite(), 'script.sql': SQLITE_DBEXECUTE_SCRIPT });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  assertExecuted(result);
  assert.deepEqual(sqliteTables(join(dir, 'dev.db')), [], 'dev.db created at the config’s folder, the table created and dropped');
  assert.ok(!existsSync(join(dir, 'prisma', 'dev.db')), 'not next to the schema');
});

test('db execute › SQLite › should pass with schema folder fixture', async (t) => {
  const dir = fixture(t, { 'prisma.config.ts': config('file:dev.db'), ...schemaFolderFiles('sqlite'), 'script.sql': SQLITE_DBEXECUTE_SCRIPT });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  assertExecuted(result);
  assert.deepEqual(sqliteTables(join(dir, 'dev.db')), []);
});

test('db execute › SQLite › should pass using a transaction with --file', async (t) => {
  const dir = fixture(t, { ...schemaOnlySqlite(), 'script.sql': inTransaction(SQLITE_DBEXECUTE_SCRIPT) });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  assertExecuted(result);
  assert.deepEqual(sqliteTables(join(dir, 'dev.db')), []);
});

test('db execute › SQLite › non driver adapter › should pass when datasource is provided programmatically', async (t) => {
  const dir = fixture(t, { ...VALID_CONFIG_ONLY, 'script.sql': SQLITE_DBEXECUTE_SCRIPT });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  assertExecuted(result);
  assert.deepEqual(sqliteTables(join(dir, 'dev.db')), [], 'dev.db created, the table created and dropped');
});

test('db execute › SQLite › non driver adapter › should pass with datasource pointing to file:dev.db', async (t) => {
  const dir = fixture(t, { ...introspectionSqlite('file:dev.db'), 'script.sql': SQLITE_DBEXECUTE_SCRIPT }, { 'dev.db': INTROSPECTION_SQLITE_DB });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  assertExecuted(result);
  assert.deepEqual(sqliteTables(join(dir, 'dev.db')), INTROSPECTION_TABLES, 'the existing database, unchanged');
  assert.equal(sqliteRows(join(dir, 'dev.db'), 'User').length, 1);
});

test('db execute › SQLite › non driver adapter › should pass with empty script', async (t) => {
  const dir = fixture(t, { ...introspectionSqlite('file:dev.db'), 'script.sql': '' }, { 'dev.db': INTROSPECTION_SQLITE_DB });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  assertExecuted(result);
  assert.deepEqual(sqliteTables(join(dir, 'dev.db')), INTROSPECTION_TABLES);
});

test('db execute › SQLite › non driver adapter › should fail with P1013 error when datasource URL is invalid', async (t) => {
  const dir = fixture(t, { ...schemaOnlySqlite('invalidurl'), 'script.sql': '-- empty' });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  const text = assertEngineError(result, 'P1013');
  // Prisma: "The provided database string is invalid. The scheme is not recognized in database URL. …"
  assert.match(text, /^The provided database string is invalid\. /m, output(result));
  assert.match(text, /The scheme is not recognized in database URL|is not a URL/, `names the scheme as the fault\n${output(result)}`);
  assert.ok(!existsSync(join(dir, 'invalidurl')) && !existsSync(join(dir, 'dev.db')), 'no database file');
});

test('db execute › SQLite › non driver adapter › should create the SQLite database if it does not exist', async (t) => {
  const dir = fixture(t, { ...introspectionSqlite('file:doesnotexists.db'), 'script.sql': SQLITE_DBEXECUTE_SCRIPT }, { 'dev.db': INTROSPECTION_SQLITE_DB });
  const before = readFileSync(join(dir, 'dev.db'));
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  assertExecuted(result);
  assert.deepEqual(sqliteTables(join(dir, 'doesnotexists.db')), [], 'doesnotexists.db created at the config’s folder');
  assert.ok(readFileSync(join(dir, 'dev.db')).equals(before), 'dev.db untouched');
});

test('db execute › SQLite › should fail when there is a database error', async (t) => {
  const dir = fixture(t, { ...schemaOnlySqlite(), 'script.sql': 'DROP TABLE "test-doesnotexists";' });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  assert.equal(result.code, 1, output(result));
  assert.match(stderrAfterConfigLine(result.stderr), /^Error: /m, output(result));
  assert.ok(stderrAfterConfigLine(result.stderr).includes('no such table: test-doesnotexists'), output(result));
});

test('db execute › SQLite › should fail with invalid SQL error from database', async (t) => {
  const dir = fixture(t, { ...schemaOnlySqlite(), 'script.sql': 'ThisisnotSQL,itshouldfail' });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  const text = assertPlainError(result);
  assert.ok(text.includes('near "ThisisnotSQL": syntax error'), output(result));
});

// ---------------------------------------------------------------------------
// db execute › postgres: a fresh, empty database per case (Prisma's setupPostgres with no setup.sql)

/** F-schema-only-postgresql, its config naming `url`. */
const schemaOnlyPostgres = (url: string): Files => ({ 'prisma.config.ts': config(url), 'prisma/schema.prisma': POSTGRES_BLOG_SCHEMA });

async function pgSchemas(db: Awaited<ReturnType<typeof testDatabase>>): Promise<string[]> {
  const conn = await db.connect();
  return (await conn.query<{ nspname: string }>("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY nspname")).map((row) => row.nspname);
}

test('db execute › postgres › should pass with --file', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const dir = fixture(t, { ...schemaOnlyPostgres(db.url), 'script.sql': PG_SCRIPT });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  assertExecuted(result);
  assert.ok(!(await pgSchemas(db)).includes('test-dbexecute'), 'the schema created and dropped');
});

test('db execute › postgres › should pass with schema folder fixture', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const dir = fixture(t, { 'prisma.config.ts': config(db.url), ...schemaFolderFiles('postgresql'), 'script.sql': PG_SCRIPT });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  assertExecuted(result);
  assert.ok(!(await pgSchemas(db)).includes('test-dbexecute'));
});

test('db execute › postgres › should pass using a transaction with --file', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const dir = fixture(t, { ...schemaOnlyPostgres(db.url), 'script.sql': inTransaction(PG_SCRIPT) });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  assertExecuted(result);
  assert.ok(!(await pgSchemas(db)).includes('test-dbexecute'));
});

test('db execute › postgres › should pass with empty script', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const dir = fixture(t, { ...schemaOnlyPostgres(db.url), 'script.sql': '' });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  assertExecuted(result);
});

test('db execute › postgres › should fail if DROP DATABASE is attempted', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const server = parseDatabaseUrl(serverUrl());
  const exists = async () => {
    const conn = await openConnection(server);
    try {
      return (await conn.query("SELECT 1 FROM pg_database WHERE datname = 'test-dbexecute'")).length > 0;
    } finally {
      await conn.close();
    }
  };
  assert.equal(await exists(), false, 'no test-dbexecute database before');
  t.after(async () => {
    const conn = await openConnection(server);
    await conn.exec('DROP DATABASE IF EXISTS "test-dbexecute" WITH (FORCE)');
    await conn.close();
  });
  const script = `-- Drop & Create & Drop
      DROP DATABASE IF EXISTS "test-dbexecute";
      CREATE DATABASE "test-dbexecute";
      DROP DATABASE "test-dbexecute";`;
  const dir = fixture(t, { ...schemaOnlyPostgres(db.url), 'script.sql': script });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  const text = assertPlainError(result);
  // "cannot be executed from a function or multi-command string" or "cannot run inside a transaction block"
  assert.ok(text.includes('ERROR: DROP DATABASE cannot'), output(result));
  assert.equal(await exists(), false, 'no test-dbexecute database created');
});

test('db execute › postgres › should fail with P1013 error when datasource URL is invalid', async (t) => {
  const dir = fixture(t, { ...schemaOnlyPostgres('postgresql://johndoe::::////::randompassword@doesnotexist/mydb'), 'script.sql': '-- empty' });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  const text = assertEngineError(result, 'P1013');
  // Prisma: "The provided database string is invalid. invalid port number in database URL. … certain characters must be escaped. …"
  assert.match(text, /^The provided database string is invalid\. /m, output(result));
  assert.match(text, /invalid port number|must be escaped|percent-encode/i, `names what is wrong in the URL\n${output(result)}`);
  assert.ok(!text.includes('randompassword'), 'the password is not shown');
});

test('db execute › postgres › should fail with P1013 error when datasource provider is invalid', async (t) => {
  const dir = fixture(t, { ...schemaOnlyPostgres('invalidurl'), 'script.sql': '-- empty' });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  const text = assertEngineError(result, 'P1013');
  assert.match(text, /^The provided database string is invalid\. /m, output(result));
  assert.match(text, /The scheme is not recognized in database URL|is not a URL/, `names the scheme as the fault\n${output(result)}`);
});

test('db execute › postgres › should fail with P1001 error when datasource is unreachable', async (t) => {
  const dir = fixture(t, { ...schemaOnlyPostgres('postgresql://johndoe:randompassword@doesnotexist:5432/mydb?schema=public'), 'script.sql': '-- empty' });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  const text = assertEngineError(result, 'P1001');
  // Prisma: "Can't reach database server at `doesnotexist:5432`\n\nPlease make sure your database server is running at `doesnotexist:5432`."
  assert.match(text, /^Can't reach database server at `?doesnotexist:5432`?/m, output(result));
  assert.ok(!text.includes('randompassword'), 'the password is not shown');
});

test('db execute › postgres › should fail with P1003 error when database does not exist', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const dir = fixture(t, { ...schemaOnlyPostgres(db.url), 'script.sql': 'DROP DATABASE "test-doesnotexists";' });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  const text = assertEngineError(result, 'P1003');
  assert.match(text, /^Database `test-doesnotexists` does not exist/m, output(result));
});

test('db execute › postgres › should fail with invalid SQL error from database', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const dir = fixture(t, { ...schemaOnlyPostgres(db.url), 'script.sql': 'ThisisnotSQLitshouldfail' });
  const result = await prisma(dir, ['db', 'execute', '--file=./script.sql']);
  const text = assertPlainError(result);
  assert.match(text, /^Error: ERROR: syntax error at or near "ThisisnotSQLitshouldfail"$/m, output(result));
});
