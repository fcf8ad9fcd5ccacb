/**
 * A harness that tries to break "each migration runs exactly once, recorded
 * truthfully". Each round, from a seed: a generated PostgreSQL history (DDL, data
 * migrations appending to a ledger so a second application shows, CREATE INDEX
 * CONCURRENTLY, self-managed scripts, session SETs, an enum value added then used, a
 * real failure), a topology (direct, PgBouncer in transaction or session mode, with or
 * without DIRECT_DATABASE_URL), a default isolation level, several concurrent
 * migrators on several paths (the kit's deploy, `npx prisma migrate deploy`, the
 * container's entrypoint, whose seed then fails on this schema: exit 1), and a
 * fault (SIGKILL of a migrator, a server restart, a pooler restart, a long
 * application transaction). Then a final deploy without faults, and an oracle.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openConnection, parseDatabaseUrl, projectRoot, withDatabase, type DatabaseTarget, type SqlConnection } from '../../src/db.ts';
import { ADVISORY_LOCK_KEY } from '../../src/runtime/lock.ts';
import { readRows, RUNNING_LOGS } from '../../src/runtime/table.ts';
import { childEnv, KIT_FROM_SOURCE, scriptArgs } from '../helpers.ts';
import { launchPgBouncer } from '../pgbouncer.ts';
import type { Server } from '../postgres-major.ts';
import { prng } from '../../bench/synthetic.ts';

const pick = <T>(rand: () => number, items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;

export const KINDS = ['ddl', 'data', 'slow-data', 'concurrent', 'self-managed', 'session-set', 'enum-used'] as const;
export type Kind = (typeof KINDS)[number] | 'failing';
export const TOPOLOGIES = ['direct', 'transaction-pooler', 'transaction-pooler+direct-url', 'session-pooler'] as const;
export const ISOLATIONS = ['read committed', 'repeatable read', 'serializable'] as const;
export const FAULTS = ['none', 'kill-migrator', 'server-restart', 'pooler-restart', 'app-transaction'] as const;
export const PATHS = ['kit', 'prisma-cli', 'entrypoint'] as const;

export interface Migration {
  name: string;
  kind: Kind;
  sql: string;
  /** Runs without the kit's transaction (statement by statement). */
  outsideTransaction: boolean;
}

export interface Round {
  seed: number;
  history: Migration[];
  topology: (typeof TOPOLOGIES)[number];
  isolation: (typeof ISOLATIONS)[number];
  fault: (typeof FAULTS)[number];
  migrators: (typeof PATHS)[number][];
  /** ms after the migrators start when the fault strikes. */
  faultAtMs: number;
}

/** Every migration appends its own name to the ledger once: a second application is a second entry. */
const ledger = (name: string) => `INSERT INTO "Ledger" ("migration") VALUES ('${name}')`;

export function planRound(seed: number): Round {
  const rand = prng(seed); // the same seed, the same round
  const count = 4 + Math.floor(rand() * 5);
  const history: Migration[] = [{ name: '20990000000000_ledger', kind: 'ddl', sql: 'CREATE TABLE "Ledger" ("id" SERIAL PRIMARY KEY, "migration" TEXT NOT NULL, "at" TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp());\nCREATE TYPE "Mood" AS ENUM (\'ok\');\n', outsideTransaction: false }];
  for (let k = 1; k <= count; k++) {
    const name = `2099000000${String(k).padStart(4, '0')}_m${k}`;
    const kind = pick(rand, KINDS);
    const table = `"T${k}"`;
    const sql = {
      ddl: `CREATE TABLE ${table} ("id" INTEGER PRIMARY KEY, "v" TEXT);\n${ledger(name)};\n`,
      data: `CREATE TABLE ${table} ("id" INTEGER);\nINSERT INTO ${table} SELECT g FROM generate_series(1, 200) g;\n${ledger(name)};\nUPDATE "Ledger" SET "at" = "at" WHERE "migration" = '${name}';\n`,
      // Holds the migration lock a while, so other migrators queue for this very migration.
      'slow-data': `${ledger(name)};\nSELECT pg_sleep(0.3);\n`,
      concurrent: `CREATE TABLE ${table} ("id" INTEGER);\n${ledger(name)};\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "T${k}_id_idx" ON ${table} ("id");\n`,
      'self-managed': `BEGIN;\nCREATE TABLE ${table} ("id" INTEGER);\n${ledger(name)};\nCOMMIT;\n`,
      'session-set': `SET search_path TO pg_catalog, public;\nSET statement_timeout = '4321s';\nSET lock_timeout = '4321s';\nCREATE TABLE public.${table} ("id" INTEGER);\n${ledger(name)};\n`,
      'enum-used': `ALTER TYPE "Mood" ADD VALUE IF NOT EXISTS 'm${k}';\nCREATE TABLE ${table} ("mood" "Mood" NOT NULL DEFAULT 'm${k}');\n${ledger(name)};\n`,
    }[kind];
    history.push({ name, kind, sql, outsideTransaction: kind === 'concurrent' || kind === 'self-managed' || kind === 'enum-used' });
  }
  if (rand() < 0.25) history.push({ name: '20999999999999_failing', kind: 'failing', sql: `${ledger('20999999999999_failing')};\nINSERT INTO "NoSuchTable" VALUES (1);\n`, outsideTransaction: false });
  const migrators = Array.from({ length: 2 + Math.floor(rand() * 3) }, () => {
    const r = rand();
    return (r < 0.5 ? 'kit' : r < 0.75 ? 'prisma-cli' : 'entrypoint') as (typeof PATHS)[number];
  });
  const fault = pick(rand, FAULTS);
  const topology = pick(rand, TOPOLOGIES);
  return {
    seed,
    history,
    // A pooler restart needs a pooler.
    topology: fault === 'pooler-restart' && topology === 'direct' ? 'transaction-pooler' : topology,
    isolation: pick(rand, ISOLATIONS),
    fault,
    migrators,
    faultAtMs: Math.floor(rand() * 1200), // the migrators start in about half a second and deploy in about one
  };
}

export function describeRound(round: Round): string {
  const kinds = new Map<string, number>();
  for (const m of round.history.slice(1)) kinds.set(m.kind, (kinds.get(m.kind) ?? 0) + 1);
  const history = [...kinds].map(([kind, n]) => `${kind} ${n}`).join(', ');
  const paths = round.migrators.join('+');
  return `seed ${round.seed}: ${round.history.length} migrations (${history}) · ${round.topology} · ${round.isolation} · ${round.migrators.length} migrators (${paths}) · fault ${round.fault}${round.fault === 'none' ? '' : ` at ${round.faultAtMs}ms`}`;
}

export interface Outcome {
  violations: string[];
  /** What the fault did, for the report. */
  fault: string;
}

interface Migrator {
  done: Promise<{ code: number | null; output: string }>;
  kill(): void;
}

/** The three ways a deploy starts: the kit's script, the official CLI on the kit's engine, the container's entrypoint (migrate, then an app that exits at once). */
const COMMANDS: Record<(typeof PATHS)[number], [string, string[]]> = {
  kit: [process.execPath, [...scriptArgs('migrate'), 'deploy']],
  'prisma-cli': [process.execPath, [join(projectRoot, 'node_modules', 'prisma', 'build', 'index.js'), 'migrate', 'deploy']],
  entrypoint: ['bash', [join(projectRoot, 'scripts', 'docker-entrypoint.sh'), 'app', '--', 'node', '-e', '0']],
};

function startMigrator(path: (typeof PATHS)[number], env: NodeJS.ProcessEnv): Migrator {
  const [command, args] = COMMANDS[path];
  const extra = path === 'entrypoint' ? { RUN_MIGRATIONS: 'true', KIT_FROM_SOURCE } : {};
  // Its own process group: a kill reaches the kit's node process under the entrypoint's bash too.
  const child = spawn(command, args, { cwd: projectRoot, env: childEnv({ PRISMA_HIDE_UPDATE_MESSAGE: '1', ...env, ...extra }), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const done = new Promise<{ code: number | null; output: string }>((resolve) => child.on('close', (code) => resolve({ code, output })));
  return {
    done,
    kill: () => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already ended
      }
    },
  };
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Play one round against `server` (a server this harness may restart); the oracle's findings. */
export async function playRound(server: Server, round: Round, workDir: string, tamper?: (conn: SqlConnection) => Promise<void>): Promise<Outcome> {
  const admin = parseDatabaseUrl(server.url) as DatabaseTarget & { provider: 'postgresql' };
  const database = `torture_${round.seed}_${Date.now().toString(36)}`;
  const root = await openConnection(admin);
  await root.exec(`CREATE DATABASE "${database}"`);
  await root.exec(`ALTER DATABASE "${database}" SET default_transaction_isolation = '${round.isolation}'`);
  await root.close();
  const target = withDatabase(admin, database);
  const dir = mkdtempSync(join(workDir, 'round-'));
  const prisma = join(dir, 'prisma');
  for (const m of round.history) {
    mkdirSync(join(prisma, 'migrations', 'postgresql', m.name), { recursive: true });
    writeFileSync(join(prisma, 'migrations', 'postgresql', m.name, 'migration.sql'), m.sql);
  }
  writeFileSync(join(prisma, 'migrations', 'postgresql', 'migration_lock.toml'), 'provider = "postgresql"\n');
  writeFileSync(join(prisma, 'schema.postgresql.prisma'), 'datasource db {\n  provider = "postgresql"\n}\n');

  let pooler = round.topology === 'direct' ? null : await launchPgBouncer(admin, mkdtempSync(join(tmpdir(), 'rastar-pgbouncer-')), round.topology === 'session-pooler' ? 'session' : 'transaction');
  const env: NodeJS.ProcessEnv = {
    DATABASE_URL: pooler ? pooler.url(database) : target.url,
    DIRECT_DATABASE_URL: round.topology === 'transaction-pooler+direct-url' ? target.url : undefined,
    PRISMA_DIR: prisma,
    MIGRATION_DDL_LOCK_TIMEOUT: '1',
    MIGRATION_LOCK_TIMEOUT: '60',
    DB_CONNECT_TIMEOUT: '30',
  };
  const violations: string[] = [];
  try {
    let app: SqlConnection | null = null;
    if (round.fault === 'app-transaction') {
      // An application transaction holding a lock that the ledger migrations' ALTERs would wait for.
      const bootstrap = startMigrator('kit', { ...env, DATABASE_URL: target.url, DIRECT_DATABASE_URL: undefined, PRISMA_DIR: firstOnly(prisma, dir, round) });
      await bootstrap.done;
      app = await openConnection(target, { applicationName: 'torture-app' });
      await app.exec('BEGIN; LOCK TABLE "Ledger" IN SHARE MODE');
    }
    const migrators = round.migrators.map((path) => startMigrator(path, env));
    const latencies = watchApplication(target);
    await sleep(round.faultAtMs);
    if (round.fault === 'kill-migrator') (migrators[0] as Migrator).kill();
    if (round.fault === 'server-restart') await server.restart();
    if (round.fault === 'pooler-restart' && pooler) {
      // Down, then up again on its port: migrators connected through it lose their connection, later ones reach it again.
      await pooler.stop();
      pooler = await launchPgBouncer(admin, mkdtempSync(join(tmpdir(), 'rastar-pgbouncer-')), round.topology === 'session-pooler' ? 'session' : 'transaction', pooler.port);
    }
    if (app) {
      await app.exec('COMMIT');
      await app.close();
    }
    const results = await Promise.all(migrators.map((m) => m.done));
    const slowest = await latencies.stop();
    // The application's reads wait for a migration's lock at most MIGRATION_DDL_LOCK_TIMEOUT (1 s), plus a margin for a loaded machine.
    if (slowest > 15_000 && round.fault !== 'server-restart') violations.push(`an application query waited ${Math.round(slowest)} ms`);
    for (const [k, result] of results.entries()) {
      if (result.code === null || result.code === 0 || result.code === 1 || result.code === 2) continue;
      violations.push(`migrator ${k + 1} exited ${result.code}: ${result.output.slice(-500)}`);
    }
    if (/^\s+at .+:\d+:\d+\)?$/m.test(results.map((r) => r.output).join('\n'))) violations.push('a stack trace was printed');

    // The final deploy, direct and without faults: where the history allows, everything applies.
    const final = await startMigrator('kit', { ...env, DATABASE_URL: target.url, DIRECT_DATABASE_URL: undefined, MIGRATION_LOCK_TIMEOUT: '10' }).done;
    if (tamper) {
      const conn = await openConnection(target);
      await tamper(conn).finally(() => conn.close());
    }
    violations.push(...(await oracle(target, round, final, pooler ? pooler.url(database) : null)));
    if (violations.length) violations.push(`migrators said:\n${results.map((r, k) => `--- ${round.migrators[k]} (exit ${r.code})\n${r.output.trim()}`).join('\n')}\n--- final (exit ${final.code})\n${final.output.trim()}`);
  } finally {
    await pooler?.stop();
    const conn = await openConnection(admin);
    await conn.exec(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => {});
    await conn.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { violations, fault: round.fault };
}

/** A PRISMA_DIR holding only the ledger migration (for the application to lock it). */
function firstOnly(prisma: string, dir: string, round: Round): string {
  const only = join(dir, 'first');
  const first = round.history[0] as Migration;
  mkdirSync(join(only, 'migrations', 'postgresql', first.name), { recursive: true });
  writeFileSync(join(only, 'migrations', 'postgresql', first.name, 'migration.sql'), first.sql);
  writeFileSync(join(only, 'migrations', 'postgresql', 'migration_lock.toml'), 'provider = "postgresql"\n');
  void prisma;
  return only;
}

/** The application: a short read every 50 ms; the longest one. */
function watchApplication(target: DatabaseTarget): { stop(): Promise<number> } {
  let running = true;
  let slowest = 0;
  const loop = (async () => {
    let conn: SqlConnection | null = null;
    while (running) {
      try {
        conn ??= await openConnection(target, { applicationName: 'torture-reader', waitMs: 0 });
        const started = performance.now();
        await conn.query(`SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'Ledger'`);
        await conn.query(`SELECT count(*) FROM "Ledger"`).catch(() => {});
        slowest = Math.max(slowest, performance.now() - started);
      } catch {
        await conn?.close();
        conn = null; // the server restarted
      }
      await sleep(50);
    }
    await conn?.close();
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return slowest;
    },
  };
}

/**
 * After the round: each ledger entry at most once, and exactly once for every history
 * row that says applied; no failed row but the real failure (or the claim of a killed
 * migrator); no advisory lock held; no INVALID index; nothing left on the pooler's
 * server connections; the final deploy applied what it could.
 */
async function oracle(target: DatabaseTarget, round: Round, final: { code: number | null; output: string }, pooledUrl: string | null): Promise<string[]> {
  const violations: string[] = [];
  const conn = await openConnection(target, { applicationName: 'torture-oracle' });
  try {
    const rows = await readRows(conn);
    const entries = new Map<string, number>();
    const ledgerRows = await conn.query<{ migration: string; n: number }>(`SELECT "migration", count(*)::int AS n FROM "Ledger" GROUP BY 1`).catch(() => []);
    for (const { migration, n } of ledgerRows) entries.set(migration, n);
    const killedClaims = rows.filter((r) => r.finished_at === null && r.rolled_back_at === null && r.logs === RUNNING_LOGS);
    for (const migration of round.history.slice(1)) {
      const n = entries.get(migration.name) ?? 0;
      const live = rows.filter((r) => r.migration_name === migration.name && r.rolled_back_at === null);
      if (n > 1) violations.push(`${migration.name} (${migration.kind}) ran ${n} times`);
      if (live.length > 1) violations.push(`${migration.name} has ${live.length} history rows`);
      const row = live[0];
      if (row?.finished_at && n !== 1) violations.push(`${migration.name} (${migration.kind}) is recorded applied but its ledger entry appears ${n} times`);
      if (!row && n !== 0) violations.push(`${migration.name} (${migration.kind}) has no history row but ran ${n} time(s)`);
      if (row && !row.finished_at && row.logs !== RUNNING_LOGS) {
        if (migration.kind !== 'failing') violations.push(`${migration.name} (${migration.kind}) is recorded failed: ${row.logs}`);
        else if (n !== 0) violations.push(`${migration.name} failed in a transaction but its ledger entry stayed`);
      }
      if (row?.logs === RUNNING_LOGS && round.fault !== 'kill-migrator' && round.fault !== 'server-restart') violations.push(`${migration.name} was left running without a fault that kills a migrator`);
    }
    // The final deploy: up to date, or blocked only by the real failure or a killed migrator's claim.
    const blocked = rows.some((r) => r.finished_at === null && r.rolled_back_at === null);
    if (final.code !== 0 && !blocked) violations.push(`the final deploy failed (exit ${final.code}) with no failed row to explain it`);
    if (final.code === 0 && !round.history.every((m) => rows.some((r) => r.migration_name === m.name && r.finished_at))) violations.push('the final deploy succeeded but not every migration is applied');
    if (killedClaims.length > 1) violations.push(`${killedClaims.length} claims of killed migrators`);
    const [locks] = await conn.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, [ADVISORY_LOCK_KEY]);
    if (locks?.n) violations.push(`${locks.n} advisory lock(s) still held`);
    const invalid = await conn.query<{ index: string }>(`SELECT c.relname AS index FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid`);
    if (invalid.length && !killedClaims.length) violations.push(`INVALID index(es) left: ${invalid.map((i) => i.index).join(', ')}`);
    if (pooledUrl) violations.push(...(await leakedSettings(pooledUrl, conn, target)));
  } finally {
    await conn.close();
  }
  return violations;
}

/** Every server connection of the pool, asked at once: a role or setting that is not the start-up one is a leak. */
async function leakedSettings(url: string, direct: SqlConnection, target: DatabaseTarget): Promise<string[]> {
  const database = target.provider === 'postgresql' ? target.config.database : '';
  const [count] = await direct.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()`, [database]);
  const clients: SqlConnection[] = [];
  try {
    for (let k = 0; k <= (count?.n ?? 0); k++) clients.push(await openConnection(parseDatabaseUrl(url), { waitMs: 0 }));
    for (const client of clients) await client.exec('BEGIN');
    const settings = async (c: SqlConnection) => (await c.query<{ s: string }>(`SELECT concat_ws(' ', current_user, current_setting('role'), current_setting('search_path'), current_setting('statement_timeout'), current_setting('lock_timeout')) AS s`))[0]?.s ?? '';
    const pristine = await settings(direct); // the oracle's own connection: what every session starts with
    const seen = await Promise.all(clients.map(settings));
    const leaked = [...new Set(seen)].filter((s) => s !== pristine);
    return leaked.length ? [`a pooled server connection kept settings of a migration or of the kit: ${leaked.join(' | ')} (a fresh session: ${pristine})`] : [];
  } catch (error) {
    return [`could not read the pooled connections: ${(error as Error).message}`];
  } finally {
    for (const client of clients) await client.close();
  }
}

export function tortureWorkDir(): string {
  return mkdtempSync(join(tmpdir(), 'rastar-torture-'));
}
