/**
 * Every setting the library takes from the environment, named and validated here
 * and nowhere else (the scripts' own flags aside): a variable's name, default and
 * error live in one place. Read when asked, so a test's environment is honoured;
 * DATABASE_URL and DIRECT_DATABASE_URL are db.ts's (migrationTarget).
 */
import { KitError } from './errors.ts';


/** A duration given in seconds (whole or decimal, >= 0), returned in milliseconds. */
export function secondsFromEnv(name: string, fallbackSeconds: number): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallbackSeconds * 1000;
  if (!/^\d+(\.\d+)?$/.test(raw)) throw new KitError('BAD_USAGE', `${name} must be a number of seconds >= 0, got "${raw}"`);
  return Number(raw) * 1000;
}

const text = (name: string): string | undefined => process.env[name]?.trim() || undefined;

/** SHADOW_DATABASE_URL: a PostgreSQL server to replay histories on (default: an embedded one). */
export const shadowDatabaseUrl = () => text('SHADOW_DATABASE_URL');
/** PRISMA_DIR: the folder of schema.prisma and migrations/, relative to the working directory (unset: the project's prisma/). */
export const prismaDirSetting = () => text('PRISMA_DIR');
/** BACKUP_DIR: where backups go, relative to the project (unset: backups/). */
export const backupDirSetting = () => text('BACKUP_DIR');
/** NODE_ENV=production: destructive development commands refuse to run. */
export const isProduction = () => process.env.NODE_ENV === 'production';
/** DB_CONNECT_TIMEOUT: how long to retry an unreachable server. */
export const connectTimeoutMs = () => secondsFromEnv('DB_CONNECT_TIMEOUT', 5);
/** MIGRATION_LOCK_TIMEOUT: how long a migrator waits for another. */
export const lockTimeoutMs = () => secondsFromEnv('MIGRATION_LOCK_TIMEOUT', 120);
/** MIGRATION_DDL_LOCK_TIMEOUT (PostgreSQL): how long a migration's statements wait for a table lock before the attempt is rolled back and retried (0: no limit). */
export const ddlLockTimeoutMs = () => secondsFromEnv('MIGRATION_DDL_LOCK_TIMEOUT', 5);
/** MIGRATION_STATEMENT_TIMEOUT (PostgreSQL): a statement_timeout for migrations, only when set. */
export const statementTimeoutMs = () => (text('MIGRATION_STATEMENT_TIMEOUT') ? secondsFromEnv('MIGRATION_STATEMENT_TIMEOUT', 0) : undefined);
/** DB_WAIT_TIMEOUT: how long a starting container waits for its database to answer. */
export const dbWaitTimeoutMs = () => secondsFromEnv('DB_WAIT_TIMEOUT', 60);
/** MIGRATION_WAIT_TIMEOUT: how long a container that does not migrate waits for the schema. */
export const gateTimeoutMs = () => secondsFromEnv('MIGRATION_WAIT_TIMEOUT', 300);
