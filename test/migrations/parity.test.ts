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
    assert.match(names?.detail ?? '', /only in sqlite: 20270101000000_only_here/);
    assert.equal(report.items.find((i) => i.check === 'replay (sqlite)')?.ok, false);
    assert.equal(report.items.find((i) => i.check === 'replay (postgresql)')?.ok, true);
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
