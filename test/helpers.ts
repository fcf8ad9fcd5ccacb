/**
 * Real databases for tests: a fresh SQLite file or a fresh PostgreSQL database
 * per test, dropped after; and the kit's scripts run as the user runs them.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TestContext } from 'node:test';
import { openConnection, parseDatabaseUrl, projectRoot, withDatabase, type DatabaseTarget, type Provider, type SqlConnection } from '../src/db.ts';

export const PROVIDERS: Provider[] = ['sqlite', 'postgresql'];

export function serverUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run the tests with npm test (it starts an embedded PostgreSQL)');
  return url;
}

/**
 * The test server's password, to look for in output that must not show it. An
 * external server without one has nothing to leak: the checks then fail loudly
 * rather than pass on an empty string.
 */
export function serverPassword(): string {
  const password = decodeURIComponent(new URL(serverUrl()).password);
  if (password.length < 6) throw new Error('TEST_DATABASE_URL needs a password of 6 characters or more: the tests check that it never appears in any output');
  return password;
}

let counter = 0;

/** A temporary directory removed after the test. */
export function tempDir(t: TestContext, prefix = 'rastar-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestDatabase {
  url: string;
  target: DatabaseTarget;
  /** A raw connection for assertions, closed after the test. */
  connect(): Promise<SqlConnection>;
}

/** Open, work, close: a restore replaces the SQLite file, so no connection may outlive one look. */
export async function withConn<T>(target: DatabaseTarget, work: (conn: SqlConnection) => Promise<T>): Promise<T> {
  const conn = await openConnection(target);
  try {
    return await work(conn);
  } finally {
    await conn.close();
  }
}

/** A brand-new empty database of the provider, dropped when the test ends. */
export async function testDatabase(t: TestContext, provider: Provider): Promise<TestDatabase> {
  const opened: SqlConnection[] = [];
  const connect = async () => {
    const conn = await openConnection(target);
    opened.push(conn);
    return conn;
  };
  let target: DatabaseTarget;
  if (provider === 'sqlite') {
    target = parseDatabaseUrl(`file:${join(tempDir(t), 'test.db')}`);
  } else {
    const server = parseDatabaseUrl(serverUrl()) as DatabaseTarget & { provider: 'postgresql' };
    const name = `rastar_test_${process.pid}_${Date.now().toString(36)}_${counter++}`;
    const admin = await openConnection(server);
    await admin.exec(`CREATE DATABASE "${name}"`);
    await admin.close();
    target = withDatabase(server, name);
    t.after(async () => {
      const conn = await openConnection(server);
      await conn.exec(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await conn.close();
    });
  }
  t.after(async () => {
    for (const conn of opened.splice(0)) await conn.close();
  });
  return { url: target.url, target, connect };
}

/** A copy of prisma/ (schema + both histories) that a test may change freely; use as PRISMA_DIR. */
export function copyPrismaDir(t: TestContext): string {
  const dir = join(tempDir(t), 'prisma');
  cpSync(join(projectRoot, 'prisma'), dir, { recursive: true });
  return dir;
}

export const TSX_LOADER = pathToFileURL(join(projectRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

/** How the kit's processes run: 'false' (compiled dist/) when test/run.ts compiled it for this run. */
export const KIT_FROM_SOURCE = process.env.KIT_FROM_SOURCE === 'false' ? 'false' : 'true';

/**
 * Node's arguments to run a kit script: the compiled `dist/scripts/<name>.js` when
 * test/run.ts compiled the kit for this run (KIT_FROM_SOURCE=false, which bin/kit,
 * bin/schema-engine and the entrypoint obey too: about 0.13 s less per process than the
 * TypeScript loader, over hundreds of processes), else the source through tsx (a test
 * file run on its own, where dist/ may be stale).
 */
export function scriptArgs(script: string): string[] {
  return KIT_FROM_SOURCE === 'false' ? [join(projectRoot, 'dist', 'scripts', `${script}.js`)] : ['--import', TSX_LOADER, join(projectRoot, 'scripts', `${script}.ts`)];
}


export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A child's environment: `base` (default: the test runner's) without NODE_OPTIONS, with
 * `overrides`; an override of undefined removes the variable.
 */
export function childEnv(overrides: NodeJS.ProcessEnv = {}, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, NODE_OPTIONS: '', ...overrides };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  return env;
}

/** Run a command to its end and capture what it printed; `pid` is its process. */
export function execCapture(command: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string }): { pid: number; done: Promise<RunResult> } {
  let pid = 0;
  const done = new Promise<RunResult>((resolve) => {
    const child = execFile(command, args, { env: options.env, cwd: options.cwd ?? tmpdir(), timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
    pid = child.pid as number;
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
  return { pid, done };
}

/** Run `scripts/<name>.ts` as a user would (through tsx), from `cwd` (default: a directory outside the project). */
export function runScript(script: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return execCapture(process.execPath, [...scriptArgs(script), ...args], { ...options, env: childEnv(options.env) }).done;
}
