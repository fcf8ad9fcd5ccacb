/**
 * `BENCH_ONLY=zero-downtime npm run bench` (scenario 8):
 * - a migration (`ALTER TABLE "T" ADD COLUMN`) deployed while another session holds a
 *   transaction open on T for 8 s: the latency of a stream of application reads on T
 *   (one every 20 ms, each on its own, from a pool of connections), with
 *   MIGRATION_DDL_LOCK_TIMEOUT=0 (PostgreSQL's default: the ALTER waits in the lock
 *   queue and every read queues behind it), 5 (the kit's default) and 1;
 * - `make lint --all` (`node dist/scripts/lint-migrations.js --all`) on the
 *   820-migration trigger.dev corpus, when present.
 */
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openConnection, projectRoot, type SqlConnection } from '../src/db.ts';
import { lockfileText } from '../src/runtime/history.ts';
import { median, replaceSection, runProcess } from './gate.ts';
import { dropDatabase, freshDatabase, type PgTarget } from './pg.ts';

const CORPUS = join(projectRoot, '..', 'shared', 'corpus', 'triggerdev-postgresql');
const HOLD_MS = 8000;

export interface LockRow {
  ddlLockTimeout: string;
  reads: number;
  p50: number;
  p99: number;
  max: number;
  deployMs: number;
  deployExit: number;
}

export interface ZeroDowntimeResults {
  lock: LockRow[];
  lint: number[];
  lintMigrations: number;
  failures: string[];
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function writeMigrationDir(prismaDir: string, name: string, sql: string): void {
  const dir = join(prismaDir, 'migrations', 'postgresql', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'migration.sql'), sql);
}

async function blockedDeploy(admin: PgTarget, work: string, kitEntry: string, ddlLockTimeout: string): Promise<LockRow> {
  const prismaDir = join(work, `prisma-lock-${ddlLockTimeout}`);
  rmSync(prismaDir, { recursive: true, force: true });
  mkdirSync(join(prismaDir, 'migrations', 'postgresql'), { recursive: true });
  writeFileSync(join(prismaDir, 'migrations', 'postgresql', 'migration_lock.toml'), lockfileText('postgresql'));
  writeMigrationDir(prismaDir, '20990101000000_t', 'CREATE TABLE "T" ("id" INTEGER PRIMARY KEY, "v" TEXT);\nINSERT INTO "T" SELECT g, md5(g::text) FROM generate_series(1, 10000) AS g;\n');
  const target = await freshDatabase(admin, 'bench_lock_safe');
  const env = { DATABASE_URL: target.url, PRISMA_DIR: prismaDir, MIGRATION_DDL_LOCK_TIMEOUT: ddlLockTimeout };
  const opened: SqlConnection[] = [];
  try {
    const first = await runProcess(process.execPath, [kitEntry, 'deploy'], env, projectRoot);
    if (first.code !== 0) throw new Error(`setup deploy: ${first.output}`);
    writeMigrationDir(prismaDir, '20990101000001_add_note', 'ALTER TABLE "T" ADD COLUMN "note" TEXT;\n');
    const blocker = await openConnection(target, { applicationName: 'bench-long-transaction' });
    opened.push(blocker);
    const pool = await Promise.all(Array.from({ length: 8 }, () => openConnection(target, { applicationName: 'bench-app' })));
    opened.push(...pool);
    await blocker.exec('BEGIN');
    await blocker.query('SELECT count(*) FROM "T"');
    const latencies: number[] = [];
    let stop = false;
    const inFlight: Promise<void>[] = [];
    // An application pool: a read waits for a free connection, and its latency counts that wait.
    const idle = [...pool];
    const waiting: ((conn: SqlConnection) => void)[] = [];
    const acquire = (): Promise<SqlConnection> => {
      const conn = idle.pop();
      return conn ? Promise.resolve(conn) : new Promise((resolve) => waiting.push(resolve));
    };
    const release = (conn: SqlConnection): void => {
      const next = waiting.shift();
      if (next) next(conn);
      else idle.push(conn);
    };
    let k = 0;
    const read = async (id: number): Promise<void> => {
      const started = performance.now();
      const conn = await acquire();
      try {
        await conn.query('SELECT v FROM "T" WHERE id = $1', [id]);
      } finally {
        release(conn);
      }
      latencies.push(performance.now() - started);
    };
    const stream = (async () => {
      while (!stop) {
        inFlight.push(read(1 + (k++ % 10000)));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const deployStarted = performance.now();
    const deploying = runProcess(process.execPath, [kitEntry, 'deploy'], env, projectRoot);
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
    await blocker.exec('COMMIT');
    const deployed = await deploying;
    const deployMs = performance.now() - deployStarted;
    await new Promise((resolve) => setTimeout(resolve, 500));
    stop = true;
    await stream;
    await Promise.all(inFlight);
    return { ddlLockTimeout, reads: latencies.length, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: Math.max(...latencies), deployMs, deployExit: deployed.code };
  } finally {
    for (const conn of opened) await conn.close().catch(() => {});
    await dropDatabase(admin, 'bench_lock_safe');
  }
}

export async function runZeroDowntimeBench(admin: PgTarget, options: { work: string; kitEntry: string; runs: number; log: (line: string) => void }): Promise<ZeroDowntimeResults> {
  const { work, kitEntry, log } = options;
  mkdirSync(work, { recursive: true });
  const results: ZeroDowntimeResults = { lock: [], lint: [], lintMigrations: 0, failures: [] };
  for (const timeout of ['0', '5', '1']) {
    const row = await blockedDeploy(admin, work, kitEntry, timeout);
    log(`[zero-downtime MIGRATION_DDL_LOCK_TIMEOUT=${timeout}] ${row.reads} reads, p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(0)} ms, max ${row.max.toFixed(0)} ms; deploy ${row.deployMs.toFixed(0)} ms, exit ${row.deployExit}`);
    if (row.deployExit !== 0) results.failures.push(`deploy with MIGRATION_DDL_LOCK_TIMEOUT=${timeout} exited ${row.deployExit}`);
    results.lock.push(row);
  }
  if (existsSync(CORPUS)) {
    const prismaDir = join(work, 'prisma-lint-corpus');
    rmSync(prismaDir, { recursive: true, force: true });
    mkdirSync(join(prismaDir, 'migrations', 'sqlite'), { recursive: true });
    writeFileSync(join(prismaDir, 'migrations', 'sqlite', 'migration_lock.toml'), lockfileText('sqlite'));
    symlinkSync(CORPUS, join(prismaDir, 'migrations', 'postgresql'), 'dir');
    const lintEntry = join(projectRoot, 'dist', 'scripts', 'lint-migrations.js');
    for (let i = -1; i < options.runs; i++) {
      const started = performance.now();
      const result = await runProcess(process.execPath, [lintEntry, '--all', '--json'], { PRISMA_DIR: prismaDir }, projectRoot);
      const ms = performance.now() - started;
      const found = /"migrations": \[([^\]]*)\]/.exec(result.output);
      results.lintMigrations = found ? (found[1] as string).split(',').length : 0;
      if (!found) results.failures.push(`lint: ${result.output.trim().split('\n').pop()}`);
      else if (i >= 0) results.lint.push(ms);
      log(`[zero-downtime lint --all ${i < 0 ? 'warm-up' : `${i + 1}/${options.runs}`}] ${ms.toFixed(0)} ms, ${results.lintMigrations} migrations`);
    }
  }
  return results;
}

const BEGIN = '<!-- zero-downtime:begin -->';
const END = '<!-- zero-downtime:end -->';

export function applyZeroDowntime(markdown: string, r: ZeroDowntimeResults, when: string): string {
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const lintMedian = r.lint.length ? median(r.lint) : Number.NaN;
  const section = [
    BEGIN,
    '## Zero downtime: a blocked migration and the linter (scenario 8)',
    '',
    `Measured ${when}. A transaction holds a read lock on table T (10,000 rows) for ${HOLD_MS / 1000} s while \`node dist/scripts/migrate.js deploy\` runs \`ALTER TABLE "T" ADD COLUMN\`; meanwhile the application reads one row of T every 20 ms (8 connections). The ALTER waits for the lock and every read that comes after it queues behind it, until the ALTER gets the lock or gives up.`,
    '',
    '| MIGRATION_DDL_LOCK_TIMEOUT | reads | p50 (ms) | p99 (s) | max (s) | deploy (s) | deploy exit |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...r.lock.map((row) => `| ${row.ddlLockTimeout}${row.ddlLockTimeout === '0' ? ' (no limit: PostgreSQL’s default)' : row.ddlLockTimeout === '5' ? ' (the kit’s default)' : ''} | ${row.reads} | ${row.p50.toFixed(1)} | ${s(row.p99)} | ${s(row.max)} | ${s(row.deployMs)} | ${row.deployExit} |`),
    '',
    'With a limit the reads stall at most that long per attempt (then the attempt is rolled back and the reads go on); without one they stall until the long transaction ends.',
    '',
    `\`make lint --all\` on the trigger.dev corpus (${r.lintMigrations} migrations, whole process): ${r.lint.length ? `median ${s(lintMedian)} s (${s(Math.min(...r.lint))}–${s(Math.max(...r.lint))}), ${r.lint.length} runs; target under 1 s: **${lintMedian < 1000 ? 'met' : 'not met'}**` : 'not measured (corpus absent)'}.${r.failures.length ? ` Failures: ${r.failures.join('; ')}` : ''}`,
    END,
  ].join('\n');
  return replaceSection(markdown, BEGIN, END, section);
}
