import { AgentSecretsError } from '../core/errors.js';

/** The OS keychain, reduced to what the vault needs. Implemented by the OS and by test fakes. */
export interface Keyring {
  get(service: string, account: string): Promise<string | null>;
  set(service: string, account: string, value: string): Promise<void>;
  delete(service: string, account: string): Promise<boolean>;
}

export interface OsKeyringOptions {
  /** Each keychain call fails after this long. Default 2 s. */
  timeoutMs?: number;
}

/**
 * The OS keychain through @napi-rs/keyring: macOS Keychain, Windows Credential Manager, or
 * Linux Secret Service. On Linux the store is pinned to `secret-service`, never the kernel
 * keyutils store, which forgets everything at reboot.
 */
export function createOsKeyring(options: OsKeyringOptions = {}): Keyring {
  const timeoutMs = options.timeoutMs ?? 2000;
  async function entry(service: string, account: string) {
    const { AsyncEntry } = await import('@napi-rs/keyring');
    try {
      return new AsyncEntry(service, account, { linux: { store: 'secret-service' } });
    } catch (cause) {
      throw unavailable(cause);
    }
  }
  async function run<T>(op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await op(AbortSignal.timeout(timeoutMs));
    } catch (cause) {
      throw unavailable(cause);
    }
  }
  return {
    async get(service, account) {
      const e = await entry(service, account);
      return run((signal) => e.getPassword(signal));
    },
    async set(service, account, value) {
      const e = await entry(service, account);
      await run((signal) => e.setPassword(value, signal));
    },
    async delete(service, account) {
      const e = await entry(service, account);
      return run((signal) => e.deletePassword(signal));
    },
  };
}

/** The result of probing a keyring with a throw-away entry. */
export type ProbeResult = { ok: true } | { ok: false; reason: string };

/** Sets, reads back and deletes a test entry within `timeoutMs` (DESIGN §5 `auto`). */
export async function probeKeyring(keyring: Keyring, timeoutMs = 2000): Promise<ProbeResult> {
  const account = `probe:${process.pid}:${Date.now()}`;
  const value = `probe-${Math.random().toString(36).slice(2)}`;
  const attempt = (async (): Promise<ProbeResult> => {
    await keyring.set(PROBE_SERVICE, account, value);
    const back = await keyring.get(PROBE_SERVICE, account);
    await keyring.delete(PROBE_SERVICE, account);
    return back === value
      ? { ok: true }
      : { ok: false, reason: 'the keychain did not return what was stored' };
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ProbeResult>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, reason: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([attempt, timeout]);
  } catch (err) {
    return { ok: false, reason: describe(err) };
  } finally {
    clearTimeout(timer);
    attempt.catch(() => undefined);
  }
}

const PROBE_SERVICE = 'agentsecrets-probe';

function unavailable(cause: unknown): AgentSecretsError {
  return new AgentSecretsError(
    'keychain_unavailable',
    `the OS keychain is not available (${describe(cause)}). Start a keychain service (on Linux: a Secret Service such as gnome-keyring on the D-Bus session bus), or use a passphrase vault: \`agentsecrets init --backend passphrase\``,
    { cause },
  );
}

function describe(err: unknown): string {
  if (err instanceof AgentSecretsError)
    return err.cause === undefined ? err.message : describe(err.cause);
  if (err instanceof Error) {
    if (err.name === 'AbortError' || err.name === 'TimeoutError') return 'timed out';
    if (/autolaunch|DBUS_SESSION_BUS_ADDRESS/.test(err.message)) {
      return 'no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set';
    }
    return err.message.split('\n')[0]!.slice(0, 200);
  }
  return 'unknown error';
}
