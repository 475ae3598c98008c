import { isIP } from 'node:net';
import type { CidrSet } from '../proxy/ssrf.js';

/**
 * The address a request comes from, for rate limits (issue 12, F11). Behind a reverse proxy
 * every request arrives from the proxy, so all users would share one bucket; but a forwarded
 * header is only as true as whoever set it. It is read only when the connection comes from a
 * proxy the operator named (`server start --trust-proxy CIDR`), and then from the right: the
 * first hop that is not itself a trusted proxy is the client. Pure.
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | undefined,
  trusted: CidrSet | undefined,
): string {
  const direct = normalize(peer) ?? 'unknown';
  if (trusted === undefined || trusted.empty || !trusted.contains(direct)) return direct;
  if (forwardedFor === undefined || forwardedFor.trim() === '') return direct;
  const hops = forwardedFor.split(',').map((hop) => normalize(hop.trim()));
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i];
    // A hop that is not an address was not written by a proxy we trust: stop at the last good.
    if (hop === undefined) return i === hops.length - 1 ? direct : hops[i + 1]!;
    if (!trusted.contains(hop)) return hop;
  }
  return hops[0] ?? direct;
}

/** An IP address without an IPv4-mapped prefix or brackets, or undefined if it is not one. */
function normalize(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  let address = text.trim();
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  if (address.toLowerCase().startsWith('::ffff:') && isIP(address.slice(7)) === 4)
    address = address.slice(7);
  return isIP(address) === 0 ? undefined : address;
}
