import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

describe('`agentsecrets demo` (the README first command)', () => {
  it('runs the whole flow with embedded defaults, masks and redacts, and leaves nothing behind', async () => {
    const home = await tempDir();
    // No passphrase, no keychain (no D-Bus), no server: embedded defaults only.
    const result = await runCli(['demo'], { home, env: { DBUS_SESSION_BUS_ADDRESS: undefined } });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      'program output: the program sees a key of length 40: [REDACTED_BY_AGENTSECRETS]',
    );
    expect(result.stdout).toContain('{"you_sent":"Bearer [REDACTED_BY_AGENTSECRETS]"}');
    expect(result.stdout).toMatch(
      /attacker\.example\/collect: blocked \(domain_not_in_allowlist\)/,
    );
    expect(result.stdout).toMatch(/chain: intact \(3 entries\)/);
    expect(result.stdout).not.toMatch(/sk_demo_[0-9a-f]{32}/);
  });
});
