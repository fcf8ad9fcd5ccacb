/**
 * The seed: the first admin user and the default pack, created only when
 * missing. Safe to run from every container at every start, even several at
 * once: the unique constraints (`AdminUser.username`, `Pack.name`) decide the
 * race, and the loser re-reads instead of failing. Never prints, never exits:
 * seedReport says what happened, the script prints it.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { AppClient } from './db.ts';
import { KitError, errorMessage, isUniqueViolation } from './errors.ts';
import { errLine, outLine, type Line } from './lines.ts';

export interface SeedOptions {
  adminUsername: string;
  /** Unset or empty: no admin user is created (nothing is invented). */
  adminPassword?: string;
  defaultPackName: string;
}

export interface SeedResult {
  admin: 'created' | 'exists' | 'skipped-no-password';
  /** `made-default`: a pack with the default name existed but was not the default; it now is. */
  pack: 'created' | 'exists' | 'made-default';
  /** The default pack's name (the existing default may have another name than asked). */
  packName: string;
}

/** The shortest admin password accepted: the panel faces the network. */
export const MIN_ADMIN_PASSWORD = 12;

/** ADMIN_USERNAME, ADMIN_PASSWORD, DEFAULT_PACK_NAME, with their defaults; a password too short is refused. */
export function seedOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): SeedOptions {
  const adminPassword = env.ADMIN_PASSWORD || undefined;
  // A compose file's ${ADMIN_PASSWORD:-} that its engine did not expand: never a password.
  if (adminPassword !== undefined && /^\$\{[^}]*\}$/.test(adminPassword)) {
    throw new KitError('BAD_USAGE', `ADMIN_PASSWORD is the unexpanded text ${adminPassword}: set it in the environment (or .env) that the container engine reads`);
  }
  if (adminPassword !== undefined && [...adminPassword].length < MIN_ADMIN_PASSWORD) {
    throw new KitError('BAD_USAGE', `ADMIN_PASSWORD must be at least ${MIN_ADMIN_PASSWORD} characters (it has ${[...adminPassword].length}); choose a longer one`);
  }
  return { adminUsername: env.ADMIN_USERNAME?.trim() || 'admin', adminPassword, defaultPackName: env.DEFAULT_PACK_NAME?.trim() || 'Default' };
}

/** A password for a development admin nobody chose: 24 characters, 144 random bits. */
export function generatedPassword(): string {
  return randomBytes(18).toString('base64url');
}

/** Give an existing admin a new password and end every session of theirs; false when there is no such admin. */
export async function resetAdminPassword(client: AppClient, username: string, password: string): Promise<boolean> {
  try {
    const passwordHash = await hashPassword(password);
    return await client.$transaction(async (tx) => {
      const { count } = await tx.adminUser.updateMany({ where: { username }, data: { passwordHash, updatedAt: BigInt(Date.now()) } });
      await tx.adminSession.deleteMany({ where: { admin: { username } } });
      return count > 0;
    });
  } catch (error) {
    throw seedError(error);
  }
}

/** What the seed did, one line per record (never the password). */
export function seedReport(result: SeedResult, { adminUsername }: SeedOptions): Line[] {
  const admin = { created: outLine(`✓ Admin user ${adminUsername} created`), exists: outLine(`Admin user ${adminUsername} exists`), 'skipped-no-password': errLine('ADMIN_PASSWORD is not set: skipping the admin user') }[result.admin];
  const pack = { created: outLine(`✓ Default pack ${result.packName} created`), 'made-default': outLine(`✓ Pack ${result.packName} is now the default pack`), exists: outLine(`Default pack ${result.packName} exists`) }[result.pack];
  return [admin, pack];
}

export async function seedDatabase(client: AppClient, options: SeedOptions): Promise<SeedResult> {
  try {
    const admin = await seedAdmin(client, options);
    const pack = await seedDefaultPack(client, options.defaultPackName);
    return { admin, ...pack };
  } catch (error) {
    throw seedError(error);
  }
}

async function seedAdmin(client: AppClient, { adminUsername, adminPassword }: SeedOptions): Promise<SeedResult['admin']> {
  const exists = () => client.adminUser.findUnique({ where: { username: adminUsername }, select: { id: true } });
  if (await exists()) return 'exists';
  // An existing admin is reported even without a password; only creating needs one.
  if (!adminPassword) return 'skipped-no-password';
  const now = BigInt(Date.now());
  const passwordHash = await hashPassword(adminPassword);
  try {
    await client.adminUser.create({ data: { username: adminUsername, passwordHash, createdAt: now, updatedAt: now }, select: { id: true } });
    return 'created';
  } catch (error) {
    // Another seeder created it between our read and our insert.
    if (isUniqueViolation(error) && (await exists())) return 'exists';
    throw error;
  }
}

async function seedDefaultPack(client: AppClient, name: string): Promise<Pick<SeedResult, 'pack' | 'packName'>> {
  const findDefault = () => client.pack.findFirst({ where: { isDefault: true }, orderBy: { id: 'asc' }, select: { name: true } });
  const existing = await findDefault();
  if (existing) return { pack: 'exists', packName: existing.name };
  const now = BigInt(Date.now());
  try {
    await client.pack.create({ data: { name, isDefault: true, createdAt: now, updatedAt: now }, select: { id: true } });
    return { pack: 'created', packName: name };
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
  }
  // The name is taken: either a concurrent seeder made it the default, or a
  // pack of that name was created by hand without being the default.
  const winner = await findDefault();
  if (winner) return { pack: 'exists', packName: winner.name };
  await client.pack.updateMany({ where: { name, isDefault: false }, data: { isDefault: true, updatedAt: BigInt(Date.now()) } });
  return { pack: 'made-default', packName: name };
}

/** Prisma's messages span many lines ("Invalid `prisma.x()` invocation…"); keep the cause. */
function seedError(error: unknown): unknown {
  if (error instanceof KitError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'P2021' || /does not exist|no such table/i.test(errorMessage(error))) {
    return new KitError('HISTORY', 'The database is not migrated (the seed tables are missing); apply the migrations first: make deploy', { cause: error });
  }
  const lines = errorMessage(error).split('\n').map((line) => line.trim()).filter(Boolean);
  const reason = lines.at(-1) ?? 'unknown error';
  return new KitError(/connect|reach|ECONNREFUSED|timed? ?out/i.test(reason) ? 'CONNECTION' : 'ENGINE', `Seeding failed: ${reason}`, { cause: error });
}

// ---------------------------------------------------------------------------
// Passwords: scrypt, stored as `scrypt$N$r$p$saltB64$hashB64` so that the cost
// can be raised later without breaking the hashes already stored.

const COST = { N: 2 ** 15, r: 8, p: 1 };
const KEY_LENGTH = 64;
const MAX_N = 2 ** 20; // refuse stored parameters that would exhaust memory

function scryptAsync(password: string, salt: Buffer, keylen: number, options: ScryptOptions & { N: number; r: number; p: number }): Promise<Buffer> {
  // Node refuses N*r above its 32 MiB default; allow exactly what the parameters need.
  const maxmem = 128 * options.N * options.r * options.p + 32 * 1024 * 1024;
  return new Promise((resolve, reject) => scrypt(password, salt, keylen, { ...options, maxmem }, (error, key) => (error ? reject(error) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, KEY_LENGTH, COST);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** True when `password` matches `stored`; false for a wrong password or a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (!Number.isInteger(N) || N < 2 || N > MAX_N || (N & (N - 1)) !== 0 || !Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) return false;
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  if (salt.length === 0 || expected.length === 0) return false;
  const actual = await scryptAsync(password, salt, expected.length, { N, r, p });
  return timingSafeEqual(actual, expected);
}
