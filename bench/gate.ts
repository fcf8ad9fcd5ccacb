/**
 * Container starts on PostgreSQL, as containers run them: `bash
 * scripts/docker-entrypoint.sh app -- node <record-start fixture>` on the compiled kit
 * (dist/, no KIT_FROM_SOURCE), each "container" its own process group.
 *
 *   Gate latency: a waiting container (RUN_MIGRATIONS=false) is started and
 *   settles in the gate BEFORE the migrator deploys the 1 pending migration;
 *   latency = the app's start (Date.now() as its first line runs) - finished_at
 *   of that migration's row (clock_timestamp() just before its COMMIT, which
 *   also delivers the NOTIFY). Same machine, same clock.
 *
 *   20 at once: 20 containers started together (5 migrators, 15 waiters, as in
 *   test/entrypoint/single-migrator.test.ts) on a fresh database, against one
 *   container (a migrator) alone: spawn of the first to the last app start.
 *
 * Used by bench/run.ts (`npm run bench`, or alone: `BENCH_ONLY=gate npm run bench`).
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../src/db.ts';
import { migrateFlags } from './entrypoint-flags.ts';
import { dropDatabase, freshDatabase, withConn, type PgTarget } from './pg.ts';
import { readHistory } from '../src/runtime/history.ts';


const ENTRYPOINT = join(projectRoot, 'scripts', 'docker-entrypoint.sh');
const RECORD_START = join(projectRoot, 'test', 'fixtures', 'entrypoint', 'record-start.mjs');
export const GATE_RUNS = 21;
export const CLUSTER_RUNS = 5;
const GATE_TARGET_MS = 100;

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length ? (sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2) : NaN;
};
const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN;
};


interface Container {
  label: string;
  exited: Promise<number>;
  output(): string;
  kill(): void;
}

/**
 * Only what a container would have: never the bench's environment (this machine sets
 * NODE_EXTRA_CA_CERTS, which alone adds about 40 ms to every Node start-up).
 */
export function containerEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: process.env.LANG ?? 'C.UTF-8', NODE_OPTIONS: '', ...env };
}

/** One "container": the real entrypoint, compiled kit, only a container's environment. */
function startContainer(label: string, starts: string, env: Record<string, string>, cwd: string): Container {
  const child = spawn('bash', [ENTRYPOINT, 'app', '--', 'node', RECORD_START, starts, label], {
    cwd,
    env: containerEnv(env),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
  let gone = false;
  const exited = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  child.on('exit', () => (gone = true));
  return {
    label,
    exited,
    output: () => output,
    kill: () => {
      if (gone) return;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone already
      }
    },
  };
}

async function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what())), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function readStarts(file: string): { time: number; label: string }[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [time, , label = ''] = line.split(' ');
      return { time: Number(time), label };
    });
}

/** Run a process to its end, in a container's environment; its exit code and output. */
export function runProcess(file: string, args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, env: containerEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

export interface GateResults {
  history: number;
  pending: string;
  /** App start - finished_at of the pending migration, per run (ms). */
  latencies: number[];
  /** bash's `exec node record-start.mjs` to the fixture's first line (ms): the app's own start-up, inside the latency. */
  appStart: number[];
  /** How long the waiter's `migrate wait` took from its process start to its exit when the gate is already open (ms). */
  openGate: number[];
  /** Spawn of the first container to the last app start (ms). */
  one: number[];
  twenty: number[];
  /** 20 at once: every migration applied exactly once, no app before the last commit, every exit 0. */
  clusterChecks: string[];
  failures: string[];
}

/** The measurements; `log` gets one line per run. */
export async function runGateBench(admin: PgTarget, options: { work: string; kitEntry: string; log: (line: string) => void }): Promise<GateResults> {
  const { work, kitEntry, log } = options;
  const dir = join(work, 'gate');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const full = join(dir, 'prisma-full');
  cpSync(join(projectRoot, 'prisma'), full, { recursive: true });
  const names = readHistory('postgresql', join(full, 'migrations', 'postgresql')).migrations.map((m) => m.name);
  const pending = names.at(-1)!;
  const prefix = join(dir, 'prisma-prefix');
  cpSync(full, prefix, { recursive: true });
  rmSync(join(prefix, 'migrations', 'postgresql', pending), { recursive: true });
  rmSync(join(prefix, 'migrations', 'sqlite', pending), { recursive: true, force: true });

  const results: GateResults = { history: names.length, pending, latencies: [], appStart: [], openGate: [], one: [], twenty: [], clusterChecks: [], failures: [] };
  const fail = (problem: string) => {
    log(`  FAILED: ${problem}`);
    if (!results.failures.includes(problem)) results.failures.push(problem);
  };
  const deploy = async (target: PgTarget, prismaDir: string) => {
    const result = await runProcess(process.execPath, [...migrateFlags('deploy'), kitEntry, 'deploy'], { DATABASE_URL: target.url, PRISMA_DIR: prismaDir }, dir);
    if (result.code !== 0) throw new Error(`deploy failed: ${result.output.trim().split('\n').pop()}`);
  };

  // 1. Gate latency ------------------------------------------------------------
  for (let i = -1; i < GATE_RUNS; i++) {
    const name = `bench_gate_${i < 0 ? 'warm' : i}`;
    const target = await freshDatabase(admin, name);
    const starts = join(dir, `gate-${name}.log`);
    rmSync(starts, { force: true });
    let waiter: Container | undefined;
    try {
      await deploy(target, prefix);
      waiter = startContainer('waiter', starts, { DATABASE_URL: target.url, PRISMA_DIR: full, RUN_MIGRATIONS: 'false', MIGRATION_WAIT_TIMEOUT: '60' }, dir);
      // In the gate: its `migrate wait` listens and has read the status once (idle after reading the history table).
      const settled = Date.now();
      for (;;) {
        const [row] = await withConn(admin, (conn) =>
          conn.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'rastar-wait' AND state = 'idle' AND query LIKE '%_prisma_migrations%'`, [name]),
        );
        if (Number(row!.n) > 0) break;
        if (Date.now() - settled > 30_000) throw new Error(`the waiter never settled in the gate:\n${waiter.output()}`);
        await sleep(10);
      }
      await sleep(100);
      await deploy(target, full);
      const code = await within(waiter.exited, 30_000, () => `the waiter did not start its app within 30 s of the deploy:\n${waiter!.output()}`);
      if (code !== 0) throw new Error(`the waiter exited ${code}:\n${waiter.output()}`);
      const [row] = await withConn(target, (conn) => conn.query<{ ms: number }>(`SELECT (extract(epoch FROM finished_at) * 1000)::float8 AS ms FROM "_prisma_migrations" WHERE migration_name = $1`, [pending]));
      const start = readStarts(starts)[0];
      if (!start || !row) throw new Error('no app start or no finished row recorded');
      const latency = start.time - Number(row.ms);
      log(`[gate ${i < 0 ? 'warm-up' : `${i + 1}/${GATE_RUNS}`}] commit of ${pending} -> waiter's app start: ${latency.toFixed(1)} ms`);
      if (latency < -1) fail(`an app started ${-latency} ms BEFORE the migration it waited for finished`);
      if (i >= 0) results.latencies.push(latency);
    } catch (error) {
      fail(String((error as Error).message ?? error).split('\n')[0]!);
    } finally {
      waiter?.kill();
      await dropDatabase(admin, name);
    }
  }

  // What the latency is made of: the app's own start-up (bash exec node, Node's boot) and
  // a `migrate wait` whose gate is open at once (connect, LISTEN, read, close, exit).
  const floorDb = await freshDatabase(admin, 'bench_gate_floor');
  try {
    await deploy(floorDb, full);
    for (let i = 0; i < GATE_RUNS; i++) {
      const starts = join(dir, 'floor.log');
      rmSync(starts, { force: true });
      // bash's clock (a builtin, no fork) right before the exec, as the entrypoint's last step.
      const stamp = join(dir, 'floor.stamp');
      const app = await runProcess('bash', ['-c', 'printf "%s\\n" "$EPOCHREALTIME" > "$2"; exec node "$0" "$1" floor', RECORD_START, starts, stamp], { LC_ALL: 'C' }, dir);
      const before = Number(readFileSync(stamp, 'utf8').trim()) * 1000;
      if (app.code === 0 && Number.isFinite(before)) results.appStart.push(readStarts(starts)[0]!.time - before);
      const t0 = performance.now();
      const open = await runProcess(process.execPath, [...migrateFlags('wait'), join(projectRoot, 'dist', 'scripts', 'migrate.js'), 'wait'], { DATABASE_URL: floorDb.url, PRISMA_DIR: full }, dir);
      if (open.code === 0) results.openGate.push(performance.now() - t0);
    }
  } finally {
    await dropDatabase(admin, 'bench_gate_floor');
  }

  // 2. 20 containers at once vs 1 ----------------------------------------------
  const cluster = async (count: number, run: string): Promise<number> => {
    const name = `bench_start_${count}_${run}`;
    const target = await freshDatabase(admin, name);
    const starts = join(dir, `${name}.log`);
    rmSync(starts, { force: true });
    const containers: Container[] = [];
    try {
      const t0 = Date.now();
      for (let i = 0; i < count; i++) {
        const migrator = count === 1 || i % 4 === 0; // 0, 4, 8, 12, 16: 5 migrators spread among 15 waiters
        containers.push(
          startContainer(migrator ? `migrator-${i}` : `waiter-${i}`, starts, { DATABASE_URL: target.url, PRISMA_DIR: full, RUN_MIGRATIONS: migrator ? 'true' : 'false', MIGRATION_LOCK_TIMEOUT: '120', MIGRATION_WAIT_TIMEOUT: '120' }, dir),
        );
      }
      const codes = await within(Promise.all(containers.map((c) => c.exited)), 120_000, () => `containers still running after 120 s`);
      const bad = codes.flatMap((code, i) => (code === 0 ? [] : [`${containers[i]!.label} exited ${code}: ${containers[i]!.output().trim().split('\n').pop()}`]));
      if (bad.length) throw new Error(bad.join('; '));
      const started = readStarts(starts);
      if (started.length !== count) throw new Error(`${started.length} of ${count} apps started`);
      const rows = await withConn(target, (conn) =>
        conn.query<{ migration_name: string; ms: number | null }>(`SELECT migration_name, (extract(epoch FROM finished_at) * 1000)::float8 AS ms FROM "_prisma_migrations" WHERE rolled_back_at IS NULL`),
      );
      const once = rows.length === names.length && new Set(rows.map((r) => r.migration_name)).size === names.length && rows.every((r) => r.ms !== null);
      if (!once) throw new Error(`_prisma_migrations: ${rows.length} rows for ${names.length} migrations`);
      const lastCommit = Math.max(...rows.map((r) => Number(r.ms)));
      const early = started.filter((s) => s.time < Math.floor(lastCommit));
      if (early.length) throw new Error(`${early.map((s) => s.label).join(', ')} started before the last commit`);
      const appliers = containers.filter((c) => /Migration applied:/.test(c.output())).length;
      if (appliers !== 1) throw new Error(`${appliers} containers applied migrations`);
      return Math.max(...started.map((s) => s.time)) - t0;
    } finally {
      for (const c of containers) c.kill();
      await dropDatabase(admin, name);
    }
  };
  for (let i = -1; i < CLUSTER_RUNS; i++) {
    const run = i < 0 ? 'warm' : String(i);
    for (const count of i % 2 ? [1, 20] : [20, 1]) {
      try {
        const ms = await cluster(count, run);
        log(`[start ${i < 0 ? 'warm-up' : `${i + 1}/${CLUSTER_RUNS}`}] ${count === 1 ? ' 1 container ' : '20 containers'}: all apps started after ${(ms / 1000).toFixed(3)} s`);
        if (i >= 0) (count === 1 ? results.one : results.twenty).push(ms);
      } catch (error) {
        fail(`${count} container(s): ${String((error as Error).message ?? error).split('\n')[0]}`);
      }
    }
  }
  if (!results.failures.some((f) => f.startsWith('20 container'))) {
    results.clusterChecks.push(`every run: each of the ${names.length} migrations applied once by exactly one container, every exit 0, no app before the last commit`);
  }
  return results;
}

// ---------------------------------------------------------------------------
// Rendering into bench/RESULTS.md

const BEGIN = '<!-- gate:begin -->';
const END = '<!-- gate:end -->';
const ROW_MARK = '<!-- gate -->';

export function gateMarkdown(r: GateResults, when: string): { section: string; targetRows: string[]; summary: string } {
  const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : 'n/a');
  const s = (x: number) => (Number.isFinite(x) ? `${(x / 1000).toFixed(3)} s` : 'n/a');
  const lat = median(r.latencies);
  const app = median(r.appStart);
  const open = median(r.openGate);
  const one = median(r.one);
  const twenty = median(r.twenty);
  const gateFailed = r.failures.filter((f) => !/container\(s\)/.test(f));
  const clusterFailed = r.failures.filter((f) => /container\(s\)/.test(f));
  const verdict = (ok: boolean | null) => (ok === null ? 'not measured' : ok ? '**met**' : '**not met**');
  const gateOk = r.latencies.length >= 20 && !gateFailed.length ? lat <= GATE_TARGET_MS : null;
  const targetRows = [
    `| Gate on PostgreSQL: commit of the last migration -> the waiting container's app start <= ${GATE_TARGET_MS} ms (median) ${ROW_MARK} | median ${ms(lat)} over ${r.latencies.length} runs (p90 ${ms(percentile(r.latencies, 90))}, min ${ms(Math.min(...r.latencies))}, max ${ms(Math.max(...r.latencies))})${gateFailed.length ? `; FAILED: ${gateFailed.join('; ').replace(/\|/g, '\\|')}` : ''} | ${verdict(gateOk)} |`,
    `| (shown) 20 containers at once (5 migrators, 15 waiters) vs 1 container: spawn -> every app started ${ROW_MARK} | 20: ${s(twenty)}, 1: ${s(one)} (${(twenty / one).toFixed(1)}x, medians of ${r.twenty.length} / ${r.one.length}); ${clusterFailed.length ? `FAILED: ${clusterFailed.join('; ').replace(/\|/g, '\\|')}` : r.clusterChecks.join('; ')} | ${clusterFailed.length ? '**failed**' : 'shown'} |`,
  ];
  const section = `${BEGIN}
## Container starts on PostgreSQL (gate latency, 20 at once)

Measured ${when} by bench/gate.ts (\`BENCH_ONLY=gate npm run bench\` runs it alone):
the real entrypoint, \`bash scripts/docker-entrypoint.sh node test/fixtures/entrypoint/record-start.mjs\`,
on the compiled kit (dist/, compiled first; no KIT_FROM_SOURCE), against the embedded PostgreSQL.

| Measure | Median | p90 | Min–max | Runs |
|---|---:|---:|---:|---:|
| Gate latency: finished_at of ${r.pending} -> the waiter's app start | ${ms(lat)} | ${ms(percentile(r.latencies, 90))} | ${ms(Math.min(...r.latencies))}–${ms(Math.max(...r.latencies))} | ${r.latencies.length} |
| its floor: bash's \`exec node record-start.mjs\` -> the app's first line (\$EPOCHREALTIME before the exec) | ${ms(app)} | ${ms(percentile(r.appStart, 90))} | ${ms(Math.min(...r.appStart))}–${ms(Math.max(...r.appStart))} | ${r.appStart.length} |
| (context) a whole \`migrate wait\` process whose gate is already open | ${ms(open)} | ${ms(percentile(r.openGate, 90))} | ${ms(Math.min(...r.openGate))}–${ms(Math.max(...r.openGate))} | ${r.openGate.length} |
| 1 container (a migrator, ${r.history} migrations, seed): spawn -> app started | ${s(one)} | | ${s(Math.min(...r.one))}–${s(Math.max(...r.one))} | ${r.one.length} |
| 20 containers at once (5 migrators, 15 waiters): spawn of the first -> the last app started | ${s(twenty)} | | ${s(Math.min(...r.twenty))}–${s(Math.max(...r.twenty))} | ${r.twenty.length} |

- Gate: each run deploys ${r.history - 1} of the ${r.history} migrations on a fresh database, starts a waiter
  (RUN_MIGRATIONS=false), waits until its \`migrate wait\` is idle in the gate (LISTEN done, the history
  read once; pg_stat_activity), then runs the migrator (\`node dist/scripts/migrate.js deploy\`) for the
  1 pending migration. finished_at is \`clock_timestamp()\` right before the COMMIT that also delivers
  the migrator's NOTIFY (sent inside the migration's transaction by src/runtime/deploy.ts).
- What the latency is made of: the NOTIFY wakes \`migrate wait\`, which re-reads the status (3 short
  queries), closes its connection and exits; bash then execs the app, whose Node start-up until its
  first line (the floor row above: ${ms(app)}) is ${Number.isFinite(lat) && lat > 0 ? `${Math.round((app / lat) * 100)}%` : 'n/a'} of the median. The gate's own part (wake,
  re-read, close, exit, bash) is about ${ms(lat - app)}; without the NOTIFY the waiter would find the migration at its
  next 1 s poll (about 500 ms on average).
- Every "container" gets only PATH, HOME and LANG: this machine's NODE_EXTRA_CA_CERTS (the system CA
  bundle) alone adds about 40 ms to every Node start-up, and a container does not set it.
- 20 at once: 20 entrypoints spawned together on a fresh database (all ${r.history} migrations pending),
  every container running 3 Node processes (database wait, deploy + seed or the gate, the app) on
  this machine's CPUs; checked after every run: ${clusterFailed.length ? 'FAILED' : 'each migration applied once, by one container; every exit 0; no app before the last commit'}.
${END}`;
  const summary = [
    `Gate latency (commit -> app start): median ${ms(lat)}, p90 ${ms(percentile(r.latencies, 90))} over ${r.latencies.length} runs; app start-up floor ${ms(app)}`,
    `20 containers at once: ${s(twenty)}; 1 container: ${s(one)}`,
    ...r.failures.map((f) => `FAILED: ${f}`),
  ].join('\n');
  return { section, targetRows, summary };
}

/** Put the gate section and its Targets rows into RESULTS.md's text (replacing earlier ones). */
export function applyGate(markdown: string, rendered: { section: string; targetRows: string[] }): string {
  let text = markdown.split('\n').filter((line) => !line.includes(ROW_MARK)).join('\n');
  // Targets table: the rows go after its last row.
  const lines = text.split('\n');
  const header = lines.findIndex((line) => line.startsWith('## Targets'));
  if (header >= 0) {
    let last = header;
    for (let i = header + 1; i < lines.length && !lines[i]!.startsWith('## '); i++) if (lines[i]!.startsWith('|')) last = i;
    lines.splice(last + 1, 0, ...rendered.targetRows);
  } else {
    lines.push('', '## Targets', '', '| Target | Measured | Verdict |', '|---|---|---|', ...rendered.targetRows);
  }
  return replaceSection(lines.join('\n'), BEGIN, END, rendered.section);
}

/** Put `section` (which starts with `begin` and ends with `end`) in place of an earlier one, or before the method notes. */
export function replaceSection(markdown: string, begin: string, end: string, section: string): string {
  const from = markdown.indexOf(begin);
  const to = markdown.indexOf(end);
  if (from >= 0 && to > from) return `${markdown.slice(0, from)}${section}${markdown.slice(to + end.length)}`;
  const notes = markdown.indexOf('## Method notes');
  return notes >= 0 ? `${markdown.slice(0, notes)}${section}\n\n${markdown.slice(notes)}` : `${markdown.trimEnd()}\n\n${section}\n`;
}
