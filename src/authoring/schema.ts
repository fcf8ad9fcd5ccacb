/**
 * One source schema (`prisma/schema.prisma`, provider sqlite) and its derived
 * PostgreSQL twin: same models, other provider, other client output.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Provider } from '../db.ts';
import { KitError } from '../errors.ts';
import { displayPath, prismaDir } from '../runtime/history.ts';
import { assertPortableSource } from './portability.ts';

export interface SchemaFile {
  provider: Provider;
  path: string;
  text: string;
}

export const DERIVED_HEADER = '// GENERATED from schema.prisma by `make generate`: do not edit. Edit schema.prisma instead.\n';

export function sourceSchemaPath(): string {
  return join(prismaDir(), 'schema.prisma');
}

export function schemaPath(provider: Provider): string {
  return provider === 'sqlite' ? sourceSchemaPath() : join(prismaDir(), 'schema.postgresql.prisma');
}

export function readSourceSchema(): string {
  const path = sourceSchemaPath();
  if (!existsSync(path)) throw new KitError('SCHEMA', `No schema at ${displayPath(path)}`);
  return readFileSync(path, 'utf8');
}

/** The source schema rewritten for PostgreSQL. Fails, saying what to write, when the source is not a portable SQLite one. */
export function derivePostgresSchema(source: string): string {
  assertPortableSource(source);
  const datasource = /datasource\s+\w+\s*\{[^}]*\}/.exec(source) as RegExpExecArray;
  const rewritten = source
    .replace(datasource[0], datasource[0].replace(/provider\s*=\s*"sqlite"/, 'provider = "postgresql"'))
    .replace(/(\boutput\s*=\s*"[^"]*)sqlite(\/?)"/g, '$1postgresql$2"');
  return DERIVED_HEADER + rewritten;
}

/** The schema for a provider, as it must be (derived freshly, never read from the possibly stale file). */
export function schemaFor(provider: Provider, source = readSourceSchema()): SchemaFile {
  return { provider, path: schemaPath(provider), text: provider === 'sqlite' ? source : derivePostgresSchema(source) };
}

/** True when the derived file on disk matches the source. */
export function derivedSchemaIsFresh(source = readSourceSchema()): boolean {
  const path = schemaPath('postgresql');
  return existsSync(path) && readFileSync(path, 'utf8') === derivePostgresSchema(source);
}
