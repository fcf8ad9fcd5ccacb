/**
 * `make lint`: the rules of lint-rules.ts over the migrations of both folders, one
 * finding per rule and statement. A finding is silenced only by a comment in the
 * migration, `-- lint:allow <rule> <reason>`, and still shown as allowed.
 */
import { openConnection, type DatabaseTarget, type Provider } from '../db.ts';
import { KitError } from '../errors.ts';
import { PROVIDERS, readHistory, type History, type Migration } from '../runtime/history.ts';
import { sqlIdentifier, statementLine } from '../runtime/sql-script.ts';
import { readStatus } from '../runtime/status.ts';
import { RULES, checkScript, type Level, type RuleId } from './lint-rules.ts';
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
  /** SQLite rebuilds, when the database is given: the rows the copy moves. */
  rows?: number;
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
  if (target?.provider === 'sqlite') await countRows(target, findings);
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

/** The rows a SQLite rebuild would copy, read from the database (a table it does not have yet: none). */
async function countRows(target: DatabaseTarget, findings: (Finding & { table?: string })[]): Promise<void> {
  const rebuilds = findings.filter((f) => f.table !== undefined);
  if (!rebuilds.length) return;
  const conn = await openConnection(target, { applicationName: 'rastar-lint', readonly: true }).catch(() => null);
  if (!conn) return;
  try {
    for (const finding of rebuilds) {
      const rows = await conn.query<{ n: number }>(`SELECT count(*) AS n FROM ${sqlIdentifier(finding.table as string)}`).catch(() => null);
      if (rows) finding.rows = Number(rows[0]?.n ?? 0);
    }
  } finally {
    await conn.close();
  }
}

/** One line per finding, as `make lint` prints it. */
export function formatFinding(f: Finding): string {
  const rows = f.rows === undefined ? '' : ` (${f.rows} row${f.rows === 1 ? '' : 's'} now)`;
  const level = f.allowed !== undefined ? 'allowed' : f.level;
  return `${level.padEnd(7)} ${f.migration} ${f.dialect}:${f.line} ${f.rule}: ${f.statement} | ${f.why}${rows}; instead: ${f.instead}${f.allowed !== undefined ? ` | lint:allow: ${f.allowed}` : ''}`;
}
