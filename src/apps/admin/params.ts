/**
 * Query parameters of the panel's lists, read strictly: a malformed value is the
 * caller's mistake (400 with the reason), an oversized page is clamped.
 */
export class BadRequest extends Error {}

export const PAGE_SIZE = 25;
export const MAX_PAGE_SIZE = 100;
const MAX_TEXT = 200;

export type Query = (name: string) => string | undefined;

export interface Paging {
  page: number;
  size: number;
}

export function paging(query: Query): Paging {
  const page = wholeNumber(query, 'page') ?? 1;
  if (page < 1) throw new BadRequest('page must be 1 or more');
  const size = wholeNumber(query, 'size') ?? PAGE_SIZE;
  return { page, size: Math.min(MAX_PAGE_SIZE, Math.max(1, size)) };
}

/** A trimmed text filter; undefined when absent or empty. */
export function textFilter(query: Query, name: string): string | undefined {
  const value = query(name)?.trim();
  if (!value) return undefined;
  if (value.length > MAX_TEXT) throw new BadRequest(`${name} must be at most ${MAX_TEXT} characters`);
  // No text the panel lists holds one, and PostgreSQL refuses a NUL in a query outright.
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new BadRequest(`${name} must not hold control characters`);
  return value;
}

export function booleanFilter(query: Query, name: string): boolean | undefined {
  const value = query(name)?.trim();
  if (!value) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new BadRequest(`${name} must be true or false`);
}

function wholeNumber(query: Query, name: string): number | undefined {
  const value = query(name)?.trim();
  if (value === undefined || value === '') return undefined;
  // Beyond nine digits nothing is meaningful (and clamping keeps the number safe).
  if (!/^-?\d+$/.test(value)) throw new BadRequest(`${name} must be a whole number, got "${value.slice(0, 40)}"`);
  if (value.replace(/^-?0*/, '').length > 9) return value.startsWith('-') ? -1 : 1e9;
  return Number(value);
}

/** A record id from the path: a positive integer the database can hold, else undefined (404). */
export function recordId(raw: string | undefined): number | undefined {
  if (!raw || !/^[1-9]\d{0,9}$/.test(raw)) return undefined;
  const id = Number(raw);
  return id <= 2 ** 31 - 1 ? id : undefined;
}
