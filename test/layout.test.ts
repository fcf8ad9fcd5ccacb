/**
 * The layout is the architecture: src/runtime/ is what a container runs at start
 * and never loads Prisma's WebAssembly engine; src/authoring/ is everything that
 * may. These tests hold the split, statically and by observing real runs.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { projectRoot } from '../src/db.ts';
import { readHistory } from '../src/runtime/history.ts';
import { ADMIN, PanelClient } from './fixtures/panel.ts';
import { PROVIDERS, runScript, scriptArgs, tempDir, testDatabase } from './helpers.ts';
import { freePort, startScript, waitForHttp } from './processes.ts';

const SRC = join(projectRoot, 'src');
const ENGINE_SIDE = /(^|\/)authoring\/|schema-engine-wasm/;

function modules(dir: string): string[] {
  return readdirSync(join(SRC, dir)).filter((f) => f.endsWith('.ts')).map((f) => join(dir, f));
}

/** Every module specifier a file imports: static, type-only and dynamic alike. */
function imports(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\b[^;]*? from '([^']+)'|import\('([^']+)'\)/gm)].map((m) => (m[1] ?? m[2]) as string);
}

describe('the layout', () => {
  test('no runtime module (nor what it shares with the rest: db, cli, env, errors, lines) imports the engine side or @prisma/schema-engine-wasm', () => {
    const runtime = [...modules('runtime'), ...modules('.').filter((f) => !f.includes('seed'))];
    assert.ok(runtime.includes('runtime/deploy.ts') && runtime.includes('db.ts'));
    const crossing = runtime.flatMap((file) => imports(file).filter((spec) => ENGINE_SIDE.test(spec)).map((spec) => `${file} imports ${spec}`));
    assert.deepEqual(crossing, []);
  });

  test('the rule sees a crossing: authoring modules do import the engine', () => {
    const engineUsers = modules('authoring').filter((file) => imports(file).some((spec) => spec.includes('schema-engine-wasm') || spec === './engine.ts'));
    assert.ok(engineUsers.length >= 5, engineUsers.join(', '));
  });

  test('nothing under src/ but cli.ts (and the Node.js check, which must exit before cli.ts loads) prints or exits', () => {
    const all = ['.', 'runtime', 'authoring', 'apps'].flatMap(modules).filter((f) => f !== 'cli.ts' && f !== 'node-version.ts');
    const offenders = all.filter((file) => /console\.|process\.exit\b|process\.(stdout|stderr)\.write|from '\.\.?\/cli\.ts'/.test(readFileSync(join(SRC, file), 'utf8')));
    assert.deepEqual(offenders, []);
  });

  test("the README's layout section names every folder and module of src/, and nothing that is not there", () => {
    const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Layout'));
    const block = section.slice(section.indexOf('```') + 3, section.indexOf('```', section.indexOf('```') + 3));
    const named = new Set([...block.matchAll(/^src\/([\w.-]+)/gm)].map((m) => m[1]));
    const present = readdirSync(SRC).filter((name) => name !== 'generated');
    assert.deepEqual([...named].sort(), present.sort());
  });
});

describe('the production path never loads the WebAssembly engine (observed)', () => {
  const recorder = pathToFileURL(join(projectRoot, 'test', 'fixtures', 'record-loads.mjs')).href;

  /** Run a script with every loaded module recorded; returns the result and the loaded files, relative to the project. */
  async function recorded(t: import('node:test').TestContext, script: string, args: string[], env: NodeJS.ProcessEnv) {
    const file = join(tempDir(t), 'loads.txt');
    const result = await runScript(script, args, { env: { ...env, RECORD_LOADS: file, NODE_OPTIONS: `--import ${recorder}` } });
    const loads = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((url) => url.replace(pathToFileURL(projectRoot).href + '/', ''));
    const builtins = readFileSync(`${file}.builtins`, 'utf8').split('\n');
    return { result, loads, builtins };
  }

  for (const provider of PROVIDERS) {
    test(`deploy, status, wait, seed${provider === 'sqlite' ? ' and backup --if-pending' : ''} on ${provider}`, async (t) => {
      const db = await testDatabase(t, provider);
      const runs: [string, string[]][] = [
        // pg_dump 15 here cannot dump the embedded PostgreSQL 18: the backup module is observed on SQLite.
        ...(provider === 'sqlite' ? [['backup', ['--if-pending']] as [string, string[]]] : []),
        ['migrate', ['deploy']],
        ['seed', []],
        ['migrate', ['status']],
        ['migrate', ['wait']],
      ];
      for (const [script, args] of runs) {
        const { result, loads, builtins } = await recorded(t, script, args, { DATABASE_URL: db.url, BACKUP_DIR: tempDir(t), ADMIN_PASSWORD: 'layout-admin-password' });
        const what = `${script} ${args.join(' ')}`;
        assert.equal(result.code, 0, `${what}: ${result.stderr}`);
        assert.ok(loads.includes(relative(projectRoot, scriptArgs(script).at(-1) as string)), `${what}: the recorder saw the script itself`);
        assert.deepEqual(loads.filter((url) => ENGINE_SIDE.test(url)), [], `${what} loaded the engine side`);
        assert.ok(builtins.some((name) => name.includes('internal/modules/esm')), `${what}: the recorder saw Node's own modules`);
        // Node's fetch (undici, about 15 MB): the migrator needs none of it; pg's probe for
        // Cloudflare Workers, or reading the lazy Response global on Node 26, would load it.
        if (script === 'migrate') assert.deepEqual(builtins.filter((name) => name.includes('undici')), [], `${what} loaded Node's fetch (${process.version})`);
      }
      const { result } = await recorded(t, 'migrate', ['status'], { DATABASE_URL: db.url });
      assert.match(result.stdout, new RegExp(`Applied: ${readHistory(provider).migrations.length}  Pending: 0`));
    });
  }

  test('the admin panel serves health, readiness, the login and its pages without the engine; the production check on demand loads it', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    assert.equal((await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } })).code, 0);
    assert.equal((await runScript('seed', [], { env: { DATABASE_URL: db.url, ADMIN_PASSWORD: ADMIN.password } })).code, 0);
    const file = join(tempDir(t), 'loads.txt');
    const port = await freePort();
    const panel = startScript(t, 'admin-panel', [], { DATABASE_URL: db.url, PORT: String(port), RECORD_LOADS: file, NODE_OPTIONS: `--import ${recorder}` });
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/readyz`, (res) => res.ok, { running: panel });
    const admin = new PanelClient(url);
    assert.equal((await admin.login()).status, 302);
    for (const path of ['/migrations', '/users', '/packs', '/tool-logs']) assert.equal((await admin.get(path)).status, 200, path);
    const engineSide = () => readFileSync(file, 'utf8').split('\n').filter((line) => ENGINE_SIDE.test(line));
    assert.deepEqual(engineSide(), [], 'the panel loaded the engine side before it was asked for a check');
    const check = await admin.post('/migrations/check', {}, '/migrations');
    assert.match(check.body, /✓ The database matches this release\./);
    assert.ok(engineSide().some((line) => line.includes('@prisma/schema-engine-wasm/')), 'the check loads the engine');
  });

  test('resolve, a recovery run in the container, goes without the engine; the recorder sees the engine when a command loads it (verify)', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const [first] = readHistory('sqlite').migrations;
    const resolved = await recorded(t, 'migrate', ['resolve', '--applied', first!.name], { DATABASE_URL: db.url });
    assert.equal(resolved.result.code, 0, resolved.result.stderr);
    assert.deepEqual(resolved.loads.filter((url) => ENGINE_SIDE.test(url)), [], 'resolve loaded the engine side');
    const deployed = await testDatabase(t, 'sqlite');
    assert.equal((await runScript('migrate', ['deploy'], { env: { DATABASE_URL: deployed.url } })).code, 0);
    const verified = await recorded(t, 'reset-migrations', [], { DATABASE_URL: deployed.url });
    assert.equal(verified.result.code, 0, verified.result.stderr);
    assert.ok(verified.loads.some((url) => url.includes('@prisma/schema-engine-wasm/')), verified.loads.join('\n'));
  });
});
