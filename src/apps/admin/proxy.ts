/**
 * Who is at the other end of a request. The socket's peer, unless it is one of
 * the proxies TRUST_PROXY names: then X-Forwarded-For, read from the right (each
 * proxy appends the address it saw), up to the first entry that is not itself a
 * trusted proxy. What lies further left was written by the client and proves
 * nothing; a header from a peer that is not a trusted proxy is ignored whole.
 */
import { BlockList, isIP } from 'node:net';
import type { TrustedProxy } from '../../env.ts';

export class TrustedProxies {
  private readonly list = new BlockList();
  private readonly any: boolean;

  constructor(proxies: TrustedProxy[]) {
    for (const proxy of proxies) this.list.addSubnet(proxy.network, proxy.prefix, proxy.family);
    this.any = proxies.length > 0;
  }

  /** Whether `address` is one of the trusted proxies. */
  trusts(address: string | undefined): boolean {
    const ip = plainAddress(address);
    const version = isIP(ip);
    return this.any && version !== 0 && this.list.check(ip, version === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client's address: the peer's, or behind trusted proxies the right-most
   * X-Forwarded-For entry that is not a trusted proxy (the left-most when all
   * are). An entry that is not an address stops the walk: the nearest proxy
   * answers for it, so that no made-up value becomes a client of its own.
   */
  clientAddress(peer: string | undefined, forwardedFor: string | undefined): string {
    let client = plainAddress(peer) || 'unknown';
    if (!forwardedFor || !this.trusts(client)) return client;
    for (const entry of forwardedFor.split(',').reverse()) {
      const hop = plainAddress(entry);
      if (isIP(hop) === 0) break;
      client = hop;
      if (!this.trusts(hop)) break;
    }
    return client;
  }

  /** Whether a trusted proxy says that the client came over HTTPS (X-Forwarded-Proto). */
  saysHttps(peer: string | undefined, forwardedProto: string | undefined): boolean {
    return this.trusts(peer) && forwardedProto?.split(',')[0]?.trim().toLowerCase() === 'https';
  }
}

/** An address as written on a socket or in a header: `::ffff:1.2.3.4` is the IPv4 address 1.2.3.4, a zone (`%eth0`) is dropped. */
export function plainAddress(address: string | undefined): string {
  const ip = (address ?? '').trim().replace(/%.*$/, '');
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip) ? ip.slice(7) : ip;
}
