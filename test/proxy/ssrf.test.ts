import { describe, expect, it } from 'vitest';
import { isAgentSecretsError } from '../../src/core/errors.js';
import {
  checkAddress,
  classifyAddress,
  literalAddress,
  parseCidrList,
} from '../../src/proxy/ssrf.js';

/** `reason` is a substring of the verdict's reason, or null for an allowed (public) address. */
interface Row {
  ip: string;
  reason: string | null;
}

const v4Blocked: Row[] = [
  { ip: '0.0.0.0', reason: 'this host (0.0.0.0/32)' },
  { ip: '0.0.0.1', reason: 'this network (0.0.0.0/8)' },
  { ip: '0.255.255.255', reason: '0.0.0.0/8' },
  { ip: '10.0.0.0', reason: 'private (10.0.0.0/8)' },
  { ip: '10.1.2.3', reason: '10.0.0.0/8' },
  { ip: '10.255.255.255', reason: '10.0.0.0/8' },
  { ip: '100.64.0.0', reason: 'shared address space (100.64.0.0/10)' },
  { ip: '100.100.100.200', reason: '100.64.0.0/10' },
  { ip: '100.127.255.255', reason: '100.64.0.0/10' },
  { ip: '127.0.0.0', reason: 'loopback (127.0.0.0/8)' },
  { ip: '127.0.0.1', reason: 'loopback (127.0.0.0/8)' },
  { ip: '127.255.255.255', reason: '127.0.0.0/8' },
  { ip: '169.254.0.0', reason: 'link-local (169.254.0.0/16)' },
  { ip: '169.254.169.254', reason: 'link-local (169.254.0.0/16)' },
  { ip: '169.254.255.255', reason: '169.254.0.0/16' },
  { ip: '172.16.0.0', reason: 'private (172.16.0.0/12)' },
  { ip: '172.20.10.1', reason: '172.16.0.0/12' },
  { ip: '172.31.255.255', reason: '172.16.0.0/12' },
  { ip: '192.0.0.0', reason: 'IETF protocol assignments (192.0.0.0/24)' },
  { ip: '192.0.0.8', reason: '192.0.0.0/24' },
  { ip: '192.0.0.9', reason: '192.0.0.0/24' },
  { ip: '192.0.0.10', reason: '192.0.0.0/24' },
  { ip: '192.0.0.170', reason: '192.0.0.0/24' },
  { ip: '192.0.0.171', reason: '192.0.0.0/24' },
  { ip: '192.0.0.255', reason: '192.0.0.0/24' },
  { ip: '192.0.2.0', reason: 'documentation (192.0.2.0/24)' },
  { ip: '192.0.2.255', reason: '192.0.2.0/24' },
  { ip: '192.31.196.1', reason: 'AS112-v4 (192.31.196.0/24)' },
  { ip: '192.52.193.1', reason: 'AMT (192.52.193.0/24)' },
  { ip: '192.88.99.1', reason: '6to4 relay anycast (192.88.99.0/24)' },
  { ip: '192.168.0.0', reason: 'private (192.168.0.0/16)' },
  { ip: '192.168.1.1', reason: '192.168.0.0/16' },
  { ip: '192.168.255.255', reason: '192.168.0.0/16' },
  { ip: '192.175.48.1', reason: 'AS112 service (192.175.48.0/24)' },
  { ip: '198.18.0.0', reason: 'benchmarking (198.18.0.0/15)' },
  { ip: '198.19.255.255', reason: '198.18.0.0/15' },
  { ip: '198.51.100.7', reason: 'documentation (198.51.100.0/24)' },
  { ip: '203.0.113.9', reason: 'documentation (203.0.113.0/24)' },
  { ip: '224.0.0.0', reason: 'multicast (224.0.0.0/4)' },
  { ip: '239.255.255.250', reason: 'multicast (224.0.0.0/4)' },
  { ip: '239.255.255.255', reason: '224.0.0.0/4' },
  { ip: '240.0.0.0', reason: 'reserved (240.0.0.0/4)' },
  { ip: '250.1.2.3', reason: '240.0.0.0/4' },
  { ip: '255.255.255.254', reason: '240.0.0.0/4' },
  { ip: '255.255.255.255', reason: 'limited broadcast (255.255.255.255/32)' },
];

const v4Public: Row[] = [
  { ip: '1.0.0.0', reason: null },
  { ip: '1.1.1.1', reason: null },
  { ip: '8.8.8.8', reason: null },
  { ip: '9.255.255.255', reason: null },
  { ip: '11.0.0.0', reason: null },
  { ip: '100.63.255.255', reason: null },
  { ip: '100.128.0.0', reason: null },
  { ip: '126.255.255.255', reason: null },
  { ip: '128.0.0.0', reason: null },
  { ip: '169.253.255.255', reason: null },
  { ip: '169.255.0.0', reason: null },
  { ip: '172.15.255.255', reason: null },
  { ip: '172.32.0.0', reason: null },
  { ip: '191.255.255.255', reason: null },
  { ip: '192.0.1.0', reason: null },
  { ip: '192.0.3.0', reason: null },
  { ip: '192.167.255.255', reason: null },
  { ip: '192.169.0.0', reason: null },
  { ip: '198.17.255.255', reason: null },
  { ip: '198.20.0.0', reason: null },
  { ip: '203.0.112.255', reason: null },
  { ip: '223.255.255.255', reason: null },
];

const v6Blocked: Row[] = [
  { ip: '::', reason: 'unspecified (::/128)' },
  { ip: '0:0:0:0:0:0:0:0', reason: 'unspecified' },
  { ip: '::1', reason: 'loopback (::1/128)' },
  { ip: '0:0:0:0:0:0:0:1', reason: 'loopback (::1/128)' },
  { ip: '0000::1', reason: 'loopback (::1/128)' },
  { ip: '0000:0000:0000:0000:0000:0000:0000:0001', reason: 'loopback (::1/128)' },
  { ip: '::0:1', reason: 'loopback' },
  { ip: '::ffff:127.0.0.1', reason: 'IPv4-mapped (::ffff:0:0/96)' },
  { ip: '::ffff:7f00:1', reason: 'IPv4-mapped (::ffff:0:0/96)' },
  { ip: '::FFFF:8.8.8.8', reason: 'IPv4-mapped' },
  { ip: '::ffff:a9fe:a9fe', reason: 'IPv4-mapped' },
  { ip: '0:0:0:0:0:ffff:169.254.169.254', reason: 'IPv4-mapped' },
  { ip: '::127.0.0.1', reason: 'IPv4-compatible (::/96)' },
  { ip: '::8.8.8.8', reason: 'IPv4-compatible (::/96)' },
  { ip: '64:ff9b::7f00:1', reason: 'NAT64 (64:ff9b::/96) embedding loopback (127.0.0.0/8)' },
  { ip: '64:ff9b::127.0.0.1', reason: 'embedding loopback' },
  { ip: '64:ff9b::a9fe:a9fe', reason: 'embedding link-local (169.254.0.0/16)' },
  { ip: '64:ff9b::a00:1', reason: 'embedding private (10.0.0.0/8)' },
  { ip: '64:ff9b:1::', reason: 'local-use NAT64 (64:ff9b:1::/48)' },
  { ip: '64:ff9b:1:ffff:ffff:ffff:ffff:ffff', reason: '64:ff9b:1::/48' },
  { ip: '64:ff9b:1::808:808', reason: 'local-use NAT64' },
  { ip: '100::', reason: 'discard-only (100::/64)' },
  { ip: '100::ffff:ffff:ffff:ffff', reason: 'discard-only' },
  { ip: '100:0:0:1::1', reason: 'dummy prefix (100:0:0:1::/64)' },
  { ip: '5f00::1', reason: 'SRv6 SIDs (5f00::/16)' },
  { ip: 'fc00::', reason: 'unique local (fc00::/7)' },
  { ip: 'fd00::1', reason: 'unique local (fc00::/7)' },
  { ip: 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', reason: 'unique local' },
  { ip: 'fe80::', reason: 'link-local (fe80::/10)' },
  { ip: 'fe80::1', reason: 'link-local (fe80::/10)' },
  { ip: 'FE80::1', reason: 'link-local' },
  { ip: 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', reason: 'link-local' },
  { ip: 'fec0::1', reason: 'site-local (fec0::/10)' },
  { ip: 'ff02::1', reason: 'multicast (ff00::/8)' },
  { ip: 'ff05::1:3', reason: 'multicast' },
  { ip: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', reason: 'multicast' },
  { ip: '1::', reason: 'not global unicast (::/3)' },
  { ip: '1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', reason: 'not global unicast' },
  { ip: '4000::1', reason: 'not global unicast (4000::/2)' },
  { ip: '8000::1', reason: 'not global unicast (8000::/1)' },
  { ip: 'e000::1', reason: 'not global unicast' },
  { ip: '2001::', reason: 'Teredo (2001::/32)' },
  { ip: '2001:0:4136:e378:8000:63bf:3fff:fdd2', reason: 'Teredo' },
  { ip: '2001:1::1', reason: 'IETF protocol assignments (2001::/23)' },
  { ip: '2001:2::1', reason: 'benchmarking (2001:2::/48)' },
  { ip: '2001:3::1', reason: '2001::/23' },
  { ip: '2001:4:112::1', reason: '2001::/23' },
  { ip: '2001:10::1', reason: 'ORCHID (2001:10::/28)' },
  { ip: '2001:20::1', reason: 'ORCHIDv2 (2001:20::/28)' },
  { ip: '2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff', reason: '2001::/23' },
  { ip: '2001:db8::1', reason: 'documentation (2001:db8::/32)' },
  { ip: '2001:DB8:ffff::', reason: 'documentation (2001:db8::/32)' },
  { ip: '3fff::1', reason: 'documentation (3fff::/20)' },
  { ip: '3fff:fff::1', reason: '3fff::/20' },
  { ip: '2620:4f:8000::1', reason: 'AS112 direct delegation (2620:4f:8000::/48)' },
  { ip: '2002:7f00:1::', reason: '6to4 (2002::/16) embedding loopback (127.0.0.0/8)' },
  { ip: '2002:a00:1::', reason: '6to4 (2002::/16) embedding private (10.0.0.0/8)' },
  { ip: '2002:a9fe:a9fe::1', reason: 'embedding link-local' },
  { ip: '2002:c0a8:101:1::1', reason: 'embedding private (192.168.0.0/16)' },
  { ip: '2002::', reason: 'embedding this host (0.0.0.0/32)' },
  { ip: '2002:ffff:ffff::', reason: 'embedding limited broadcast' },
];

const v6Public: Row[] = [
  { ip: '2606:4700:4700::1111', reason: null },
  { ip: '2001:4860:4860::8888', reason: null },
  { ip: '2000::', reason: null },
  { ip: '2001:200::1', reason: null },
  { ip: '2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', reason: null },
  { ip: '2001:db9::', reason: null },
  { ip: '2620:4f:7fff:ffff::1', reason: null },
  { ip: '2620:4f:8001::1', reason: null },
  { ip: '3ffe:ffff::1', reason: null },
  { ip: '3fff:1000::', reason: null },
  { ip: '64:ff9b::808:808', reason: null },
  { ip: '64:ff9b::8.8.8.8', reason: null },
  { ip: '64:ff9b::101:101', reason: null },
  { ip: '2002:808:808::', reason: null },
  { ip: '2002:808:808:1:2:3:4:5', reason: null },
  { ip: '2003::1', reason: null },
  { ip: '2A00:1450:4001:81C::200E', reason: null },
];

const garbage: Row[] = [
  { ip: '', reason: 'not an IP address' },
  { ip: ' ', reason: 'not an IP address' },
  { ip: 'localhost', reason: 'not an IP address' },
  { ip: 'example.com', reason: 'not an IP address' },
  { ip: '1.2.3', reason: 'not an IP address' },
  { ip: '1.2.3.4.5', reason: 'not an IP address' },
  { ip: '256.1.1.1', reason: 'not an IP address' },
  { ip: '1.2.3.256', reason: 'not an IP address' },
  { ip: '1.2.3.-1', reason: 'not an IP address' },
  // Leading zeros read as octal in some parsers and decimal in others: refused.
  { ip: '01.2.3.4', reason: 'not an IP address' },
  { ip: '127.0.0.01', reason: 'not an IP address' },
  { ip: '0x7f.1', reason: 'not an IP address' },
  { ip: '0x7f000001', reason: 'not an IP address' },
  { ip: '2130706433', reason: 'not an IP address' },
  { ip: '127.1', reason: 'not an IP address' },
  { ip: '127.0.0.1.', reason: 'not an IP address' },
  { ip: ' 127.0.0.1', reason: 'not an IP address' },
  { ip: '127.0.0.1 ', reason: 'not an IP address' },
  { ip: '１２７.0.0.1', reason: 'not an IP address' },
  { ip: '[::1]', reason: 'not an IP address' },
  { ip: '::g', reason: 'not an IP address' },
  { ip: '1::2::3', reason: 'not an IP address' },
  { ip: '12345::', reason: 'not an IP address' },
  { ip: ':::', reason: 'not an IP address' },
  { ip: ':1', reason: 'not an IP address' },
  { ip: '1:', reason: 'not an IP address' },
  { ip: '1:2:3:4:5:6:7', reason: 'not an IP address' },
  { ip: '1:2:3:4:5:6:7:8:9', reason: 'not an IP address' },
  { ip: '1:2:3:4:5:6:7:8::', reason: 'not an IP address' },
  { ip: '::1:2:3:4:5:6:7:8', reason: 'not an IP address' },
  { ip: '::ffff:1.2.3', reason: 'not an IP address' },
  { ip: '::ffff:01.2.3.4', reason: 'not an IP address' },
  { ip: '::1.2.3.4:1', reason: 'not an IP address' },
  { ip: '1.2.3.4::', reason: 'not an IP address' },
  { ip: '1:2:3:4:5:6:7:1.2.3.4', reason: 'not an IP address' },
  { ip: '%eth0', reason: 'not an IP address' },
  { ip: 'fe80::1%', reason: 'not an IP address' },
  { ip: 'fe80::1%eth0', reason: 'scoped IPv6 address (zone id)' },
  { ip: '2606:4700:4700::1111%1', reason: 'zone id' },
];

describe('classifyAddress', () => {
  it.each([...v4Blocked, ...v4Public, ...v6Blocked, ...v6Public, ...garbage])(
    '$ip → $reason',
    ({ ip, reason }) => {
      const verdict = classifyAddress(ip);
      if (reason === null) {
        expect(verdict).toEqual({ blocked: false });
      } else {
        expect(verdict.blocked).toBe(true);
        expect(verdict.reason).toContain(reason);
      }
    },
  );

  it('accepts the longest valid spellings', () => {
    expect(classifyAddress('0000:0000:0000:0000:0000:ffff:255.255.255.255').blocked).toBe(true);
    expect(classifyAddress('2606:4700:0:0:0:0:0:1111')).toEqual({ blocked: false });
    expect(classifyAddress('2606:4700:0:0:0:0::1111')).toEqual({ blocked: false });
    expect(classifyAddress('1:2:3:4:5:6:7::')).toEqual({
      blocked: true,
      reason: expect.any(String),
    });
    expect(classifyAddress('2001:4860:1:2:3:4:5::')).toEqual({ blocked: false });
  });
});

describe('parseCidrList', () => {
  it.each<{ list: string; source: string }>([
    { list: '', source: '' },
    { list: '   ', source: '' },
    { list: ' , ,', source: '' },
    { list: '127.0.0.1/32', source: '127.0.0.1/32' },
    { list: '127.0.0.1', source: '127.0.0.1/32' },
    { list: '::1', source: '::1/128' },
    { list: '127.0.0.1/32, ::1/128, 10.0.0.0/8', source: '127.0.0.1/32, ::1/128, 10.0.0.0/8' },
    { list: '10.0.0.0/8,192.168.0.0/16', source: '10.0.0.0/8, 192.168.0.0/16' },
    { list: '10.0.0.0/8 192.168.0.0/16', source: '10.0.0.0/8, 192.168.0.0/16' },
    { list: '\t10.0.0.0/8 ,\n FD00::/8 ,, ', source: '10.0.0.0/8, fd00::/8' },
    { list: '0.0.0.0/0', source: '0.0.0.0/0' },
    { list: '::/0', source: '::/0' },
    { list: '::ffff:0:0/96', source: '::ffff:0:0/96' },
  ])('$list → $source', ({ list, source }) => {
    const set = parseCidrList(list);
    expect(set.source).toBe(source);
    expect(set.empty).toBe(source === '');
  });

  it.each<{ list: string; entry: string }>([
    { list: 'localhost', entry: '"localhost"' },
    { list: '10.0.0.0/33', entry: '"10.0.0.0/33"' },
    { list: '::/129', entry: '"::/129"' },
    { list: '10.0.0.0/-1', entry: '"10.0.0.0/-1"' },
    { list: '10.0.0.0/', entry: '"10.0.0.0/"' },
    { list: '10.0.0.0/8/8', entry: '"10.0.0.0/8/8"' },
    { list: '10.0.0.0/08', entry: '"10.0.0.0/08"' },
    { list: '10.0.0.0/x', entry: '"10.0.0.0/x"' },
    { list: '127.0.0.1/32, 10.0.0/8', entry: '"10.0.0/8"' },
    { list: '127.0.0.1;10.0.0.0/8', entry: '"127.0.0.1;10.0.0.0/8"' },
    { list: '10.0.0.1/8', entry: '"10.0.0.1/8"' },
    { list: 'fd00::1/8', entry: '"fd00::1/8"' },
    { list: 'fe80::1%eth0/128', entry: '"fe80::1%eth0/128"' },
    { list: '[::1]/128', entry: '"[::1]/128"' },
    { list: '/8', entry: '"/8"' },
    { list: '0x7f000001/32', entry: '"0x7f000001/32"' },
  ])('rejects $list naming $entry', ({ list, entry }) => {
    let caught: unknown;
    try {
      parseCidrList(list);
    } catch (err) {
      caught = err;
    }
    expect(isAgentSecretsError(caught, 'usage_error')).toBe(true);
    const message = (caught as Error).message;
    expect(message).toContain(entry);
    expect(message).toContain("such as '10.0.0.0/8'");
  });

  it('says how long a prefix may be', () => {
    expect(() => parseCidrList('10.0.0.0/33')).toThrow(/from 0 to 32 for IPv4/);
    expect(() => parseCidrList('::/129')).toThrow(/from 0 to 128 for IPv6/);
    expect(() => parseCidrList('10.0.0.1/8')).toThrow(/host bits are set/);
  });

  const set = parseCidrList('10.0.0.0/8, 192.168.1.0/24, 127.0.0.1, fd00::/8, ::1');
  it.each<{ ip: string; contained: boolean }>([
    { ip: '10.0.0.0', contained: true },
    { ip: '10.255.255.255', contained: true },
    { ip: '9.255.255.255', contained: false },
    { ip: '11.0.0.0', contained: false },
    { ip: '192.168.1.0', contained: true },
    { ip: '192.168.1.255', contained: true },
    { ip: '192.168.0.255', contained: false },
    { ip: '192.168.2.0', contained: false },
    { ip: '127.0.0.1', contained: true },
    { ip: '127.0.0.2', contained: false },
    { ip: 'fd00::', contained: true },
    { ip: 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', contained: true },
    { ip: 'fc00::1', contained: false },
    { ip: 'fe00::', contained: false },
    { ip: '::1', contained: true },
    { ip: '0:0:0:0:0:0:0:1', contained: true },
    { ip: '::2', contained: false },
    // Families stay apart: IPv4-mapped and IPv4-compatible forms do not match IPv4 CIDRs.
    { ip: '::ffff:127.0.0.1', contained: false },
    { ip: '::ffff:10.0.0.1', contained: false },
    { ip: '::127.0.0.1', contained: false },
    { ip: '64:ff9b::a00:1', contained: false },
    { ip: '2002:a00:1::', contained: false },
    { ip: 'fe80::1%eth0', contained: false },
    { ip: 'not-an-ip', contained: false },
    { ip: '', contained: false },
    { ip: '010.0.0.1', contained: false },
  ])('contains($ip) is $contained', ({ ip, contained }) => {
    expect(set.contains(ip)).toBe(contained);
  });

  it('keeps an IPv4-mapped CIDR apart from IPv4 addresses', () => {
    const mapped = parseCidrList('::ffff:127.0.0.0/104');
    expect(mapped.contains('::ffff:127.0.0.1')).toBe(true);
    expect(mapped.contains('127.0.0.1')).toBe(false);
  });

  it('an empty set contains nothing', () => {
    const empty = parseCidrList('');
    expect(empty.contains('127.0.0.1')).toBe(false);
    expect(empty.contains('::1')).toBe(false);
  });

  it('a /0 contains its whole family and nothing of the other', () => {
    const all4 = parseCidrList('0.0.0.0/0');
    expect(all4.contains('255.255.255.255')).toBe(true);
    expect(all4.contains('::1')).toBe(false);
    const all6 = parseCidrList('::/0');
    expect(all6.contains('ffff::')).toBe(true);
    expect(all6.contains('127.0.0.1')).toBe(false);
  });
});

describe('literalAddress', () => {
  // Every spelling the WHATWG parser accepts ends up as an address that classifyAddress blocks.
  it.each<{ url: string; address: string }>([
    { url: 'http://127.0.0.1/', address: '127.0.0.1' },
    { url: 'http://2130706433/', address: '127.0.0.1' },
    { url: 'http://0x7f.1/', address: '127.0.0.1' },
    { url: 'http://0x7f000001/', address: '127.0.0.1' },
    { url: 'http://127.1/', address: '127.0.0.1' },
    { url: 'http://127.0.1/', address: '127.0.0.1' },
    { url: 'http://0177.0.0.1/', address: '127.0.0.1' },
    { url: 'http://0177.1/', address: '127.0.0.1' },
    { url: 'http://127.0.0.1./', address: '127.0.0.1' },
    { url: 'http://%31%32%37.0.0.1/', address: '127.0.0.1' },
    { url: 'http://１２７.0.0.1/', address: '127.0.0.1' },
    { url: 'http://0/', address: '0.0.0.0' },
    { url: 'http://169.254.169.254/', address: '169.254.169.254' },
    { url: 'http://2852039166/', address: '169.254.169.254' },
    { url: 'http://0xa9.0xfe.0xa9.0xfe/', address: '169.254.169.254' },
    { url: 'http://0251.0376.0251.0376/', address: '169.254.169.254' },
    { url: 'http://10.1/', address: '10.0.0.1' },
    { url: 'http://[::1]/', address: '::1' },
    { url: 'http://[0:0:0:0:0:0:0:1]/', address: '::1' },
    { url: 'http://[0000::1]:8080/', address: '::1' },
    { url: 'http://[::ffff:127.0.0.1]/', address: '::ffff:7f00:1' },
    { url: 'http://[::ffff:8.8.8.8]/', address: '::ffff:808:808' },
    { url: 'http://[::127.0.0.1]/', address: '::7f00:1' },
    { url: 'http://[64:ff9b::127.0.0.1]/', address: '64:ff9b::7f00:1' },
    { url: 'http://[2002:7f00:1::]/', address: '2002:7f00:1::' },
    { url: 'http://[FE80::1]/', address: 'fe80::1' },
    { url: 'http://[fd00::1]/', address: 'fd00::1' },
    { url: 'https://user:pass@127.0.0.1:8443/path', address: '127.0.0.1' },
  ])('$url → $address, blocked', ({ url, address }) => {
    const literal = literalAddress(new URL(url).hostname);
    expect(literal).toBe(address);
    expect(classifyAddress(literal ?? '').blocked).toBe(true);
  });

  it.each<{ url: string; address: string }>([
    { url: 'https://8.8.8.8/', address: '8.8.8.8' },
    { url: 'https://134744072/', address: '8.8.8.8' },
    { url: 'https://[2606:4700:4700::1111]/', address: '2606:4700:4700::1111' },
  ])('$url → $address, public', ({ url, address }) => {
    const literal = literalAddress(new URL(url).hostname);
    expect(literal).toBe(address);
    expect(classifyAddress(literal ?? '').blocked).toBe(false);
  });

  it.each([
    'http://example.com/',
    'https://api.example.com:8443/',
    'http://localhost/',
    'http://1.2.3.4.example.com/',
    'http://0x7f.example/',
    'http://127.0.0.1.nip.io/',
  ])('%s is a name, not a literal', (url) => {
    expect(literalAddress(new URL(url).hostname)).toBeUndefined();
  });

  // Hostnames the URL parser would never produce are kept as literals, so they are blocked.
  it.each(['127.0.0.1..', '0x7f.1', '127.1', '[::1', '::1', '1.2.3.09'])(
    'fails closed on raw %s',
    (hostname) => {
      const literal = literalAddress(hostname);
      expect(literal).toBeDefined();
      expect(classifyAddress(literal ?? '').blocked).toBe(true);
    },
  );

  it('the URL parser hands 127.0.0.1.. over as a name; it is still held as a literal', () => {
    const hostname = new URL('http://127.0.0.1../').hostname;
    expect(hostname).toBe('127.0.0.1..');
    expect(classifyAddress(literalAddress(hostname) ?? '')).toEqual({
      blocked: true,
      reason: 'not an IP address',
    });
  });
});

describe('checkAddress', () => {
  const override = parseCidrList('127.0.0.1/32, ::1, 10.1.0.0/16, 8.8.8.8');

  it.each<{
    ip: string;
    withOverride: boolean;
    expected: { allowed: boolean; viaOverride: boolean; reason?: string };
  }>([
    { ip: '8.8.8.8', withOverride: false, expected: { allowed: true, viaOverride: false } },
    { ip: '1.1.1.1', withOverride: true, expected: { allowed: true, viaOverride: false } },
    // A public address listed in the override is allowed anyway, and reported as an override hit.
    { ip: '8.8.8.8', withOverride: true, expected: { allowed: true, viaOverride: true } },
    {
      ip: '127.0.0.1',
      withOverride: false,
      expected: { allowed: false, viaOverride: false, reason: 'loopback (127.0.0.0/8)' },
    },
    {
      ip: '127.0.0.1',
      withOverride: true,
      expected: { allowed: true, viaOverride: true, reason: 'loopback (127.0.0.0/8)' },
    },
    {
      ip: '127.0.0.2',
      withOverride: true,
      expected: { allowed: false, viaOverride: false, reason: 'loopback (127.0.0.0/8)' },
    },
    {
      ip: '::1',
      withOverride: true,
      expected: { allowed: true, viaOverride: true, reason: 'loopback (::1/128)' },
    },
    {
      ip: '10.1.2.3',
      withOverride: true,
      expected: { allowed: true, viaOverride: true, reason: 'private (10.0.0.0/8)' },
    },
    {
      ip: '10.2.0.1',
      withOverride: true,
      expected: { allowed: false, viaOverride: false, reason: 'private (10.0.0.0/8)' },
    },
    {
      ip: '::ffff:127.0.0.1',
      withOverride: true,
      expected: { allowed: false, viaOverride: false, reason: 'IPv4-mapped (::ffff:0:0/96)' },
    },
    {
      ip: '169.254.169.254',
      withOverride: true,
      expected: { allowed: false, viaOverride: false, reason: 'link-local (169.254.0.0/16)' },
    },
    {
      ip: 'fe80::1%eth0',
      withOverride: true,
      expected: { allowed: false, viaOverride: false, reason: 'scoped IPv6 address (zone id)' },
    },
    {
      ip: 'localhost',
      withOverride: true,
      expected: { allowed: false, viaOverride: false, reason: 'not an IP address' },
    },
  ])('$ip (override: $withOverride)', ({ ip, withOverride, expected }) => {
    expect(checkAddress(ip, withOverride ? override : undefined)).toEqual(expected);
  });

  it('an empty override opens nothing', () => {
    expect(checkAddress('127.0.0.1', parseCidrList(''))).toEqual({
      allowed: false,
      viaOverride: false,
      reason: 'loopback (127.0.0.0/8)',
    });
  });
});

describe('literalAddress: the last-label test read in place', () => {
  // The regex form it replaced (the WHATWG rule: a host whose last label is a number is IPv4).
  function reference(hostname: string): string | undefined {
    if (hostname.startsWith('[') && hostname.endsWith(']')) return hostname.slice(1, -1);
    if (hostname.includes('[') || hostname.includes(':')) return hostname;
    const labels = hostname.replace(/\.+$/, '').split('.');
    const last = labels[labels.length - 1] ?? '';
    const number = /^\d+$/.test(last) || /^0x[0-9a-f]*$/i.test(last);
    return hostname !== '' && number ? hostname : undefined;
  }

  it('answers as the regex form on edge cases and 100,000 random hosts', () => {
    const hosts = [
      '',
      '.',
      '..',
      '1',
      '1.',
      '1..',
      'a.1',
      '0x',
      '0X',
      '0x.',
      '0xg',
      '0xAf',
      'a.0x1f..',
      '1.2.3.4',
      'api.example.com',
      '127.0.0.1',
      'x.09',
      'x.00x1',
      'x.0x',
      '\u0661',
      'a.\u0661',
    ];
    const alphabet = '0123456789abcdefxXgG.:[]AF-\u0660';
    let seed = 17;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let i = 0; i < 100_000; i++) {
      let host = '';
      const length = 1 + Math.floor(next() * 8);
      for (let k = 0; k < length; k++) host += alphabet[Math.floor(next() * alphabet.length)];
      hosts.push(host);
    }
    let literals = 0;
    for (const host of hosts) {
      expect(literalAddress(host)).toBe(reference(host));
      if (reference(host) !== undefined) literals++;
    }
    // Control: both answers occur often.
    expect(literals).toBeGreaterThan(10_000);
    expect(hosts.length - literals).toBeGreaterThan(10_000);
  });
});
