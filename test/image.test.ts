/**
 * The production image, laid out as a directory the way docker/Dockerfile's stages
 * lay it out (build stage: compile; production-deps: its `npm` RUN lines; the final
 * stage's COPY lines), all on the image's Node.js (ARG NODE_VERSION, from the npm
 * registry), then the official CLI run from it as the runbook runs it:
 * `docker exec -it rastar-admin-panel npx prisma migrate …`, offline, no tsx.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../src/db.ts';
import { readHistory } from '../src/runtime/history.ts';
import { tempDir, testDatabase, type RunResult } from './helpers.ts';
import { output, rows } from './fixtures/kit.ts';
import { nodeLine } from './fixtures/node-line.ts';
import { PanelClient } from './fixtures/panel.ts';
import { exitWithin, freePort, spawnCapture, waitForHttp } from './processes.ts';

function run(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

/** docker/Dockerfile with its continuation lines joined. */
const dockerfile = readFileSync(join(projectRoot, 'docker', 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

/** The final stage's `COPY <source> <destination>` lines that copy from the build context. */
function finalContextCopies(): { source: string; destination: string }[] {
  return [...finalStage.matchAll(/^COPY\s+(.+)$/gm)]
    .map((m) => (m[1] as string).split(/\s+/).filter((word) => !word.startsWith('--chown')))
    .filter((words) => !words.some((word) => word.startsWith('--from')))
    .map((words) => ({ source: words[0] as string, destination: words[1] as string }));
}

/** The `npm …` RUN lines of the deps stage, then of production-deps (built on it), as the shell runs them. */
function productionDepsCommands(): string[] {
  return ['deps', 'production-deps'].flatMap((name) => {
    const stage = new RegExp(`^FROM \\S+ AS ${name}$([\\s\\S]*?)^FROM `, 'm').exec(dockerfile)?.[1] ?? '';
    return [...stage.matchAll(/^RUN\s+(npm\s.+)$/gm)].map((m) => (m[1] as string).replace(/\s+/g, ' ').trim());
  });
}

/** The final stage's `ENV` settings, as the container starts with them. */
function finalStageEnv(): Record<string, string> {
  const settings = [...finalStage.matchAll(/^ENV\s+(.+)$/gm)].flatMap((m) => (m[1] as string).trim().split(/\s+/));
  return Object.fromEntries(settings.map((setting) => [setting.slice(0, setting.indexOf('=')), setting.slice(setting.indexOf('=') + 1)]));
}

test('the image as a directory: npx prisma migrate deploy and status run offline on the compiled engine', { timeout: 900_000 }, async (t) => {
  const dir = tempDir(t, 'rastar-image-');
  const line = nodeLine();
  const env = line.env({ PATH: process.env.PATH, HOME: process.env.HOME, NODE_OPTIONS: '' });
  // Build stage: the compiled kit (the clients are generated in the checkout).
  const built = await run(line.node, [join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(projectRoot, 'tsconfig.json'), '--outDir', join(dir, 'build', 'dist')], projectRoot, env);
  assert.equal(built.code, 0, output(built));
  // production-deps stage.
  const deps = join(dir, 'deps');
  mkdirSync(deps);
  for (const file of ['package.json', 'package-lock.json']) cpSync(join(projectRoot, file), join(deps, file));
  const commands = productionDepsCommands();
  assert.ok(commands.some((command) => command.startsWith('npm prune --omit=dev')), `production-deps prunes to --omit=dev: ${commands.join(' / ')}`);
  for (const command of commands) {
    const installed = await run('bash', ['-c', command], deps, env);
    assert.equal(installed.code, 0, `${command}\n${output(installed)}`);
  }
  // Final stage.
  const app = join(dir, 'app');
  mkdirSync(app);
  renameSync(join(deps, 'node_modules'), join(app, 'node_modules'));
  cpSync(join(dir, 'build', 'dist'), join(app, 'dist'), { recursive: true });
  for (const { source, destination } of finalContextCopies()) {
    cpSync(join(projectRoot, source), destination.endsWith('/') ? join(app, destination, basename(source)) : join(app, destination), { recursive: true });
  }
  assert.ok(existsSync(join(app, 'prisma.config.ts')) && existsSync(join(app, 'bin', 'schema-engine')), 'the Dockerfile copies the CLI config and the engine');
  assert.ok(!existsSync(join(app, 'node_modules', 'tsx')), 'no tsx in the image: the compiled engine runs');

  const db = await testDatabase(t, 'postgresql');
  const container = { ...env, NODE_ENV: 'production', DATABASE_URL: db.url, PRISMA_HIDE_UPDATE_MESSAGE: '1' };
  const npxPrisma = (args: string[]) => run(line.node, [join(app, 'node_modules', 'prisma', 'build', 'index.js'), ...args], app, container);
  const version = await npxPrisma(['version']);
  assert.equal(version.code, 0, output(version));
  assert.match(version.stdout, /^Schema Engine\s+: schema-engine-cli [0-9a-f]{40} \(the rastar kit's engine/m);
  const deployed = await npxPrisma(['migrate', 'deploy']);
  assert.equal(deployed.code, 0, output(deployed));
  assert.match(deployed.stdout, /All migrations have been successfully applied\./);
  const status = await npxPrisma(['migrate', 'status']);
  assert.equal(status.code, 0, output(status));
  assert.match(status.stdout, /Database schema is up to date!/);
  const names = readHistory('postgresql').migrations.map((m) => m.name);
  assert.deepEqual((await rows(await db.connect())).map((row) => row.migration_name), names);

  // The production check in the image: no dev dependencies, so no embedded shadow; it says what it could not compare.
  const checked = await run(line.node, [join(app, 'dist', 'scripts', 'check-production-migrations.js'), '--json'], app, { ...container, SHADOW_DATABASE_URL: '' });
  assert.equal(checked.code, 0, output(checked));
  const drift = (JSON.parse(checked.stdout) as { checks: { id: string; ok: boolean; detail: string }[] }).checks.find((c) => c.id === 'drift');
  assert.equal(drift?.ok, true);
  assert.match(drift?.detail ?? '', /^the live schema matches the migrations \(tables, columns, indexes, constraints; functions, triggers, views, policies and grants not compared: no shadow database server .*SHADOW_DATABASE_URL.*\)$/);

  // The entrypoint as the container runs it: the image's ENV, the URL from a Docker secret.
  const imageEnv: Record<string, string> = { ...finalStageEnv(), RASTAR_STATE_DIR: join(dir, 'state') };
  assert.equal(imageEnv.NODE_ENV, 'production', 'the final stage\'s ENV was read');
  assert.equal('DATABASE_URL' in imageEnv, false, 'the image sets no DATABASE_URL: DATABASE_URL_FILE must be usable');
  const secret = join(dir, 'database_url');
  writeFileSync(secret, `${db.url}\n`);
  const entrypoint = join(app, 'scripts', 'docker-entrypoint.sh');
  const appStarted = 'console.log(`app started on Node.js ${process.version} with ${process.env.DATABASE_URL ? "DATABASE_URL" : "nothing"}`)';
  const started = await run(entrypoint, ['app', '--', 'node', '-e', appStarted], app, { ...env, ...imageEnv, DATABASE_URL_FILE: secret, RUN_MIGRATIONS: 'true' });
  assert.equal(started.code, 0, output(started));
  assert.match(started.stdout, /^No pending migrations. Database is up to date.$/m, 'the CLI had applied everything');
  assert.equal(/^app started on Node\.js (\S+) with DATABASE_URL$/m.exec(started.stdout)?.[1], `v${line.version}`, output(started));

  // The image's default database: SQLite in data/rastar.db, through better-sqlite3 as
  // production-deps built it for the image's Node.js.
  mkdirSync(join(app, 'data'));
  const onSqlite = await run(entrypoint, ['app', '--', 'node', '-e', appStarted], app, { ...env, ...imageEnv, RUN_MIGRATIONS: 'true' });
  assert.equal(onSqlite.code, 0, output(onSqlite));
  const sqliteNames = readHistory('sqlite').migrations.map((m) => m.name);
  assert.match(onSqlite.stdout, new RegExp(`^Database is now up to date! ${sqliteNames.length} migrations applied in `, 'm'), output(onSqlite));
  for (const name of sqliteNames) assert.match(onSqlite.stdout, new RegExp(`^✓ Migration applied: ${name} `, 'm'));
  assert.match(onSqlite.stdout, /^app started on Node\.js \S+ with nothing$/m);
  assert.ok(existsSync(join(app, 'data', 'rastar.db')), 'the default database is data/rastar.db');
  const refused = await run(entrypoint, ['app', '--', 'node', '-e', '0'], app, { ...env, ...imageEnv, DATABASE_URL: db.url, DATABASE_URL_FILE: secret, RUN_MIGRATIONS: 'true' });
  assert.equal(refused.code, 2, output(refused));
  assert.match(refused.stderr, /^Error: both DATABASE_URL and DATABASE_URL_FILE are set$/m);

  // The admin panel as the container starts it: secrets from files, a login, and neither
  // the password nor the session secret in its output.
  const password = 'image-admin-password-42';
  const sessionSecret = 'image-session-secret-0123456789abcdef';
  const passwordFile = join(dir, 'admin_password');
  const sessionFile = join(dir, 'session_secret');
  writeFileSync(passwordFile, `${password}\n`);
  writeFileSync(sessionFile, `${sessionSecret}\n`);
  const port = await freePort();
  const panel = spawnCapture(entrypoint, ['admin-panel'], {
    cwd: app,
    env: { ...env, ...imageEnv, DATABASE_URL_FILE: secret, RUN_MIGRATIONS: 'true', PORT: String(port), ADMIN_PASSWORD_FILE: passwordFile, SESSION_SECRET_FILE: sessionFile },
  });
  t.after(() => panel.child.kill('SIGKILL'));
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, (res) => res.ok, { running: panel });
  const admin = new PanelClient(`http://127.0.0.1:${port}`);
  assert.equal((await admin.login('admin', 'wrong')).status, 401);
  assert.equal((await admin.login('admin', password)).status, 302);
  assert.equal((await admin.get('/packs')).status, 200);
  panel.child.kill('SIGTERM');
  assert.equal((await exitWithin(panel, 10_000)).code, 0, panel.output());
  assert.match(panel.stdout(), /^✓ Admin user admin created$/m);
  assert.match(panel.stdout(), /^Admin admin logged in from /m);
  for (const hidden of [password, sessionSecret]) assert.ok(!panel.output().includes(hidden), `the container's output shows a secret:\n${panel.output()}`);
});
