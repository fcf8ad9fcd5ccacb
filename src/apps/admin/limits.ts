/**
 * The panel's bounds, in one place (the README's admin panel section lists them):
 * how long a client may take to send a request, how many connections the server
 * holds, how large a request body and a page may be. A page is one page of a list
 * (./params.ts: 25 rows, at most 100); a message's text on it is cut at MESSAGE_CHARS.
 */

export interface ServerLimits {
  /** A request's headers must arrive within this (else 408 and the socket closed): slow-header clients cannot pile up. */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this (else 408 and closed); at least headersTimeoutMs. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Connections held at once; one more is closed as soon as it is accepted, so descriptors and memory stay bounded. */
  maxConnections: number;
  /** How often the server looks for requests past their timeouts (Node's connectionsCheckingInterval, 30 s by default). */
  checkIntervalMs: number;
}

export const SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 256,
  checkIntervalMs: 1_000,
});

/** A request body larger than this is refused (413) before it is read. */
export const MAX_BODY_BYTES = 64 * 1024;

/** A message's text on the thread page is cut after this many characters (the page says how long it is). */
export const MESSAGE_CHARS = 8_000;
