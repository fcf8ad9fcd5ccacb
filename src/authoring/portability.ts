/**
 * What the source schema may hold: only what both SQLite and PostgreSQL express,
 * with provider "sqlite" (the PostgreSQL schema is derived from it) and a client
 * output per provider. A schema written for PostgreSQL (`@db.Uuid`,
 * `@db.Timestamptz(6)`, `String[]`, …) gets one list: every construct that is not
 * portable, grouped by kind with its lines, and what to write instead.
 */
import { KitError } from '../errors.ts';

export interface Construct {
  /** What is written, e.g. `@db.Uuid`, `String[]`, `Unsupported("…")`. */
  kind: string;
  lines: number[];
  /** What to write instead. */
  instead: string;
}

const NATIVE_INSTEAD: Record<string, string> = {
  Uuid: 'String',
  Timestamptz: 'DateTime',
  Timestamp: 'DateTime',
  Date: 'DateTime',
  Time: 'DateTime',
  Timetz: 'DateTime',
  VarChar: 'String',
  Char: 'String',
  Text: 'String',
  Citext: 'String',
  Inet: 'String',
  Xml: 'String',
  Bit: 'String',
  VarBit: 'String',
  JsonB: 'Json',
  Json: 'Json',
  ByteA: 'Bytes',
  Decimal: 'Decimal',
  Money: 'Decimal',
  SmallInt: 'Int',
  Integer: 'Int',
  Oid: 'Int',
  BigInt: 'BigInt',
  Real: 'Float',
  DoublePrecision: 'Float',
  Boolean: 'Boolean',
};

const SCALARS = 'String|Int|BigInt|Float|Decimal|Boolean|DateTime|Json|Bytes';

/** Line rules: a pattern on one line (short, no nested quantifiers), the kind it names, what to write. */
const RULES: { pattern: RegExp; kind: (match: RegExpExecArray) => string; instead: (match: RegExpExecArray) => string }[] = [
  { pattern: /@db\.(\w+)/g, kind: (m) => `@db.${m[1]}`, instead: (m) => `${NATIVE_INSTEAD[m[1] as string] ?? 'the plain Prisma type'} without @db.${m[1]}${m[1] === 'Uuid' ? ' (keep @default(uuid()))' : ''}` },
  { pattern: new RegExp(`\\b(${SCALARS})\\[\\]`, 'g'), kind: (m) => `${m[1]}[] (a scalar list)`, instead: () => 'a related model with one row per value, or a Json field' },
  { pattern: /\bUnsupported\(/g, kind: () => 'Unsupported("…")', instead: () => 'a type both providers have, or leave the column to a hand-written migration outside the models' },
  { pattern: /\bdbgenerated\(/g, kind: () => '@default(dbgenerated(…))', instead: () => 'a default both providers express (autoincrement(), now(), uuid(), cuid(), a literal) or one set in code' },
  { pattern: /@@schema\(/g, kind: () => '@@schema(…)', instead: () => 'no @@schema: SQLite has one schema (set ?schema= in the PostgreSQL DATABASE_URL instead)' },
  { pattern: /\btype:\s*(Gin|Gist|Hash|Brin|SpGist)\b/g, kind: (m) => `index type: ${m[1]}`, instead: () => 'a plain @@index, or the special index in a hand-written PostgreSQL migration' },
  { pattern: /\bops:\s*\w+/g, kind: () => 'index ops: …', instead: () => 'a plain @@index' },
  { pattern: /^\s*extensions\s*=/g, kind: () => 'datasource extensions = […]', instead: () => 'no extensions in the datasource (create them in a PostgreSQL migration)' },
];

/** Every construct of the source that SQLite (and so the shared schema) cannot express. */
export function unportableConstructs(source: string): Construct[] {
  const found = new Map<string, Construct>();
  source.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\/\/.*$/, ''); // comments (///, //) say nothing to the engine
    for (const rule of RULES) {
      rule.pattern.lastIndex = 0;
      for (let match = rule.pattern.exec(line); match; match = rule.pattern.exec(line)) {
        const kind = rule.kind(match);
        const entry = found.get(kind) ?? { kind, lines: [], instead: rule.instead(match) };
        if (!entry.lines.includes(index + 1)) entry.lines.push(index + 1);
        found.set(kind, entry);
      }
    }
  });
  return [...found.values()].sort((a, b) => b.lines.length - a.lines.length || a.kind.localeCompare(b.kind));
}

/** The list for people: one line per kind, its count, lines and what to write. */
export function describeConstructs(constructs: Construct[]): string {
  return constructs
    .map((c) => {
      const lines = c.lines.length > 12 ? `${c.lines.slice(0, 12).join(', ')}, … (${c.lines.length} in all)` : c.lines.join(', ');
      return `  ${c.kind} ×${c.lines.length}, line${c.lines.length === 1 ? '' : 's'} ${lines}\n      write instead: ${c.instead}`;
    })
    .join('\n');
}

/** The provider the datasource block names, or null without one. */
export function datasourceProvider(source: string): string | null {
  const block = /datasource\s+\w+\s*\{([^}]*)\}/.exec(source)?.[1];
  if (block === undefined) return null;
  return /provider\s*=\s*"([^"]*)"/.exec(block)?.[1] ?? '';
}

/** The `output` of each Prisma client generator (prisma-client, prisma-client-js). */
function clientOutputs(source: string): { output: string | null; line: number }[] {
  const outputs: { output: string | null; line: number }[] = [];
  const blocks = /generator\s+\w+\s*\{([^}]*)\}/g;
  for (let match = blocks.exec(source); match; match = blocks.exec(source)) {
    const body = match[1] as string;
    if (!/provider\s*=\s*"prisma-client(-js)?"/.test(body)) continue;
    outputs.push({ output: /\boutput\s*=\s*"([^"]*)"/.exec(body)?.[1] ?? null, line: source.slice(0, match.index).split('\n').length });
  }
  return outputs;
}

/**
 * Refuse a source schema the kit cannot derive both providers from, saying what to
 * write: provider "sqlite", only portable constructs, a client output ending in /sqlite.
 */
export function assertPortableSource(source: string, file = 'prisma/schema.prisma'): void {
  const provider = datasourceProvider(source);
  if (provider === null) throw new KitError('SCHEMA', `${file} has no datasource block; write: datasource db {\n  provider = "sqlite"\n}`);
  const constructs = unportableConstructs(source);
  const count = constructs.reduce((sum, c) => sum + c.lines.length, 0);
  const list = constructs.length ? `\n${describeConstructs(constructs)}` : '';
  if (provider !== 'sqlite') {
    const rest = count ? `; then replace the ${count} construct${count === 1 ? '' : 's'} SQLite cannot express:` : '.';
    throw new KitError('SCHEMA', `${file} has provider = "${provider}", but the source schema is the SQLite one (the kit derives the PostgreSQL schema from it): write provider = "sqlite"${rest}${list}`);
  }
  if (count) {
    throw new KitError('SCHEMA', `${file} uses ${count} construct${count === 1 ? '' : 's'} that SQLite cannot express (the source schema may only hold what both providers do):${list}`);
  }
  for (const { output, line } of clientOutputs(source)) {
    if (output !== null && /(^|\/)sqlite\/?$/.test(output)) continue;
    throw new KitError(
      'SCHEMA',
      `${file} line ${line}: the client generator's output ${output === null ? 'is not set' : `"${output}" does not end in /sqlite`}, so both providers' clients would be generated into one folder; write output = "../src/generated/sqlite" (the PostgreSQL client goes beside it, in ../src/generated/postgresql, where src/db.ts loads both)`,
    );
  }
}
