import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { projectRoot } from '../../src/db.ts';
import { readHistory } from '../../src/migrations/production/history.ts';
import { PROVIDERS, runScript, testDatabase } from '../helpers.ts';

for (const provider of PROVIDERS) {
  describe(`deploy on ${provider}`, () => {
    test('applies every migration of an empty database once, then reports nothing pending', async (t) => {
      const db = await testDatabase(t, provider);
      const first = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } });
      assert.equal(first.code, 0, first.stderr);
      const names = readHistory(provider).migrations.map((m) => m.name);
      for (const name of names) assert.match(first.stdout, new RegExp(`Migration applied: ${name} \\(\\d+`));
      const second = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /No pending migrations/);
      const conn = await db.connect();
      const rows = await conn.query<{ migration_name: string }>('SELECT migration_name FROM "_prisma_migrations" ORDER BY migration_name');
      assert.deepEqual(rows.map((r) => r.migration_name), names);
    });
  });
}

describe('deploy and status stay light', () => {
  test('the production side never imports the authoring side', () => {
    const dir = join(projectRoot, 'src', 'migrations', 'production');
    const modules = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    assert.ok(modules.includes('deploy.ts') && modules.includes('status.ts'));
    const crossing = modules.flatMap((file) =>
      // Type-only imports are erased at run time; every other import (static or dynamic) counts.
      [...readFileSync(join(dir, file), 'utf8').matchAll(/^import (?!type )[^;]*? from '([^']+)'|import\('([^']+)'\)/gm)]
        .map((m) => (m[1] ?? m[2]) as string)
        .filter((spec) => spec.includes('authoring/') || spec.includes('schema-engine'))
        .map((spec) => `${file} imports ${spec}`),
    );
    assert.deepEqual(crossing, []);
  });

  test('never load the WebAssembly schema engine', async (t) => {
    const { openConnection } = await import('../../src/db.ts');
    const { deploy } = await import('../../src/migrations/production/deploy.ts');
    const { readStatus } = await import('../../src/migrations/production/status.ts');
    const { engineLoaded } = await import('../../src/migrations/authoring/engine.ts');
    for (const provider of PROVIDERS) {
      const db = await testDatabase(t, provider);
      const conn = await openConnection(db.target);
      const history = readHistory(provider);
      await deploy(conn, history, { lockTimeoutMs: 10_000 });
      assert.equal((await readStatus(conn, history)).upToDate, true);
      await conn.close();
    }
    assert.equal(engineLoaded(), false);
  });
});
