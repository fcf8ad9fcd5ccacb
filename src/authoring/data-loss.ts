/**
 * What a migration would cost in data, judged like Prisma's destructive-change
 * checker: from the PostgreSQL script (whose statements are explicit) and the
 * rows the dev database holds. The wasm engine's own evaluateDataLoss cannot
 * be used: it needs a shadow database the wasm build does not let it open.
 */
import type { SqlConnection } from '../db.ts';
import { userTables } from '../runtime/table.ts';
import { alterActions, findWord, nameAt, scanStatements, sqlIdentifier, startsWith, wordsAt, type Token } from '../runtime/sql-script.ts';

export interface DataLoss {
  /** Steps that lose data: refused without --accept-data-loss. */
  warnings: string[];
  /** Steps that cannot run on the existing rows at all. */
  unexecutable: string[];
}

/** One risky step of a script: what it does, to which table (and column or index). */
export interface RiskyStep {
  kind: keyof DataLoss;
  risk: 'drop-table' | 'truncate' | 'drop-column' | 'change-type' | 'set-not-null' | 'add-unique' | 'add-required-column';
  table: string;
  /** The column, or the unique index. */
  name?: string;
}

/** Prisma's wording for a step, once the table's rows are counted. */
export function riskMessage(step: RiskyStep, rows: number): string {
  const { table, name } = step;
  switch (step.risk) {
    case 'drop-table':
      return `You are about to drop the table \`${table}\`, which holds ${rows} row(s).`;
    case 'truncate':
      return `You are about to delete every row of the table \`${table}\` (TRUNCATE), which holds ${rows} row(s).`;
    case 'drop-column':
      return `You are about to drop the column \`${name}\` on the \`${table}\` table (${rows} row(s)); its values will be lost.`;
    case 'change-type':
      return `The type of column \`${name}\` on the \`${table}\` table changes; ${rows} existing value(s) are cast and may fail or lose precision.`;
    case 'set-not-null':
      return `The column \`${name}\` on the \`${table}\` table becomes required (${rows} row(s)); it fails if any value is NULL.`;
    case 'add-unique':
      return `A unique constraint \`${name}\` will be added to the \`${table}\` table (${rows} row(s)); it fails if duplicate values exist.`;
    case 'add-required-column':
      return `Added the required column \`${name}\` to the \`${table}\` table without a default value. There are ${rows} rows in this table, it is not possible to execute this step.`;
  }
}

/** The steps of a PostgreSQL script that lose data or need an empty table; pure, linear in the script. */
export function riskySteps(postgresScript: string): RiskyStep[] {
  const steps: RiskyStep[] = [];
  for (const { tokens } of scanStatements(postgresScript, 'postgresql')) {
    if (startsWith(tokens, 'DROP', 'TABLE')) {
      // Every table of DROP TABLE a, b.
      for (const table of tableList(tokens, skipWords(tokens, 2, 'IF', 'EXISTS'))) steps.push({ kind: 'warnings', risk: 'drop-table', table });
    } else if (startsWith(tokens, 'TRUNCATE')) {
      for (const table of tableList(tokens, skipWords(tokens, skipWords(tokens, 1, 'TABLE'), 'ONLY'))) steps.push({ kind: 'warnings', risk: 'truncate', table });
    } else if (startsWith(tokens, 'CREATE', 'UNIQUE', 'INDEX')) {
      const on = findWord(tokens, 'ON', 3);
      const index = nameAt(tokens, skipWords(tokens, skipWords(tokens, 3, 'CONCURRENTLY'), 'IF', 'NOT', 'EXISTS'));
      const table = on === -1 ? null : nameAt(tokens, skipWords(tokens, on + 1, 'ONLY'));
      if (index && table) steps.push({ kind: 'warnings', risk: 'add-unique', table: table.name, name: index.name });
    } else if (startsWith(tokens, 'ALTER', 'TABLE')) {
      const table = nameAt(tokens, skipWords(tokens, skipWords(tokens, 2, 'IF', 'EXISTS'), 'ONLY'));
      if (!table) continue;
      for (const action of alterActions(tokens, table.next)) {
        const step = alterStep(action, table.name);
        if (step) steps.push(step);
      }
    }
  }
  return steps;
}

/** One action of `ALTER TABLE t a, b, …`, judged alone. */
function alterStep(action: Token[], table: string): RiskyStep | null {
  if (startsWith(action, 'DROP') && !startsWith(action, 'DROP', 'CONSTRAINT')) {
    const name = nameAt(action, skipWords(action, skipWords(action, 1, 'COLUMN'), 'IF', 'EXISTS'))?.name;
    return name ? { kind: 'warnings', risk: 'drop-column', table, name } : null;
  }
  if (startsWith(action, 'ALTER')) {
    const at = skipWords(action, 1, 'COLUMN');
    const column = nameAt(action, at);
    if (!column) return null;
    const { name, next: after } = column;
    if (wordsAt(action, after, 'TYPE') || wordsAt(action, after, 'SET', 'DATA', 'TYPE')) {
      return { kind: 'warnings', risk: 'change-type', table, name };
    }
    if (wordsAt(action, after, 'SET', 'NOT', 'NULL')) {
      return { kind: 'warnings', risk: 'set-not-null', table, name };
    }
    return null;
  }
  if (startsWith(action, 'ADD') && !startsWith(action, 'ADD', 'CONSTRAINT')) {
    const name = nameAt(action, skipWords(action, skipWords(action, 1, 'COLUMN'), 'IF', 'NOT', 'EXISTS'))?.name;
    const required = action.some((t, k) => t.value === 'NOT' && action[k + 1]?.value === 'NULL' && t.kind === 'word');
    const filled = findWord(action, 'DEFAULT') !== -1 || findWord(action, 'GENERATED') !== -1;
    if (name && required && !filled) {
      return { kind: 'unexecutable', risk: 'add-required-column', table, name };
    }
  }
  return null;
}

/** `a, b, …` from `k`: the tables (a `*` after a name, TRUNCATE's descendants, skipped). */
function tableList(tokens: Token[], k: number): string[] {
  const tables: string[] = [];
  for (;;) {
    const table = nameAt(tokens, skipWords(tokens, k, 'ONLY'));
    if (!table) return tables;
    tables.push(table.name);
    let next = table.next;
    if (tokens[next]?.value === '*') next++;
    if (tokens[next]?.value !== ',') return tables;
    k = next + 1;
  }
}

/** Skip the optional words at `k` when they are all there. */
function skipWords(tokens: Token[], k: number, ...words: string[]): number {
  return wordsAt(tokens, k, ...words) ? k + words.length : k;
}

/**
 * Judge `postgresScript` against the rows of `dev` (either provider: same table names).
 * Fails closed: a table the database does not have holds no rows, but any other
 * failure to read it is thrown, never taken for "nothing to lose".
 */
export async function evaluateDataLoss(postgresScript: string, dev: SqlConnection): Promise<DataLoss> {
  const loss: DataLoss = { warnings: [], unexecutable: [] };
  const steps = riskySteps(postgresScript);
  if (steps.length === 0) return loss;
  const existing = new Set(await userTables(dev));
  for (const step of steps) {
    const rows = existing.has(step.table) ? await rowCount(dev, step.table) : 0;
    if (rows > 0) loss[step.kind].push(riskMessage(step, rows));
  }
  return loss;
}

async function rowCount(conn: SqlConnection, table: string): Promise<number> {
  const [row] = await conn.query<{ n: number | string | bigint }>(`SELECT COUNT(*) AS n FROM ${sqlIdentifier(table)}`);
  return Number(row?.n ?? 0);
}
