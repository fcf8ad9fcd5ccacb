import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyPrismaDir, runScript, serverUrl } from '../helpers.ts';

const parity = (prisma?: string) => runScript('parity', ['--json'], { env: { SHADOW_DATABASE_URL: serverUrl(), ...(prisma ? { PRISMA_DIR: prisma } : {}) } });

interface Result {
  ok: boolean;
  items: { check: string; ok: boolean; detail: string }[];
}

describe('parity', () => {
  test('the project histories are in lockstep and each yields the schema', async () => {
    const result = await parity();
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const report = JSON.parse(result.stdout) as Result;
    assert.deepEqual(
      report.items.map((i) => i.check),
      ['names', 'lock file (sqlite)', 'lock file (postgresql)', 'derived schema', 'replay (sqlite)', 'replay (postgresql)'],
    );
    assert.ok(report.items.every((i) => i.ok));
  });

  test('catches a migration in one folder only', async (t) => {
    const prisma = copyPrismaDir(t);
    const folder = join(prisma, 'migrations', 'sqlite', '20270101000000_only_here');
    mkdirSync(folder);
    writeFileSync(join(folder, 'migration.sql'), 'CREATE TABLE "OnlyHere" ("id" INTEGER PRIMARY KEY);\n');
    const result = await parity(prisma);
    assert.equal(result.code, 1);
    const report = JSON.parse(result.stdout) as Result;
    const names = report.items.find((i) => i.check === 'names');
    assert.equal(names?.ok, false);
    assert.match(names?.detail ?? '', /^1 migration is not in both histories:\nonly in \S*migrations\/sqlite \(1\):\n  20270101000000_only_here$/);
    assert.equal(report.items.find((i) => i.check === 'replay (sqlite)')?.ok, false);
    assert.equal(report.items.find((i) => i.check === 'replay (postgresql)')?.ok, true);
  });

  test('names that do not line up: one per line by folder, renamed pairs pointed out, and the fix', async (t) => {
    const prisma = copyPrismaDir(t);
    for (const k of [1, 2, 3]) {
      const folder = join(prisma, 'migrations', 'postgresql', `2027010100000${k}_pg_only`);
      mkdirSync(folder);
      writeFileSync(join(folder, 'migration.sql'), 'SELECT 1;\n');
    }
    const renamed = join(prisma, 'migrations', 'sqlite', '20270101000003_renamed');
    mkdirSync(renamed);
    writeFileSync(join(renamed, 'migration.sql'), 'SELECT 1;\n');
    const result = await runScript('parity', [], { env: { SHADOW_DATABASE_URL: serverUrl(), PRISMA_DIR: prisma } });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /✗ names +4 migrations are not in both histories:\n  only in \S*sqlite \(1\):\n    20270101000003_renamed\n  only in \S*postgresql \(3\):\n    20270101000001_pg_only\n    20270101000002_pg_only\n    20270101000003_pg_only\n/);
    assert.match(result.stdout, /→ 20270101000003_renamed \(sqlite\) and 20270101000003_pg_only \(postgresql\) share a timestamp: one of them was renamed/);
    assert.match(result.stdout, /→ Every migration needs a folder of the same name in both histories/);
  });

  test('catches a schema change that has no migration yet, and a stale derived schema', async (t) => {
    const prisma = copyPrismaDir(t);
    appendFileSync(join(prisma, 'schema.prisma'), '\nmodel Unmigrated {\n  id Int @id\n}\n');
    const report = JSON.parse((await parity(prisma)).stdout) as Result;
    assert.equal(report.items.find((i) => i.check === 'derived schema')?.ok, false);
    const replay = report.items.find((i) => i.check === 'replay (postgresql)');
    assert.equal(replay?.ok, false);
    assert.match(replay?.detail ?? '', /Unmigrated/);
  });
});
