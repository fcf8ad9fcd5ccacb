/**
 * Prisma's schema engine, compiled to WebAssembly, run in-process and bound to
 * the same driver adapters the app uses. Loaded only by commands that diff,
 * create, diagnose or resolve: deploy and status never pay for it.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bindMigrationAwareSqlAdapterFactory, type SqlDriverAdapter, type SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import type * as Wasm from '@prisma/schema-engine-wasm';
import { createMigrationAdapterFactory, type DatabaseTarget } from '../db.ts';
import { KitError, errorMessage } from '../errors.ts';
import { lockfileText, type History } from '../runtime/history.ts';
import { schemaFor } from './schema.ts';

export type SchemaEngine = Wasm.SchemaEngine;
export type { DiffTarget, MigrationList } from '@prisma/schema-engine-wasm';

let loaded: Promise<typeof Wasm> | undefined;
/** The engine reports a Rust panic here just before trapping; the trap itself says only "unreachable". */
let lastPanic: string | undefined;
(globalThis as { PRISMA_WASM_PANIC_REGISTRY?: unknown }).PRISMA_WASM_PANIC_REGISTRY ??= {
  set_message(message: string) {
    lastPanic = message;
  },
};

/** Instantiate the bundler-style module by hand: Node cannot import a .wasm file. */
function loadWasm(): Promise<typeof Wasm> {
  loaded ??= (async () => {
    const dir = dirname(fileURLToPath(import.meta.resolve('@prisma/schema-engine-wasm/schema_engine_bg')));
    const bindings = (await import('@prisma/schema-engine-wasm/schema_engine_bg')) as unknown as typeof Wasm & {
      __wbg_set_wasm(exports: WebAssembly.Exports): void;
    };
    const bytes = await readFile(join(dir, 'schema_engine_bg.wasm'));
    const { instance } = await WebAssembly.instantiate(bytes, { './schema_engine_bg.js': bindings as unknown as WebAssembly.ModuleImports });
    bindings.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return bindings;
  })();
  return loaded;
}

export async function engineVersion(): Promise<string> {
  return (await loadWasm()).version();
}

export interface OpenEngine {
  engine: SchemaEngine;
  /** Run one engine call; errors become KitErrors with Prisma's code and the driver's own message. */
  call<T>(operation: (engine: SchemaEngine) => Promise<T>): Promise<T>;
  /** Free the engine and dispose every connection it opened (SQLite: releases its exclusive lock). */
  close(): Promise<void>;
}

/** Start an engine for one schema file and one adapter factory. Errors keep Prisma's code. */
export async function openEngine(schemaPath: string, schemaText: string, factory: SqlMigrationAwareDriverAdapterFactory): Promise<OpenEngine> {
  const wasm = await loadWasm();
  const opened: SqlDriverAdapter[] = [];
  // The engine words a script's failure on a shadow (P3006) without the driver's message: kept here.
  let scriptFailure: unknown;
  const track = async (connect: () => Promise<SqlDriverAdapter>) => {
    const adapter = await connect();
    opened.push(adapter);
    for (const method of ['executeScript', 'executeRaw'] as const) {
      const original = (adapter[method] as (arg: never) => Promise<unknown>).bind(adapter);
      Object.assign(adapter, {
        [method]: (arg: never) =>
          original(arg).catch((error: unknown) => {
            scriptFailure = error;
            throw error;
          }),
      });
    }
    return adapter;
  };
  const tracking: SqlMigrationAwareDriverAdapterFactory = {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: () => track(() => factory.connect()),
    connectToShadowDb: () => track(() => factory.connectToShadowDb()),
  };
  const close = async () => {
    for (const adapter of opened.splice(0)) await adapter.dispose().catch(() => {});
  };
  const bound = bindMigrationAwareSqlAdapterFactory(tracking);
  // The engine only sees "External error id#N"; the driver's error waits in the registry.
  const translate = (error: unknown) => {
    const translated = engineError(error);
    if (translated.prismaCode === 'P3006' && scriptFailure !== undefined) return shadowFailure(translated.message, scriptFailure);
    const id = /External error id#(\d+)/.exec(translated.message)?.[1];
    const record = id === undefined ? undefined : bound.errorRegistry.consumeError(Number(id));
    if (!record) return translated;
    const cause = record.error as { message?: string; kind?: string; originalMessage?: string };
    const detail = cause.originalMessage ?? cause.message ?? cause.kind ?? JSON.stringify(cause);
    return new KitError('ENGINE', translated.message.replace(/External error id#\d+/, detail), { cause: record.error, prismaCode: translated.prismaCode });
  };
  let engine: SchemaEngine;
  try {
    engine = await wasm.SchemaEngine.new({ datamodels: [[schemaPath, schemaText]] }, () => {}, bound);
  } catch (error) {
    await close();
    throw translate(error);
  }
  return {
    engine,
    async call(operation) {
      try {
        return await operation(engine);
      } catch (error) {
        throw translate(error);
      }
    },
    async close() {
      try {
        engine.free();
      } catch {
        // already freed
      }
      await close();
    },
  };
}

/**
 * A migration the engine could not replay on its shadow database (P3006), with the
 * driver's own message and the statement, which the engine's words lose. The target is
 * never where this happened: no hint points at it.
 */
function shadowFailure(engineMessage: string, driverError: unknown): KitError {
  const name = /Migration `([^`]+)`/.exec(engineMessage)?.[1] ?? 'of the history';
  const cause = (driverError as { cause?: { originalMessage?: string } }).cause;
  const detail = (cause?.originalMessage ?? errorMessage(driverError)).split('\n')[0];
  return new KitError('SHADOW', `Migration ${name} does not replay on a shadow database: ${detail}. Only the throw-away shadow database ran it; the target database was not touched.`, {
    cause: driverError,
    prismaCode: 'P3006',
    hint: `Every migration must replay on an empty database for the history to be compared: fix ${name} (or a migration before it) so that it applies from scratch.`,
  });
}

interface EngineErrorShape {
  message?: string;
  error_code?: string;
  errorCode?: string;
  /** The wasm engine's SchemaConnectorError carries Prisma's code here (P3017, …). */
  code?: unknown;
  meta?: unknown;
}

/** Engine messages that come without a code (connection set-up) and the code Prisma's CLI shows for them. */
const UNCODED: [RegExp, string][] = [
  [/^Authentication failed against database server/, 'P1000'],
  [/^Can't reach database server/, 'P1001'],
  [/^Database .* does not exist/, 'P1003'],
];

export function engineError(error: unknown): KitError {
  if (error instanceof KitError) return error;
  const shape = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as EngineErrorShape;
  const ownCode = typeof shape.code === 'string' && /^P\d{4}$/.test(shape.code) ? shape.code : undefined;
  const text = shape.message ?? String(error);
  const prismaCode = shape.error_code ?? shape.errorCode ?? ownCode ?? UNCODED.find(([pattern]) => pattern.test(text))?.[1];
  // Drop the engine's span trace (`   0: schema_engine…`): it is for engine developers.
  if (error instanceof WebAssembly.RuntimeError && lastPanic) {
    const panic = lastPanic;
    lastPanic = undefined;
    return new KitError('ENGINE', `Prisma's schema engine crashed: ${panic.split('\n')[0]}`, { cause: error });
  }
  // One line: the engine's paragraphs ("…not valid.\n\nPlease make sure…") joined; schema errors keep their code frame.
  const trimmed = text.split(/\n\s+0: /)[0]!.trim();
  const message = /\n\s*-->/.test(trimmed) ? trimmed : trimmed.replace(/\s*\n\s*/g, ' ');
  // P1012: the schema itself is invalid, a configuration error like any other bad input (exit 2).
  return new KitError(prismaCode === 'P1012' ? 'SCHEMA' : 'ENGINE', prismaCode ? `${prismaCode}: ${message}` : message, { cause: error, prismaCode });
}

const NO_FILTER = { externalTables: [], externalEnums: [] };

/** Prisma's `migrate diff`: a script (or summary) from one schema source to another; `changed` is false for an empty diff. */
export async function diff(open: OpenEngine, from: Wasm.DiffTarget, to: Wasm.DiffTarget, script: boolean): Promise<{ changed: boolean; output: string }> {
  const result = await open.call((engine) => engine.diff({ from, to, script, exitCode: true, filters: NO_FILTER }));
  return { changed: result.exitCode === 2, output: result.stdout ?? '' };
}

export { NO_FILTER };

/** The diff targets of the provider's schema: schema.prisma, and the database the engine is bound to. */
export interface SchemaTargets {
  datamodel: Wasm.DiffTarget;
  datasource: Wasm.DiffTarget;
}

/**
 * The engine on the target provider's schema, bound to `target` (and, for diffs from
 * a history, to its shadow databases); closed after `work`, failure or not.
 */
export async function withSchemaEngine<T>(
  target: DatabaseTarget,
  options: Parameters<typeof createMigrationAdapterFactory>[1],
  work: (engine: OpenEngine, targets: SchemaTargets) => Promise<T>,
): Promise<T> {
  return withEngineOn(target, options, schemaFor(target.provider), work);
}

/**
 * The engine bound to `target` with a schema of one datasource block, for what never
 * reads schema.prisma: comparing a history with the database (baseline, repair), on
 * any history, the project's or another one.
 */
export async function withDatabaseEngine<T>(
  target: DatabaseTarget,
  options: Parameters<typeof createMigrationAdapterFactory>[1],
  work: (engine: OpenEngine, datasource: Wasm.DiffTarget) => Promise<T>,
): Promise<T> {
  const schema = { path: 'schema.prisma', text: `datasource db {\n  provider = "${target.provider}"\n}\n` };
  return withEngineOn(target, options, schema, (engine, { datasource }) => work(engine, datasource));
}

async function withEngineOn<T>(
  target: DatabaseTarget,
  options: Parameters<typeof createMigrationAdapterFactory>[1],
  schema: { path: string; text: string },
  work: (engine: OpenEngine, targets: SchemaTargets) => Promise<T>,
): Promise<T> {
  const files = [{ path: schema.path, content: schema.text }];
  const engine = await openEngine(schema.path, schema.text, await createMigrationAdapterFactory(target, options));
  try {
    return await work(engine, { datamodel: { tag: 'schemaDatamodel', files }, datasource: { tag: 'schemaDatasource', files, configDir: '.' } });
  } finally {
    await engine.close();
  }
}

/** A migrations folder as a diff target: the engine replays it on a shadow database. */
export function historyTarget(history: History): Wasm.DiffTarget {
  return { tag: 'migrations', ...toMigrationList(history) };
}

/** The history as Prisma's engine reads it. */
export function toMigrationList(history: History): Wasm.MigrationList {
  return {
    baseDir: history.dir,
    lockfile: { path: 'migration_lock.toml', content: history.lockfile ?? lockfileText(history.provider) },
    shadowDbInitScript: '',
    migrationDirectories: history.migrations.map((migration) => ({
      path: migration.name,
      migrationFile: { path: 'migration.sql', content: { tag: 'ok', value: migration.script } },
    })),
  } as Wasm.MigrationList;
}
