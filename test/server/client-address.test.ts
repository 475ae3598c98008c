import { describe, expect, it } from 'vitest';
import { parseCidrList } from '../../src/proxy/ssrf.js';
import { clientAddress } from '../../src/server/client-address.js';

/** Which address a request is counted under for rate limits (F11). */
describe('client address', () => {
  const proxies = parseCidrList('10.0.0.0/8, ::1/128');
  it.each([
    // Without --trust-proxy a forged header changes nothing: the attack gets no new bucket.
    ['no trusted proxy: the socket', '203.0.113.9', '198.51.100.1', undefined, '203.0.113.9'],
    [
      'an untrusted peer: its header is ignored',
      '203.0.113.9',
      '198.51.100.1',
      proxies,
      '203.0.113.9',
    ],
    ['a trusted proxy: the client it names', '10.0.0.2', '198.51.100.1', proxies, '198.51.100.1'],
    [
      'the rightmost hop that is not a trusted proxy',
      '10.0.0.2',
      '192.0.2.66, 198.51.100.1, 10.0.0.7',
      proxies,
      '198.51.100.1',
    ],
    ['an IPv4-mapped peer', '::ffff:10.0.0.2', '198.51.100.1', proxies, '198.51.100.1'],
    ['no header from a trusted proxy: the proxy', '10.0.0.2', undefined, proxies, '10.0.0.2'],
    ['garbage in the header: the last proxy', '10.0.0.2', 'not-an-ip', proxies, '10.0.0.2'],
    [
      'garbage left of a real client: that client',
      '10.0.0.2',
      'junk, 198.51.100.1',
      proxies,
      '198.51.100.1',
    ],
    ['only proxies: the leftmost', '10.0.0.2', '10.1.1.1, 10.0.0.3', proxies, '10.1.1.1'],
    ['no socket address', undefined, undefined, undefined, 'unknown'],
  ] as const)('%s', (_label, peer, header, trusted, expected) => {
    expect(clientAddress(peer, header, trusted)).toBe(expected);
  });
});
