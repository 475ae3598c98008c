import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('examples stay true', () => {
  it('examples/sdk/self-check.mjs runs and verifies itself', async () => {
    const script = fileURLToPath(new URL('../../examples/sdk/self-check.mjs', import.meta.url));
    const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [script], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      child.on('close', (code) => resolve({ code, out }));
    });
    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain('ok: the secret was injected and never came back');
  });
});
