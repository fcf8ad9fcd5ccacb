import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { openConnection, parseDatabaseUrl, projectRoot } from '../../src/db.ts';
import { readHistory } from '../../src/runtime/history.ts';
import { PROVIDERS, copyPrismaDir, runScript, serverUrl, tempDir, testDatabase } from '../helpers.ts';

const deploy = (url: string, env: NodeJS.ProcessEnv = {}) => runScript('migrate', ['deploy'], { env: { DATABASE_URL: url, ...env } });
const check = (url: string, env: NodeJS.ProcessEnv = {}, ...args: string[]) => runScript('check-production-migrations', args, { env: { DATABASE_URL: url, ...env } });

interface Report {
  ok: boolean;
  checks: { id: string; ok: boolean | null; detail: string; hint?: string }[];
}
const byId = (report: Report, id: string) => report.checks.find((c) => c.id === id);

for (const provider of PROVIDERS) {
  describe(`check on ${provider}`, () => {
    const total = readHistory(provider).migrations.length;

    test('passes on a deployed database, exit 0', async (t) => {
      const db = await testDatabase(t, provider);
      assert.equal((await deploy(db.url)).code, 0);
      const result = await check(db.url);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /✓ drift/);
      assert.match(result.stdout, /All checks passed/);
      assert.match(result.stdout, provider === 'sqlite' ? /✓ connection reachable \(SQLite 3\.\d+\.\d+\)/ : /✓ connection reachable \(PostgreSQL \d+\.\d+/);
    });

    test('through make: clean JSON on stdout, make exits 2 and names the script\'s code', async (t) => {
      const db = await testDatabase(t, provider);
      const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        // As a user runs it: not nested in the make that may be running this suite.
        const { MAKELEVEL, MAKEFLAGS, MFLAGS, ...env } = process.env;
        execFile('make', ['--no-print-directory', 'check', 'JSON=1'], { cwd: projectRoot, env: { ...env, DATABASE_URL: db.url } }, (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
        );
      });
      const report = JSON.parse(result.stdout) as Report; // nothing but the JSON
      assert.equal(report.ok, false);
      assert.ok(report.checks.some((c) => c.ok === false && (c.id === 'pending' || c.id === 'connection')), result.stdout);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /make: \*\*\* \[Makefile:\d+: check\] Error 1/);
    });

    test('a schema change without a migration is not drift: the database matches its history, make migrate is the fix', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      const env = { PRISMA_DIR: prisma, SHADOW_DATABASE_URL: serverUrl() };
      assert.equal((await deploy(db.url, env)).code, 0);
      appendFileSync(join(prisma, 'schema.prisma'), '\nmodel Unmigrated {\n  id Int @id\n}\n');
      const result = await check(db.url, env, '--json');
      assert.equal(result.code, 1);
      const report = JSON.parse(result.stdout) as Report;
      assert.equal(byId(report, 'drift')?.ok, true);
      assert.equal(byId(report, 'schema')?.ok, false);
      assert.match(byId(report, 'schema')?.detail ?? '', /no migration holds.*\n.*Added tables\n.*Unmigrated/);
      assert.match(byId(report, 'schema')?.hint ?? '', /make migrate NAME=/);

      const conn = await db.connect();
      await conn.exec('CREATE TABLE "Handmade" ("id" INTEGER PRIMARY KEY)');
      const both = JSON.parse((await check(db.url, env, '--json')).stdout) as Report;
      assert.match(byId(both, 'drift')?.detail ?? '', /differs from what the migrations produce.*\n.*Removed tables\n.*Handmade/);
      assert.doesNotMatch(byId(both, 'drift')?.detail ?? '', /Unmigrated/);
      assert.equal(byId(both, 'schema')?.ok, false);
    });

    test('reports drift with a readable summary when someone changed the database by hand', async (t) => {
      const db = await testDatabase(t, provider);
      assert.equal((await deploy(db.url)).code, 0);
      const conn = await db.connect();
      await conn.exec(`DROP INDEX "McpToolLog_sessionId_idx"; CREATE TABLE "Handmade" ("id" INTEGER PRIMARY KEY)`);
      const result = await check(db.url, {}, '--json');
      assert.equal(result.code, 1);
      const report = JSON.parse(result.stdout) as Report;
      assert.equal(report.ok, false);
      const drift = byId(report, 'drift');
      assert.equal(drift?.ok, false);
      assert.match(drift?.detail ?? '', /Handmade/);
      assert.match(drift?.detail ?? '', /McpToolLog/);
    });

    test('reports an edited migration file', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      assert.equal((await deploy(db.url, { PRISMA_DIR: prisma })).code, 0);
      const file = join(prisma, 'migrations', provider, '20251228134626_test', 'migration.sql');
      writeFileSync(file, `${readFileSync(file, 'utf8')}\n-- edited after deploy\n`);
      const report = JSON.parse((await check(db.url, { PRISMA_DIR: prisma }, '--json')).stdout) as Report;
      assert.equal(byId(report, 'edited')?.ok, false);
      assert.match(byId(report, 'edited')?.detail ?? '', /20251228134626_test/);
    });

    test('reports a missing history (tables, no _prisma_migrations) with the baseline commands', async (t) => {
      const db = await testDatabase(t, provider);
      assert.equal((await deploy(db.url)).code, 0);
      const conn = await db.connect();
      await conn.exec(`DROP TABLE "_prisma_migrations"`);
      const result = await check(db.url);
      assert.equal(result.code, 1);
      assert.match(result.stdout, /✗ history .*needs a baseline/);
      assert.match(result.stdout, new RegExp(`→ Find which of the ${total} migrations the tables hold \\(compared by schema, read-only\\): make baseline$`, 'm'));
      assert.match(result.stdout, /→ then record them as applied and deploy the rest: make baseline CONFIRM=1 && make deploy$/m);
    });

    test('reports pending migrations and does not check drift until they are applied', async (t) => {
      const db = await testDatabase(t, provider);
      await db.connect(); // an empty database (SQLite: the file exists)
      const report = JSON.parse((await check(db.url, {}, '--json')).stdout) as Report;
      assert.equal(report.ok, false);
      assert.equal(byId(report, 'pending')?.detail, `${total} pending: ${readHistory(provider).migrations.map((m) => m.name).join(', ')}`);
      assert.equal(byId(report, 'drift')?.ok, null);
    });

    test('reports a lock file naming the other provider', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      const other = provider === 'sqlite' ? 'postgresql' : 'sqlite';
      writeFileSync(join(prisma, 'migrations', provider, 'migration_lock.toml'), `provider = "${other}"\n`);
      const result = await check(db.url, { PRISMA_DIR: prisma });
      assert.equal(result.code, 1);
      assert.match(result.stdout, /✗ lock-file .*locked to provider "/);
    });
  });
}

describe('check is read-only', () => {
  test('on an empty PostgreSQL database it creates nothing, not even the history table', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const result = await check(db.url);
    assert.equal(result.code, 1);
    const conn = await db.connect();
    assert.deepEqual(await conn.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`), []);
  });

  test('the whole check, drift included, runs as a role that may only connect and read', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    assert.equal((await deploy(db.url)).code, 0);
    const role = `reader_${process.pid}_${Date.now().toString(36)}`;
    const server = await openConnection(parseDatabaseUrl(serverUrl()));
    await server.exec(`CREATE ROLE "${role}" LOGIN PASSWORD 'reader-pw' NOCREATEDB NOCREATEROLE`);
    t.after(async () => {
      const admin = await openConnection(parseDatabaseUrl(serverUrl()));
      await admin.exec(`DROP ROLE IF EXISTS "${role}"`).catch(() => {});
      await admin.close();
    });
    await server.close();
    const conn = await db.connect();
    await conn.exec(`REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT USAGE ON SCHEMA public TO "${role}"; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "${role}"`);
    const url = new URL(db.url);
    url.username = role;
    url.password = 'reader-pw';
    const result = await check(url.toString());
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /✓ drift/);
  });

  test('does not create a missing SQLite file', async (t) => {
    const file = join(tempDir(t), 'absent.db');
    const result = await check(`file:${file}`);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /✗ connection/);
    assert.equal(existsSync(file), false);
  });
});
