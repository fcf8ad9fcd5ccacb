/**
 * `make lint`: the rules of lint-rules.ts over the migrations of both folders, one
 * finding per rule and statement. A finding is silenced only by a comment in the
 * migration, `-- lint:allow <rule> <reason>`, and still shown as allowed.
 */
import { openConnection, type DatabaseTarget, type Provider, type SqlConnection } from '../db.ts';
import { largeTableRows } from '../env.ts';
import { KitError } from '../errors.ts';
import { PROVIDERS, readHistory, type History, type Migration } from '../runtime/history.ts';
import { sqlIdentifier, statementLine } from '../runtime/sql-script.ts';
import { readStatus } from '../runtime/status.ts';
import { LARGE, RULES, checkScript, type Level, type RuleId } from './lint-rules.ts';
import { UniqueKeys } from './unique-keys.ts';

export interface Finding {
  migration: string;
  dialect: Provider;
  rule: RuleId;
  level: Level;
  breaking: boolean;
  /** Line of the statement in migration.sql. */
  line: number;
  statement: string;
  why: string;
  instead: string;
  /** The reason of its `lint:allow` comment: the finding does not count. */
  allowed?: string;
  /** When the database is reachable: the rows of the table the statement costs on (PostgreSQL: the planner's estimate, exact up to the threshold). */
  rows?: number;
  /** PostgreSQL: the table's size with its indexes, in bytes. */
  bytes?: number;
}

const ALLOW = /--\s*lint:allow\s+(\S+)(?:[ \t]+(\S[^\r\n]*))?/g;

/** The `lint:allow` comments of a script: rule -> reason. A rule the linter does not know, or no reason, is bad input. */
export function allowances(script: string, migration: string): Map<RuleId, string> {
  const allowed = new Map<RuleId, string>();
  for (const [, rule, reason] of script.matchAll(ALLOW)) {
    if (!(rule! in RULES)) throw new KitError('BAD_USAGE', `${migration}: lint:allow names an unknown rule "${rule}"; the rules are: ${Object.keys(RULES).join(', ')}`);
    if (!reason?.trim()) throw new KitError('BAD_USAGE', `${migration}: lint:allow ${rule} needs a reason after the rule, e.g. -- lint:allow ${rule} the table is empty in production`);
    allowed.set(rule as RuleId, reason.trim());
  }
  return allowed;
}

export function lintMigration(migration: Pick<Migration, 'name' | 'script'>, dialect: Provider, keys?: UniqueKeys): (Finding & { table?: string })[] {
  const allowed = allowances(migration.script, migration.name);
  return checkScript(migration.script, dialect, keys).map(({ rule, statement, table }) => ({
    migration: migration.name,
    dialect,
    rule,
    level: RULES[rule].level,
    breaking: RULES[rule].breaking,
    line: statement.line,
    statement: statementLine(statement, 120),
    why: RULES[rule].why,
    instead: RULES[rule].instead,
    ...(allowed.has(rule) ? { allowed: allowed.get(rule) } : {}),
    ...(table ? { table } : {}),
  }));
}

/**
 * The findings of the migrations of one folder that `wanted` names, each read knowing
 * what the migrations before it made unique (the whole folder is read, in order).
 */
export function lintFolder(provider: Provider, migrations: Pick<Migration, 'name' | 'script'>[], wanted: (name: string) => boolean): (Finding & { table?: string })[] {
  const keys = new UniqueKeys();
  const findings: (Finding & { table?: string })[] = [];
  for (const migration of migrations) {
    const found = lintMigration(migration, provider, keys);
    if (wanted(migration.name)) findings.push(...found);
  }
  return findings;
}

export type Selection = { kind: 'all' } | { kind: 'name'; name: string } | { kind: 'pending' };

export interface LintReport {
  /** What was linted, in words: "2 migrations not yet applied to …". */
  scope: string;
  migrations: string[];
  findings: Finding[];
  /** An error-level finding stands (not allowed). */
  failed: boolean;
}

/**
 * Lint both folders: every migration, one by name, or (the default) those not yet
 * applied to the target when it is reachable, else the newest.
 */
export async function lintHistories(selection: Selection, target?: DatabaseTarget, describe: (t: DatabaseTarget) => string = () => 'the database'): Promise<LintReport> {
  const histories = Object.fromEntries(PROVIDERS.map((p) => [p, readHistory(p)])) as Record<Provider, History>;
  const names = [...new Set(PROVIDERS.flatMap((p) => histories[p].migrations.map((m) => m.name)))].sort();
  let chosen: string[];
  let scope: string;
  if (selection.kind === 'all') {
    chosen = names;
    scope = `all ${names.length} migrations`;
  } else if (selection.kind === 'name') {
    if (!names.includes(selection.name)) throw new KitError('BAD_USAGE', `Migration ${selection.name} is in neither folder; the newest is ${names.at(-1) ?? 'none'}`);
    chosen = [selection.name];
    scope = selection.name;
  } else {
    const pending = target ? await pendingOn(target, histories[target.provider]) : null;
    chosen = pending ?? names.slice(-1);
    scope = pending ? `${pending.length} migration${pending.length === 1 ? '' : 's'} not yet applied to ${describe(target as DatabaseTarget)}` : `the newest migration (${target ? `${describe(target)} is not reachable` : 'no database given'}; --all for every one)`;
  }
  const wanted = new Set(chosen);
  const findings: Finding[] = [];
  for (const provider of PROVIDERS) findings.push(...lintFolder(provider, histories[provider].migrations, (name) => wanted.has(name)));
  if (target) await weighTables(target, findings);
  findings.sort((a, b) => a.migration.localeCompare(b.migration) || a.dialect.localeCompare(b.dialect) || a.line - b.line);
  return { scope, migrations: chosen, findings: findings.map(({ table, ...f }: Finding & { table?: string }) => f), failed: findings.some((f) => f.level === 'error' && f.allowed === undefined) };
}

async function pendingOn(target: DatabaseTarget, history: History): Promise<string[] | null> {
  const conn = await openConnection(target, { applicationName: 'rastar-lint', readonly: true, waitMs: 0 }).catch(() => null);
  if (!conn) return null;
  try {
    return (await readStatus(conn, history)).pending;
  } finally {
    await conn.close();
  }
}

/**
 * The tables the findings cost on, weighed in the database they will run on (a table it
 * does not have yet: nothing): a blocking index build or rewrite on a table above
 * LINT_LARGE_TABLE_ROWS becomes an error, below it stays a warning.
 */
export async function weighTables(target: DatabaseTarget, findings: (Finding & { table?: string })[]): Promise<void> {
  const weighed = findings.filter((f) => f.table !== undefined && f.dialect === target.provider);
  if (!weighed.length) return;
  const conn = await openConnection(target, { applicationName: 'rastar-lint', readonly: true, waitMs: 0 }).catch(() => null);
  if (!conn) return;
  const large = largeTableRows();
  const sizes = new Map<string, { rows: number; bytes?: number } | null>();
  try {
    for (const finding of weighed) {
      const table = finding.table as string;
      if (!sizes.has(table)) sizes.set(table, await tableSize(conn, table, large).catch(() => null));
      const size = sizes.get(table);
      if (!size) continue;
      finding.rows = size.rows;
      if (size.bytes !== undefined) finding.bytes = size.bytes;
      if (LARGE.has(finding.rule)) finding.level = size.rows > large ? 'error' : 'warning';
    }
  } finally {
    await conn.close();
  }
}

/** Rows (PostgreSQL: the estimate, or an exact count up to `limit` + 1 for a table never analyzed) and size. */
async function tableSize(conn: SqlConnection, table: string, limit: number): Promise<{ rows: number; bytes?: number } | null> {
  const counted = async () => Number((await conn.query<{ n: number | string }>(`SELECT count(*) AS n FROM (SELECT 1 FROM ${sqlIdentifier(table)} LIMIT ${limit + 1}) AS t`))[0]?.n ?? 0);
  if (conn.target.provider === 'sqlite') return { rows: await counted() };
  const [row] = await conn.query<{ rows: string; bytes: string }>(
    'SELECT c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = $1 AND n.nspname = current_schema()',
    [table],
  );
  if (!row) return null;
  return { rows: Number(row.rows) >= 0 ? Number(row.rows) : await counted(), bytes: Number(row.bytes) };
}

/** One line per finding, as `make lint` prints it. */
export function formatFinding(f: Finding): string {
  const size = f.bytes === undefined ? '' : `, ${f.bytes >= 1 << 20 ? `${(f.bytes / (1 << 20)).toFixed(0)} MB` : `${Math.ceil(f.bytes / 1024)} kB`}`;
  const rows = f.rows === undefined ? '' : ` (${f.rows} row${f.rows === 1 ? '' : 's'}${size} now)`;
  const level = f.allowed !== undefined ? 'allowed' : f.level;
  return `${level.padEnd(7)} ${f.migration} ${f.dialect}:${f.line} ${f.rule}: ${f.statement} | ${f.why}${rows}; instead: ${f.instead}${f.allowed !== undefined ? ` | lint:allow: ${f.allowed}` : ''}`;
}
