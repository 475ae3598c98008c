import { describe, expect, it } from 'vitest';
import { isAgentSecretsError } from '../../src/core/errors.js';
import {
  matchAllowlist,
  normalizeHostname,
  parseAllowlistEntry,
  WILDCARD_RULE,
} from '../../src/policy/allowlist.js';

/** The text of the pattern admitting `raw`; undefined when none does or the URL does not parse. */
function admitted(raw: string, entries: readonly string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  return matchAllowlist(url, entries.map(parseAllowlistEntry))?.text;
}

/** The usage_error message `fn` throws; fails the test if it throws anything else or nothing. */
function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isAgentSecretsError(err, 'usage_error')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected a usage_error, got none');
}

describe('normalizeHostname', () => {
  it.each<{ host: string; expected: string }>([
    { host: 'api.example.com', expected: 'api.example.com' },
    { host: 'API.Example.COM', expected: 'api.example.com' },
    { host: 'api.example.com.', expected: 'api.example.com' },
    { host: 'bücher.example', expected: 'xn--bcher-kva.example' },
    { host: 'BÜCHER.example.', expected: 'xn--bcher-kva.example' },
    { host: 'xn--bcher-kva.example', expected: 'xn--bcher-kva.example' },
    { host: 'ａｐｉ.example.com', expected: 'api.example.com' },
    { host: 'api。example。com', expected: 'api.example.com' },
    { host: 'a_b.example.com', expected: 'a_b.example.com' },
    { host: 'localhost', expected: 'localhost' },
    { host: '127.0.0.1', expected: '127.0.0.1' },
    { host: '127.1', expected: '127.0.0.1' },
    { host: '[::1]', expected: '::1' },
    { host: '::1', expected: '::1' },
    { host: '[0:0:0:0:0:0:0:1]', expected: '::1' },
    { host: '[2001:DB8:0000::0001]', expected: '2001:db8::1' },
    { host: '[::ffff:127.0.0.1]', expected: '::ffff:7f00:1' },
    // Invalid → ''.
    { host: '', expected: '' },
    { host: '.', expected: '' },
    { host: 'example.com..', expected: '' },
    { host: '.example.com', expected: '' },
    { host: 'a..b', expected: '' },
    { host: '*.example.com', expected: '' },
    { host: '-a.example.com', expected: '' },
    { host: 'a-.example.com', expected: '' },
    { host: 'a b.com', expected: '' },
    { host: 'a%2eb.com', expected: '' },
    { host: `${'a'.repeat(64)}.com`, expected: '' },
    { host: 'foo.123', expected: '' },
    { host: '[::1', expected: '' },
    { host: '[fe80::1%eth0]', expected: '' },
    { host: 'fe80::1%eth0', expected: '' },
    { host: '[::g]', expected: '' },
  ])('$host → $expected', ({ host, expected }) => {
    expect(normalizeHostname(host)).toBe(expected);
  });
});

describe('parseAllowlistEntry', () => {
  it.each<{
    input: string;
    host: string;
    wildcard: boolean;
    port: number | undefined;
    text: string;
  }>([
    {
      input: 'api.stripe.com',
      host: 'api.stripe.com',
      wildcard: false,
      port: undefined,
      text: 'api.stripe.com',
    },
    {
      input: '  api.stripe.com  ',
      host: 'api.stripe.com',
      wildcard: false,
      port: undefined,
      text: 'api.stripe.com',
    },
    {
      input: 'API.Example.COM.',
      host: 'api.example.com',
      wildcard: false,
      port: undefined,
      text: 'api.example.com',
    },
    {
      input: '*.example.com',
      host: 'example.com',
      wildcard: true,
      port: undefined,
      text: '*.example.com',
    },
    {
      input: '*.Example.COM.',
      host: 'example.com',
      wildcard: true,
      port: undefined,
      text: '*.example.com',
    },
    {
      input: '*.example.com:8443',
      host: 'example.com',
      wildcard: true,
      port: 8443,
      text: '*.example.com:8443',
    },
    { input: '*.co.uk', host: 'co.uk', wildcard: true, port: undefined, text: '*.co.uk' },
    {
      input: 'bücher.example',
      host: 'xn--bcher-kva.example',
      wildcard: false,
      port: undefined,
      text: 'xn--bcher-kva.example',
    },
    {
      input: '*.bücher.example',
      host: 'xn--bcher-kva.example',
      wildcard: true,
      port: undefined,
      text: '*.xn--bcher-kva.example',
    },
    { input: 'localhost', host: 'localhost', wildcard: false, port: undefined, text: 'localhost' },
    {
      input: 'localhost:8443',
      host: 'localhost',
      wildcard: false,
      port: 8443,
      text: 'localhost:8443',
    },
    { input: 'localhost:1', host: 'localhost', wildcard: false, port: 1, text: 'localhost:1' },
    {
      input: 'localhost:65535',
      host: 'localhost',
      wildcard: false,
      port: 65535,
      text: 'localhost:65535',
    },
    {
      input: 'api.example.com:443',
      host: 'api.example.com',
      wildcard: false,
      port: 443,
      text: 'api.example.com:443',
    },
    { input: '127.0.0.1', host: '127.0.0.1', wildcard: false, port: undefined, text: '127.0.0.1' },
    {
      input: '127.0.0.1:8443',
      host: '127.0.0.1',
      wildcard: false,
      port: 8443,
      text: '127.0.0.1:8443',
    },
    { input: '[::1]', host: '::1', wildcard: false, port: undefined, text: '[::1]' },
    { input: '[::1]:8443', host: '::1', wildcard: false, port: 8443, text: '[::1]:8443' },
    { input: '::1', host: '::1', wildcard: false, port: undefined, text: '[::1]' },
    {
      input: '2001:DB8::0001',
      host: '2001:db8::1',
      wildcard: false,
      port: undefined,
      text: '[2001:db8::1]',
    },
    {
      input: '[0:0:0:0:0:0:0:1]:8443',
      host: '::1',
      wildcard: false,
      port: 8443,
      text: '[::1]:8443',
    },
    {
      input: 'my_service.internal.example',
      host: 'my_service.internal.example',
      wildcard: false,
      port: undefined,
      text: 'my_service.internal.example',
    },
  ])('$input → $text', ({ input, ...expected }) => {
    expect(parseAllowlistEntry(input)).toEqual(expected);
  });

  it.each<{ input: string; message: RegExp }>([
    { input: '', message: /it is empty/ },
    { input: '   ', message: /it is empty/ },
    {
      input: 'https://api.example.com',
      message: /it is a URL; give only the host, e\.g\. 'api\.example\.com'/,
    },
    { input: 'https://api.example.com:8443/v1', message: /e\.g\. 'api\.example\.com:8443'/ },
    { input: 'http://localhost', message: /it is a URL/ },
    { input: 'api.example.com/v1', message: /contains a path/ },
    { input: 'api.example.com/', message: /contains a path/ },
    { input: 'api.example.com?x=1', message: /contains a query/ },
    { input: 'api.example.com#top', message: /contains a fragment/ },
    { input: 'user@api.example.com', message: /contains userinfo/ },
    { input: 'user:pass@api.example.com', message: /contains userinfo/ },
    { input: 'api example.com', message: /whitespace or a backslash/ },
    { input: 'api.example.com\\evil', message: /whitespace or a backslash/ },
    { input: '*', message: /a lone '\*' would admit every host/ },
    { input: '*.', message: /a lone '\*' would admit every host/ },
    { input: 'a*.example.com', message: /whole leftmost label/ },
    { input: 'a.*.com', message: /whole leftmost label/ },
    { input: '**.example.com', message: /whole leftmost label/ },
    { input: '*.*.example.com', message: /whole leftmost label/ },
    { input: '*example.com', message: /whole leftmost label/ },
    { input: 'example.*', message: /whole leftmost label/ },
    { input: '*.com', message: /'\*\.com' is too broad: a wildcard needs at least two labels/ },
    { input: '*.localhost', message: /too broad/ },
    { input: '*.com.', message: /too broad/ },
    { input: '*.1.2.3.4', message: /not IP addresses/ },
    { input: '*.[::1]', message: /not IP addresses/ },
    { input: 'api.example.com:0', message: /port "0" is not a number from 1 to 65535/ },
    { input: 'api.example.com:65536', message: /port "65536" is not a number from 1 to 65535/ },
    { input: 'api.example.com:123456', message: /from 1 to 65535/ },
    { input: 'api.example.com:', message: /port "" is not a number/ },
    { input: 'api.example.com:https', message: /port "https" is not a number/ },
    { input: 'api.example.com:-1', message: /from 1 to 65535/ },
    { input: 'api..example.com', message: /is not a valid hostname/ },
    { input: '.example.com', message: /is not a valid hostname/ },
    { input: 'example.com..', message: /is not a valid hostname/ },
    { input: '-api.example.com', message: /is not a valid hostname/ },
    { input: 'api!.example.com', message: /is not a valid hostname/ },
    { input: 'api%2eexample.com', message: /is not a valid hostname/ },
    { input: `${'a'.repeat(64)}.example.com`, message: /is not a valid hostname/ },
    {
      input: '127.1',
      message: /write the IPv4 address as four decimal numbers, e\.g\. '127\.0\.0\.1'/,
    },
    { input: '0x7f.0.0.1', message: /four decimal numbers/ },
    { input: '2130706433', message: /four decimal numbers/ },
    { input: '1.2.3.4.5', message: /is not a valid hostname/ },
    { input: '[::1', message: /is not closed/ },
    { input: '[::1]8443', message: /expected ':port' after '\]'/ },
    { input: '[::1]:0', message: /from 1 to 65535/ },
    { input: '[not-ip]', message: /is not a valid IPv6 address/ },
    { input: 'fe80::1%eth0', message: /is not a valid IPv6 address/ },
    {
      input: 'localhost:8443:1',
      message: /is not a valid IPv6 address; write one with a port as '\[::1\]:8443'/,
    },
  ])('rejects $input', ({ input, message }) => {
    const text = usageMessage(() => parseAllowlistEntry(input));
    expect(text).toMatch(message);
    expect(text).toContain(`invalid allowlist entry ${JSON.stringify(input)}`);
    expect(text).toContain("for example 'api.example.com', '*.example.com' or 'localhost:8443'");
  });

  it('round-trips every canonical text', () => {
    for (const input of [
      '*.example.com:8443',
      'bücher.example',
      '[::1]:8443',
      '::1',
      '127.0.0.1:80',
    ]) {
      const pattern = parseAllowlistEntry(input);
      expect(parseAllowlistEntry(pattern.text)).toEqual(pattern);
    }
  });
});

describe('matchAllowlist', () => {
  const LIST = ['api.example.com', '*.svc.example.com', 'localhost:8443'];

  it.each<{ url: string; expected: string }>([
    { url: 'https://api.example.com/', expected: 'api.example.com' },
    { url: 'https://api.example.com/v1/charges?x=1#f', expected: 'api.example.com' },
    { url: 'https://api.example.com:443/', expected: 'api.example.com' },
    { url: 'https://API.EXAMPLE.COM/', expected: 'api.example.com' },
    { url: 'https://api.example.com./', expected: 'api.example.com' },
    { url: 'https://Api.Example.Com.:443/', expected: 'api.example.com' },
    // The host matches and 80 is http's default port. Plain http is refused by the HTTPS-only
    // rule in the proxy, not by the allowlist.
    { url: 'http://api.example.com/', expected: 'api.example.com' },
    { url: 'http://api.example.com:80/', expected: 'api.example.com' },
    // '@' in the path, query or fragment is not userinfo.
    { url: 'https://api.example.com/@evil.com', expected: 'api.example.com' },
    { url: 'https://api.example.com/?next=@evil.com', expected: 'api.example.com' },
    // Userinfo does not change the host the request goes to.
    { url: 'https://evil.com@api.example.com/', expected: 'api.example.com' },
    // The URL parser decodes and maps these to the very host the request is sent to.
    { url: 'https://api%2eexample.com/', expected: 'api.example.com' },
    { url: 'https://ａｐｉ.example.com/', expected: 'api.example.com' },
    { url: 'https://api。example。com/', expected: 'api.example.com' },
    // For special schemes '\' is '/': the host is api.example.com and the rest is a path.
    { url: 'https://api.example.com\\@evil.com/', expected: 'api.example.com' },
    { url: 'https://a.svc.example.com/', expected: '*.svc.example.com' },
    { url: 'https://my-worker.svc.example.com/', expected: '*.svc.example.com' },
    { url: 'https://A.SVC.EXAMPLE.COM./', expected: '*.svc.example.com' },
    { url: 'https://bücher.svc.example.com/', expected: '*.svc.example.com' },
    { url: 'https://xn--bcher-kva.svc.example.com/', expected: '*.svc.example.com' },
    { url: 'https://localhost:8443/', expected: 'localhost:8443' },
    { url: 'http://localhost:8443/', expected: 'localhost:8443' },
    { url: 'https://LOCALHOST.:8443/', expected: 'localhost:8443' },
  ])('$url is admitted by $expected', ({ url, expected }) => {
    expect(admitted(url, LIST)).toBe(expected);
  });

  it.each<{ url: string }>([
    // userinfo tricks
    { url: 'https://api.example.com@evil.com/' },
    { url: 'https://api.example.com:443@evil.com/' },
    { url: 'https://api.example.com%40evil.com/' },
    // suffix, prefix and look-alike confusion
    { url: 'https://api.example.com.evil.com/' },
    { url: 'https://api.example.com.evil.com./' },
    { url: 'https://evilapi.example.com/' },
    { url: 'https://xapi.example.com/' },
    { url: 'https://api-example.com/' },
    { url: 'https://api.example.co/' },
    { url: 'https://api.example.com.co/' },
    { url: 'https://example.com/' },
    { url: 'https://www.example.com/' },
    { url: 'https://evil.com/api.example.com' },
    { url: 'https://evil.com/?host=api.example.com' },
    { url: 'https://evil.com#@api.example.com' },
    // wildcard: exactly one label, never the apex
    { url: 'https://a.b.svc.example.com/' },
    { url: 'https://svc.example.com/' },
    { url: 'https://svc.example.com./' },
    { url: 'https://.svc.example.com/' },
    { url: 'https://*.svc.example.com/' },
    { url: 'https://asvc.example.com/' },
    { url: 'https://a-svc.example.com/' },
    { url: 'https://a.svc.example.com.evil.com/' },
    { url: 'https://svc.example.com.a/' },
    // ports: a pattern without one admits only the default port, one with a port only that port
    { url: 'https://api.example.com:8443/' },
    { url: 'https://api.example.com:80/' },
    { url: 'http://api.example.com:443/' },
    { url: 'https://a.svc.example.com:8443/' },
    { url: 'http://localhost/' },
    { url: 'https://localhost/' },
    { url: 'https://localhost:8444/' },
    { url: 'https://localhost:443/' },
    { url: 'https://localhost.evil.com:8443/' },
    { url: 'https://127.0.0.1:8443/' },
    { url: 'https://[::1]:8443/' },
    // IDN homographs: Cyrillic 'а' (U+0430) and 'е' (U+0435) punycode to other hosts
    { url: 'https://аpi.example.com/' },
    { url: 'https://api.exаmple.com/' },
    { url: 'https://a.svc.еxample.com/' },
    // percent-encoding and backslashes that decode to a different host
    { url: 'https://api.example.com%2eevil.com/' },
    { url: 'https://evil.com%2fapi.example.com/' },
    { url: 'https://evil.com\\@api.example.com/' },
    { url: 'https://evil.com\\.api.example.com/' },
    { url: 'https://api.example.com%00.evil.com/' },
    // trailing dots on a different host, or more than one
    { url: 'https://example.com./' },
    { url: 'https://api.example.com../' },
    // schemes the proxy does not speak
    { url: 'ftp://api.example.com/' },
    { url: 'wss://api.example.com/' },
    { url: 'file://api.example.com/etc/passwd' },
  ])('$url is not admitted', ({ url }) => {
    expect(admitted(url, LIST)).toBeUndefined();
  });

  it.each<{ entries: string[]; url: string; expected: string | undefined }>([
    { entries: ['127.0.0.1:8443'], url: 'http://127.0.0.1:8443/', expected: '127.0.0.1:8443' },
    { entries: ['127.0.0.1:8443'], url: 'http://127.1:8443/', expected: '127.0.0.1:8443' },
    { entries: ['127.0.0.1:8443'], url: 'http://2130706433:8443/', expected: '127.0.0.1:8443' },
    { entries: ['127.0.0.1:8443'], url: 'http://127.0.0.2:8443/', expected: undefined },
    { entries: ['127.0.0.1:8443'], url: 'http://localhost:8443/', expected: undefined },
    { entries: ['[::1]:8443'], url: 'http://[::1]:8443/', expected: '[::1]:8443' },
    { entries: ['[::1]:8443'], url: 'http://[0:0:0:0:0:0:0:1]:8443/', expected: '[::1]:8443' },
    { entries: ['[::1]:8443'], url: 'http://[::ffff:127.0.0.1]:8443/', expected: undefined },
    { entries: ['[::1]:8443'], url: 'http://127.0.0.1:8443/', expected: undefined },
    { entries: ['::1'], url: 'https://[::1]/', expected: '[::1]' },
    { entries: ['2001:db8::1'], url: 'https://[2001:DB8:0::1]/', expected: '[2001:db8::1]' },
    { entries: ['2001:db8::1'], url: 'https://[2001:db8::2]/', expected: undefined },
    // The first admitting pattern wins.
    {
      entries: ['*.example.com', 'api.example.com'],
      url: 'https://api.example.com/',
      expected: '*.example.com',
    },
    {
      entries: ['api.example.com', '*.example.com'],
      url: 'https://api.example.com/',
      expected: 'api.example.com',
    },
    {
      entries: ['*.example.com:8443', 'api.example.com'],
      url: 'https://api.example.com/',
      expected: 'api.example.com',
    },
    { entries: [], url: 'https://api.example.com/', expected: undefined },
  ])('$entries admit $url: $expected', ({ entries, url, expected }) => {
    expect(admitted(url, entries)).toBe(expected);
  });

  it('returns the pattern object itself', () => {
    const patterns = ['a.example.com', 'b.example.com'].map(parseAllowlistEntry);
    expect(matchAllowlist(new URL('https://b.example.com/'), patterns)).toBe(patterns[1]);
  });
});

describe('WILDCARD_RULE', () => {
  it('is one sentence stating the one-label rule', () => {
    expect(WILDCARD_RULE).toContain('*.example.com');
    expect(WILDCARD_RULE).toContain('exactly one');
    expect(WILDCARD_RULE.trim().split(/\.\s/).length).toBe(1);
  });
});
