/**
 * The project's cached shadow cluster (src/authoring/embedded-postgres.ts
 * startShadowPostgres): reused from one command to the next, never shared by two at
 * once, and whole again after a command that held it was killed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openConnection, parseDatabaseUrl, projectRoot } from '../src/db.ts';
import { startShadowPostgres } from '../src/authoring/embedded-postgres.ts';
import { TSX_LOADER, tempDir } from './helpers.ts';

/** A cache folder of the test's own; as root the server runs as `postgres`, which must reach it. */
function cacheDir(t: import('node:test').TestContext): string {
  const dir = tempDir(t);
  chmodSync(dir, 0o777);
  return dir;
}

async function databases(url: string): Promise<string[]> {
  const conn = await openConnection(parseDatabaseUrl(url));
  try {
    return (await conn.query<{ name: string }>('SELECT datname AS name FROM pg_database ORDER BY 1')).map((r) => r.name);
  } finally {
    await conn.close();
  }
}

async function exec(url: string, sql: string): Promise<void> {
  const conn = await openConnection(parseDatabaseUrl(url));
  try {
    await conn.exec(sql);
  } finally {
    await conn.close();
  }
}

test('the cached cluster is kept between commands; while one command holds it another gets a throw-away server', async (t) => {
  const cache = cacheDir(t);
  const first = await startShadowPostgres(cache);
  await exec(first.url, 'CREATE DATABASE "kept"');
  const meanwhile = await startShadowPostgres(cache);
  try {
    assert.notEqual(new URL(meanwhile.url).port, new URL(first.url).port);
    assert.ok(!(await databases(meanwhile.url)).includes('kept'), 'a server of its own, not the held cluster');
  } finally {
    await meanwhile.stop();
    await first.stop();
  }
  const [version] = readdirSync(cache);
  assert.ok(existsSync(join(cache, version!, 'data', 'PG_VERSION')), 'the cluster stays in the cache');
  const next = await startShadowPostgres(cache);
  try {
    assert.ok((await databases(next.url)).includes('kept'), 'the next command starts the same cluster (no initdb)');
  } finally {
    await next.stop();
  }
});

test("a command killed while it holds the cluster: the next one stops the server it left running and drops the shadow databases it left", async (t) => {
  const cache = cacheDir(t);
  const child = spawn(
    process.execPath,
    ['--import', TSX_LOADER, '-e', `
      const { startShadowPostgres } = await import(${JSON.stringify(join(projectRoot, 'src', 'authoring', 'embedded-postgres.ts'))});
      const { openConnection, parseDatabaseUrl } = await import(${JSON.stringify(join(projectRoot, 'src', 'db.ts'))});
      const server = await startShadowPostgres(${JSON.stringify(cache)});
      const conn = await openConnection(parseDatabaseUrl(server.url));
      await conn.exec('CREATE DATABASE "prisma_migrate_shadow_db_left"');
      await conn.exec('CREATE DATABASE "kept"');
      await conn.close();
      process.stdout.write('ready\\n');
      setInterval(() => {}, 1000);
    `],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  while (!out.includes('ready')) await once(child.stdout, 'data');
  child.kill('SIGKILL');
  await once(child, 'exit');

  const [version] = readdirSync(cache);
  const pidFile = join(cache, version!, 'data', 'postmaster.pid');
  assert.ok(existsSync(pidFile), 'the killed command left its server running');
  const next = await startShadowPostgres(cache);
  try {
    assert.ok(next.url.includes(`@127.0.0.1:`));
    assert.ok(existsSync(pidFile));
    const names = await databases(next.url);
    assert.ok(!names.includes('prisma_migrate_shadow_db_left'), `left shadow database dropped: ${names.join(', ')}`);
    assert.ok(names.includes('kept'), 'the cached cluster itself, not a throw-away one');
  } finally {
    await next.stop();
  }
});
