/**
 * How a PostgreSQL migration script runs, shared by deploy and by every replay on a
 * shadow database (Prisma's engine replays a history there to create a migration, to
 * check parity, drift and a baseline): whatever deploys must replay the same way.
 */
import { parseScript, scriptMode, statementLine, type Statement } from './sql-script.ts';

/** PostgreSQL refuses an enum value in the transaction that added it. */
export const UNSAFE_NEW_ENUM_VALUE = '55P04';

/**
 * Whatever a migration changed in the session (`SET search_path`, `statement_timeout`,
 * `ROLE`, …) goes back to the connection's start-up values, so the next migration and
 * the kit's own statements start from the same state.
 */
export const RESET_SESSION = 'SET SESSION AUTHORIZATION DEFAULT;\nRESET ALL';

/** What a failed script sent whole tells of where it failed (see SqlConnection.exec). */
interface ScriptFailure {
  /** The server's 1-based character offset of a syntax or name error in the text sent. */
  position?: string;
  /** Statements the server completed before the failure. */
  completedStatements?: number;
}

/**
 * The index of the statement of `script` that raised `error`, when the script was sent
 * whole after `prefix` (the kit's own statements: `chars` characters, `statements` of them).
 */
export function failedStatementIndex(error: unknown, statements: Statement[], script: string, prefix = { chars: 0, statements: 0 }): number | null {
  const { position, completedStatements } = (error ?? {}) as ScriptFailure;
  const offset = Number(position) - 1 - prefix.chars;
  if (position !== undefined && offset >= 0 && offset < script.length) {
    let index = -1;
    while (index + 1 < statements.length && (statements[index + 1] as Statement).start <= offset) index++;
    return index < 0 ? null : index;
  }
  if (typeof completedStatements === 'number' && completedStatements >= prefix.statements) return completedStatements - prefix.statements;
  return null;
}

/** `(statement 3 of 7, line 12: UPDATE "Config" SET …)`: where in migration.sql it failed. */
export function where(statement: Statement, index: number, total: number): string {
  return `(statement ${index + 1} of ${total}, line ${statement.line}: ${statementLine(statement, 80)})`;
}

/**
 * Run a script as deploy runs a migration, without its history row: sent whole, in the
 * one transaction the server gives a multi-statement query, unless a statement cannot
 * run in a transaction, the script commits its own, or the server refuses an enum value
 * used where it was added (then nothing of it ran): statement by statement, like psql.
 * A failure's message names the statement.
 */
export async function runPostgresScript(script: string, exec: (sql: string) => Promise<void>): Promise<void> {
  let statements: Statement[] | undefined;
  if (scriptMode(script, 'postgresql').kind === 'transactional') {
    try {
      await exec(script);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== UNSAFE_NEW_ENUM_VALUE) {
        statements = parseScript(script, 'postgresql');
        const index = failedStatementIndex(error, statements, script);
        const statement = index === null ? undefined : statements[index];
        throw statement ? located(error, where(statement, index as number, statements.length)) : error;
      }
    }
  }
  statements ??= parseScript(script, 'postgresql');
  for (const [index, statement] of statements.entries()) {
    try {
      await exec(statement.text);
    } catch (error) {
      await exec('ROLLBACK').catch(() => {}); // a statement of the script's own transaction
      throw located(error, where(statement, index, statements.length));
    }
  }
}

/** The driver's error, its message followed by where the statement stands. */
function located(error: unknown, place: string): unknown {
  if (error instanceof Error) error.message = `${error.message} ${place}`;
  return error;
}
