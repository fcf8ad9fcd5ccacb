/**
 * `BENCH_ONLY=rehearse npm run bench`: `make rehearse` as the compiled kit runs it
 * (`node dist/scripts/rehearse.js --json`), beside a plain deploy of the same migrations,
 * on Debian's newest installed PostgreSQL (whose pg_dump matches it; the embedded servers
 * ship no client tools), the copy on the database's own server:
 * - the 434 langfuse migrations rehearsed from an empty database, against a plain deploy
 *   of them: what watching each migration costs;
 * - one migration pending on the 434-migration database filled to about 256 MiB: the
 *   copy's time per GiB and what the rehearsal adds to a plain deploy of it.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDatabaseUrl, projectRoot } from '../src/db.ts';
import { startLocalPostgres } from '../test/fixtures/local-postgres.ts';
import { spawn } from 'node:child_process';
import { containerEnv, median, replaceSection } from './gate.ts';
import { dropDatabase, freshDatabase, withConn, type PgTarget } from './pg.ts';

const CORPUS = join(projectRoot, '..', 'shared', 'corpus', 'langfuse-postgresql');
const PROBE = '29990101000000_rehearsal_probe';
/** Rows of about 200 bytes: about 256 MiB with the table's overhead. */
const FILL_ROWS = 1_100_000;

export interface RehearseResults {
  skipped?: string;
  major?: number;
  migrations: number;
  plainMs: number[];
  rehearseMs: number[];
  filled?: { bytes: number; plainMs: number[]; rehearseMs: number[]; copyMs: number[] };
  failures: string[];
}

export async function runRehearseBench(options: { work: string; runs: number; log: (line: string) => void }): Promise<RehearseResults> {
  const { work, runs, log } = options;
  const results: RehearseResults = { migrations: 0, plainMs: [], rehearseMs: [], failures: [] };
  if (!existsSync(CORPUS)) return { ...results, skipped: 'the corpus ../shared/corpus/langfuse-postgresql is not here' };
  const server = await startLocalPostgres();
  if (typeof server === 'string') return { ...results, skipped: server };
  results.major = server.major;
  const dir = join(work, 'rehearse');
  rmSync(dir, { recursive: true, force: true });
  const prisma = (name: string, probe: boolean) => {
    const root = join(dir, name);
    mkdirSync(join(root, 'migrations', 'postgresql'), { recursive: true });
    writeFileSync(join(root, 'migrations', 'postgresql', 'migration_lock.toml'), 'provider = "postgresql"\n');
    // The corpus's folders, linked one by one, and the probe beside them.
    for (const folder of readFolders(CORPUS)) symlinkSync(join(CORPUS, folder), join(root, 'migrations', 'postgresql', folder), 'dir');
    if (probe) {
      mkdirSync(join(root, 'migrations', 'postgresql', PROBE));
      writeFileSync(join(root, 'migrations', 'postgresql', PROBE, 'migration.sql'), 'CREATE TABLE "RehearsalProbe" ("id" INTEGER NOT NULL PRIMARY KEY);\n');
    }
    return root;
  };
  const corpusOnly = prisma('prisma-corpus', false);
  const withProbe = prisma('prisma-probe', true);
  results.migrations = readFolders(CORPUS).length;
  const admin = parseDatabaseUrl(server.url('postgres')) as PgTarget;
  const run = async (script: string, args: string[], url: string, prismaDir: string) => {
    const t0 = performance.now();
    const result = await runApart(process.execPath, [join(projectRoot, 'dist', 'scripts', `${script}.js`), ...args], { DATABASE_URL: url, PRISMA_DIR: prismaDir });
    return { ms: performance.now() - t0, ...result };
  };
  try {
    // 1. Every migration, watched, against a plain deploy.
    for (let i = -1; i < runs; i++) {
      const plainDb = await freshDatabase(admin, 'bench_rehearse_plain');
      const plain = await run('migrate', ['deploy'], plainDb.url, corpusOnly);
      const targetDb = await freshDatabase(admin, 'bench_rehearse_target');
      const rehearsal = await run('rehearse', ['--json'], targetDb.url, corpusOnly);
      const applied = rehearsal.code === 0 ? (JSON.parse(rehearsal.stdout) as { migrations: unknown[] }).migrations.length : -1;
      if (plain.code !== 0) results.failures.push(`plain deploy: exit ${plain.code}`);
      if (applied !== results.migrations) results.failures.push(`rehearsal: exit ${rehearsal.code}, ${applied} migrations: ${rehearsal.stderr.trim().split('\n').pop()}`);
      else if (i >= 0) (results.plainMs.push(plain.ms), results.rehearseMs.push(rehearsal.ms));
      log(`[rehearse ${results.migrations} migrations ${i < 0 ? 'warm-up' : `${i + 1}/${runs}`}] plain deploy ${plain.ms.toFixed(0)} ms, rehearsal ${rehearsal.ms.toFixed(0)} ms`);
    }

    // 2. One migration pending on the whole schema with data: the copy.
    const base = await freshDatabase(admin, 'bench_rehearse_base');
    if ((await run('migrate', ['deploy'], base.url, corpusOnly)).code !== 0) throw new Error('could not deploy the corpus');
    log(`Filling the database with ${FILL_ROWS} rows…`);
    await withConn(base, async (conn) => {
      await conn.exec(`CREATE TABLE "BenchFill" AS SELECT g AS "id", repeat(md5(g::text), 6) AS "payload" FROM generate_series(1, ${FILL_ROWS}) AS g`);
      await conn.exec('ANALYZE "BenchFill"');
    });
    const bytes = Number((await withConn(base, (conn) => conn.query<{ b: string }>('SELECT pg_database_size(current_database()) AS b')))[0]?.b);
    const filled = { bytes, plainMs: [] as number[], rehearseMs: [] as number[], copyMs: [] as number[] };
    for (let i = -1; i < Math.min(runs, 3); i++) {
      await withConn(admin, async (conn) => {
        await conn.exec('DROP DATABASE IF EXISTS bench_rehearse_copy WITH (FORCE)');
        await conn.exec('CREATE DATABASE bench_rehearse_copy TEMPLATE bench_rehearse_base');
      });
      const plain = await run('migrate', ['deploy'], server.url('bench_rehearse_copy'), withProbe);
      const rehearsal = await run('rehearse', ['--json', '--max-bytes', '0'], base.url, withProbe);
      const report = rehearsal.code === 0 ? (JSON.parse(rehearsal.stdout) as { copy: { ms: number }; migrations: unknown[] }) : null;
      if (plain.code !== 0 || report?.migrations.length !== 1) results.failures.push(`filled: plain exit ${plain.code}, rehearsal exit ${rehearsal.code}: ${rehearsal.stderr.trim().split('\n').pop()}`);
      else if (i >= 0) (filled.plainMs.push(plain.ms), filled.rehearseMs.push(rehearsal.ms), filled.copyMs.push(report.copy.ms));
      log(`[rehearse 1 migration on ${(bytes / 2 ** 20).toFixed(0)} MiB ${i < 0 ? 'warm-up' : `${i + 1}/${Math.min(runs, 3)}`}] plain deploy ${plain.ms.toFixed(0)} ms, rehearsal ${rehearsal.ms.toFixed(0)} ms (copy ${report?.copy.ms.toFixed(0) ?? '?'} ms)`);
    }
    results.filled = filled;
    for (const name of ['bench_rehearse_plain', 'bench_rehearse_target', 'bench_rehearse_copy', 'bench_rehearse_base']) await dropDatabase(admin, name);
  } finally {
    await server.stop();
  }
  return results;
}

function readFolders(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .filter((name) => existsSync(join(dir, name, 'migration.sql')));
}

/** A process to its end in a container's environment, its stdout (the JSON report) and stderr (progress) apart. */
function runApart(file: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: projectRoot, env: containerEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const BEGIN = '<!-- rehearse:begin -->';
const END = '<!-- rehearse:end -->';

export function applyRehearse(markdown: string, r: RehearseResults, when: string): string {
  const s = (ms: number[]) => (ms.length ? `${(median(ms) / 1000).toFixed(2)} (${(Math.min(...ms) / 1000).toFixed(2)}–${(Math.max(...ms) / 1000).toFixed(2)})` : 'n/a');
  const over = (a: number[], b: number[]) => (a.length && b.length ? `+${((median(a) - median(b)) / 1000).toFixed(2)} s (${(median(a) / median(b)).toFixed(2)}x)` : 'n/a');
  const body = r.skipped
    ? [`Not measured ${when}: ${r.skipped}.`]
    : [
        `Measured ${when} on PostgreSQL ${r.major} (Debian's server, its pg_dump and psql), the copy on the database's own server; whole processes, \`node dist/scripts/rehearse.js --json\` beside \`node dist/scripts/migrate.js deploy\`, interleaved, medians (min–max) in seconds.`,
        '',
        '| Rehearsed | Plain deploy (s) | Rehearsal (s) | Rehearsal over the deploy | Copy |',
        '|---|---:|---:|---:|---:|',
        `| the ${r.migrations} langfuse migrations, from an empty database | ${s(r.plainMs)} | ${s(r.rehearseMs)} | ${over(r.rehearseMs, r.plainMs)} | (empty) |`,
        ...(r.filled
          ? [
              `| 1 migration on the ${r.migrations}-migration database with ${(r.filled.bytes / 2 ** 20).toFixed(0)} MiB of data | ${s(r.filled.plainMs)} | ${s(r.filled.rehearseMs)} | ${over(r.filled.rehearseMs, r.filled.plainMs)} | ${s(r.filled.copyMs)} s: ${r.filled.copyMs.length ? `${((median(r.filled.copyMs) / 1000) * (2 ** 30 / r.filled.bytes)).toFixed(1)} s per GiB` : 'n/a'} |`,
            ]
          : []),
        '',
        'The plain deploy of a database built from nothing sends its migrations several to a round trip; the rehearsal applies them one at a time, and after each it forces the migrator\'s statistics out, reads the catalog (new relfilenodes, new indexes, row counters) and files the locks a second session sampled every 20 ms: that is its cost per migration. On a database with data, the copy (pg_dump piped into psql, one transaction) is nearly all of it.',
        ...(r.failures.length ? ['', `Failures: ${[...new Set(r.failures)].join('; ')}`] : []),
      ];
  return replaceSection(markdown, BEGIN, END, [BEGIN, '## make rehearse (scenario 12)', '', ...body, END].join('\n'));
}
