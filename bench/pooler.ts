/**
 * Scenario 5: the kit behind PgBouncer in transaction mode (SCRAM) against the same
 * server direct, in one run: the deploy of the real history (every migration takes
 * the lock in its own transaction, no session lock) and the gate's latency (polling
 * through the pooler, NOTIFY direct).
 */
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { withDatabase } from '../src/db.ts';
import { readHistory } from '../src/runtime/history.ts';
import { launchPgBouncer } from '../test/pgbouncer.ts';
import { median, replaceSection, runProcess } from './gate.ts';
import { migrateFlags } from './entrypoint-flags.ts';
import { dropDatabase, freshDatabase, withConn, type PgTarget } from './pg.ts';

export interface PoolerResults {
  migrations: number;
  deploy: { direct: number[]; pooled: number[] };
  gate: { direct: number[]; pooled: number[] };
  failures: string[];
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export async function runPoolerBench(
  admin: PgTarget,
  options: { work: string; kitEntry: string; prismaDir: string; runs: number; gateRuns: number; log: (line: string) => void },
): Promise<PoolerResults> {
  const { work, kitEntry, prismaDir, log } = options;
  const dir = join(work, 'pooler');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const bouncer = await launchPgBouncer(admin, dir, 'transaction');
  const names = readHistory('postgresql', join(prismaDir, 'migrations', 'postgresql')).migrations.map((m) => m.name);
  const results: PoolerResults = { migrations: names.length, deploy: { direct: [], pooled: [] }, gate: { direct: [], pooled: [] }, failures: [] };
  const urlOf = (target: PgTarget, pooled: boolean) => (pooled ? bouncer.url(target.config.database) : target.url);
  const kit = (args: string[], env: Record<string, string>) => runProcess(process.execPath, [...migrateFlags(args[0] ?? ''), kitEntry, ...args], env, dir);
  try {
    // Deploy of the whole history, direct and pooled interleaved (order alternating).
    for (let i = -1; i < options.runs; i++) {
      for (const pooled of i % 2 ? [false, true] : [true, false]) {
        const name = `bench_pooler_${pooled ? 'pooled' : 'direct'}`;
        const target = await freshDatabase(admin, name);
        try {
          const t0 = performance.now();
          const run = await kit(['deploy'], { DATABASE_URL: urlOf(target, pooled), PRISMA_DIR: prismaDir });
          const ms = performance.now() - t0;
          const [row] = await withConn(target, (conn) => conn.query<{ n: number }>('SELECT count(finished_at)::int AS n FROM "_prisma_migrations"'));
          if (run.code !== 0 || row?.n !== names.length) throw new Error(`deploy ${pooled ? 'through the pooler' : 'direct'} failed: ${run.output.trim().split('\n').pop()}`);
          if (pooled !== /transaction pooler/.test(run.output)) throw new Error(`the pooler was ${pooled ? 'not ' : ''}detected`);
          log(`[pooler deploy ${i < 0 ? 'warm-up' : `${i + 1}/${options.runs}`}] ${pooled ? 'through PgBouncer' : 'direct          '} ${(ms / 1000).toFixed(3)} s`);
          if (i >= 0) results.deploy[pooled ? 'pooled' : 'direct'].push(ms);
        } catch (error) {
          results.failures.push(String((error as Error).message).split('\n')[0]!);
        } finally {
          await dropDatabase(admin, name);
        }
      }
    }
    // Gate latency: a waiter in `migrate wait` on a database one migration short; then that
    // migration is deployed (direct); the waiter's exit minus the row's finished_at.
    const prefix = join(dir, 'prisma-prefix');
    mkdirSync(join(prefix, 'migrations', 'postgresql'), { recursive: true });
    const history = readHistory('postgresql', join(prismaDir, 'migrations', 'postgresql'));
    const last = history.migrations.at(-1)!;
    for (const m of history.migrations.slice(0, -1)) cpSync(join(prismaDir, 'migrations', 'postgresql', m.name), join(prefix, 'migrations', 'postgresql', m.name), { recursive: true });
    const lockfile = join(prismaDir, 'migrations', 'postgresql', 'migration_lock.toml');
    if (existsSync(lockfile)) cpSync(lockfile, join(prefix, 'migrations', 'postgresql', 'migration_lock.toml'));
    const template = await freshDatabase(admin, 'bench_pooler_template');
    await kit(['deploy'], { DATABASE_URL: template.url, PRISMA_DIR: prefix });
    for (let i = -1; i < options.gateRuns; i++) {
      for (const pooled of i % 2 ? [false, true] : [true, false]) {
        const name = `bench_pooler_gate_${pooled ? 'pooled' : 'direct'}`;
        await withConn(admin, async (conn) => {
          await conn.exec(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
          await conn.exec(`CREATE DATABASE "${name}" TEMPLATE "bench_pooler_template"`);
        });
        const target = withDatabase(admin, name);
        try {
          const waiter = kit(['wait'], { DATABASE_URL: urlOf(target, pooled), PRISMA_DIR: prismaDir, MIGRATION_WAIT_TIMEOUT: '60' }).then((run) => ({ ...run, exitedAt: Date.now() }));
          await sleep(1500); // in the gate: connected, listening or polling
          const deployed = await kit(['deploy'], { DATABASE_URL: target.url, PRISMA_DIR: prismaDir });
          const run = await waiter;
          if (deployed.code !== 0 || run.code !== 0) throw new Error(`gate ${pooled ? 'through the pooler' : 'direct'}: ${(deployed.code ? deployed : run).output.trim().split('\n').pop()}`);
          const [row] = await withConn(target, (conn) => conn.query<{ ms: number }>(`SELECT (extract(epoch FROM finished_at) * 1000)::float8 AS ms FROM "_prisma_migrations" WHERE migration_name = $1`, [last.name]));
          const latency = run.exitedAt - Number(row?.ms);
          log(`[pooler gate ${i < 0 ? 'warm-up' : `${i + 1}/${options.gateRuns}`}] ${pooled ? 'through PgBouncer (polling)' : 'direct (NOTIFY)            '} ${latency.toFixed(1)} ms`);
          if (i >= 0) results.gate[pooled ? 'pooled' : 'direct'].push(latency);
        } catch (error) {
          results.failures.push(String((error as Error).message).split('\n')[0]!);
        } finally {
          await dropDatabase(admin, name);
        }
      }
    }
    await dropDatabase(admin, 'bench_pooler_template');
  } finally {
    await bouncer.stop();
  }
  return results;
}

const BEGIN = '<!-- pooler:begin -->';
const END = '<!-- pooler:end -->';

/** The section of RESULTS.md, replacing an earlier one (before the method notes when new). */
export function applyPooler(markdown: string, r: PoolerResults, when: string): string {
  const s = (ms: number) => (ms / 1000).toFixed(3);
  const range = (xs: number[], f: (x: number) => string) => (xs.length ? `${f(Math.min(...xs))}–${f(Math.max(...xs))}` : 'n/a');
  const ms = (x: number) => `${x.toFixed(1)}`;
  const ratio = (a: number[], b: number[]) => (a.length && b.length ? `${(median(a) / median(b)).toFixed(2)}x` : 'n/a');
  const section = [
    BEGIN,
    '## Behind PgBouncer in transaction mode (scenario 5)',
    '',
    `Measured ${when}: PgBouncer 1.18 (Debian's package, \`pool_mode = transaction\`, SCRAM) on the same machine as the server; the kit as the entrypoint runs it (\`node ${migrateFlags('deploy').join(' ')} dist/scripts/migrate.js deploy\`, \`node ${migrateFlags('wait').join(' ')} dist/scripts/migrate.js wait\`), whole processes, fresh database each run, direct and pooled interleaved.`,
    '',
    '| Measure | Direct | Through PgBouncer | Pooled / direct (medians) | Runs |',
    '|---|---:|---:|---:|---:|',
    `| deploy of ${r.migrations} migrations, median (min–max), s | ${r.deploy.direct.length ? s(median(r.deploy.direct)) : 'n/a'} (${range(r.deploy.direct, s)}) | ${r.deploy.pooled.length ? s(median(r.deploy.pooled)) : 'n/a'} (${range(r.deploy.pooled, s)}) | ${ratio(r.deploy.pooled, r.deploy.direct)} | ${r.deploy.direct.length} / ${r.deploy.pooled.length} |`,
    `| gate: last commit -> \`migrate wait\` exits, median (min–max), ms | ${r.gate.direct.length ? ms(median(r.gate.direct)) : 'n/a'} (${range(r.gate.direct, ms)}), NOTIFY | ${r.gate.pooled.length ? ms(median(r.gate.pooled)) : 'n/a'} (${range(r.gate.pooled, ms)}), polling every 1 s | ${ratio(r.gate.pooled, r.gate.direct)} | ${r.gate.direct.length} / ${r.gate.pooled.length} |`,
    '',
    r.failures.length ? `Failures: ${[...new Set(r.failures)].join('; ')}` : 'Every run: the whole history applied; the pooler detected on every pooled run and on no direct one.',
    '',
    'Through the pooler each migration still travels in one round trip (the transaction-level lock and the guard are its first statements); the pooler adds a hop per round trip and the detection (a second connection, a few queries) once per deploy. The gate cannot LISTEN through a transaction pooler: it polls, so its latency is up to a second; `DIRECT_DATABASE_URL` brings NOTIFY back.',
    END,
  ].join('\n');
  return replaceSection(markdown, BEGIN, END, section);
}
