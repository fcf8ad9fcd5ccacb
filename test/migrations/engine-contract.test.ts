/**
 * What the kit relies on in the pinned `@prisma/schema-engine-wasm` and
 * `@prisma/adapter-pg`: if an upgrade breaks one of these, this file says which.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { createMigrationAdapterFactory, openConnection, parseDatabaseUrl, projectRoot, withDatabase, type DatabaseTarget, type Provider, type SqlConnection } from '../../src/db.ts';
import { deploy } from '../../src/runtime/deploy.ts';
import { NO_FILTER, diff, engineError, engineVersion, openEngine, toMigrationList } from '../../src/authoring/engine.ts';
import { checksumOf, lockfileText, readHistory, type History } from '../../src/runtime/history.ts';
import { schemaFor } from '../../src/authoring/schema.ts';
import { ensureTable } from '../../src/runtime/table.ts';
import { PROVIDERS, copyPrismaDir, serverUrl, testDatabase } from '../helpers.ts';
import { writeMigration } from '../fixtures/kit.ts';

const datasourceOnly = (provider: Provider) => `datasource db {\n  provider = "${provider}"\n}\n`;

async function withEngine<T>(target: DatabaseTarget, work: (engine: Awaited<ReturnType<typeof openEngine>>) => Promise<T>, schema = { path: 'schema.prisma', text: datasourceOnly(target.provider) }): Promise<T> {
  const engine = await openEngine(schema.path, schema.text, await createMigrationAdapterFactory(target));
  try {
    return await work(engine);
  } finally {
    await engine.close();
  }
}

async function kitDeploy(target: DatabaseTarget, history: History): Promise<void> {
  const conn = await openConnection(target);
  try {
    await deploy(conn, history, { lockTimeoutMs: 10_000 });
  } finally {
    await conn.close();
  }
}

/** `_prisma_migrations` as the database describes it: SQLite's DDL text, PostgreSQL's columns and key. */
async function describeTable(conn: SqlConnection): Promise<unknown> {
  if (conn.target.provider === 'sqlite') return (await conn.query(`SELECT sql FROM sqlite_master WHERE name = '_prisma_migrations'`))[0];
  const columns = await conn.query(
    `SELECT column_name, ordinal_position, data_type, character_maximum_length, is_nullable, column_default
       FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '_prisma_migrations' ORDER BY ordinal_position`,
  );
  const constraints = await conn.query(
    `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = '"_prisma_migrations"'::regclass ORDER BY conname`,
  );
  return { columns, constraints };
}

test('the pinned schema engine loads and reports the version package.json pins', async () => {
  const pinned = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')).dependencies['@prisma/schema-engine-wasm'] as string;
  const version = await engineVersion();
  assert.match(version, /^[0-9a-f]{40}$/);
  assert.ok(pinned.endsWith(version), `engine reports ${version}, package.json pins ${pinned}`);
});

describe('engine errors', () => {
  test('become one line with Prisma\'s code, whether the engine gives it as `code` or only in words', () => {
    const coded = Object.assign(new Error('The migration x could not be found.\n   0: schema_engine_wasm::wasm::engine::MarkMigrationApplied\n           at engine.rs:447'), { code: 'P3017' });
    const error = engineError(coded);
    assert.equal(error.prismaCode, 'P3017');
    assert.equal(error.message, 'P3017: The migration x could not be found.');
    const auth = engineError(new Error('Authentication failed against database server, the credentials for `app` are not valid.\n\nPlease make sure to provide valid database credentials.'));
    assert.equal(auth.prismaCode, 'P1000');
    assert.doesNotMatch(auth.message, /\n/);
  });
});

for (const provider of PROVIDERS) {
  describe(`engine contract on ${provider}`, () => {
    test('Prisma\'s diagnoseMigrationHistory reads a kit-deployed database as fully applied', async (t) => {
      const db = await testDatabase(t, provider);
      const history = readHistory(provider);
      await kitDeploy(db.target, history);
      const diagnosis = await withEngine(db.target, (engine) =>
        engine.call((e) => e.diagnoseMigrationHistory({ migrationsList: toMigrationList(history), optInToShadowDatabase: false, filters: NO_FILTER })),
      );
      assert.deepEqual(diagnosis.failedMigrationNames, []);
      assert.deepEqual(diagnosis.editedMigrationNames, []);
      assert.equal(diagnosis.history, null);
      assert.equal(diagnosis.hasMigrationsTable, true);
    });

    test('the kit creates _prisma_migrations exactly as the engine does, and writes rows in the engine\'s format', async (t) => {
      const byEngine = await testDatabase(t, provider);
      const byKit = await testDatabase(t, provider);
      const script = 'CREATE TABLE "Probe" ("id" INTEGER NOT NULL PRIMARY KEY);\n';
      const history: History = { provider, dir: '/nowhere', lockfile: lockfileText(provider), migrations: [{ name: '20200101000000_probe', script, checksum: checksumOf(script) }] };

      await withEngine(byEngine.target, (engine) => engine.call((e) => e.applyMigrations({ migrationsList: toMigrationList({ ...history, migrations: [] }), filters: NO_FILTER })));
      const kitConn = await byKit.connect();
      await ensureTable(kitConn);
      const engineConn = await byEngine.connect();
      assert.deepEqual(await describeTable(kitConn), await describeTable(engineConn));

      await withEngine(byEngine.target, (engine) => engine.call((e) => e.applyMigrations({ migrationsList: toMigrationList(history), filters: NO_FILTER })));
      await kitDeploy(byKit.target, history);
      const shape = async (conn: SqlConnection) => {
        const [row] = await conn.query<Record<string, unknown>>(`SELECT * FROM "_prisma_migrations"`);
        assert.ok(row);
        // Values differ (ids, times); their form must not: text timestamps on SQLite are compared by pattern.
        return Object.fromEntries(
          Object.entries(row).map(([key, value]) => [key, value instanceof Date ? 'Date' : typeof value === 'string' ? value.replace(/[0-9a-f]/g, 'x') : value]),
        );
      };
      assert.deepEqual(await shape(kitConn), await shape(engineConn));
    });
  });
}

let roles = 0;

/** A login role of its own, so that the shadow databases it creates can be told apart from other tests'. */
async function dedicatedRole(t: TestContext): Promise<DatabaseTarget & { provider: 'postgresql' }> {
  const server = parseDatabaseUrl(serverUrl()) as DatabaseTarget & { provider: 'postgresql' };
  const role = `rastar_contract_${process.pid}_${roles++}`;
  const admin = await openConnection(server);
  await admin.exec(`CREATE ROLE "${role}" LOGIN SUPERUSER PASSWORD 'contract'`);
  await admin.close();
  t.after(async () => {
    const conn = await openConnection(server);
    const leaked = await conn.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = $1)`, [role]);
    for (const { datname } of leaked) await conn.exec(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await conn.exec(`DROP ROLE IF EXISTS "${role}"`);
    await conn.close();
  });
  const url = new URL(server.url);
  url.username = role;
  url.password = 'contract';
  return parseDatabaseUrl(url.toString()) as DatabaseTarget & { provider: 'postgresql' };
}

describe('PostgreSQL migration adapter', () => {
  test('replays a `;` inside comments and strings, reads the "char" catalog type, and drops its shadow database', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const roleServer = await dedicatedRole(t);
    const target = withDatabase(roleServer, (db.target as { config: { database: string } }).config.database);

    const prisma = copyPrismaDir(t);
    writeMigration(
      prisma,
      'postgresql',
      '20991231000000_semicolons',
      `-- A note; with a semicolon, as real histories have\nCREATE TABLE "Semi" (\n    "id" SERIAL NOT NULL,\n    "note" TEXT NOT NULL DEFAULT 'a;b',\n    CONSTRAINT "Semi_pkey" PRIMARY KEY ("id")\n);\n/* block; comment */\nCREATE FUNCTION semi_fn() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$;\n`,
    );
    const history = readHistory('postgresql', join(prisma, 'migrations', 'postgresql'));
    await kitDeploy(target, history);

    const owned = async () => {
      const conn = await openConnection(parseDatabaseUrl(serverUrl()));
      try {
        return (await conn.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = $1) AND datname LIKE 'prisma_migrate_shadow_db_%'`, [roleServer.config.user])).map((r) => r.datname);
      } finally {
        await conn.close();
      }
    };

    const schema = schemaFor('postgresql');
    const files = [{ path: schema.path, content: schema.text }];
    // Live database (catalog queries return "char" columns) against the history replayed on a shadow database.
    const result = await withEngine(target, (engine) => diff(engine, { tag: 'schemaDatasource', files, configDir: '.' }, { tag: 'migrations', ...toMigrationList(history) }, false), schema);
    assert.equal(result.changed, false, `the kit's deploy and the engine's replay must agree:\n${result.output}`);
    assert.deepEqual(await owned(), [], 'the shadow database was dropped');

    // And a diff that does find a change: the history against the live database missing one table.
    const conn = await openConnection(target);
    await conn.exec('DROP TABLE "Semi"');
    await conn.close();
    const drift = await withEngine(target, (engine) => diff(engine, { tag: 'schemaDatasource', files, configDir: '.' }, { tag: 'migrations', ...toMigrationList(history) }, true), schema);
    assert.equal(drift.changed, true);
    assert.match(drift.output, /CREATE TABLE "(public"\.")?Semi"/);
    assert.deepEqual(await owned(), [], 'the shadow database was dropped after the second diff too');
  });

  test('a failing replay still drops the shadow database', async (t) => {
    const roleServer = await dedicatedRole(t);
    const history: History = {
      provider: 'postgresql',
      dir: '/nowhere',
      lockfile: lockfileText('postgresql'),
      migrations: [{ name: '20200101000000_broken', script: 'CREATE TABLE "Ok" ("id" INT);\nTHIS IS NOT SQL;\n', checksum: '' }],
    };
    const schema = { path: 'schema.prisma', text: datasourceOnly('postgresql') };
    await assert.rejects(withEngine(roleServer, (engine) => diff(engine, { tag: 'migrations', ...toMigrationList(history) }, { tag: 'empty' }, true), schema), /syntax error/);
    const conn = await openConnection(parseDatabaseUrl(serverUrl()));
    const left = await conn.query(`SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = $1)`, [roleServer.config.user]);
    await conn.close();
    assert.deepEqual(left, []);
  });
});
