/**
 * Prisma's own CLI tests (prisma/prisma at the 7.x line: packages/migrate/src/__tests__
 * and packages/cli/src/__tests__/incomplete-schemas.test.ts), reproduced against the
 * kit's engine: each case's fixture is written to a fresh folder (its binary SQLite
 * databases rebuilt from SQL), the real, unmodified CLI runs there as a user runs it, and
 * the test asserts what Prisma's test states: the exit code, the error code, the meaning
 * of each printed line, and which database was touched.
 *
 * Prisma's tests run the commands in-process; run as the CLI, a returned value is printed
 * on stdout with exit 0, an error as `Error: <message>` on stderr with exit 1, and its
 * snapshots rewrite every 14-digit number to 20201231000000 (the real names are used here).
 *
 * This module holds what the test files share: running the CLI (plainly, under another
 * name, in a pseudo-terminal), reading what it printed, and reading the SQLite files it
 * left. Prisma's fixtures themselves, and the helpers that write them, are in fixtures.ts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import Database from 'better-sqlite3';
import { projectRoot } from '../../src/db.ts';
import { childEnv, execCapture, tempDir, type RunResult } from '../helpers.ts';

// test/migrations/prisma-cli-guards.test.ts takes these from the harness.
export { BLOG_INIT_SQL, BLOG_SCHEMA, config, SQLITE_LOCK } from './fixtures.ts';

const CLI = join(projectRoot, 'node_modules', 'prisma', 'build', 'index.js');

/** Files of a fixture: path relative to its root → content. */
export type Files = Record<string, string>;

/**
 * A fixture in a fresh folder: its files, `node_modules` reachable (its config imports
 * `prisma/config`), and SQLite databases built from SQL (path → script).
 */
export function fixture(t: TestContext, files: Files, databases: Record<string, string> = {}): string {
  const root = tempDir(t, 'rastar-contract-');
  symlinkSync(join(projectRoot, 'node_modules'), join(root, 'node_modules'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  for (const [path, sql] of Object.entries(databases)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    const db = new Database(join(root, path));
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
  }
  return root;
}

// ---------------------------------------------------------------------------------------------------------------------
// Running the CLI

/**
 * What makes the CLI refuse destructive commands as run by a coding agent (its own check),
 * and the consent that lifts it: never inherited, so that only a case that sets one meets
 * the check.
 */
const AGENT_MARKERS = ['CLAUDECODE', 'CODEX_THREAD_ID', 'CODEX_CI', 'CODEX_SANDBOX', 'CODEX_SANDBOX_NETWORK_DISABLED', 'GEMINI_CLI', 'QWEN_CODE', 'CURSOR_AGENT', 'COPILOT_CLI', 'OPENCODE', 'OPENCODE_CLIENT', 'CLINE_ACTIVE', 'AGENT', 'AI_AGENT', 'CRUSH', 'OR_APP_NAME', 'AUGMENT_AGENT', 'ANTIGRAVITY_AGENT', 'REPLIT_SESSION', 'PRISMA_USER_CONSENT_FOR_DANGEROUS_AI_ACTION'];

/** What makes the CLI treat its environment as CI, where it never prompts: removed for the prompt cases. */
const CI_MARKERS = ['CI', 'CONTINUOUS_INTEGRATION', 'BUILD_NUMBER', 'RUN_ID', 'GITHUB_ACTIONS', 'GITLAB_CI', 'BUILDKITE', 'CIRCLECI', 'TRAVIS', 'JENKINS_URL', 'TF_BUILD', 'CODEBUILD_BUILD_ID', 'TEAMCITY_VERSION'];

const unset = (names: string[]): NodeJS.ProcessEnv => Object.fromEntries(names.map((name) => [name, undefined]));

/**
 * The CLI's environment, as Prisma's tests have it (CI set, no agent markers), with the
 * kit's engine answering. No DATABASE_URL or other URL from the test runner: only the
 * fixture's config speaks. `env` comes last.
 */
function cliEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return childEnv({
    PRISMA_SCHEMA_ENGINE_BINARY: join(projectRoot, 'bin', 'schema-engine'),
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
    CI: '1',
    DATABASE_URL: undefined,
    DIRECT_DATABASE_URL: undefined,
    SHADOW_DATABASE_URL: undefined,
    PRISMA_DIR: undefined,
    NODE_ENV: undefined,
    ...unset(AGENT_MARKERS),
    ...env,
  });
}

/** `prisma <args>` in `cwd`. `input`, when given, is written to its stdin (`db execute --stdin`). */
export function prisma(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<RunResult> {
  return execCapture(process.execPath, [CLI, ...args], { cwd, env: cliEnv(env), input }).done;
}

/**
 * The CLI as the user called it: `prisma`, or `prisma7` through a link of that name in
 * `cwd` (the 7.x build takes the name its help and hints print from `process.argv[1]`).
 */
export function prismaCalled(name: 'prisma' | 'prisma7', cwd: string, args: string[]): Promise<RunResult> {
  if (name === 'prisma') return prisma(cwd, args);
  const link = join(cwd, name);
  if (!existsSync(link)) symlinkSync(CLI, link);
  return execCapture(process.execPath, [link, ...args], { cwd, env: cliEnv() }).done;
}

/** util-linux `script` gives the CLI a pseudo-terminal; without it the prompt cases cannot run. */
export const TERMINAL_AVAILABLE = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

/**
 * `prisma <args>` as an interactive user runs it: in a pseudo-terminal (`script -qec`), CI
 * unset, `answer` typed a moment after `question` shows (as a user does: the prompt is
 * listening by then). Prisma's tests inject the answer instead. The terminal merges the
 * CLI's stdout and stderr: `stdout` is all it showed, colours and carriage returns removed;
 * `stderr` is only what `script` itself reported. Killed after two minutes (exit 128).
 */
export function prismaInTerminal(cwd: string, args: string[], prompt: { question: string; answer: string }, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const quote = (word: string) => `'${word.replace(/'/g, "'\\''")}'`;
  const command = [process.execPath, CLI, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd, env: cliEnv({ ...unset(CI_MARKERS), TERM: 'xterm-256color', ...env }), stdio: ['pipe', 'pipe', 'pipe'] });
    let shown = '';
    let stderr = '';
    let answered = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      shown += chunk;
      if (!answered && stripVTControlCharacters(shown).includes(prompt.question)) {
        answered = true;
        setTimeout(() => child.stdin.write(prompt.answer), 300);
      }
    });
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code: code ?? (signal ? 128 : 1), stdout: stripVTControlCharacters(shown).replace(/\r\n/g, '\n'), stderr });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// Reading what the CLI printed

/** Everything a run printed, for assertion messages. */
export function output(result: RunResult): string {
  return `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/** Stderr without colours and without the "Loaded Prisma config from …" line the CLI prints first: what the command reported. */
export function stderrAfterConfigLine(stderr: string): string {
  return stripVTControlCharacters(stderr).replace(/^Loaded Prisma config from [^\n]*\.\n\n?/, '');
}

/**
 * Stderr split into the CLI's diagnostics ("Loaded Prisma config from …" and "Prisma
 * schema loaded from …") and the rest: the command's console.error and `Error: …`.
 */
export function diagnostics(stderr: string): { config?: string; schema?: string; rest: string } {
  const match = /^(?:Loaded Prisma config from (.*)\.\n\n)?(?:Prisma schema loaded from (.*)\.\n)?([\s\S]*)$/.exec(stripVTControlCharacters(stderr));
  assert.ok(match);
  return { config: match[1], schema: match[2], rest: match[3] as string };
}

/** Stdout as Prisma's Migrate snapshots see it: colours, the optional "Applying migration" lines and the "SQLite database … created at …" block removed. */
export function migrateSnapshot(stdout: string): string {
  return stripVTControlCharacters(stdout)
    .replace(/Applying migration .*\n/g, '')
    .replace(/\nSQLite database .* created at .*\n/g, '');
}

/** What a command printed on stdout: its own writes, then its return value (console.log). */
export function printed(writes: string, returned: string): string {
  return `${writes}${returned}\n`;
}

/** The line the CLI prints first about a SQLite datasource. */
export function sqliteLine(name: string, url = 'file:dev.db'): string {
  return `Datasource "${name}": SQLite database "dev.db" at "${url}"`;
}

/** Rejected with `message` (exit 1): stderr holds only the diagnostics and `Error: <message>`. */
export function assertRejects(result: RunResult, message: string): void {
  assert.equal(result.code, 1, output(result));
  assert.equal(diagnostics(result.stderr).rest, `Error: ${message}\n`, output(result));
}

/** Resolved (exit 0) with nothing on console.error. */
export function assertResolves(result: RunResult): void {
  assert.equal(result.code, 0, output(result));
  assert.equal(diagnostics(result.stderr).rest, '', output(result));
}

/** The message of every command that needs a datasource when the config names none. */
export function datasourceUrlRequired(command: string): string {
  return `The datasource.url property is required in your Prisma config file when using prisma ${command}.`;
}

/** The message of a command that needs a schema when there is none where the CLI looks. */
export const NO_SCHEMA_FOUND = `Could not find Prisma Schema that is required for this command.
You can either provide it with \`--schema\` argument,
set it in your Prisma Config file (e.g., \`prisma7.config.ts\`),
set it as \`prisma.schema\` in your package.json,
or put it into the default location (\`./prisma/schema.prisma\`, or \`./schema.prisma\`.
Checked following paths:

schema.prisma: file not found
prisma/schema.prisma: file not found

See also https://pris.ly/d/prisma-schema-location`;

/** The message of a Migrate command given a `prisma://` (Accelerate) URL. */
export function accelerateUnsupported(command: string): string {
  return `\nUsing an Accelerate URL is not supported for this CLI command prisma ${command} yet.\nPlease use a direct connection to your database in \`prisma7.config.ts\`.\n\nMore information about this limitation: https://pris.ly/d/accelerate-limitations\n`;
}

/**
 * F-schema-only-postgresql's invalid-url config: its server (doesnotexist:5432) cannot be
 * reached. P1001 after the diagnostics, and the datasource line alone on stdout.
 */
export function assertServerUnreachable(result: RunResult): void {
  assert.equal(result.code, 1, output(result));
  assert.equal(
    result.stderr,
    "Loaded Prisma config from invalid-url.config.ts.\n\nPrisma schema loaded from prisma/invalid-url.prisma.\nError: P1001: Can't reach database server at `doesnotexist:5432`\n\nPlease make sure your database server is running at `doesnotexist:5432`.\n",
    output(result),
  );
  assert.equal(migrateSnapshot(result.stdout), 'Datasource "my_db": PostgreSQL database "mydb", schema "public" at "doesnotexist:5432"\n', output(result));
}

// ---------------------------------------------------------------------------------------------------------------------
// Reading what a SQLite database holds (read-only: reading must not change what is compared)

/** `read` on the SQLite file at `path`, opened read-only; the file must exist. */
export function readSqlite<T>(path: string, read: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

const tableNames = (db: Database.Database): string[] => (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((row) => row.name);

/** The tables of a SQLite file by name, SQLite's own (sqlite_sequence) included. */
export function sqliteTables(path: string): string[] {
  return readSqlite(path, tableNames);
}

/** The rows of a table, ordered by its first column. */
export function sqliteRows(path: string, table: string): unknown[] {
  return readSqlite(path, (db) => db.prepare(`SELECT * FROM "${table}" ORDER BY 1`).all());
}

/** A row of `_prisma_migrations`. */
export interface HistoryRow {
  id: string;
  checksum: string;
  finished_at: string | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: string | null;
  applied_steps_count: number;
}

/** A SQLite database as a Migrate case checks it: its tables, its migration history (null without the table), row counts. */
export function readMigrateState(path: string): { tables: string[]; history: HistoryRow[] | null; count: (table: string) => number } {
  return readSqlite(path, (db) => {
    const tables = tableNames(db);
    const history = tables.includes('_prisma_migrations') ? (db.prepare('SELECT * FROM "_prisma_migrations" ORDER BY started_at, migration_name').all() as HistoryRow[]) : null;
    const counts = Object.fromEntries(tables.map((table) => [table, (db.prepare(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n]));
    return { tables, history, count: (table) => counts[table] ?? -1 };
  });
}
