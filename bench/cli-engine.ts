/**
 * `BENCH_ONLY=cli npm run bench`: the kit's schema engine for the official CLI,
 * laid out as in the image (bin/schema-engine beside a compiled dist/, no TypeScript
 * sources): its own start-up (spawn until it answers a first request) and `npx prisma migrate status` end to end, beside the kit's own status
 * (`node dist/scripts/migrate.js status`, what `make status` runs in the image),
 * interleaved, on an up-to-date PostgreSQL database.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot } from '../src/db.ts';
import { median, replaceSection, runProcess } from './gate.ts';
import { dropDatabase, freshDatabase, type PgTarget } from './pg.ts';

export interface CliResults {
  engineStart: number[];
  cliStatus: number[];
  kitStatus: number[];
  failures: string[];
}

/** Spawn the engine as the CLI does and time it to its first answer. */
function engineReady(engine: string, target: PgTarget): Promise<number> {
  const started = performance.now();
  const child = spawn(engine, ['--datasource', JSON.stringify({ url: target.url })], { stdio: ['pipe', 'pipe', 'inherit'], cwd: projectRoot });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => {
      const ms = performance.now() - started;
      child.stdin!.end();
      if (!/"result"/.test(line)) reject(new Error(`engine answered: ${line}`));
      resolve(ms);
    });
    child.once('error', reject);
    child.stdin!.write(`${JSON.stringify({ id: 1, jsonrpc: '2.0', method: 'getDatabaseVersion', params: {} })}\n`);
  });
}

export async function runCliBench(admin: PgTarget, options: { work: string; kitEntry: string; runs: number; log: (line: string) => void }): Promise<CliResults> {
  const { work, kitEntry, log } = options;
  const dir = join(work, 'cli');
  mkdirSync(dir, { recursive: true });
  // As in the image: bin/schema-engine beside dist/ and no sources, so it runs the compiled engine.
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const engine = join(dir, 'bin', 'schema-engine');
  copyFileSync(join(projectRoot, 'bin', 'schema-engine'), engine);
  if (!existsSync(join(dir, 'dist'))) symlinkSync(join(projectRoot, 'dist'), join(dir, 'dist'));
  const target = await freshDatabase(admin, 'bench_cli');
  const results: CliResults = { engineStart: [], cliStatus: [], kitStatus: [], failures: [] };
  const env = { DATABASE_URL: target.url, PRISMA_SCHEMA_ENGINE_BINARY: engine, PRISMA_HIDE_UPDATE_MESSAGE: '1' };
  try {
    const deployed = await runProcess(process.execPath, [kitEntry, 'deploy'], { DATABASE_URL: target.url }, projectRoot);
    if (deployed.code !== 0) throw new Error(`deploy failed: ${deployed.output}`);
    for (let i = -1; i < options.runs; i++) {
      const timed = async (file: string, args: string[], check: RegExp) => {
        const t0 = performance.now();
        const result = await runProcess(file, args, env, projectRoot);
        const ms = performance.now() - t0;
        if (result.code !== 0 || !check.test(result.output)) throw new Error(`${args.join(' ')}: ${result.output.trim().split('\n').pop()}`);
        return ms;
      };
      try {
        const start = await engineReady(engine, target);
        const cli = await timed(process.execPath, [join(projectRoot, 'node_modules', 'prisma', 'build', 'index.js'), 'migrate', 'status'], /Database schema is up to date!/);
        const kit = await timed(process.execPath, [kitEntry, 'status'], /Database schema is up to date!/);
        log(`[cli ${i < 0 ? 'warm-up' : `${i + 1}/${options.runs}`}] engine ready ${start.toFixed(0)} ms, npx prisma migrate status ${cli.toFixed(0)} ms, kit status ${kit.toFixed(0)} ms`);
        if (i >= 0) {
          results.engineStart.push(start);
          results.cliStatus.push(cli);
          results.kitStatus.push(kit);
        }
      } catch (error) {
        results.failures.push(String((error as Error).message).split('\n')[0]!);
      }
    }
  } finally {
    await dropDatabase(admin, 'bench_cli');
  }
  return results;
}

const BEGIN = '<!-- cli:begin -->';
const END = '<!-- cli:end -->';

export function applyCli(markdown: string, r: CliResults, when: string): string {
  const ms = (xs: number[]) => (xs.length ? `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})` : 'n/a');
  const startMedian = r.engineStart.length ? median(r.engineStart) : Number.NaN;
  const section = [
    BEGIN,
    '## The official Prisma CLI on the kit engine (scenario 6)',
    '',
    `Measured ${when}: the engine as in the image (\`bin/schema-engine\`, which runs the compiled \`dist/scripts/schema-engine.js\` as its child), an up-to-date PostgreSQL database, whole processes, interleaved.`,
    '',
    '| Measure | Median (min–max), ms | Runs |',
    '|---|---:|---:|',
    `| engine start-up: spawn until it answers a first request | ${ms(r.engineStart)} | ${r.engineStart.length} |`,
    `| \`npx prisma migrate status\` end to end (the CLI spawns the engine) | ${ms(r.cliStatus)} | ${r.cliStatus.length} |`,
    `| the kit's own status (\`node dist/scripts/migrate.js status\`, what \`make status\` runs) | ${ms(r.kitStatus)} | ${r.kitStatus.length} |`,
    '',
    '`bin/schema-engine` is a small supervisor in front of the engine (it answers for an engine that dies mid-request, where the CLI would otherwise exit 0 silently): its share of the start-up is one more Node process.',
    '',
    `Target: engine start-up <= 300 ms: ${Number.isFinite(startMedian) ? `${startMedian.toFixed(0)} ms, **${startMedian <= 300 ? 'met' : 'not met'}**` : 'not measured'}.${r.failures.length ? ` Failures: ${[...new Set(r.failures)].join('; ')}` : ''}`,
    END,
  ].join('\n');
  return replaceSection(markdown, BEGIN, END, section);
}
