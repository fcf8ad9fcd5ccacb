/**
 * What the panel reads and writes, through the app's generated client: the same
 * queries on SQLite and PostgreSQL. Pages get plain rows; timestamps stay the
 * schema's epoch milliseconds.
 */
import { empty, raw, sqltag } from '@prisma/client/runtime/client';
import type { AppClient, Provider } from '../../db.ts';
import { isUniqueViolation } from '../../errors.ts';
import type { Paging } from './params.ts';
import type { SessionStore } from './session.ts';

const window = ({ page, size }: Paging) => ({ skip: (page - 1) * size, take: size });

/** The escape character of the users search's LIKE pattern (sent as a parameter: no quoting rules to mind). */
const LIKE_ESCAPE = '\\';

/** `text` as a LIKE pattern that finds it anywhere, character for character: `%`, `_` and the escape character escaped. */
const containsPattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => LIKE_ESCAPE + c)}%`;

/**
 * Username contains `q` (any case), or the telegram id is `q`. The match is SQL of
 * our own, the same on both providers: Prisma's `contains` hands `%` and `_` to
 * LIKE as wildcards (on SQLite and on PostgreSQL) and takes no ESCAPE clause.
 */
export async function listUsers(client: AppClient, provider: Provider, q: string | undefined, paging: Paging) {
  const include = { pack: { select: { name: true } }, _count: { select: { threads: true } } } as const;
  if (!q) {
    const [rows, total] = await Promise.all([client.user.findMany({ orderBy: { id: 'asc' }, ...window(paging), include }), client.user.count()]);
    return { rows, total, paging };
  }
  const telegramId = /^\d{1,19}$/.test(q) && BigInt(q) < 2n ** 63n ? BigInt(q) : undefined;
  // PostgreSQL's LIKE tells case apart and ILIKE does not; SQLite's LIKE already ignores ASCII case (and knows no ILIKE).
  const matches = sqltag`("username" ${raw(provider === 'postgresql' ? 'ILIKE' : 'LIKE')} ${containsPattern(q)} ESCAPE ${LIKE_ESCAPE}${telegramId === undefined ? empty : sqltag` OR "telegramId" = ${telegramId}`})`;
  const { skip, take } = window(paging);
  const [page, counted] = await Promise.all([
    client.$queryRaw<{ id: number }[]>`SELECT "id" FROM "User" WHERE ${matches} ORDER BY "id" LIMIT ${take} OFFSET ${skip}`,
    client.$queryRaw<{ total: number | bigint }[]>`SELECT COUNT(*) AS "total" FROM "User" WHERE ${matches}`,
  ]);
  const rows = await client.user.findMany({ where: { id: { in: page.map((r) => Number(r.id)) } }, orderBy: { id: 'asc' }, include });
  return { rows, total: Number(counted[0]?.total ?? 0), paging };
}

export function userWithThreads(client: AppClient, id: number) {
  return client.user.findUnique({
    where: { id },
    include: { pack: { select: { id: true, name: true } }, threads: { orderBy: { updatedAt: 'desc' }, include: { _count: { select: { messages: true } } } } },
  });
}

/** A thread with every message in order, each with what it replies to. */
export function threadWithMessages(client: AppClient, id: number) {
  return client.thread.findUnique({
    where: { id },
    include: {
      user: { select: { id: true, username: true, telegramId: true } },
      messages: {
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        include: { replyTo: { select: { id: true, threadId: true, role: true, content: true } }, _count: { select: { replies: true, toolLogs: true } } },
      },
    },
  });
}

export interface ToolLogFilter {
  tool?: string;
  session?: string;
  success?: boolean;
  message?: number;
}

export async function listToolLogs(client: AppClient, filter: ToolLogFilter, paging: Paging) {
  const where = { toolName: filter.tool, sessionId: filter.session, success: filter.success, messageId: filter.message };
  const [rows, total, tools] = await Promise.all([
    client.mcpToolLog.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], ...window(paging), include: { message: { select: { id: true, threadId: true } } } }),
    client.mcpToolLog.count({ where }),
    client.mcpToolLog.findMany({ distinct: ['toolName'], select: { toolName: true }, orderBy: { toolName: 'asc' } }),
  ]);
  return { rows, total, paging, tools: tools.map((t) => t.toolName) };
}

// ---------------------------------------------------------------------------
// Packs

export const MAX_PACK_NAME = 100;
export const MAX_PACK_DESCRIPTION = 2000;

export function listPacks(client: AppClient) {
  return client.pack.findMany({ orderBy: { id: 'asc' }, include: { _count: { select: { users: true } } } });
}

export interface PackInput {
  name: string;
  description: string;
}

/** The form's problem with this input, or undefined when it may be written. */
export function packInputError({ name, description }: PackInput): string | undefined {
  if (!name) return 'The name must not be empty.';
  if (name.length > MAX_PACK_NAME) return `The name must be at most ${MAX_PACK_NAME} characters.`;
  if (description.length > MAX_PACK_DESCRIPTION) return `The description must be at most ${MAX_PACK_DESCRIPTION} characters.`;
  return undefined;
}

export type PackWrite = { ok: true; id: number } | { ok: false; error: string };

const nameTaken = (name: string): PackWrite => ({ ok: false, error: `A pack named "${name}" already exists.` });

export async function createPack(client: AppClient, input: PackInput): Promise<PackWrite> {
  const now = BigInt(Date.now());
  try {
    const { id } = await client.pack.create({ data: { name: input.name, description: input.description || null, createdAt: now, updatedAt: now }, select: { id: true } });
    return { ok: true, id };
  } catch (error) {
    if (isUniqueViolation(error)) return nameTaken(input.name);
    throw error;
  }
}

/** Rename and describe; false when the pack does not exist. */
export async function updatePack(client: AppClient, id: number, input: PackInput): Promise<PackWrite | undefined> {
  try {
    const { count } = await client.pack.updateMany({ where: { id }, data: { name: input.name, description: input.description || null, updatedAt: BigInt(Date.now()) } });
    return count === 1 ? { ok: true, id } : undefined;
  } catch (error) {
    if (isUniqueViolation(error)) return nameTaken(input.name);
    throw error;
  }
}

const SET_DEFAULT_ATTEMPTS = 5;

/**
 * Make a pack the default: unset the old one and set the new one in one
 * transaction, so some pack is always the default; the `Pack_one_default` index
 * refuses a second. Two admins at once on PostgreSQL: the later transaction may
 * find the other's new default only at its own write (a unique violation) and
 * runs again, so the last click wins. False when the pack does not exist.
 */
export async function setDefaultPack(client: AppClient, id: number): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.$transaction(async (tx) => {
        if (!(await tx.pack.findUnique({ where: { id }, select: { id: true } }))) return false;
        const now = BigInt(Date.now());
        await tx.pack.updateMany({ where: { isDefault: true, id: { not: id } }, data: { isDefault: false, updatedAt: now } });
        await tx.pack.updateMany({ where: { id, isDefault: false }, data: { isDefault: true, updatedAt: now } });
        return true;
      });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // P2002: the other's default, seen at our write; P2034: a write conflict or deadlock.
      if (attempt < SET_DEFAULT_ATTEMPTS && (code === 'P2002' || code === 'P2034')) continue;
      throw error;
    }
  }
}

// ---------------------------------------------------------------------------
// Admins

export function findAdmin(client: AppClient, username: string) {
  return client.adminUser.findUnique({ where: { username }, select: { id: true, username: true, passwordHash: true } });
}

/** The panel's sessions, stored: a logout or a new password outlives a restart. */
export function sessionStore(client: AppClient): SessionStore {
  return {
    async create(row) {
      await client.adminSession.create({ data: { id: row.id, adminId: row.adminId, createdAt: BigInt(row.createdAt), expiresAt: BigInt(row.expiresAt) }, select: { id: true } });
    },
    async find(id) {
      const row = await client.adminSession.findUnique({ where: { id }, select: { adminId: true, expiresAt: true } });
      return row ? { adminId: row.adminId, expiresAt: Number(row.expiresAt) } : undefined;
    },
    async delete(id) {
      await client.adminSession.deleteMany({ where: { id } });
    },
    async deleteAll(adminId) {
      await client.adminSession.deleteMany({ where: { adminId } });
    },
    async deleteExpired(now) {
      await client.adminSession.deleteMany({ where: { expiresAt: { lte: BigInt(now) } } });
    },
  };
}

export function findAdminById(client: AppClient, id: number) {
  return client.adminUser.findUnique({ where: { id }, select: { id: true, username: true } });
}

export async function recordLogin(client: AppClient, id: number): Promise<void> {
  const now = BigInt(Date.now());
  await client.adminUser.update({ where: { id }, data: { lastLoginAt: now, updatedAt: now }, select: { id: true } });
}
