/**
 * The container entrypoint as a process: `bash scripts/docker-entrypoint.sh <app>`
 * run from outside the repository (the kit compiled for the test run, else its source), each in its own
 * process group (killed whole after the test), with a tiny app that records when
 * it started. Plus synthetic migration histories long enough to kill a deploy
 * half-way, and the assertions every test of this folder shares.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { projectRoot, type SqlConnection } from '../../src/db.ts';
import { ADVISORY_LOCK_KEY } from '../../src/runtime/lock.ts';
import { childEnv, copyPrismaDir, KIT_FROM_SOURCE, tempDir } from '../helpers.ts';
import { spawnCapture } from '../processes.ts';

export const ENTRYPOINT = join(projectRoot, 'scripts', 'docker-entrypoint.sh');
export const RECORD_START = join(projectRoot, 'test', 'fixtures', 'entrypoint', 'record-start.mjs');

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Entrypoint {
  pid: number;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved, as a container log shows them. */
  output(): string;
  exited: Promise<Exit>;
  /** SIGKILL the whole process group: bash and the kit's node process under it. */
  killGroup(): void;
}

/** Environment of a "container": only what a container would have, never the test runner's. */
function containerEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base = { PATH: process.env.PATH, HOME: process.env.HOME ?? tmpdir(), LANG: process.env.LANG ?? 'C.UTF-8', TMPDIR: process.env.TMPDIR, KIT_FROM_SOURCE };
  return childEnv(env, base);
}

/** Start the real entrypoint with `args` (e.g. appCommand(...)); killed with its children after the test. */
export function startEntrypoint(t: TestContext, args: string[], env: Record<string, string | undefined>, options: { cwd?: string } = {}): Entrypoint {
  const { child, stdout, stderr, output, exited } = spawnCapture('bash', [ENTRYPOINT, ...args], {
    cwd: options.cwd ?? tmpdir(),
    env: containerEnv(env),
    detached: true, // its own process group, so that a kill reaches node under bash
  });
  const pid = child.pid as number;
  let leaderGone = false;
  const killGroup = () => {
    if (leaderGone) return; // its pid (the group id) may belong to someone else by now
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  // When the leader ends, end what is left of its group at once (a kit process under a killed bash),
  // while the group id is surely still this one's.
  child.on('exit', () => {
    killGroup();
    leaderGone = true;
  });
  t.after(async () => {
    killGroup();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((done) => (timer = setTimeout(done, 5000)))]);
    clearTimeout(timer);
  });
  return { pid, stdout, stderr, output, exited, killGroup };
}

export interface EntrypointResult extends Exit {
  stdout: string;
  stderr: string;
  output: string;
}

/** Start, wait for the end (failing the test after `timeoutMs`). */
export async function runEntrypoint(t: TestContext, args: string[], env: Record<string, string | undefined>, timeoutMs = 60_000): Promise<EntrypointResult> {
  const run = startEntrypoint(t, args, env);
  const exit = await finished(run, timeoutMs);
  return { ...exit, stdout: run.stdout(), stderr: run.stderr(), output: run.output() };
}

/** The exit of `run`, or a failure naming what it printed when it runs longer than `ms`. */
export async function finished(run: Entrypoint, ms: number): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`entrypoint ${run.pid} still running after ${ms}ms:\n${run.output()}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `check()` holds; fails after `ms` with `what`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000, stepMs = 20): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

/** The fixture app: `node record-start.mjs <file> <label>`, an app command for the entrypoint. */
export function appCommand(file: string, label = 'app'): string[] {
  return ['app', '--', 'node', RECORD_START, file, label];
}

export interface AppStart {
  time: number;
  pid: number;
  label: string;
  /** `NAME=set|unset` words the app wrote for RECORD_ENV. */
  env: Record<string, string>;
}

export function readStarts(file: string): AppStart[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [time, pid, label = '', ...rest] = line.split(' ');
      return { time: Number(time), pid: Number(pid), label, env: Object.fromEntries(rest.map((word) => word.split('=') as [string, string])) };
    });
}

export interface Synthetic {
  /** Use as PRISMA_DIR: the real history followed by the synthetic migrations. */
  dir: string;
  /** Every migration name of the copy, in order (real ones first). */
  names: string[];
  /** The synthetic ones only: `name` creates table `table` and index `index`. */
  synthetic: { name: string; table: string; index: string }[];
}

/**
 * A writable copy of prisma/ with `count` more migrations (`20300101HHMMSS_mNNN`),
 * in both histories, each creating a table `T_NNN`, filling it with `rows` rows and
 * indexing it: a deploy of enough of them takes long enough to be killed half-way.
 */
export function syntheticPrismaDir(t: TestContext, count: number, options: { rows?: number } = {}): Synthetic {
  const dir = copyPrismaDir(t);
  const rows = options.rows ?? 0;
  const synthetic: Synthetic['synthetic'] = [];
  for (let i = 1; i <= count; i++) {
    const n = String(i).padStart(3, '0');
    const name = `20300101${String(i).padStart(6, '0')}_m${n}`;
    const table = `T_${n}`;
    const index = `T_${n}_v_idx`;
    synthetic.push({ name, table, index });
    const pg = [
      `-- CreateTable\nCREATE TABLE "${table}" ("id" SERIAL NOT NULL, "v" INTEGER NOT NULL, CONSTRAINT "${table}_pkey" PRIMARY KEY ("id"));`,
      rows ? `INSERT INTO "${table}" ("v") SELECT g FROM generate_series(1, ${rows}) AS g;` : '',
      `-- CreateIndex\nCREATE INDEX "${index}" ON "${table}"("v");`,
    ];
    const sqlite = [
      `-- CreateTable\nCREATE TABLE "${table}" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "v" INTEGER NOT NULL);`,
      rows ? `INSERT INTO "${table}" ("v") WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ${rows}) SELECT x FROM g;` : '',
      `-- CreateIndex\nCREATE INDEX "${index}" ON "${table}"("v");`,
    ];
    for (const [provider, lines] of [['postgresql', pg], ['sqlite', sqlite]] as const) {
      mkdirSync(join(dir, 'migrations', provider, name));
      writeFileSync(join(dir, 'migrations', provider, name, 'migration.sql'), `${lines.filter(Boolean).join('\n\n')}\n`);
    }
  }
  const real = readdirNames(join(dir, 'migrations', 'postgresql')).filter((name) => !synthetic.some((s) => s.name === name));
  return { dir, names: [...real, ...synthetic.map((s) => s.name)], synthetic };
}

function readdirNames(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/** Add one migration (both providers) to a prisma/ copy. */
export function addMigration(prismaDir: string, name: string, sql: { postgresql: string; sqlite: string }): void {
  for (const provider of ['postgresql', 'sqlite'] as const) {
    mkdirSync(join(prismaDir, 'migrations', provider, name));
    writeFileSync(join(prismaDir, 'migrations', provider, name, 'migration.sql'), sql[provider]);
  }
}

export interface HistoryRow {
  migration_name: string;
  finished_at: Date | string | null;
  rolled_back_at: Date | string | null;
  logs: string | null;
}

export async function historyRows(conn: SqlConnection): Promise<HistoryRow[]> {
  const exists = await tableNames(conn);
  if (!exists.includes('_prisma_migrations')) return [];
  return conn.query<HistoryRow>('SELECT migration_name, finished_at, rolled_back_at, logs FROM "_prisma_migrations" ORDER BY started_at, migration_name');
}

export async function tableNames(conn: SqlConnection): Promise<string[]> {
  const rows =
    conn.target.provider === 'sqlite'
      ? await conn.query<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
      : await conn.query<{ name: string }>(`SELECT tablename AS name FROM pg_catalog.pg_tables WHERE schemaname = current_schema()`);
  return rows.map((row) => row.name);
}

export async function indexNames(conn: SqlConnection): Promise<string[]> {
  const rows =
    conn.target.provider === 'sqlite'
      ? await conn.query<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'index'`)
      : await conn.query<{ name: string }>(`SELECT indexname AS name FROM pg_catalog.pg_indexes WHERE schemaname = current_schema()`);
  return rows.map((row) => row.name);
}

/** Every migration of `names` applied exactly once: one finished row each, no failed or rolled-back row. */
export async function assertAppliedOnce(conn: SqlConnection, names: string[]): Promise<HistoryRow[]> {
  const rows = await historyRows(conn);
  const unfinished = rows.filter((row) => row.finished_at === null || row.rolled_back_at !== null);
  assert.deepEqual(unfinished.map((row) => row.migration_name), [], 'no failed, unfinished or rolled-back row');
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(row.migration_name, (counts.get(row.migration_name) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([name]) => name);
  assert.deepEqual(twice, [], 'no migration has two rows');
  assert.deepEqual([...counts.keys()].sort(), [...names].sort(), 'one finished row per migration of the folder');
  return rows;
}

/**
 * The database is exactly at a migration boundary: the applied migrations are a
 * prefix of the folder, each synthetic migration's row is finished iff its table
 * and index exist, and no row is failed, unfinished or doubled. Returns how many
 * migrations are applied.
 */
export async function assertAtBoundary(conn: SqlConnection, history: Synthetic): Promise<number> {
  const rows = await historyRows(conn);
  const bad = rows.filter((row) => row.finished_at === null || row.rolled_back_at !== null).map((row) => `${row.migration_name}: ${row.logs ?? 'unfinished'}`);
  assert.deepEqual(bad, [], 'no failed or unfinished row');
  const applied = rows.map((row) => row.migration_name);
  assert.equal(new Set(applied).size, applied.length, `no migration has two rows: ${applied.join(', ')}`);
  assert.deepEqual(applied, history.names.slice(0, applied.length), 'the applied migrations are a prefix of the folder, in order');
  const tables = new Set(await tableNames(conn));
  const indexes = new Set(await indexNames(conn));
  for (const { name, table, index } of history.synthetic) {
    const recorded = applied.includes(name);
    assert.equal(tables.has(table), recorded, `${name}: table ${table} exists iff its row is finished (row ${recorded ? 'present' : 'absent'})`);
    assert.equal(indexes.has(index), recorded, `${name}: index ${index} exists iff its row is finished`);
  }
  return applied.length;
}

/** Sessions of the kit on this database other than `conn` (a killed client's backend lingers a moment). */
export async function otherSessions(conn: SqlConnection): Promise<{ pid: number; application_name: string }[]> {
  return conn.query(`SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`);
}

/** Rows of pg_locks for the migration advisory lock of this database (other tests take it in theirs). */
export async function migrationLockRows(conn: SqlConnection): Promise<{ pid: number; granted: boolean }[]> {
  return conn.query(
    `SELECT pid, granted FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = $1 AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [ADVISORY_LOCK_KEY],
  );
}

/** max(finished_at) of the history, in ms since the epoch. */
export function lastFinished(rows: HistoryRow[]): number {
  return Math.max(...rows.map((row) => new Date(row.finished_at as Date | string).getTime()));
}

/** A TCP server that counts the connections made to it: proves a run never touched "the database". */
export async function countingServer(t: TestContext): Promise<{ port: number; connections(): number }> {
  let count = 0;
  const server: Server = createServer((socket) => {
    count++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as { port: number }).port, connections: () => count };
}

/** A directory for the app's start records and secret files. */
export function workDir(t: TestContext): string {
  return tempDir(t, 'rastar-entrypoint-');
}
