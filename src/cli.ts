/**
 * What every script shares: argument parsing with `--help`, the exit-code
 * contract, masked one-line errors. Scripts stay thin: parse, call, print, exit.
 */
import type { ParseArgsConfig } from 'node:util';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { maskSecrets, migrationTarget, parseDatabaseUrl, projectRoot, type DatabaseTarget } from './db.ts';
import { KitError, errorMessage } from './errors.ts';
import type { Line } from './lines.ts';
import type { DeployEvent } from './runtime/deploy.ts';
import { deployEventRenderer } from './runtime/deploy-events.ts';
import { keepBeating } from './runtime/heartbeat.ts';
import { fs, util } from './node-builtins.ts';

const { existsSync, realpathSync } = fs;
const { parseArgs } = util;

export { formatMs } from './runtime/deploy-events.ts';

export const EXIT_CODES = `Exit codes:
  0  success
  1  action needed or operation failed (pending/failed migrations, drift, unreachable database, …)
  2  bad usage or configuration (unknown flag, bad DATABASE_URL, invalid schema, refused)`;

const DIRECT_URL_HELP = 'DIRECT_DATABASE_URL  PostgreSQL behind a pooler: the server itself; when set the kit uses it instead of DATABASE_URL (the apps keep DATABASE_URL)';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec<O extends Options> {
  usage: string;
  summary: string;
  options: O;
  /** One line per option, shown in --help. */
  optionHelp: string[];
  examples?: string[];
  /** Environment variables the command reads. */
  env?: string[];
  positionals?: boolean;
}

export function helpText(spec: CommandSpec<Options>): string {
  const lines = [spec.summary, '', `Usage: ${spec.usage}`, '', 'Options:', ...spec.optionHelp.map((l) => `  ${l}`), '  -h, --help  show this help'];
  // Every command that reads DATABASE_URL reads DIRECT_DATABASE_URL first.
  const env = spec.env?.flatMap((l) => (l.startsWith('DATABASE_URL ') ? [l, DIRECT_URL_HELP] : [l]));
  if (env?.length) lines.push('', 'Environment:', ...env.map((l) => `  ${l}`));
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((l) => `  ${l}`));
  lines.push('', EXIT_CODES);
  return lines.join('\n');
}

/** Load .env from the project root (never overriding the real environment). */
export function loadDotenv(): void {
  const path = join(projectRoot, '.env');
  // dotenv loads only when there is a file: production containers have none and start faster.
  if (!existsSync(path)) return;
  const dotenv = createRequire(import.meta.url)('dotenv') as typeof import('dotenv');
  dotenv.config({ path, quiet: true });
}

/**
 * One line when the user's PRISMA_SCHEMA_ENGINE_BINARY names an engine other than the
 * kit's: prisma.config.ts respects it, so `npx prisma migrate …` is then not the kit's
 * deploy, status or resolve, while the kit's own commands are unaffected.
 */
export function foreignCliEngine(): string | undefined {
  const chosen = process.env.PRISMA_SCHEMA_ENGINE_BINARY;
  if (!chosen) return undefined;
  const kit = join(projectRoot, 'bin', 'schema-engine');
  const real = (path: string) => (existsSync(path) ? realpathSync(path) : undefined);
  const resolved = real(chosen);
  if (resolved === real(kit)) return undefined;
  return resolved
    ? `Note: PRISMA_SCHEMA_ENGINE_BINARY=${chosen}: npx prisma runs that schema engine, not the kit's (${kit}); make commands run the kit itself.`
    : `Note: PRISMA_SCHEMA_ENGINE_BINARY=${chosen} does not exist, so npx prisma will fail; unset it to run the kit's engine (${kit}).`;
}

let currentTarget: DatabaseTarget | undefined;
/** The apps' DATABASE_URL when the kit works through DIRECT_DATABASE_URL: its password is masked too. */
let appTarget: DatabaseTarget | undefined;

/**
 * The database of this run (DIRECT_DATABASE_URL, else DATABASE_URL), remembered so
 * that every line can be masked against its password.
 */
export function target(): DatabaseTarget {
  if (!currentTarget) {
    currentTarget = migrationTarget();
    if (process.env.DIRECT_DATABASE_URL?.trim()) appTarget = parseDatabaseUrl();
  }
  return currentTarget;
}

export function out(line = ''): void {
  process.stdout.write(`${maskSecrets(line, currentTarget, appTarget)}\n`);
}

export function err(line = ''): void {
  process.stderr.write(`${maskSecrets(line, currentTarget, appTarget)}\n`);
}

/**
 * A referenced handle until process.exit. Without one, a command that awaits only
 * promises (SQLite is synchronous; WebAssembly compiles resolve through V8's task
 * queue) leaves libuv idle, and Node runs the rest of the command inside
 * NodePlatform::DrainTasks. There, waiting for a background optimizing compile
 * that waits on a main-thread GC deadlocks (nodejs/node#54918): about one
 * compiled `baseline --apply` in four hung after its output.
 */
function holdEventLoop(): void {
  setInterval(() => {}, 2 ** 31 - 1);
}

/** Parse argv (unknown flags are usage errors), run, exit with the handler's code. */
export async function runCommand<O extends Options>(
  spec: CommandSpec<O>,
  argv: string[],
  handler: (values: Record<string, string | boolean | undefined>, positionals: string[]) => Promise<number>,
): Promise<never> {
  loadDotenv();
  holdEventLoop();
  // The entrypoint's steps: the container's health check hears this command is alive.
  keepBeating(process.env.RASTAR_HEARTBEAT?.trim() || undefined);
  const engine = foreignCliEngine();
  if (engine) err(engine);
  let code: number;
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: { ...spec.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: spec.positionals ?? false, strict: true });
    } catch (error) {
      throw new KitError('BAD_USAGE', `${errorMessage(error).replace(/\. To specify a positional argument.*$/, '')}\nRun with --help for usage.`);
    }
    if ((parsed.values as Record<string, unknown>).help) {
      out(helpText(spec as CommandSpec<Options>));
      code = 0;
    } else {
      code = await handler(parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
    }
  } catch (error) {
    code = reportError(error);
  }
  process.exitCode = code;
  // Leave only once stdout and stderr took everything (a pipe whose reader is slower than
  // us holds the rest in our buffer, which process.exit would drop: a 400 KB --json was
  // cut at 214 KB), and then even if a driver keeps a socket open.
  await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((done) => stream.write('', () => done(undefined)))));
  process.exit(code);
}

export function reportError(error: unknown): number {
  if (error instanceof KitError) {
    err(`Error: ${error.message}${error.prismaCode && !error.message.startsWith(error.prismaCode) ? ` (${error.prismaCode})` : ''}`);
    if (error.hint) err(error.hint);
    if (process.env.DEBUG && error.cause) err(String((error.cause as Error).stack ?? error.cause));
    return error.exitCode;
  }
  err(`Error: ${errorMessage(error).split('\n')[0]}`);
  if (process.env.DEBUG) err(String((error as Error).stack ?? error));
  return 1;
}

/**
 * The onEvent of a deploy, printed: progress on stdout and waits on stderr, or all on
 * stderr when stdout carries JSON.
 */
export function printDeployEvents(options: { json?: boolean } = {}): (event: DeployEvent) => void {
  const render = deployEventRenderer();
  return (event) => {
    const line = render(event);
    if (line) printLines([options.json ? { ...line, stream: 'err' } : line]);
  };
}

export function printLines(lines: Line[]): void {
  for (const line of lines) (line.stream === 'out' ? out : err)(line.text);
}

/** Resolves on the first SIGINT or SIGTERM: a long-running app's cue to stop. */
/**
 * Until the returned function is called, SIGINT or SIGTERM runs `cleanup` (a scratch copy
 * to drop, …) and then exits 130 or 143, instead of leaving it behind.
 */
export function onStopSignal(cleanup: () => Promise<unknown>): () => void {
  const stop = (signal: NodeJS.Signals) => {
    void cleanup()
      .catch(() => {})
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  return () => process.off('SIGINT', stop).off('SIGTERM', stop);
}

export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop).off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop).on('SIGTERM', stop);
  });
}
