/**
 * `BENCH_ONLY=baseline npm run bench`: `make baseline` (read-only: find the matching
 * prefix) as the compiled kit runs it (`node dist/scripts/baseline.js --json`), on
 * databases built by hand with psql / sqlite3 and no history:
 * - the project's 4 migrations, PostgreSQL with the embedded shadow (nothing configured)
 *   and with SHADOW_DATABASE_URL, and SQLite;
 * - the 434-migration langfuse corpus (../shared/corpus), when present.
 * Each run's finding is checked (every migration matched).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../src/db.ts';
import { readHistory } from '../src/runtime/history.ts';
import { median, replaceSection, runProcess } from './gate.ts';
import { dropDatabase, freshDatabase, type PgTarget } from './pg.ts';

export interface BaselineRow {
  label: string;
  migrations: number;
  ms: number[];
  failures: string[];
}

const CORPUS = join(projectRoot, '..', 'shared', 'corpus', 'langfuse-postgresql');

function psqlFile(url: string, sql: string, file: string): void {
  writeFileSync(file, sql);
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', file], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' } });
}

export async function runBaselineBench(admin: PgTarget, options: { work: string; runs: number; log: (line: string) => void }): Promise<BaselineRow[]> {
  const { work, runs, log } = options;
  const dir = join(work, 'baseline');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const entry = join(projectRoot, 'dist', 'scripts', 'baseline.js');
  const results: BaselineRow[] = [];
  const measure = async (label: string, count: number, env: Record<string, string>, times = runs) => {
    const row: BaselineRow = { label, migrations: count, ms: [], failures: [] };
    for (let i = -1; i < times; i++) {
      const t0 = performance.now();
      const result = await runProcess(process.execPath, [entry, '--json'], env, projectRoot);
      const ms = performance.now() - t0;
      const found = /"matched": (\d+)/.exec(result.output);
      const matched = result.code === 0 && found ? Number(found[1]) : null;
      if (matched !== count) row.failures.push(`exit ${result.code}, matched ${matched}: ${result.output.trim().split('\n').pop()}`);
      else if (i >= 0) row.ms.push(ms);
      log(`[baseline ${label} ${i < 0 ? 'warm-up' : `${i + 1}/${times}`}] ${ms.toFixed(0)} ms${matched === count ? '' : ' FAILED'}`);
    }
    results.push(row);
  };

  const project = readHistory('postgresql').migrations;
  const projectDb = await freshDatabase(admin, 'bench_baseline_project');
  try {
    psqlFile(projectDb.url, project.map((m) => m.script).join('\n;\n'), join(dir, 'project.sql'));
    await measure('PostgreSQL, the project’s history, embedded shadow (nothing configured)', project.length, { DATABASE_URL: projectDb.url, SHADOW_DATABASE_URL: '' });
    await measure('PostgreSQL, the project’s history, SHADOW_DATABASE_URL', project.length, { DATABASE_URL: projectDb.url, SHADOW_DATABASE_URL: admin.url });
  } finally {
    await dropDatabase(admin, 'bench_baseline_project');
  }

  const sqlite = readHistory('sqlite').migrations;
  const file = join(mkdtempSync(join(dir, 'sqlite-')), 'built-by-hand.db');
  execFileSync('sqlite3', ['-bail', file], { input: sqlite.map((m) => m.script).join('\n;\n') });
  await measure('SQLite, the project’s history', sqlite.length, { DATABASE_URL: `file:${file}` });

  if (existsSync(CORPUS)) {
    const prismaDir = join(dir, 'prisma-langfuse');
    mkdirSync(join(prismaDir, 'migrations'), { recursive: true });
    symlinkSync(CORPUS, join(prismaDir, 'migrations', 'postgresql'), 'dir');
    const corpus = readHistory('postgresql', join(prismaDir, 'migrations', 'postgresql')).migrations;
    const corpusDb = await freshDatabase(admin, 'bench_baseline_corpus');
    try {
      log(`Applying the ${corpus.length} corpus migrations with psql…`);
      psqlFile(corpusDb.url, corpus.map((m) => m.script).join('\n;\n'), join(dir, 'corpus.sql'));
      await measure(`PostgreSQL, the langfuse corpus, SHADOW_DATABASE_URL`, corpus.length, { DATABASE_URL: corpusDb.url, PRISMA_DIR: prismaDir, SHADOW_DATABASE_URL: admin.url }, Math.min(runs, 3));
    } finally {
      await dropDatabase(admin, 'bench_baseline_corpus');
    }
  } else {
    log('Corpus ../shared/corpus/langfuse-postgresql not found: its row is skipped');
  }
  return results;
}

const BEGIN = '<!-- baseline:begin -->';
const END = '<!-- baseline:end -->';

export function applyBaseline(markdown: string, rows: BaselineRow[], when: string): string {
  const ms = (xs: number[]) => (xs.length ? `${(median(xs) / 1000).toFixed(2)} (${(Math.min(...xs) / 1000).toFixed(2)}–${(Math.max(...xs) / 1000).toFixed(2)})` : 'n/a');
  const project = rows.find((r) => /embedded shadow/.test(r.label));
  const projectMedian = project?.ms.length ? median(project.ms) / 1000 : Number.NaN;
  const section = [
    BEGIN,
    '## make baseline on databases built by hand (scenario 7)',
    '',
    `Measured ${when}: \`node dist/scripts/baseline.js --json\` (read-only: find the longest matching prefix), whole processes, each finding checked; the databases were built with psql / sqlite3 from the migration files, without a history.`,
    '',
    '| Database | Migrations | Median (min–max), s | Runs | Check |',
    '|---|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.label} | ${r.migrations} | ${ms(r.ms)} | ${r.ms.length} | ${r.failures.length ? `FAILED: ${[...new Set(r.failures)].join('; ').replace(/\|/g, '\\|')}` : `all ${r.migrations} matched`} |`),
    '',
    'The history is replayed once on a shadow database with the kit’s own deploy, reading each prefix’s shape from the catalog; only prefixes shaped like the live database are compared by Prisma’s engine (one more replay each), longest first.',
    '',
    `Target: the project’s history under 5 s with the embedded shadow: ${Number.isFinite(projectMedian) ? `${projectMedian.toFixed(2)} s, **${projectMedian < 5 ? 'met' : 'not met'}**` : 'not measured'}.`,
    END,
  ].join('\n');
  return replaceSection(markdown, BEGIN, END, section);
}
