/** Every failure the kit expects, by name. Scripts map `code` to an exit code. */
export type KitErrorCode =
  | 'BAD_URL' // DATABASE_URL missing a supported scheme or malformed
  | 'BAD_USAGE' // unknown flag, missing or malformed argument
  | 'CONNECTION' // database unreachable
  | 'MIGRATION_FAILED' // a migration's SQL failed; it was rolled back and recorded
  | 'FAILED_MIGRATION_BLOCKS' // an earlier failed migration must be resolved first
  | 'HISTORY' // migrations folder unreadable, empty where it must not be, lock file mismatch
  | 'RESOLVE' // resolve refused (Prisma's P3008/P3011/P3012/P3017 semantics)
  | 'LOCK_TIMEOUT' // another migrator held the lock too long
  | 'GATE_TIMEOUT' // the schema did not become current in time
  | 'DATA_LOSS' // a change would lose data and was not accepted
  | 'SCHEMA' // the source schema is invalid or uses what a provider cannot express
  | 'ENGINE' // the schema engine reported an error
  | 'SHADOW' // a migration does not replay on a shadow database (the target is untouched)
  | 'REFUSED' // a destructive operation was refused for safety
  | 'IO'; // a file or directory could not be read or written

// DATA_LOSS is a refusal like REFUSED: the run would go through with the flag it names.
const usageCodes = new Set<KitErrorCode>(['BAD_URL', 'BAD_USAGE', 'SCHEMA', 'REFUSED', 'DATA_LOSS']);

export class KitError extends Error {
  readonly code: KitErrorCode;
  /** Prisma's own error code (P3009, …) when the failure maps to one. */
  readonly prismaCode?: string;
  /** The exact command that gets the user out of this state, when there is one. */
  readonly hint?: string;

  constructor(code: KitErrorCode, message: string, options: { cause?: unknown; prismaCode?: string; hint?: string } = {}) {
    super(message, { cause: options.cause });
    this.name = 'KitError';
    this.code = code;
    this.prismaCode = options.prismaCode;
    this.hint = options.hint;
  }

  /** 2 for bad usage or configuration, 1 for everything else (see every `--help`). */
  get exitCode(): 1 | 2 {
    return usageCodes.has(this.code) ? 2 : 1;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Prisma's P2002: a unique constraint refused the write (a race lost, a name taken). */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'P2002';
}
