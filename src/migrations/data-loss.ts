/**
 * What a migration would cost in data, judged like Prisma's destructive-change
 * checker: from the PostgreSQL script (whose statements are explicit) and the
 * rows the dev database holds. The wasm engine's own evaluateDataLoss cannot
 * be used: it needs a shadow database the wasm build does not let it open.
 */
import type { SqlConnection } from '../db.ts';
import { normalize, splitStatements } from './sql-script.ts';

export interface DataLoss {
  /** Steps that lose data: refused without --accept-data-loss. */
  warnings: string[];
  /** Steps that cannot run on the existing rows at all. */
  unexecutable: string[];
}

const ident = '"((?:[^"]|"")+)"';
const rules: { pattern: RegExp; kind: keyof DataLoss; message: (m: RegExpExecArray, rows: number) => string }[] = [
  { pattern: new RegExp(`^DROP TABLE ${ident}`, 'i'), kind: 'warnings', message: (m, n) => `You are about to drop the table \`${m[1]}\`, which holds ${n} row(s).` },
  {
    pattern: new RegExp(`^ALTER TABLE ${ident} DROP COLUMN ${ident}`, 'i'),
    kind: 'warnings',
    message: (m, n) => `You are about to drop the column \`${m[2]}\` on the \`${m[1]}\` table (${n} row(s)); its values will be lost.`,
  },
  {
    pattern: new RegExp(`^ALTER TABLE ${ident} ALTER COLUMN ${ident} SET DATA TYPE`, 'i'),
    kind: 'warnings',
    message: (m, n) => `The type of column \`${m[2]}\` on the \`${m[1]}\` table changes; ${n} existing value(s) are cast and may fail or lose precision.`,
  },
  {
    pattern: new RegExp(`^CREATE UNIQUE INDEX ${ident} ON ${ident}`, 'i'),
    kind: 'warnings',
    message: (m, n) => `A unique constraint \`${m[1]}\` will be added to the \`${m[2]}\` table (${n} row(s)); it fails if duplicate values exist.`,
  },
  {
    pattern: new RegExp(`^ALTER TABLE ${ident} ALTER COLUMN ${ident} SET NOT NULL`, 'i'),
    kind: 'warnings',
    message: (m, n) => `The column \`${m[2]}\` on the \`${m[1]}\` table becomes required (${n} row(s)); it fails if any value is NULL.`,
  },
  {
    pattern: new RegExp(`^ALTER TABLE ${ident} ADD COLUMN ${ident} [^,]*NOT NULL(?![^,]*DEFAULT)`, 'i'),
    kind: 'unexecutable',
    message: (m, n) => `Added the required column \`${m[2]}\` to the \`${m[1]}\` table without a default value. There are ${n} rows in this table, it is not possible to execute this step.`,
  },
];

/** Judge `postgresScript` against the rows of `dev` (either provider: same table names). */
export async function evaluateDataLoss(postgresScript: string, dev: SqlConnection): Promise<DataLoss> {
  const loss: DataLoss = { warnings: [], unexecutable: [] };
  for (const statement of splitStatements(postgresScript)) {
    const text = statement.replace(/--[^\n]*/g, ' ').replace(/\s+/g, ' ').trim();
    if (!normalize(statement)) continue;
    for (const rule of rules) {
      const match = rule.pattern.exec(text);
      if (!match) continue;
      const table = (rule.pattern.source.startsWith('^CREATE UNIQUE') ? match[2] : match[1]) as string;
      const rows = await rowCount(dev, table.replace(/""/g, '"'));
      if (rows > 0) loss[rule.kind].push(rule.message(match, rows));
    }
  }
  return loss;
}

async function rowCount(conn: SqlConnection, table: string): Promise<number> {
  try {
    const [row] = await conn.query<{ n: number | string | bigint }>(`SELECT COUNT(*) AS n FROM "${table.replace(/"/g, '""')}"`);
    return Number(row?.n ?? 0);
  } catch {
    return 0; // the table does not exist in the dev database: nothing to lose
  }
}
