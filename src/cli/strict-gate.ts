import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditStatus } from '../audit/format.js';
import type { Config } from '../core/config.js';
import { AgentSecretsError, isAgentSecretsError } from '../core/errors.js';
import { writeFileAtomic } from '../store/fs.js';
import { noTerminal, type Terminal } from './tty.js';
import { GATE_WINDOW_MS, gateWait } from '../strict/gate-wait.js';

/**
 * Strict mode's human gate (issue 14). A pseudo-terminal proves nothing (`script` makes one),
 * so in strict mode a human-only operation needs the vault passphrase, typed at the
 * controlling terminal (/dev/tty, echo off) whatever stdin is, and verified by deriving the
 * key here. The passphrase never leaves this process: it is not sent to the key holder's
 * socket, which another process of the same user could be impersonating.
 */

export { gateWait };
const WINDOW_MS = GATE_WINDOW_MS;

function gateFile(config: Config): string {
  return join(config.paths.home, 'gate.json');
}

async function readFailures(config: Config): Promise<number[]> {
  try {
    const raw = JSON.parse(await readFile(gateFile(config), 'utf8')) as { failures?: unknown };
    return Array.isArray(raw.failures) ? raw.failures.filter((t) => typeof t === 'number') : [];
  } catch {
    return [];
  }
}

/** Refuses (`rate_limited`) while wrong passphrases are being punished. */
export async function assertGateOpen(config: Config, now = Date.now()): Promise<void> {
  const wait = gateWait(await readFailures(config), now);
  if (wait > 0) {
    throw new AgentSecretsError(
      'rate_limited',
      `too many wrong passphrases at the strict-mode gate: try again in ${Math.ceil(wait / 1000)} s`,
    );
  }
}

/** Records the outcome of one passphrase at the gate. */
export async function recordGateOutcome(config: Config, ok: boolean, now = Date.now()) {
  if (ok) {
    await rm(gateFile(config), { force: true });
    return;
  }
  const failures = [...(await readFailures(config)), now].filter((t) => now - t < WINDOW_MS);
  await writeFileAtomic(gateFile(config), `${JSON.stringify({ failures })}\n`);
}

/** Writes the gate's decision to the audit log (what was approved; never a value). */
export async function auditApproval(
  config: Config,
  entry: { action: string; status: AuditStatus; reason: string | null; keys?: string[] },
): Promise<void> {
  const { createAuditWriter } = await import('../audit/writer.js');
  const audit = createAuditWriter({ dir: config.paths.auditDir, fsync: config.auditFsync });
  try {
    await audit.append({
      workspace: null,
      project: null,
      environment: null,
      agent_id: null,
      identity_level: 'anonymous',
      token_id: null,
      source: 'cli',
      method: 'APPROVE',
      target_url: null,
      domain: null,
      secret_keys: entry.keys ?? [],
      auth_styles: [],
      status: entry.status,
      status_code: null,
      reason: entry.reason,
      redacted: false,
      duration_ms: 0,
      command: entry.action,
    });
  } finally {
    await audit.close();
  }
}

/**
 * Asks for the passphrase at the terminal to approve `action`, verifies it with `verify`
 * (which derives the key), audits the outcome and rate-limits wrong ones. Returns the
 * passphrase so that this run can unlock without asking twice.
 */
export async function approveWithPassphrase(
  config: Config,
  terminal: Terminal | undefined,
  options: {
    action: string;
    /** What the audit log records, when it must say less than the prompt (env's arguments). */
    auditAs?: string;
    keys?: string[];
    verify: (passphrase: string) => Promise<void>;
  },
): Promise<string> {
  const recorded = options.auditAs ?? options.action;
  if (terminal === undefined) throw noTerminal(options.action);
  await assertGateOpen(config);
  terminal.write(`\nagentsecrets strict mode. You are approving:\n  ${options.action}\n`);
  const passphrase = await terminal.prompter.hidden(
    'Type the vault passphrase to approve exactly this (Ctrl-C cancels): ',
  );
  try {
    await options.verify(passphrase);
  } catch (err) {
    if (isAgentSecretsError(err, 'unlock_failed')) {
      await recordGateOutcome(config, false);
      await auditApproval(config, {
        action: recorded,
        status: 'BLOCKED',
        reason: 'unlock_failed',
        ...(options.keys === undefined ? {} : { keys: options.keys }),
      });
      throw new AgentSecretsError(
        'unlock_failed',
        'wrong passphrase: nothing was approved (the attempt is in the audit log)',
      );
    }
    throw err;
  }
  await recordGateOutcome(config, true);
  await auditApproval(config, {
    action: recorded,
    status: 'OK',
    reason: null,
    ...(options.keys === undefined ? {} : { keys: options.keys }),
  });
  return passphrase;
}
