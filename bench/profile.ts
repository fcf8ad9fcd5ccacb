/**
 * `BENCH_ONLY=profile npm run bench` (scenario 11): where a PostgreSQL deploy's time goes.
 * - One deploy of each real history, in this process, through a connection that times
 *   every round trip: round trips per migration, the time spent waiting for the server,
 *   the client's own CPU time and the rest.
 * - The kit's own statements around a transactional migration's script, on the server:
 *   2,000 transactions of each shape, one round trip each, against `BEGIN; COMMIT`.
 * - `make migrate NAME=…` on a copy of prisma/ with a new model each run, the embedded
 *   shadow (nothing configured), end to end (make, tsx, the command): its phases from the
 *   moments its progress lines arrive.
 * - With BENCH_PROFILE_AGAINST=<git revision>: the deploy of that revision (a worktree
 *   in bench/.work) profiled beside the working tree's, interleaved, same server.
 */
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { dialectOf, openConnection, projectRoot, type SqlConnection } from '../src/db.ts';
import { ADVISORY_LOCK_KEY, transactionLock } from '../src/runtime/lock.ts';
import { RESET_SESSION } from '../src/runtime/postgres-script.ts';
import { scriptMode, parseScript, withoutConcurrently } from '../src/runtime/sql-script.ts';
import { ensureTable, historyTable, insertRowSql, notifySql } from '../src/runtime/table.ts';
import { median, replaceSection } from './gate.ts';
import { dropDatabase, freshDatabase, withConn, type PgTarget } from './pg.ts';

const BEGIN = '<!-- profile:begin -->';
const END = '<!-- profile:end -->';
const CORPORA = ['langfuse-postgresql', 'triggerdev-postgresql'];
const STATEMENT_ROUNDS = 500; // the history table grows to this many rows in a shape that writes them, as in a real deploy

type Deploy = typeof import('../src/runtime/deploy.ts').deploy;
type ReadHistory = typeof import('../src/runtime/history.ts').readHistory;
type OpenConnection = typeof openConnection;

interface Tree {
  label: string;
  deploy: Deploy;
  readHistory: ReadHistory;
  openConnection: OpenConnection;
}

export interface DeployProfile {
  tree: string;
  history: string;
  migrations: number;
  /** Migrations run statement by statement (CONCURRENTLY, their own transactions). */
  statementByStatement: number;
  statements: number;
  roundTrips: number;
  wallMs: number[];
  serverMs: number[];
  cpuMs: number[];
}

export interface StatementCost {
  shape: string;
  /** µs per transaction, medians of 5 rounds. */
  micros: number;
}

/** One `make migrate` run: ms from the spawn to each phase's end. */
export interface MigrateRun {
  /** make, tsx and the kit's start-up: to the first progress line. */
  start: number;
  /** Both drafts (SQLite in memory; PostgreSQL: the shadow server's start, the replay, the diff): to "Applying". */
  drafts: number;
  /** Data loss, lint, the files, the dev database's deploy: to "Regenerating". */
  apply: number;
  /** Both clients generated, and the exit. */
  generate: number;
  total: number;
}

export interface ProfileResults {
  deploys: DeployProfile[];
  statements: StatementCost[];
  migrate: MigrateRun[];
  migrateFailures: string[];
  against?: string;
}

/** `make migrate NAME=…` with a new model each run, the embedded shadow, on a copy of prisma/. */
async function migrateRuns(work: string, runs: number, log: (line: string) => void): Promise<{ runs: MigrateRun[]; failures: string[] }> {
  const dir = join(work, 'profile-migrate');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(projectRoot, 'prisma'), join(dir, 'prisma'), { recursive: true, filter: (source) => !source.includes('generated') });
  const env: NodeJS.ProcessEnv = { ...process.env, PRISMA_DIR: join(dir, 'prisma'), DATABASE_URL: `file:${join(dir, 'dev.db')}`, SHADOW_DATABASE_URL: '' };
  delete env.NODE_OPTIONS;
  const results: MigrateRun[] = [];
  const failures: string[] = [];
  for (let run = 0; run <= runs; run++) {
    appendFileSync(join(dir, 'prisma', 'schema.prisma'), `\nmodel BenchWidget${run} {\n  id   Int    @id @default(autoincrement())\n  name String\n}\n`);
    const started = performance.now();
    const marks = new Map<string, number>();
    const child = spawn('make', ['-s', '-C', projectRoot, 'migrate', `NAME=bench_widget_${run}`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const seen = (chunk: Buffer) => {
      output += chunk;
      for (const [mark, pattern] of [['first', /./], ['applying', /^Applying /m], ['generating', /^Regenerating/m]] as const) if (!marks.has(mark) && pattern.test(output)) marks.set(mark, performance.now() - started);
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    const [code] = (await new Promise((done) => child.once('close', (c) => done([c])))) as [number | null];
    const total = performance.now() - started;
    if (code !== 0 || !marks.has('generating')) {
      failures.push(`run ${run}: exit ${code}: ${output.trim().split('\n').at(-1)}`);
      continue;
    }
    const [first, applying, generating] = ['first', 'applying', 'generating'].map((m) => marks.get(m) as number) as [number, number, number];
    log(`Profile: make migrate ${run === 0 ? '(warm-up) ' : ''}${(total / 1000).toFixed(2)} s`);
    if (run > 0) results.push({ start: first, drafts: applying - first, apply: generating - applying, generate: total - generating, total });
  }
  return { runs: results, failures };
}

/** The guard as the kit ran it up to this scenario: a DO block, compiled by PL/pgSQL in every transaction. */
function doBlockGuard(target: PgTarget, name: string, backend: number): string {
  return `DO $rastar_lock$
DECLARE
  previous text := current_setting('lock_timeout');
BEGIN
  IF pg_backend_pid() <> ${backend} THEN
    RAISE EXCEPTION 'moved' USING ERRCODE = 'RS003';
  END IF;
  PERFORM set_config('lock_timeout', '60000', true);
  BEGIN
    PERFORM pg_advisory_xact_lock(${ADVISORY_LOCK_KEY});
  EXCEPTION WHEN lock_not_available THEN
    RAISE EXCEPTION 'timed out' USING ERRCODE = 'RS002';
  END;
  PERFORM set_config('lock_timeout', '5000', true);
  IF EXISTS (SELECT 1 FROM ${historyTable(target)} WHERE migration_name = '${name}' AND rolled_back_at IS NULL) THEN
    RAISE EXCEPTION 'in history' USING ERRCODE = 'RS001';
  END IF;
END
$rastar_lock$`;
}

async function loadTree(revision: string | undefined, work: string, log: (line: string) => void): Promise<Tree | null> {
  if (!revision) return null;
  const dir = join(work, 'profile-against');
  rmSync(dir, { recursive: true, force: true });
  execFileSync('git', ['worktree', 'prune'], { cwd: projectRoot });
  execFileSync('git', ['worktree', 'add', '--detach', '--force', dir, revision], { cwd: projectRoot, stdio: 'ignore' });
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(projectRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const label = execFileSync('git', ['rev-parse', '--short', revision], { cwd: projectRoot, encoding: 'utf8' }).trim();
  log(`Profile: against ${label} (${dir})`);
  return {
    label,
    deploy: (await import(join(dir, 'src', 'runtime', 'deploy.ts'))).deploy,
    readHistory: (await import(join(dir, 'src', 'runtime', 'history.ts'))).readHistory,
    openConnection: (await import(join(dir, 'src', 'db.ts'))).openConnection,
  };
}

/** One deploy, every round trip timed. */
async function profiledDeploy(tree: Tree, target: PgTarget, folder: string): Promise<{ wall: number; server: number; cpu: number; trips: number; migrations: number }> {
  const history = tree.readHistory('postgresql', folder);
  const conn = await tree.openConnection(target, { applicationName: 'rastar-bench-profile' });
  let trips = 0;
  let server = 0;
  const timed = async <T>(work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      trips++;
      server += performance.now() - started;
    }
  };
  const counted: SqlConnection = {
    target: conn.target,
    localPort: conn.localPort,
    query: (sql, params) => timed(() => conn.query(sql, params)),
    exec: (sql) => timed(() => conn.exec(sql)),
    listen: conn.listen?.bind(conn),
    close: () => conn.close(),
  };
  try {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const result = await tree.deploy(counted, history, { lockTimeoutMs: 60_000 });
    const wall = performance.now() - started;
    const used = process.cpuUsage(cpu);
    return { wall, server, cpu: (used.user + used.system) / 1000, trips, migrations: result.applied.length };
  } finally {
    await conn.close();
  }
}

/** µs per transaction of each shape of the kit's statements, one round trip each. */
async function statementCosts(server: PgTarget): Promise<StatementCost[]> {
  const target = await freshDatabase(server, 'bench_profile_statements');
  try {
    return await withConn(target, async (conn) => {
      await ensureTable(conn);
      const [{ pid } = { pid: 0 }] = await conn.query<{ pid: number }>('SELECT pg_try_advisory_lock($1), pg_backend_pid() AS pid', [ADVISORY_LOCK_KEY]);
      const begin = dialectOf(target).begin;
      const guard = (i: number) => transactionLock(target, { timeoutMs: 60_000, guard: `m${i}`, backend: pid, script: { lockTimeoutMs: 5000 } }).sql;
      // The notification goes with a deploy's last migration only.
      const row = (i: number) => `SET LOCAL SESSION AUTHORIZATION DEFAULT;\n${insertRowSql(target, { name: `r${i}`, checksum: 'c', startedAt: new Date(), finishedAt: new Date(), logs: null, appliedSteps: 1, serverClock: true })};\n`;
      const shapes: [string, (i: number) => string][] = [
        ['`BEGIN; COMMIT` (the floor)', () => `${begin};\nCOMMIT`],
        ['+ the guard as plain statements (now)', (i) => `${begin};\n${guard(i)};\nCOMMIT`],
        ['+ the guard as a DO block (before)', (i) => `${begin};\n${doBlockGuard(target, `m${i}`, pid)};\nCOMMIT`],
        ['+ the history row', (i) => `${begin};\n${row(i)}COMMIT`],
        ['+ a notification (the last migration only)', () => `${begin};\n${notifySql(target, 'r')}COMMIT`],
        ['+ the session reset after COMMIT', () => `${begin};\nCOMMIT;\n${RESET_SESSION}`],
        ['all of the kit’s statements (now)', (i) => `${begin};\n${guard(i)};\n${row(i)}COMMIT;\n${RESET_SESSION}`],
      ];
      const rounds = new Map<string, number[]>();
      for (let round = 0; round < 5; round++) {
        for (const [shape, sql] of shapes) {
          await conn.exec(`TRUNCATE ${historyTable(target)}`); // the guard reads the table: each shape starts from the same size
          const started = performance.now();
          for (let i = 0; i < STATEMENT_ROUNDS; i++) await conn.exec(sql(round * STATEMENT_ROUNDS + i));
          rounds.set(shape, [...(rounds.get(shape) ?? []), ((performance.now() - started) * 1000) / STATEMENT_ROUNDS]);
        }
      }
      return shapes.map(([shape]) => ({ shape, micros: median(rounds.get(shape) ?? []) }));
    });
  } finally {
    await dropDatabase(server, 'bench_profile_statements');
  }
}

export async function runProfileBench(server: PgTarget, options: { work: string; runs: number; log: (line: string) => void }): Promise<ProfileResults> {
  const { runs, log } = options;
  mkdirSync(options.work, { recursive: true });
  const { deploy } = await import('../src/runtime/deploy.ts');
  const { readHistory } = await import('../src/runtime/history.ts');
  const current: Tree = { label: 'working tree', deploy, readHistory, openConnection };
  const against = await loadTree(process.env.BENCH_PROFILE_AGAINST, options.work, log);
  const trees = against ? [current, against] : [current];
  const deploys: DeployProfile[] = [];
  for (const history of CORPORA) {
    const folder = join(projectRoot, '..', 'shared', 'corpus', history);
    if (!existsSync(folder)) {
      log(`Profile: ${history} not found, skipped`);
      continue;
    }
    const migrations = readHistory('postgresql', folder).migrations;
    const profiles = trees.map((tree) => ({ tree, p: { tree: tree.label, history, migrations: migrations.length, statementByStatement: migrations.filter((m) => scriptMode(m.script, 'postgresql').kind !== 'transactional' && withoutConcurrently(m.script) === null).length, statements: migrations.reduce((n, m) => n + parseScript(m.script, 'postgresql').length, 0), roundTrips: 0, wallMs: [] as number[], serverMs: [] as number[], cpuMs: [] as number[] } }));
    for (let run = 0; run <= runs; run++) {
      for (const { tree, p } of run % 2 ? [...profiles].reverse() : profiles) {
        const target = await freshDatabase(server, 'bench_profile');
        const r = await profiledDeploy(tree, target, folder);
        await dropDatabase(server, 'bench_profile');
        if (r.migrations !== p.migrations) throw new Error(`${tree.label}: ${r.migrations} of ${p.migrations} migrations applied`);
        if (run === 0) continue; // warm-up
        p.roundTrips = r.trips;
        p.wallMs.push(r.wall);
        p.serverMs.push(r.server);
        p.cpuMs.push(r.cpu);
      }
    }
    for (const { p } of profiles) {
      log(`Profile: ${history} (${p.tree}): ${median(p.wallMs).toFixed(0)} ms, ${p.roundTrips} round trips, ${median(p.serverMs).toFixed(0)} ms waiting for the server`);
      deploys.push(p);
    }
  }
  const statements = await statementCosts(server);
  for (const s of statements) log(`Profile: ${s.shape}: ${s.micros.toFixed(0)} µs`);
  if (against) execFileSync('git', ['worktree', 'remove', '--force', join(options.work, 'profile-against')], { cwd: projectRoot });
  const migrate = await migrateRuns(options.work, Math.max(3, Math.min(runs, 5)), log);
  return { deploys, statements, migrate: migrate.runs, migrateFailures: migrate.failures, against: against?.label };
}

export function applyProfile(markdown: string, r: ProfileResults, when: string): string {
  const ms = (values: number[]) => median(values).toFixed(0);
  const floor = r.statements[0]?.micros ?? Number.NaN;
  const section = [
    BEGIN,
    '## Where a deploy’s time goes (scenario 11)',
    '',
    `Measured ${when}. One deploy of each real history into a fresh database, run in the bench's own process through a connection that times each round trip (medians of the runs after a warm-up)${r.against ? `; the deploy of ${r.against} beside the working tree's, interleaved` : ''}. "Waiting for the server" is the time between sending a round trip and its answer: the server's work and the loopback. "Client CPU" is the process's CPU time during the deploy.`,
    '',
    '| History | Code | Migrations (statement by statement on a new database) | Statements | Round trips (per migration) | Deploy (ms) | Waiting for the server (ms) | Client CPU (ms) |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...r.deploys.map((d) => `| ${d.history} | ${d.tree} | ${d.migrations} (${d.statementByStatement}) | ${d.statements} | ${d.roundTrips} (${(d.roundTrips / d.migrations).toFixed(2)}) | ${ms(d.wallMs)} | ${ms(d.serverMs)} | ${ms(d.cpuMs)} |`),
    '',
    ...r.deploys
      .filter((d) => d.tree === 'working tree')
      .map((d) => `- ${d.history}: ${((median(d.serverMs) / median(d.wallMs)) * 100).toFixed(0)}% of the deploy waits for the server (the migrations' own statements are nearly all of it: see the shapes below); the client's CPU time, ${ms(d.cpuMs)} ms, includes its garbage collection and pg's parsing, and mostly overlaps those waits.`),
    '',
    `The kit's statements around a transactional migration's script, ${STATEMENT_ROUNDS.toLocaleString('en')} transactions of each shape on one connection, one round trip each (medians of 5 rounds):`,
    '',
    '| Round trip | µs per transaction | over the floor (µs) |',
    '|---|---:|---:|',
    ...r.statements.map((s, i) => `| ${s.shape} | ${s.micros.toFixed(0)} | ${i === 0 ? '' : (s.micros - floor).toFixed(0)} |`),
    '',
    `\`make migrate NAME=…\` on a copy of prisma/ (the project's schema and histories, a new model each run), the embedded shadow (nothing configured), a SQLite dev database; whole command from make's spawn, medians of ${r.migrate.length} runs after a warm-up (the phases from the moments the command's progress lines arrive):`,
    '',
    '| Phase | Median (s) |',
    '|---|---:|',
    ...(r.migrate.length
      ? ([
          ['make, tsx and the kit start', 'start'],
          ['both drafts at once: SQLite in memory; PostgreSQL on the cached shadow cluster (start, replay, diff)', 'drafts'],
          ['data loss, lint, the two files, the dev database’s deploy', 'apply'],
          ['both Prisma clients generated (two `prisma generate` at once), exit', 'generate'],
          ['**total** (target <= 5 s: ' + (median(r.migrate.map((m) => m.total)) <= 5000 ? '**met**' : '**not met**') + ')', 'total'],
        ] as const).map(([label, key]) => `| ${label} | ${(median(r.migrate.map((m) => m[key])) / 1000).toFixed(2)} |`)
      : ['| not measured | |']),
    ...(r.migrateFailures.length ? ['', `Failures: ${r.migrateFailures.join('; ')}`] : []),
    END,
  ].join('\n');
  return replaceSection(markdown, BEGIN, END, section);
}
