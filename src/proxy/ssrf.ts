/**
 * Address classification for the SSRF guard (DESIGN §2, §7): which resolved addresses the
 * proxy may connect to with a credential attached.
 *
 * Pure: no DNS, no sockets, no clock. The proxy resolves a name, runs every address through
 * `checkAddress`, and connects to the address it checked. Addresses are parsed here rather
 * than with `net.BlockList`, so that every spelling (IPv4-mapped, NAT64, 6to4, IPv4 tails,
 * zone ids) is decided by code we can read and test, and anything we cannot parse is blocked.
 */

import { AgentSecretsError } from '../core/errors.js';

/** The verdict on one address; `reason` names the range, e.g. 'loopback (127.0.0.0/8)'. */
export interface AddressVerdict {
  blocked: boolean;
  reason?: string;
}

/** A parsed CIDR list: the private-network override (`AGENTSECRETS_ALLOW_PRIVATE`). */
export interface CidrSet {
  contains(ip: string): boolean;
  /** The entries in normalised `address/prefix` form, joined with ', ' (for warnings and audit). */
  readonly source: string;
  readonly empty: boolean;
}

type Family = 4 | 6;

interface Address {
  family: Family;
  value: bigint;
}

interface Prefix {
  family: Family;
  base: bigint;
  prefix: number;
}

interface Range extends Prefix {
  reason: string;
  /** For ranges that embed an IPv4 address (NAT64, 6to4): extracts it for a second look. */
  embedded?: (value: bigint) => bigint;
}

const NOT_AN_IP = 'not an IP address';
const BITS: Record<Family, number> = { 4: 32, 6: 128 };

// Leading zeros are refused: '01.2.3.4' is octal to some parsers and decimal to others.
const IPV4_OCTET = /^(?:0|[1-9]\d{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIPv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!IPV4_OCTET.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

/** The 16-bit groups of one side of '::'; a dotted IPv4 tail is allowed only at the very end. */
function parseGroups(part: string, holdsTail: boolean): number[] | undefined {
  if (part === '') return [];
  const items = part.split(':');
  const groups: number[] = [];
  for (const [i, item] of items.entries()) {
    if (holdsTail && i === items.length - 1 && item.includes('.')) {
      const v4 = parseIPv4(item);
      if (v4 === undefined) return undefined;
      groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
    } else if (HEX_GROUP.test(item)) {
      groups.push(parseInt(item, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

function parseIPv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const [headText = '', tailText] = halves;
  const head = parseGroups(headText, tailText === undefined);
  const tail = tailText === undefined ? [] : parseGroups(tailText, true);
  if (head === undefined || tail === undefined) return undefined;
  const explicit = head.length + tail.length;
  // Without '::' all eight groups are spelled out; with it, '::' stands for at least one.
  if (tailText === undefined ? explicit !== 8 : explicit > 7) return undefined;
  const groups = [...head, ...new Array<number>(8 - explicit).fill(0), ...tail];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(group), 0n);
}

function parseAddress(text: string): Address | undefined {
  if (text.includes(':')) {
    const value = parseIPv6(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseIPv4(text);
  return value === undefined ? undefined : { family: 4, value };
}

function inPrefix(address: Address, { family, base, prefix }: Prefix): boolean {
  if (address.family !== family) return false;
  const shift = BigInt(BITS[family] - prefix);
  return address.value >> shift === base >> shift;
}

function range(cidr: string, label: string, embedded?: Range['embedded']): Range {
  const [text = '', prefix = ''] = cidr.split('/');
  const address = parseAddress(text);
  if (address === undefined) throw new Error(`bad built-in range ${cidr}`);
  const reason = `${label} (${cidr})`;
  const base = { family: address.family, base: address.value, prefix: Number(prefix), reason };
  return embedded === undefined ? base : { ...base, embedded };
}

const lastIPv4 = (value: bigint): bigint => value & 0xffffffffn;
const sixToFourIPv4 = (value: bigint): bigint => (value >> 80n) & 0xffffffffn;

// IANA IPv4 Special-Purpose Address Registry plus multicast and reserved space, blocked whatever
// their "globally reachable" flag says. First match wins, so narrower ranges come first.
const IPV4_BLOCKED: readonly Range[] = [
  range('0.0.0.0/32', 'this host'),
  range('0.0.0.0/8', 'this network'),
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'shared address space'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local'),
  range('172.16.0.0/12', 'private'),
  range('192.0.0.0/24', 'IETF protocol assignments'),
  range('192.0.2.0/24', 'documentation'),
  range('192.31.196.0/24', 'AS112-v4'),
  range('192.52.193.0/24', 'AMT'),
  range('192.88.99.0/24', '6to4 relay anycast'),
  range('192.168.0.0/16', 'private'),
  range('192.175.48.0/24', 'direct delegation AS112 service'),
  range('198.18.0.0/15', 'benchmarking'),
  range('198.51.100.0/24', 'documentation'),
  range('203.0.113.0/24', 'documentation'),
  range('224.0.0.0/4', 'multicast'),
  range('255.255.255.255/32', 'limited broadcast'),
  range('240.0.0.0/4', 'reserved'),
];

// IANA IPv6 Special-Purpose Address Registry: everything outside 2000::/3 except NAT64, plus the
// special ranges inside it. 6to4 and NAT64 are judged by the IPv4 address they carry.
const IPV6_BLOCKED: readonly Range[] = [
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('::ffff:0:0/96', 'IPv4-mapped'),
  range('::/96', 'IPv4-compatible'),
  range('64:ff9b::/96', 'NAT64', lastIPv4),
  range('64:ff9b:1::/48', 'local-use NAT64'),
  range('100::/64', 'discard-only'),
  range('100:0:0:1::/64', 'dummy prefix'),
  range('5f00::/16', 'SRv6 SIDs'),
  range('fc00::/7', 'unique local'),
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'site-local'),
  range('ff00::/8', 'multicast'),
  // The complement of 2000::/3, as three prefixes.
  range('::/3', 'not global unicast'),
  range('4000::/2', 'not global unicast'),
  range('8000::/1', 'not global unicast'),
  range('2001::/32', 'Teredo'),
  range('2001:2::/48', 'benchmarking'),
  range('2001:10::/28', 'ORCHID'),
  range('2001:20::/28', 'ORCHIDv2'),
  range('2001::/23', 'IETF protocol assignments'),
  range('2001:db8::/32', 'documentation'),
  range('3fff::/20', 'documentation'),
  range('2620:4f:8000::/48', 'AS112 direct delegation'),
  range('2002::/16', '6to4', sixToFourIPv4),
];

function classifyParsed(address: Address): AddressVerdict {
  const table = address.family === 4 ? IPV4_BLOCKED : IPV6_BLOCKED;
  const hit = table.find((r) => inPrefix(address, r));
  if (hit === undefined) return { blocked: false };
  if (hit.embedded === undefined) return { blocked: true, reason: hit.reason };
  const inner = classifyParsed({ family: 4, value: hit.embedded(address.value) });
  return inner.blocked
    ? { blocked: true, reason: `${hit.reason} embedding ${inner.reason ?? ''}` }
    : inner;
}

/**
 * Classifies one IP address (IPv4 dotted quad, or IPv6 text without brackets; an IPv6 zone id
 * like fe80::1%eth0 is blocked). Anything unparsable is blocked with reason 'not an IP address'.
 * IPv4 must be strict dotted-quad decimal without leading zeros ('01.2.3.4' is not an address).
 */
export function classifyAddress(ip: string): AddressVerdict {
  const zone = ip.indexOf('%');
  if (zone >= 0) {
    const scoped = parseIPv6(ip.slice(0, zone)) !== undefined && zone < ip.length - 1;
    return { blocked: true, reason: scoped ? 'scoped IPv6 address (zone id)' : NOT_AN_IP };
  }
  const address = parseAddress(ip);
  return address === undefined ? { blocked: true, reason: NOT_AN_IP } : classifyParsed(address);
}

const CIDR_FORM =
  "expected an IPv4 or IPv6 address with an optional prefix, such as '10.0.0.0/8', '127.0.0.1' or 'fd00::/8'";

function badCidr(entry: string, problem: string): AgentSecretsError {
  return new AgentSecretsError(
    'usage_error',
    `invalid CIDR entry ${JSON.stringify(entry)}: ${problem}; ${CIDR_FORM}`,
  );
}

function parseCidr(entry: string): Prefix & { text: string } {
  const slash = entry.indexOf('/');
  const text = slash < 0 ? entry : entry.slice(0, slash);
  const address = parseAddress(text);
  if (address === undefined) throw badCidr(entry, `'${text}' is not an IP address`);
  const bits = BITS[address.family];
  let prefix = bits;
  if (slash >= 0) {
    const prefixText = entry.slice(slash + 1);
    prefix = /^(?:0|[1-9]\d{0,2})$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!(prefix <= bits)) {
      throw badCidr(
        entry,
        `the prefix must be a number from 0 to ${bits} for IPv${address.family}`,
      );
    }
  }
  // A set host bit ('10.0.0.1/8') is usually a typo that would open far more than intended.
  const shift = BigInt(bits - prefix);
  if ((address.value >> shift) << shift !== address.value) {
    throw badCidr(entry, `host bits are set after /${prefix}`);
  }
  return {
    family: address.family,
    base: address.value,
    prefix,
    text: `${text.toLowerCase()}/${prefix}`,
  };
}

/**
 * Parses a comma/space-separated CIDR list such as "127.0.0.1/32, ::1/128, 10.0.0.0/8" (a bare
 * address means /32 or /128). Empty string → empty set. Malformed entries, and entries with host
 * bits set after the prefix, throw a usage_error. IPv4-mapped IPv6 addresses never match IPv4
 * CIDRs: the families are kept separate.
 */
export function parseCidrList(list: string): CidrSet {
  const ranges = list
    .split(/[\s,]+/)
    .filter((entry) => entry !== '')
    .map(parseCidr);
  return {
    contains(ip: string): boolean {
      const address = parseAddress(ip);
      return address !== undefined && ranges.some((r) => inPrefix(address, r));
    },
    source: ranges.map((r) => r.text).join(', '),
    empty: ranges.length === 0,
  };
}

/** True when the WHATWG parser would read `hostname` as IPv4: its last label is a number. */
function endsInNumber(hostname: string): boolean {
  // The last label, trailing dots ignored; read in place (every proxied call asks).
  let end = hostname.length;
  while (end > 0 && hostname.charCodeAt(end - 1) === 0x2e) end--;
  if (end === 0) return false;
  const start = hostname.lastIndexOf('.', end - 1) + 1;
  if (start === end) return false;
  // Decimal digits only, or 0x/0X and any number of hex digits.
  let decimal = true;
  for (let i = start; i < end; i++) {
    const c = hostname.charCodeAt(i);
    if (c < 0x30 || c > 0x39) {
      decimal = false;
      break;
    }
  }
  if (decimal) return true;
  if (end - start < 2 || hostname.charCodeAt(start) !== 0x30) return false;
  const x = hostname.charCodeAt(start + 1);
  if (x !== 0x78 && x !== 0x58) return false;
  for (let i = start + 2; i < end; i++) {
    const c = hostname.charCodeAt(i) | 0x20;
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/**
 * If a WHATWG URL `hostname` is an IP literal (IPv4 as the URL parser normalises it, or [IPv6]
 * in brackets), returns the address without brackets; otherwise undefined. Anything shaped like
 * a literal that the URL parser would not have produced ('127.0.0.1..', '0x7f.1', '[::1') is
 * returned unchanged, so that classifyAddress blocks it rather than it going to DNS.
 */
export function literalAddress(hostname: string): string | undefined {
  if (hostname.startsWith('[') && hostname.endsWith(']')) return hostname.slice(1, -1);
  if (hostname.includes('[') || hostname.includes(':')) return hostname;
  return hostname !== '' && endsInNumber(hostname) ? hostname : undefined;
}

/**
 * The decision for one resolved address: blocked unless public, or explicitly opened by the
 * private-network override. `viaOverride` is true whenever the override contains the address,
 * public or not, so callers can apply rules that hold only for override destinations (plain
 * HTTP) and record them in audit. `reason` names the blocked range, also when the override
 * opened it.
 */
export function checkAddress(
  ip: string,
  override?: CidrSet,
): { allowed: boolean; viaOverride: boolean; reason?: string } {
  const verdict = classifyAddress(ip);
  const viaOverride = override?.contains(ip) ?? false;
  if (!verdict.blocked) return { allowed: true, viaOverride };
  if (viaOverride) return { allowed: true, viaOverride, reason: verdict.reason ?? NOT_AN_IP };
  return { allowed: false, viaOverride, reason: verdict.reason ?? NOT_AN_IP };
}
