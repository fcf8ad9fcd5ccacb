/**
 * `make generate`: write the derived PostgreSQL schema, validate both variants
 * and generate one client per provider, offline. `prisma generate` only checks
 * that a schema engine binary exists and never runs it, so the documented
 * override PRISMA_SCHEMA_ENGINE_BINARY points at any executable.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { projectRoot, type Provider } from '../db.ts';
import { KitError } from '../errors.ts';
import { PROVIDERS, displayPath } from '../runtime/history.ts';
import { derivePostgresSchema, readSourceSchema, schemaFor, schemaPath } from './schema.ts';

const run = promisify(execFile);

/**
 * Where `prisma generate` writes a provider's client: the generator's `output`, relative
 * to the schema file (so a PRISMA_DIR copy generates beside itself, never into src/generated).
 */
export function clientDir(provider: Provider, source = readSourceSchema()): string {
  const schema = schemaFor(provider, source);
  const output = /generator\s+\w+\s*\{[^}]*?\boutput\s*=\s*"([^"]+)"/.exec(schema.text)?.[1];
  return output ? resolve(dirname(schema.path), output) : join(projectRoot, 'src', 'generated', provider);
}

/** The hash of the schema the clients were last generated from, beside the clients. */
function stampPath(source: string): string {
  return join(dirname(clientDir('sqlite', source)), '.schema-hash');
}

/** The official CLI's entry, run with node (no npx: nothing to resolve or download). */
export function prismaCli(): string {
  return join(dirname(fileURLToPath(import.meta.resolve('prisma/config'))), 'build', 'index.js');
}

/** Environment for the official CLI: no engine download, no update check, no telemetry. */
export function prismaCliEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || process.execPath,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
  };
}

/** Write schema.postgresql.prisma when it differs from what the source derives; true when written. */
export function writeDerivedSchema(source = readSourceSchema()): boolean {
  const path = schemaPath('postgresql');
  const derived = derivePostgresSchema(source);
  if (existsSync(path) && readFileSync(path, 'utf8') === derived) return false;
  writeFileSync(path, derived);
  return true;
}

function schemaHash(source: string): string {
  return createHash('sha256').update(source).update(readFileSync(join(projectRoot, 'package.json'))).digest('hex');
}

export interface GenerateResult {
  generated: boolean;
  derivedWritten: boolean;
}

/** Generate both clients; with `ifChanged`, only when the schema changed since the last run. */
export async function generateClients(options: { ifChanged?: boolean } = {}): Promise<GenerateResult> {
  const source = readSourceSchema();
  const derivedWritten = writeDerivedSchema(source);
  const hash = schemaHash(source);
  const STAMP = stampPath(source);
  const clientsExist = PROVIDERS.every((p) => existsSync(join(clientDir(p, source), 'client.ts')));
  if (options.ifChanged && !derivedWritten && clientsExist && existsSync(STAMP) && readFileSync(STAMP, 'utf8') === hash) {
    return { generated: false, derivedWritten };
  }
  // Both at once, but a failure is reported for the first provider that has one: the same bad line always gets the same message.
  const results = await Promise.allSettled(PROVIDERS.map((provider) => generateOne(provider)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  mkdirSync(dirname(STAMP), { recursive: true });
  writeFileSync(STAMP, hash);
  return { generated: true, derivedWritten };
}

async function generateOne(provider: Provider): Promise<void> {
  const schema = schemaPath(provider);
  try {
    await run(process.execPath, [prismaCli(), 'generate', '--schema', schema], { cwd: projectRoot, env: prismaCliEnv() });
  } catch (error) {
    const output = `${(error as { stdout?: string }).stdout ?? ''}\n${(error as { stderr?: string }).stderr ?? ''}`;
    throw new KitError('SCHEMA', `The schema is not valid for ${provider} (${displayPath(schema)}):\n${validationSummary(output)}`, {
      hint: provider === 'postgresql' ? 'schema.prisma may only use what both SQLite and PostgreSQL express; remove the construct named above.' : undefined,
    });
  }
}

/** Prisma's validation errors without colours and boilerplate. */
function validationSummary(output: string): string {
  const clean = output.replace(/\u001b\[[0-9;]*m/g, '');
  const errors = clean.split('\n').filter((line) => /^error:|-->|^\s*\d+ \|/.test(line.trim()) || /^error/.test(line));
  return (errors.length ? errors : clean.split('\n').filter((l) => l.trim() && !/Prisma CLI Version|Context:/.test(l)))
    .slice(0, 20)
    .map((l) => `  ${l.trim()}`)
    .join('\n');
}
