/**
 * The schema engine the official `prisma` CLI runs (PRISMA_SCHEMA_ENGINE_BINARY):
 * Prisma's engine protocol (one-shot `cli …` commands, then JSON-RPC, one object per
 * line), served by the kit where the kit owns the behaviour (deploy, status, resolve,
 * db execute, reset, connections) and by the WebAssembly engine bound to the kit's
 * adapters for the rest (diff, db push, db pull, migrate dev).
 * See ../shared/research/prisma-cli-engine-protocol.md for the protocol.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createMigrationAdapterFactory, maskSecrets, openConnection, parseDatabaseUrl, withDatabase, type DatabaseTarget, type UrlVariable } from '../db.ts';
import { KitError, errorMessage } from '../errors.ts';
import { deploy } from '../runtime/deploy.ts';
import { assertLockfile, readHistory, type History } from '../runtime/history.ts';
import { readStatus } from '../runtime/status.ts';
import { engineVersion, openEngine, type OpenEngine } from './engine.ts';
import { assertDestructiveAllowed, dropEverything } from '../runtime/reset.ts';
import { ensureTable } from '../runtime/table.ts';
import { scanStatements, startsWith } from '../runtime/sql-script.ts';
import { resolveMigration } from '../runtime/resolve.ts';
import { lockTimeoutMs } from '../env.ts';

export interface EngineArgs {
  datamodels: string[];
  datasource: { url?: string; shadowDatabaseUrl?: string };
  oneShot?: string;
  version: boolean;
}

/** The CLI and engine versions whose protocol this engine speaks: named when a newer CLI asks for more. */
const PINNED = 'prisma 7.10.1 with @prisma/schema-engine-wasm 8.1.0-2.59be4fda (see package.json)';

export function parseEngineArgs(argv: string[]): EngineArgs {
  const args: EngineArgs = { datamodels: [], datasource: {}, version: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new KitError('BAD_USAGE', `${arg} needs a value`);
      return next;
    };
    if (arg === '--version' || arg === '-V') args.version = true;
    else if (arg === '--datamodels' || arg === '-d') args.datamodels.push(value());
    else if (arg === '--datasource') args.datasource = JSON.parse(value()) as EngineArgs['datasource'];
    else if (arg === '--extension-types') value(); // no extensions on SQLite or PostgreSQL as the kit runs them
    else if (arg === 'cli') args.oneShot = argv[++i] ?? '';
    else throw new KitError('BAD_USAGE', `The kit's schema engine does not know the argument "${arg}": pin ${PINNED}`);
  }
  return args;
}

function targetOf(args: EngineArgs): DatabaseTarget {
  if (!args.datasource.url) throw new KitError('BAD_URL', 'prisma.config.ts gives the engine no datasource url: set DATABASE_URL');
  return cliUrl(args.datasource.url, 'the datasource url of prisma.config.ts');
}

/**
 * A URL the CLI hands over, read as Prisma reads it: a relative SQLite path is relative
 * to the folder of the config that names it (the CLI starts the engine there), and a
 * URL that cannot be read is Prisma's P1013, naming where it came from.
 */
function cliUrl(url: string, from: UrlVariable): DatabaseTarget {
  try {
    return parseDatabaseUrl(url, from, process.cwd());
  } catch (error) {
    if (!(error instanceof KitError) || error.code !== 'BAD_URL') throw error;
    throw new KitError('BAD_URL', `The provided database string is invalid. ${error.message}`, { cause: error, prismaCode: 'P1013' });
  }
}

/** Prisma's P1003, in Prisma's words, for a SQLite file that is not there: only create-database creates one. */
function missingSqliteFile(target: DatabaseTarget): KitError {
  const file = target.provider === 'sqlite' ? target.file : '';
  return new KitError('CONNECTION', `Database \`${basename(file)}\` does not exist`, { prismaCode: 'P1003' });
}

function sqliteFileMissing(target: DatabaseTarget): boolean {
  return target.provider === 'sqlite' && target.file !== ':memory:' && !existsSync(target.file);
}

/**
 * A diff between two empty schemas names no database kind: Prisma's engine says so rather
 * than guess one from the config's URL (the wasm engine would connect to it).
 */
function assertDiffHasConnector(params: Params): void {
  if ([params.from, params.to].every((side) => (side as { tag?: string } | undefined)?.tag === 'empty')) {
    throw new Error('Could not determine the connector to use for diffing.\n');
  }
}

/** Whether a request reads or writes the target database (a diff between files does not). */
function readsTarget(method: string, params: Params): boolean {
  if (method !== 'diff') return true;
  return [params.from, params.to].some((side) => (side as { tag?: string } | undefined)?.tag === 'schemaDatasource');
}

/** The version line `prisma version` prints as the schema engine's. */
export async function versionLine(): Promise<string> {
  return `schema-engine-cli ${(await engineVersion()).trim()} (the rastar kit's engine: @prisma/schema-engine-wasm on the kit's driver adapters)`;
}

/**
 * What the CLI prints of a failure, masked: the message and its hint. The CLI prints
 * `Error: <code>` above it, so a message does not repeat its code.
 */
function engineMessage(error: unknown, target?: DatabaseTarget): { message: string; error_code?: string } {
  const kit = error instanceof KitError ? error : null;
  const text = kit ? [kit.message.replace(/^P\d{4}: /, ''), kit.hint].filter(Boolean).join('\n\n') : errorMessage(error);
  return { message: maskSecrets(text, target), error_code: kit?.prismaCode };
}

/** A failure in the engine log format the CLI reads from stderr: one JSON line. */
export function errorLog(error: unknown, target?: DatabaseTarget): string {
  return JSON.stringify({ level: 'ERROR', target: 'schema_engine::logger', fields: engineMessage(error, target) });
}

/**
 * What the CLI's users and scripts know from Prisma, in Prisma's words: an unreachable
 * server (P1001), a missing database (P1003), a database to baseline (P3005, then the
 * kit's way to find what its tables hold).
 */
function inPrismaWords(error: unknown, target: DatabaseTarget): unknown {
  if (!(error instanceof KitError)) return error;
  const say = (message: string) => new KitError(error.code, message, { cause: error, prismaCode: error.prismaCode, hint: error.hint });
  if (error.prismaCode === 'P3005') return say('The database schema is not empty. Read more about how to baseline an existing production database: https://pris.ly/d/migrate-baseline');
  if (error.code !== 'CONNECTION') return error;
  if (target.provider === 'sqlite') return error.prismaCode === 'P1003' ? missingSqliteFile(target) : error;
  const at = `\`${target.config.host}:${target.config.port}\``;
  if (error.prismaCode === 'P1001') return say(`Can't reach database server at ${at}\n\nPlease make sure your database server is running at ${at}.`);
  if (error.prismaCode === 'P1003' && !error.message.startsWith('Database `')) return say(`Database \`${target.config.database}\` does not exist on the database server at ${at}.`);
  return error;
}

/** `cli can-connect-to-database | create-database | drop-database`: exit code 0 or 1. */
export async function runOneShot(args: EngineArgs, command: string): Promise<void> {
  const target = targetOf(args);
  try {
    await oneShot(target, command);
  } catch (error) {
    throw inPrismaWords(error, target);
  }
}

async function oneShot(target: DatabaseTarget, command: string): Promise<void> {
  if (command === 'can-connect-to-database') {
    if (sqliteFileMissing(target)) throw missingSqliteFile(target);
    const conn = await openConnection(target, { applicationName: 'prisma-cli', readonly: target.provider === 'sqlite' });
    await conn.close();
  } else if (command === 'create-database') {
    if (target.provider === 'sqlite') return void (await (await openConnection(target)).close());
    await onServer(target, (name) => `CREATE DATABASE ${name}`);
  } else if (command === 'drop-database') {
    assertDestructiveAllowed('drop the database');
    if (target.provider === 'sqlite') return dropEverything(target);
    await onServer(target, (name) => `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } else {
    throw new KitError('BAD_USAGE', `The kit's schema engine does not know the command "cli ${command}": pin ${PINNED}`);
  }
}

/** A statement about the target's database, run from the server's `postgres` database. */
async function onServer(target: DatabaseTarget & { provider: 'postgresql' }, sql: (quotedName: string) => string): Promise<void> {
  const admin = await openConnection(withDatabase(target, 'postgres'), { applicationName: 'prisma-cli' });
  try {
    await admin.exec(sql(`"${target.config.database.replace(/"/g, '""')}"`));
  } finally {
    await admin.close();
  }
}

type Params = Record<string, unknown>;
interface MigrationsList {
  baseDir: string;
}

/** The history the CLI sends (its migrations folder), read the kit's way. */
function historyOf(target: DatabaseTarget, params: Params): History {
  const list = params.migrationsList as MigrationsList | undefined;
  if (!list?.baseDir) throw new KitError('BAD_USAGE', 'the request carries no migrationsList');
  return readHistory(target.provider, resolve(list.baseDir));
}

/** Kit-served methods; everything else goes to the WebAssembly engine. */
function kitMethods(args: EngineArgs, target: DatabaseTarget): Record<string, (params: Params) => Promise<unknown>> {
  const withConn = async <T>(work: (conn: Awaited<ReturnType<typeof openConnection>>) => Promise<T>, readonly = false): Promise<T> => {
    if (sqliteFileMissing(target)) throw missingSqliteFile(target);
    const conn = await openConnection(target, { applicationName: 'prisma-cli', readonly });
    try {
      return await work(conn);
    } finally {
      await conn.close();
    }
  };
  return {
    // The kit's deploy: each migration in one transaction with its row, the lock, the gate's NOTIFY.
    applyMigrations: async (params) => {
      const history = historyOf(target, params);
      // Prisma's answer to an empty folder: the history table, and nothing to apply.
      if (history.migrations.length === 0) {
        assertLockfile(history);
        await withConn(ensureTable);
        return { appliedMigrationNames: [] };
      }
      const result = await withConn((conn) => deploy(conn, history, { lockTimeoutMs: lockTimeoutMs() }));
      return { appliedMigrationNames: result.applied.map((m) => m.name) };
    },
    diagnoseMigrationHistory: async (params) => {
      const history = historyOf(target, params);
      const status = await withConn((conn) => readStatus(conn, history), true);
      const known = new Set(history.migrations.map((m) => m.name));
      const unapplied = status.pending;
      const unpersisted = status.unknown.filter((name) => !known.has(name));
      const lastCommon = status.applied.at(-1) ?? null;
      const historyDiagnostic =
        unapplied.length && unpersisted.length
          ? { diagnostic: 'historiesDiverge', lastCommonMigrationName: lastCommon, unpersistedMigrationNames: unpersisted, unappliedMigrationNames: unapplied }
          : unapplied.length
            ? { diagnostic: 'databaseIsBehind', unappliedMigrationNames: unapplied }
            : unpersisted.length
              ? { diagnostic: 'migrationsDirectoryIsBehind', unpersistedMigrationNames: unpersisted }
              : null;
      return { editedMigrationNames: status.edited, failedMigrationNames: status.failed.map((f) => f.name), hasMigrationsTable: status.hasTable, history: historyDiagnostic };
    },
    markMigrationApplied: async (params) => {
      await resolveMigration(target, historyOf(target, params), String(params.migrationName), 'applied');
      return {};
    },
    markMigrationRolledBack: async (params) => {
      // The CLI sends no folder here: the kit's own (PRISMA_DIR or prisma/).
      await resolveMigration(target, readHistory(target.provider), String(params.migrationName), 'rolled-back');
      return {};
    },
    // Whole scripts, the kit's way: several statements, `;` in comments and $$ bodies.
    dbExecute: async (params) => {
      const source = params.datasourceType as { tag: string; url?: string } | undefined;
      const on = source?.tag === 'url' && source.url ? (source.url === args.datasource.url ? target : cliUrl(source.url, '--url')) : target;
      const dropped = droppedContainer(String(params.script), on.provider);
      if (dropped) assertDestructiveAllowed(`run a script that drops a ${dropped}`);
      const conn = await openConnection(on, { applicationName: 'prisma-cli' });
      try {
        await conn.exec(String(params.script));
      } catch (error) {
        // Prisma's P1003 for a script's reference to a database that does not exist (DROP DATABASE "x").
        const missing = (error as { code?: string }).code === '3D000' ? /database "(.*)" does not exist/.exec(errorMessage(error))?.[1] : undefined;
        if (missing !== undefined) throw new KitError('CONNECTION', `Database \`${missing}\` does not exist`, { cause: error, prismaCode: 'P1003' });
        // The server's own words, as Prisma prints them: `ERROR: syntax error at or near …`.
        const severity = (error as { severity?: string }).severity;
        throw severity ? new Error(`${severity}: ${errorMessage(error)}\n`, { cause: error }) : error;
      } finally {
        await conn.close();
      }
      return {};
    },
    // Really empty, SQLite included (the wasm engine's reset leaves SQLite's tables).
    // migrate reset, db push --force-reset. Then an empty SQLite file, as Prisma leaves it.
    reset: async () => {
      assertDestructiveAllowed(target.provider === 'sqlite' ? 'empty the database' : `drop schema "${target.schema}" with every table and row`);
      await dropEverything(target);
      if (target.provider === 'sqlite') await (await openConnection(target, { applicationName: 'prisma-cli' })).close();
      return {};
    },
    // Lockstep: a migration exists in both folders or in none. The CLI would write one.
    devDiagnostic: refuseDev,
    createMigration: refuseDev,
    ensureConnectionValidity: async () => withConn(async () => ({})),
    getDatabaseVersion: async () => withConn(async (conn) => (await conn.query<{ v: string }>(target.provider === 'sqlite' ? 'SELECT sqlite_version() AS v' : 'SELECT version() AS v'))[0]?.v ?? ''),
  };
}

/** `database` or `schema` when a script drops one (DROP DATABASE, DROP SCHEMA): its kind, else null. */
function droppedContainer(script: string, provider: DatabaseTarget['provider']): string | null {
  for (const { tokens } of scanStatements(script, provider)) {
    if (startsWith(tokens, 'DROP', 'DATABASE')) return 'database';
    if (startsWith(tokens, 'DROP', 'SCHEMA')) return 'schema';
  }
  return null;
}

async function refuseDev(): Promise<never> {
  throw new KitError('REFUSED', 'npx prisma migrate dev would write the migration for one provider only; create it for both with: make migrate NAME=<name>');
}

/**
 * The WebAssembly engine, opened on the CLI's schema files at the first call that needs
 * it. It connects as it opens: on an in-memory stand-in for a missing SQLite file, so
 * that the file is never created by the way (a request that reads it is P1003).
 */
function lazyEngine(args: EngineArgs, target: DatabaseTarget): { get(): Promise<OpenEngine>; close(): Promise<void> } {
  let opened: Promise<OpenEngine> | undefined;
  return {
    get() {
      opened ??= (async () => {
        const path = args.datamodels[0];
        const text = path ? readFileSync(path, 'utf8') : `datasource db {\n  provider = "${target.provider}"\n}\n`;
        const shadowServer = args.datasource.shadowDatabaseUrl ? cliUrl(args.datasource.shadowDatabaseUrl, 'the shadowDatabaseUrl of prisma.config.ts') : undefined;
        const on = sqliteFileMissing(target) ? parseDatabaseUrl('file::memory:') : target;
        const factory = await createMigrationAdapterFactory(on, { mustExist: true, ...(shadowServer?.provider === 'postgresql' ? { shadowServer } : {}) });
        return openEngine(path ? basename(path) : 'schema.prisma', text, factory);
      })();
      return opened;
    },
    async close() {
      if (opened) await (await opened).close();
    },
  };
}

interface Request {
  id: number | string;
  method: string;
  params?: Params;
}

/** JSON-RPC over stdin/stdout until the CLI closes stdin. */
export async function serve(args: EngineArgs, input: NodeJS.ReadableStream, write: (line: string) => void): Promise<void> {
  const target = targetOf(args);
  const methods = kitMethods(args, target);
  const engine = lazyEngine(args, target);
  const respond = (id: Request['id'], body: { result: unknown } | { error: unknown }) => write(`${JSON.stringify({ jsonrpc: '2.0', id, ...body })}\n`);
  let queue = Promise.resolve();
  const handle = async (request: Request) => {
    try {
      const own = methods[request.method];
      let result: unknown;
      if (own) result = await own(request.params ?? {});
      else {
        if (request.method === 'diff') assertDiffHasConnector(request.params ?? {});
        const open = await engine.get();
        const method = (open.engine as unknown as Record<string, (p: unknown) => Promise<unknown>>)[request.method];
        if (typeof method !== 'function') throw new KitError('BAD_USAGE', `The kit's schema engine does not know the method "${request.method}": pin ${PINNED}`);
        if (sqliteFileMissing(target) && readsTarget(request.method, request.params ?? {})) throw missingSqliteFile(target);
        result = await open.call((e) => method.call(e, request.params ?? {}));
        // The CLI prints a diff only through the engine's `print` request, adding the line end; the wasm engine returns it with its own.
        const printed = request.method === 'diff' ? (result as { stdout?: string | null }).stdout : undefined;
        if (printed) {
          write(`${JSON.stringify({ jsonrpc: '2.0', id: `print-${request.id}`, method: 'print', params: { content: printed.replace(/\n$/, '') } })}\n`);
          result = { ...(result as object), stdout: null };
        }
      }
      respond(request.id, { result: result ?? {} });
    } catch (error) {
      respond(request.id, { error: { code: 4466, message: 'An error happened. Check the data field for details.', data: { is_panic: false, ...engineMessage(inPrismaWords(error, target), target), meta: {} } } });
    }
  };
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const message = JSON.parse(line) as Request & { result?: unknown };
    if (message.method === undefined) continue; // the CLI's answer to a `print`
    queue = queue.then(() => handle(message));
  }
  await queue;
  await engine.close();
}
