import { readFile } from 'node:fs/promises';
import type { Config } from '../core/config.js';
import { AgentSecretsError } from '../core/errors.js';
import { createServices, type ServiceOptions, type Services } from '../services/index.js';
import { type App, createApp } from '../app/index.js';
import { credentialService } from './credentials.js';
import type { Output } from './output.js';
import { MIN_PASSPHRASE_LENGTH } from '../vault/key-providers.js';
import type { Prompter } from './prompt.js';
import { envPassphraseRefused, noTerminal, openTerminal, type Terminal } from './tty.js';

/** What every command handler receives. */
export interface CliContext {
  config: Config;
  out: Output;
  prompt: Prompter;
  /**
   * Built on first use, so commands that need none of it stay fast. `extra` options apply
   * only to that first build.
   */
  services(extra?: ServiceOptions): Services;
  /**
   * The use cases (src/app), over `services()`; calls go through the running key holder when
   * there is one, else through this process. Built on first use.
   */
  app(): App;
  /** True when the vault's header says strict mode (the unwrap authenticates it at unlock). */
  strict(): Promise<boolean>;
  /** The controlling terminal (/dev/tty), opened on first use; undefined when there is none. */
  terminal(): Terminal | undefined;
  /** Strict mode: the passphrase a human typed at the gate in this run, if any. */
  approvedPassphrase: string | undefined;
  /** Closes the terminal if it was opened. */
  dispose(): void;
}

/** Builds the context for one CLI run. */
export function createCliContext(config: Config, out: Output, prompt: Prompter): CliContext {
  let services: Services | undefined;
  let app: App | undefined;
  let strict: Promise<boolean> | undefined;
  let terminal: Terminal | undefined | null;
  const ctx: CliContext = {
    config,
    out,
    prompt,
    approvedPassphrase: undefined,
    services(extra = {}) {
      if (services !== undefined) return services;
      // In strict mode a passphrase comes from the controlling terminal only.
      const strictPrompt = async (variable: string): Promise<Prompter | undefined> => {
        if (!(await ctx.strict())) return undefined;
        const fromEnv = config.env[variable];
        if (fromEnv !== undefined && fromEnv !== '') throw envPassphraseRefused(variable);
        const tty = ctx.terminal();
        if (tty === undefined) throw noTerminal('unlocking the vault');
        return tty.prompter;
      };
      // Argon2id takes a second or more: a spinner from the passphrase to the open vault.
      const forUnlock = async () => {
        if (ctx.approvedPassphrase !== undefined) return ctx.approvedPassphrase;
        const tty = await strictPrompt('AGENTSECRETS_PASSPHRASE');
        const passphrase =
          tty === undefined
            ? await passphraseForUnlock(config, prompt)
            : (ctx.approvedPassphrase ??= await tty.hidden(
                'Vault passphrase (strict mode, typed at this terminal): ',
              ));
        out.progress('unlocking the vault (Argon2id)…');
        return passphrase;
      };
      const built = createServices(config, {
        ...extra,
        passphrase: {
          forUnlock,
          forCreate: async () =>
            passphraseForCreate(
              config,
              (await strictPrompt('AGENTSECRETS_PASSPHRASE')) ?? prompt,
              out,
              'AGENTSECRETS_PASSPHRASE',
            ),
        },
        newPassphrase: {
          forUnlock: async () => {
            const passphrase = await passphraseForUnlock(config, prompt);
            out.progress('unlocking the vault (Argon2id)…');
            return passphrase;
          },
          forCreate: async () =>
            passphraseForCreate(
              config,
              (await strictPrompt('AGENTSECRETS_NEW_PASSPHRASE')) ?? prompt,
              out,
              'AGENTSECRETS_NEW_PASSPHRASE',
            ),
        },
      });
      const vault = built.vault;
      services = {
        ...built,
        vault: {
          ...vault,
          unlock: async () => {
            try {
              return await vault.unlock();
            } finally {
              out.endProgress();
            }
          },
        },
      };
      return services;
    },
    app() {
      app ??= createApp(ctx.services(), { credentials: () => credentialService(ctx) });
      return app;
    },
    strict() {
      strict ??= readFile(config.paths.vault, 'utf8')
        .then(
          (text) => {
            const key = (JSON.parse(text) as { key?: { provider?: unknown; strict?: unknown } })
              .key;
            return key?.provider === 'passphrase' && key.strict === true;
          },
          () => false,
        )
        .catch(() => false);
      return strict;
    },
    terminal() {
      if (terminal === undefined) terminal = openTerminal() ?? null;
      return terminal ?? undefined;
    },
    dispose() {
      terminal?.close();
    },
  };
  return ctx;
}

/**
 * Strict mode's gate: the passphrase typed at /dev/tty approves `action` (stated in full),
 * verified by unlocking the vault with it. `--yes` changes nothing here.
 */
export async function requireStrictApproval(
  ctx: CliContext,
  options: { action: string; auditAs?: string; keys?: string[] },
): Promise<void> {
  for (const variable of ['AGENTSECRETS_PASSPHRASE', 'AGENTSECRETS_NEW_PASSPHRASE']) {
    if ((ctx.config.env[variable] ?? '') !== '') throw envPassphraseRefused(variable);
  }
  const { approveWithPassphrase } = await import('./strict-gate.js');
  ctx.approvedPassphrase = await approveWithPassphrase(ctx.config, ctx.terminal(), {
    ...options,
    verify: async (passphrase) => {
      ctx.approvedPassphrase = passphrase;
      try {
        (await ctx.services().vault.unlock()).close();
      } catch (err) {
        ctx.approvedPassphrase = undefined;
        throw err;
      }
    },
  });
}

/**
 * The human gate (DESIGN §11): a terminal on stdin, then a typed confirmation unless
 * `--yes`. No environment variable bypasses it.
 */
export async function requireHuman(
  ctx: CliContext,
  options: { action: string; confirm: string; yes: boolean | undefined },
): Promise<void> {
  if (await ctx.strict()) return requireStrictApproval(ctx, { action: options.action });
  if (!ctx.prompt.interactive) {
    throw new AgentSecretsError(
      'needs_terminal',
      `${options.action} needs a human at an interactive terminal: run it yourself in a shell (--yes skips the typed confirmation, not the terminal)`,
    );
  }
  if (options.yes === true) return;
  const answer = await ctx.prompt.text(`${options.action}. Type '${options.confirm}' to confirm: `);
  if (answer.trim() !== options.confirm) {
    throw new AgentSecretsError('cancelled', 'not confirmed; nothing was changed');
  }
}

async function passphraseForUnlock(config: Config, prompt: Prompter): Promise<string> {
  if (config.passphrase !== undefined && config.passphrase !== '') return config.passphrase;
  if (!prompt.interactive) {
    throw new AgentSecretsError(
      'vault_locked',
      'the vault is locked: set AGENTSECRETS_PASSPHRASE, run this at a terminal, or start the key holder with `agentsecrets proxy start`',
    );
  }
  return prompt.hidden(
    'Vault passphrase (to be asked once instead of at every command, run `agentsecrets proxy start`): ',
  );
}

/** How many times a new passphrase may be typed before the command gives up. */
const CREATE_TRIES = 3;

async function passphraseForCreate(
  config: Config,
  prompt: Prompter,
  out: Output,
  variable: string,
): Promise<string> {
  const fromEnv = config.env[variable];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!prompt.interactive) {
    throw new AgentSecretsError(
      'needs_terminal',
      `a new vault passphrase is needed: run this at a terminal, or set ${variable}`,
    );
  }
  // The length is checked before the repeat, and a mistake asks again rather than exiting.
  for (let attempt = 1; attempt <= CREATE_TRIES; attempt++) {
    const first = await prompt.hidden(
      `New vault passphrase (at least ${MIN_PASSPHRASE_LENGTH} characters): `,
    );
    if (first.length < MIN_PASSPHRASE_LENGTH) {
      out.notice(`That is too short: at least ${MIN_PASSPHRASE_LENGTH} characters. Try again.`);
      continue;
    }
    const second = await prompt.hidden('Repeat the passphrase: ');
    if (first === second) return first;
    out.notice('The two passphrases differ. Try again.');
  }
  throw new AgentSecretsError(
    'usage_error',
    `no passphrase after ${CREATE_TRIES} tries; nothing was changed. Run the command again (or set ${variable})`,
  );
}
