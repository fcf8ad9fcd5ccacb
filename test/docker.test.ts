/**
 * The container files, without a Docker engine: docker-compose.yml as Compose
 * resolves it (`docker-compose config`), the entrypoint and the Dockerfile's
 * shell through shellcheck, and the Dockerfile's promises (the entrypoint, a
 * health check on /healthz, a non-root user, no Prisma engine download, a
 * PostgreSQL client as new as the compose server). Tools that are missing skip
 * their test with the reason.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { projectRoot } from '../src/db.ts';
import { requiredNode, satisfies } from '../src/node-version.ts';
import { tempDir } from './helpers.ts';

const DOCKERFILE = join(projectRoot, 'docker', 'Dockerfile');
const COMPOSE = join(projectRoot, 'docker', 'docker-compose.yml');
const ENTRYPOINT = join(projectRoot, 'scripts', 'docker-entrypoint.sh');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** The command could not be started (not installed). */
  missing: boolean;
}

function run(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { cwd: projectRoot, env: options.env ?? process.env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = (error as NodeJS.ErrnoException | null)?.code;
      resolve({ code: error ? (typeof code === 'number' ? code : 1) : 0, stdout: String(stdout), stderr: String(stderr), missing: code === 'ENOENT' });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

// ---------------------------------------------------------------------------
// docker-compose config

type Service = {
  image?: string;
  container_name?: string;
  command?: string[] | string;
  environment?: Record<string, string | null> | string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  ports?: (string | { host_ip?: string; published?: string | number; target?: number | string })[];
  depends_on?: Record<string, { condition?: string }> | string[];
};
type Compose = { services: Record<string, Service>; volumes?: Record<string, unknown> };

/** The resolved configuration: Compose v2 prints JSON itself; v1 prints YAML, read with PyYAML (which docker-compose v1 runs on). */
/** The secrets compose requires (with `${VAR:?…}`), as a .env would give them. */
const REQUIRED = { ADMIN_PASSWORD: 'admin-pass-123456', SESSION_SECRET: '0123456789abcdef0123456789abcdef', TELEGRAM_BOT_TOKEN: '1:AA' };

async function composeConfig(t: TestContext): Promise<Compose | undefined> {
  // Defaults only: none of the developer's POSTGRES_* / ADMIN_* variables, but the required secrets.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...REQUIRED };
  const json = await run('docker-compose', ['-f', COMPOSE, 'config', '--format', 'json'], { env });
  if (json.missing) {
    t.skip('docker-compose is not installed');
    return undefined;
  }
  if (json.code === 0 && json.stdout.trim().startsWith('{')) return JSON.parse(json.stdout) as Compose;
  const yaml = await run('docker-compose', ['-f', COMPOSE, 'config'], { env });
  assert.equal(yaml.code, 0, `docker-compose config failed:\n${yaml.stderr}`);
  const parsed = await run('python3', ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { input: yaml.stdout });
  if (parsed.code !== 0) {
    t.skip(`docker-compose config succeeded, but its YAML cannot be read here (python3 with PyYAML): ${parsed.stderr.trim().split('\n').pop()}`);
    return undefined;
  }
  return JSON.parse(parsed.stdout) as Compose;
}

function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((line) => [line.split('=')[0]!, line.slice(line.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value ?? '']));
}

function dependsOn(service: Service): Record<string, string> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, dep]) => [name, dep.condition ?? 'service_started']));
}

function ports(service: Service): string[] {
  return (service.ports ?? []).map((port) => (typeof port === 'string' ? port : `${port.host_ip ? `${port.host_ip}:` : ''}${port.published}:${port.target}`));
}

/** `volume name -> mount point` of the named volumes a service mounts. */
function namedVolumes(service: Service): Record<string, string> {
  const mounts = (service.volumes ?? []).map((volume) => {
    if (typeof volume !== 'string') return volume.type === 'volume' || volume.type === undefined ? [volume.source ?? '', volume.target ?? ''] : ['', ''];
    const [source = '', target = ''] = volume.split(':');
    return [source, target];
  });
  return Object.fromEntries(mounts.filter(([source]) => source && !source.startsWith('/') && !source.startsWith('.')));
}

describe('docker/docker-compose.yml', () => {
  test('without ADMIN_PASSWORD, SESSION_SECRET or TELEGRAM_BOT_TOKEN compose refuses to start, naming the variable', async (t) => {
    for (const missing of Object.keys(REQUIRED)) {
      const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...REQUIRED };
      delete env[missing];
      const result = await run('docker-compose', ['-f', COMPOSE, 'config'], { env });
      if (result.missing) return t.skip('docker-compose is not installed');
      assert.notEqual(result.code, 0, `docker-compose config without ${missing}`);
      assert.match(result.stderr, new RegExp(`set ${missing} in \\.env`), result.stderr);
    }
  });

  test('`docker-compose config` resolves it: postgres (healthy, named volume), the admin panel migrates, the bot waits', async (t) => {
    const config = await composeConfig(t);
    if (!config) return;
    assert.deepEqual(Object.keys(config.services).sort(), ['admin-panel', 'postgres', 'telegram-bot']);
    const { postgres, 'admin-panel': admin, 'telegram-bot': bot } = config.services as Record<string, Service>;

    assert.equal(postgres!.image, 'postgres:16-alpine');
    assert.equal(postgres!.container_name, 'rastar-postgres');
    const check = [postgres!.healthcheck?.test ?? []].flat().join(' ');
    assert.match(check, /pg_isready/, 'the server has a health check the apps can wait on');
    const pgVolumes = namedVolumes(postgres!);
    const dataVolume = Object.entries(pgVolumes).find(([, target]) => target === '/var/lib/postgresql/data')?.[0];
    assert.ok(dataVolume, `a named volume holds /var/lib/postgresql/data: ${JSON.stringify(postgres!.volumes)}`);
    assert.ok(dataVolume in (config.volumes ?? {}), `${dataVolume} is declared under volumes:`);

    for (const [name, app] of [['admin-panel', admin!], ['telegram-bot', bot!]] as const) {
      assert.equal(dependsOn(app).postgres, 'service_healthy', `${name} starts once postgres is healthy`);
      assert.match(environment(app).DATABASE_URL ?? '', /^postgresql:\/\/[^@]+@postgres:5432\/\w+$/, `${name} reaches the postgres service`);
    }
    assert.equal(admin!.container_name, 'rastar-admin-panel');
    assert.equal(environment(admin!).RUN_MIGRATIONS, 'true', 'the admin panel is the one container that migrates');
    assert.deepEqual([admin!.command].flat(), ['admin-panel']);
    assert.deepEqual(ports(admin!).map((port) => port.replace(/\/tcp$/, '')), ['127.0.0.1:3000:3000'], 'port 3000 published on this machine only, for the proxy in front');
    const backupDir = environment(admin!).BACKUP_DIR;
    assert.ok(backupDir && Object.values(namedVolumes(admin!)).includes(backupDir), `BACKUP_DIR (${backupDir}) is a named volume: backups outlive the container`);

    assert.equal(bot!.container_name, 'rastar-telegram-bot');
    assert.notEqual(environment(bot!).RUN_MIGRATIONS, 'true', 'the bot never migrates');
    assert.deepEqual([bot!.command].flat(), ['telegram-bot']);
    // Both apps: the image's own health check (it knows the bot's heartbeat), its start period
    // told to the check; a read-only root with a tmpfs for the check's state; no capabilities.
    for (const [name, app] of [['admin-panel', admin!], ['telegram-bot', bot!]] as const) {
      const check = app.healthcheck as { test?: string[]; start_period?: string } | undefined;
      assert.deepEqual(check?.test, ['CMD', 'node', '/app/dist/scripts/healthcheck.js'], `${name}'s health check`);
      assert.equal(check?.start_period, `${environment(app).HEALTH_START_PERIOD}s`.replace(/^60s$/, '1m'), `${name}: HEALTH_START_PERIOD is the start period`);
      const hardened = app as unknown as { read_only?: boolean; tmpfs?: string[]; cap_drop?: string[]; security_opt?: string[] };
      assert.equal(hardened.read_only, true, `${name} runs on a read-only root filesystem`);
      assert.deepEqual(hardened.tmpfs, ['/tmp'], `${name}: /tmp is a tmpfs (the health check's state)`);
      assert.deepEqual(hardened.cap_drop, ['ALL'], `${name} keeps no capability`);
      assert.deepEqual(hardened.security_opt, ['no-new-privileges:true']);
    }
    // podman-compose 1.0 leaves "${VAR:-}" unexpanded (the literal text would become the admin's password).
    assert.doesNotMatch(readFileSync(COMPOSE, 'utf8'), /\$\{[A-Z_]+:-\}/, 'no empty ${VAR:-} default');
  });
});

// ---------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  keyword: string;
  /** The arguments, continuation lines kept as `\`-newline (valid shell). */
  args: string;
  line: number;
  /** Index of the FROM stage it belongs to. */
  stage: number;
}

function parseDockerfile(text: string): Instruction[] {
  const lines = text.split('\n');
  const out: Instruction[] = [];
  let stage = -1;
  for (let i = 0; i < lines.length; ) {
    const start = i + 1;
    let body = lines[i++]!;
    if (/^\s*(#|$)/.test(body)) continue;
    while (/\\\s*$/.test(body) && i < lines.length) {
      const next = lines[i++]!;
      if (/^\s*#/.test(next)) continue; // Docker drops comment lines inside an instruction
      body = `${body.replace(/\s*$/, '')}\n${next}`;
    }
    const match = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(body);
    if (!match) continue;
    const keyword = match[1]!.toUpperCase();
    if (keyword === 'FROM') stage++;
    out.push({ keyword, args: match[2]!.trim(), line: start, stage });
  }
  return out;
}

const dockerfile = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
const finalStage = Math.max(...dockerfile.map((i) => i.stage));
const inFinal = (keyword: string) => dockerfile.filter((i) => i.keyword === keyword && i.stage === finalStage);

/** Shell-form commands of the Dockerfile: RUN, and HEALTHCHECK's CMD. */
function shellCommands(): { where: string; script: string }[] {
  const commands: { where: string; script: string }[] = [];
  for (const instruction of dockerfile) {
    let script: string | undefined;
    if (instruction.keyword === 'RUN') script = instruction.args;
    if (instruction.keyword === 'HEALTHCHECK') script = /\bCMD\s+([\s\S]*)$/.exec(instruction.args)?.[1];
    if (script && !script.startsWith('[')) commands.push({ where: `docker/Dockerfile:${instruction.line} ${instruction.keyword}`, script });
  }
  return commands;
}

describe('shell of the containers', () => {
  for (const script of [ENTRYPOINT, join(projectRoot, 'scripts', 'node-line.sh')]) {
    test(`shellcheck ${posix.join('scripts', script.split('/').pop()!)} is clean`, async (t) => {
      const syntax = await run('bash', ['-n', script]);
      assert.equal(syntax.code, 0, syntax.stderr);
      const result = await run('shellcheck', [script]);
      if (result.missing) return t.skip('shellcheck is not installed (bash -n passed)');
      assert.equal(result.code, 0, `shellcheck:\n${result.stdout}${result.stderr}`);
    });
  }

  test('the shell commands of docker/Dockerfile (RUN, HEALTHCHECK CMD) pass `shellcheck -s sh`', async (t) => {
    const commands = shellCommands();
    assert.ok(commands.length >= 4, `found ${commands.length} shell commands`);
    const dir = tempDir(t);
    let shellcheck = true;
    for (const [index, { where, script }] of commands.entries()) {
      const file = join(dir, `command-${index}.sh`);
      writeFileSync(file, `#!/bin/sh\n# ${where}\n${script}\n`);
      const syntax = await run('sh', ['-n', file]);
      assert.equal(syntax.code, 0, `${where}: sh -n:\n${syntax.stderr}\n${script}`);
      if (!shellcheck) continue;
      const result = await run('shellcheck', ['-s', 'sh', file]);
      if (result.missing) {
        shellcheck = false;
        continue;
      }
      assert.equal(result.code, 0, `${where}:\n${script}\n${result.stdout}${result.stderr}`);
    }
    if (!shellcheck) t.skip('shellcheck is not installed (sh -n passed for every command)');
  });
});

describe('docker/Dockerfile', () => {
  test('ENTRYPOINT is the entrypoint script, copied there and executable', async () => {
    const [entrypoint, ...more] = inFinal('ENTRYPOINT');
    assert.ok(entrypoint && more.length === 0, 'one ENTRYPOINT in the final stage');
    const argv = JSON.parse(entrypoint.args) as string[];
    const workdir = inFinal('WORKDIR').at(-1)?.args ?? '/';
    assert.deepEqual(argv, [posix.join(workdir, 'scripts', 'docker-entrypoint.sh')], 'exec form, the script itself (signals reach it; it execs the app)');
    assert.ok(
      inFinal('COPY').some((copy) => /(^|\s)scripts\/docker-entrypoint\.sh\s+(\.\/scripts\/docker-entrypoint\.sh|\.\/scripts\/?|\/app\/scripts\/docker-entrypoint\.sh)$/.test(copy.args)),
      'the final stage copies scripts/docker-entrypoint.sh to that path',
    );
    // COPY keeps the file's mode: without the executable bit the container cannot start.
    const mode = await run('git', ['ls-files', '-s', '--', 'scripts/docker-entrypoint.sh']);
    if (mode.code === 0 && mode.stdout) assert.match(mode.stdout, /^100755 /, 'git records the entrypoint as executable');
    assert.match(readFileSync(ENTRYPOINT, 'utf8'), /^#!\/usr\/bin\/env bash\n/);
    assert.deepEqual(JSON.parse(inFinal('CMD').at(-1)?.args ?? '[]'), ['admin-panel']);
  });

  test('HEALTHCHECK runs the kit\'s health check, whose start period it is told (HEALTH_START_PERIOD)', () => {
    const [healthcheck] = inFinal('HEALTHCHECK');
    assert.ok(healthcheck, 'the final stage has a HEALTHCHECK');
    assert.match(healthcheck.args, /CMD \["node", "\/app\/dist\/scripts\/healthcheck\.js"\]$/);
    const startPeriod = /--start-period=(\d+)s/.exec(healthcheck.args)?.[1];
    const env = inFinal('ENV').map((i) => i.args).join(' ');
    assert.equal(/HEALTH_START_PERIOD=(\d+)/.exec(env)?.[1], startPeriod, 'HEALTH_START_PERIOD equals --start-period');
    assert.ok(existsSync(join(projectRoot, 'scripts', 'healthcheck.ts')));
  });

  test('the app runs as a non-root USER', () => {
    const user = inFinal('USER').at(-1)?.args;
    assert.ok(user, 'the final stage sets USER');
    assert.doesNotMatch(user, /^(root|0)(:|$)/);
    const lastIndex = (keyword: string) => dockerfile.map((i) => i.keyword).lastIndexOf(keyword);
    const [lastUser, lastRun] = [lastIndex('USER'), lastIndex('RUN')];
    assert.ok(lastUser > lastRun, 'USER comes after the last RUN (nothing runs as root after it, the app neither)');
  });

  test('no Prisma engine download: no PRISMA_* engine variables, no `prisma generate`, no install scripts beyond allowScripts; clients from scripts/generate.ts', () => {
    for (const instruction of dockerfile) {
      assert.doesNotMatch(`${instruction.keyword} ${instruction.args}`, /PRISMA_[A-Z_]+/, `line ${instruction.line} sets or uses a PRISMA_* variable (engine downloads or mirrors)`);
      if (instruction.keyword === 'RUN') {
        assert.doesNotMatch(instruction.args, /\bprisma\s+generate\b/, `line ${instruction.line}: \`prisma generate\` (use scripts/generate.ts, offline)`);
        for (const install of instruction.args.matchAll(/\bnpm\s+(ci|install|i)\b[^&;|]*/g)) {
          assert.match(install[0], /--ignore-scripts/, `line ${instruction.line}: ${install[0].trim()} would run every dependency's install script (@prisma/engines downloads a schema engine); the image's npm 10 ignores allowScripts`);
        }
      }
    }
    const generate = dockerfile.filter((i) => i.keyword === 'RUN' && /\bscripts\/generate\.ts\b/.test(i.args));
    assert.equal(generate.length, 1, 'the clients are generated by scripts/generate.ts');
    // What npm rebuild runs must be what allowScripts approves.
    const allowed = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { allowScripts: Record<string, boolean> }).allowScripts;
    for (const instruction of dockerfile.filter((i) => i.keyword === 'RUN')) {
      for (const rebuild of instruction.args.matchAll(/\bnpm\s+rebuild\s+([^&;|\\\n]+)/g)) {
        for (const pkg of rebuild[1]!.trim().split(/\s+/)) assert.equal(allowed[pkg], true, `npm rebuild ${pkg}: not approved by package.json allowScripts`);
      }
    }
  });

  test('the image\'s PostgreSQL clients (pg_dump for BACKUP_BEFORE_MIGRATE): every supported major by default, the compose server\'s among them', () => {
    const major = /^\s*image:\s*postgres:(\d+)/m.exec(readFileSync(COMPOSE, 'utf8'))?.[1];
    assert.ok(major, 'docker-compose.yml names a postgres:<major> image');
    const text = dockerfile.filter((i) => i.stage === finalStage).map((i) => `${i.keyword} ${i.args}`).join('\n');
    const majors = /ARG PG_CLIENT_MAJORS="([\d ]+)"/.exec(text)?.[1]?.split(' ');
    assert.deepEqual(majors, ['15', '16', '17', '18'], 'one client per supported server major (pg_dump refuses a newer server)');
    assert.ok(majors.includes(major), `pg_dump ${major} for postgres:${major}`);
  });
});

describe('the image\'s Node.js', () => {
  const engines = requiredNode();

  test('one ARG names an exact version, every stage is built FROM it, engines admits it, the README names it', () => {
    const args = dockerfile.filter((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_VERSION='));
    assert.equal(args.length, 1, 'one ARG NODE_VERSION');
    assert.equal(args[0]!.stage, -1, 'declared before the first FROM, so every stage can use it');
    const version = args[0]!.args.slice('NODE_VERSION='.length);
    assert.match(version, /^\d+\.\d+\.\d+$/, 'an exact version: the image, the suite and the benchmark run the same Node.js');
    const froms = dockerfile.filter((i) => i.keyword === 'FROM');
    assert.ok(froms.length >= 3);
    // Every stage starts from the one Node.js image, or from a stage that did.
    const stages: string[] = [];
    for (const from of froms) {
      const [base, , name] = from.args.split(/\s+/);
      assert.ok(/^node:\$\{NODE_VERSION\}-[a-z]+-slim$/.test(base!) || stages.includes(base!), `docker/Dockerfile:${from.line} FROM ${from.args}`);
      if (name) stages.push(name);
    }
    assert.equal(satisfies(version, engines), true, `engines ${engines} refuses the image's ${version}`);
    const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
    assert.ok(readme.includes(`node:${version}-${/-([a-z]+)-slim/.exec(froms[0]!.args)![1]}-slim`), 'the README names the image');
    assert.ok(readme.includes(`**${version.split('.')[0]}** (${version})`), 'the README\'s table of lines names the image\'s version');
  });
});

describe('.dockerignore', () => {
  /** Whether `path` (relative to the context) is left out by the patterns, as Docker reads them (the last match wins). */
  function ignored(patterns: string[], path: string): boolean {
    let out = false;
    for (const raw of patterns) {
      const negated = raw.startsWith('!');
      const pattern = negated ? raw.slice(1) : raw;
      const source = pattern.split('**/').map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')).join('(?:.*/)?');
      if (new RegExp(`^${source}(?:/.*)?$`).test(path)) out = !negated;
    }
    return out;
  }

  test('keeps the build context to what the Dockerfile copies: no node_modules, .env, databases or .git; every COPY source still sent', () => {
    const patterns = readFileSync(join(projectRoot, '.dockerignore'), 'utf8').split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
    for (const path of ['node_modules/prisma/package.json', 'test/postgres-majors/node_modules/x', '.env', '.env.production', 'data/rastar.db', '.git/HEAD', 'dist/scripts/migrate.js', 'src/generated/sqlite/client.ts', 'backups/x.dump', 'bench/.work/x']) {
      assert.ok(ignored(patterns, path), `${path} is sent as build context`);
    }
    const copies = parseDockerfile(readFileSync(DOCKERFILE, 'utf8')).filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args));
    const sources = copies.flatMap((copy) => copy.args.split(/\s+/).filter((word) => word && !word.startsWith('--')).slice(0, -1));
    assert.ok(sources.length >= 8, sources.join(' '));
    for (const source of sources) assert.ok(!ignored(patterns, source.replace(/^\.\//, '')), `${source} is copied but left out of the context`);
    assert.ok(!ignored(patterns, '.env.example'));
  });
});

test('the final stage leaves the code to root: no COPY hands files to the runtime user, only data/ and backups/ are its', () => {
  const final = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
  const last = Math.max(...final.map((i) => i.stage));
  const copies = final.filter((i) => i.stage === last && i.keyword === 'COPY');
  assert.ok(copies.length >= 6, 'the final stage copies the app');
  for (const copy of copies) assert.doesNotMatch(copy.args, /--chown/, `line ${copy.line}: ${copy.args}`);
  const runs = final.filter((i) => i.stage === last && i.keyword === 'RUN').map((i) => i.args).join('\n');
  assert.match(runs, /chown node:node data backups/);
  assert.ok(final.some((i) => i.stage === last && i.keyword === 'USER' && i.args.trim() === 'node'), 'the app runs as node');
});
