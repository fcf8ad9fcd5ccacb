import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readHistory } from '../src/runtime/history.ts';
import { PROVIDERS, runScript, testDatabase } from './helpers.ts';
import { exitWithin, freePort, startScript, waitForHttp } from './processes.ts';

for (const provider of PROVIDERS) {
  describe(`prisma studio on ${provider}`, () => {
    test('starts offline on the given port, reads the database, and stops on SIGTERM', async (t) => {
      const db = await testDatabase(t, provider);
      const deployed = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } });
      assert.equal(deployed.code, 0, deployed.stderr);
      const port = await freePort();
      const studio = startScript(t, 'studio', ['--port', String(port), '--browser', 'none'], { DATABASE_URL: db.url, BROWSER: 'none' });
      await waitForHttp(`http://127.0.0.1:${port}/`, (res) => res.status === 200, { running: studio });
      // Studio's own data endpoint: the query runs through its driver against our database.
      const res = await fetch(`http://127.0.0.1:${port}/bff`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ procedure: 'query', query: { sql: 'SELECT migration_name FROM "_prisma_migrations" ORDER BY migration_name', parameters: [] } }),
      });
      assert.equal(res.status, 200);
      const body = await res.text();
      for (const { name } of readHistory(provider).migrations) assert.ok(body.includes(name), body);
      studio.child.kill('SIGTERM');
      await exitWithin(studio, 10_000);
      const password = db.target.provider === 'postgresql' ? db.target.config.password : '';
      if (password) assert.ok(!studio.output().includes(password), studio.output());
    });
  });
}

describe('prisma studio on a SQLite file that does not exist', () => {
  test('refuses with the command that creates it, instead of creating an empty file', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const run = await runScript('studio', ['--browser', 'none'], { env: { DATABASE_URL: db.url } });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^Error: SQLite database .* does not exist\nCreate and migrate it first: make dev/);
  });
});
