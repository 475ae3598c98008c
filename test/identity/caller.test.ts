import { validateHeaderValue } from 'node:http';
import { describe, expect, it } from 'vitest';
import { isAgentSecretsError } from '../../src/core/errors.js';
import { shedWarning } from '../../src/cli/commands/agent.js';
import {
  declaredCaller,
  declaredNameFromClient,
  displayAgentName,
} from '../../src/identity/caller.js';
import { challenge } from '../../src/mcp/http.js';
import { HTTP_STATUS } from '../../src/proxy/engine.js';

/** The check before this change: 1-128 characters, none of them a control character. */
function previousRule(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  return name.trim() !== '' && name.length <= 128 && !/[\u0000-\u001f\u007f]/.test(name);
}

describe('declared agent names: [A-Za-z0-9._-]{1,64}, else invalid_agent_id', () => {
  // Each spoof row was a valid declared name before: the attack worked.
  it.each([
    ['a level after the name', 'alpha issued'],
    ['a fake column', 'alpha  issued  tok_123'],
    ['a homoglyph of an issued agent', 'b\u0456lling-bot'],
    ['a right-to-left override', 'bot\u202edeussi'],
    ['a non-breaking space', 'alpha\u00a0issued'],
    ['shell metacharacters', 'bot;rm -rf ~'],
    ['a quote', 'bot"issued'],
    ['65 characters', 'a'.repeat(65)],
    ['a slash', 'team/bot'],
    ['an @', 'bot@example.com'],
  ])('refuses %s (accepted by the previous rule)', (_label, name) => {
    expect(previousRule(name)).toBe(true);
    let caught: unknown;
    try {
      declaredCaller(name, 'proxy');
    } catch (err) {
      caught = err;
    }
    expect(isAgentSecretsError(caught, 'invalid_agent_id')).toBe(true);
    const message = (caught as Error).message;
    expect(message).toContain('X-AS-Agent-ID');
    expect(message).toContain('1-64 letters, digits, ".", "_" or "-"');
    // The message never repeats what the caller sent.
    expect(message).not.toContain(name);
  });

  it.each([
    ['control characters', 'bot\u001b[2Kissued'],
    ['a newline', 'alpha\nissued'],
  ])('refuses %s (refused before too)', (_label, name) => {
    expect(() => declaredCaller(name, 'cli', '--agent-id')).toThrow(/--agent-id/);
  });

  it.each(['billing-bot', 'claude.desktop', 'a', 'A_b-9.x', 'x'.repeat(64), '-lead', '...'])(
    'accepts %j as declared',
    (name) => {
      expect(declaredCaller(name, 'proxy')).toEqual({
        level: 'declared',
        agentId: name,
        tokenId: null,
        source: 'proxy',
      });
    },
  );

  it('no name, or an empty one, is anonymous', () => {
    for (const name of [undefined, '']) {
      expect(declaredCaller(name, 'proxy')).toMatchObject({ level: 'anonymous', agentId: null });
    }
  });

  it('invalid_agent_id is a 400 on the wire', () => {
    expect(HTTP_STATUS.invalid_agent_id).toBe(400);
  });
});

describe('MCP clientInfo.name is sanitised into a declared name, else anonymous', () => {
  it.each([
    ['Claude Desktop', 'Claude-Desktop'],
    ['cursor', 'cursor'],
    ['Cursor (1.2.3)', 'Cursor-1.2.3'],
    ['alpha issued', 'alpha-issued'],
    ['  padded  ', 'padded'],
    ['bot\u001b[31m', 'bot-31m'],
    ['x'.repeat(100), 'x'.repeat(64)],
    [`${'x'.repeat(63)} y`, 'x'.repeat(63)],
    ['日本語', undefined],
    ['   ', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%j becomes %j', (input, expected) => {
    expect(declaredNameFromClient(input)).toBe(expected);
  });
});

describe('stored names are displayed so that they cannot be spoofed', () => {
  it.each([
    ['billing-bot', 'billing-bot'],
    // Entries written before the rule: quoted and escaped, one visible value.
    ['alpha issued', '"alpha issued"'],
    ['bot\u001b[2K', '"bot\\u001b[2K"'],
    ['a\nb', '"a\\nb"'],
  ])('%j shows as %s', (name, shown) => {
    expect(displayAgentName(name)).toBe(shown);
  });
});

describe('WWW-Authenticate on MCP HTTP: ASCII only', () => {
  // [message, whether Node refused the previous header built from it]
  it.each([
    [
      'an agent token is required: send Authorization: Bearer agt_… (a human issues one with `agentsecrets agent token issue NAME`)',
      true,
    ],
    ['quote " and backslash \\ and ‘curly’ and é', true],
    ['the agent token is not valid: ask the human for a new one', false],
  ])('%j: previous header refused by Node: %s; ours is accepted', (message, refused) => {
    // The previous value: the message with only quotes and backslashes removed.
    const previous = `Bearer error="invalid_token", error_description="${message.replace(/["\\]/g, '')}"`;
    const check = () => validateHeaderValue('www-authenticate', previous);
    if (refused) expect(check).toThrow();
    else expect(check).not.toThrow();
    const value = challenge(message);
    expect(() => validateHeaderValue('www-authenticate', value)).not.toThrow();
    expect(value).toMatch(
      /^Bearer realm="agentsecrets", error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*"$/,
    );
  });

  it('without a presented token the challenge names only the realm', () => {
    expect(challenge(undefined)).toBe('Bearer realm="agentsecrets"');
  });
});

describe('agent policy set: rules that can be shed', () => {
  const rules = {
    allow_secrets: ['STRIPE_*'],
    deny_secrets: [],
    allow_domains: [],
    methods: [],
    rate: null,
  };
  it.each([
    ['anonymous', rules, true],
    ['declared', rules, true],
    ['issued', rules, false],
    ['declared', null, false],
  ] as const)('minimum %s, rules %j: warns %s', (minimum, r, warns) => {
    const warning = shedWarning('billing-bot', minimum, r);
    if (!warns) return expect(warning).toBeNull();
    expect(warning).toMatchObject({
      code: 'rules_can_be_shed',
      minimum,
      command: 'agentsecrets workspace policy set --require-identity issued',
    });
    expect(warning!.message).toContain('without its token');
  });
});
