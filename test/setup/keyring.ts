import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** D-Bus session address with an unlocked gnome-keyring, or '' when none could start. */
    keyringBus: string;
    /** Why there is no keyring, when keyringBus is ''. */
    keyringMissingReason: string;
  }
}

/**
 * Starts a private D-Bus session bus and a freshly unlocked gnome-keyring for the keychain
 * tests (DESIGN: real Secret Service in tests). The recipe of reference/dependencies.md §4,
 * without touching the user's own keyring: a new HOME and XDG_DATA_HOME for the daemon.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const missing = ['dbus-daemon', 'gnome-keyring-daemon'].filter(
    (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0,
  );
  if (missing.length > 0) {
    project.provide('keyringBus', '');
    project.provide(
      'keyringMissingReason',
      `${missing.join(' and ')} not installed (apt-get install dbus gnome-keyring)`,
    );
    return () => undefined;
  }
  const home = mkdtempSync(join(tmpdir(), 'agentsecrets-keyring-'));
  const bus = spawnSync(
    'dbus-daemon',
    ['--session', '--fork', '--print-address=1', '--print-pid=1'],
    {
      encoding: 'utf8',
    },
  );
  const [address, pidText] = bus.stdout.trim().split('\n');
  const busPid = Number(pidText);
  if (bus.status !== 0 || !address) {
    project.provide('keyringBus', '');
    project.provide('keyringMissingReason', `dbus-daemon failed to start: ${bus.stderr.trim()}`);
    return () => rmSync(home, { recursive: true, force: true });
  }
  const env = {
    ...process.env,
    HOME: home,
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_RUNTIME_DIR: home,
    DBUS_SESSION_BUS_ADDRESS: address,
  };
  const keyring = spawn(
    'gnome-keyring-daemon',
    ['--foreground', '--unlock', '--components=secrets'],
    {
      env,
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
  await new Promise<void>((resolve) => keyring.stdin.end('agentsecrets-test-keyring', resolve));
  // Wait until our daemon owns the Secret Service name (asking NameHasOwner activates
  // nothing: a call to org.freedesktop.secrets itself would make D-Bus start a second, locked
  // gnome-keyring if ours is slow), then until its default (login) collection exists.
  const send = (args: string[]) =>
    spawnSync('dbus-send', ['--session', '--print-reply', ...args], { env, encoding: 'utf8' });
  let ready = false;
  for (let i = 0; i < 300 && !ready; i++) {
    const owned = send([
      '--dest=org.freedesktop.DBus',
      '/org/freedesktop/DBus',
      'org.freedesktop.DBus.NameHasOwner',
      'string:org.freedesktop.secrets',
    ]);
    if (owned.status === 0 && /boolean true/.test(owned.stdout)) {
      const alias = send([
        '--dest=org.freedesktop.secrets',
        '/org/freedesktop/secrets',
        'org.freedesktop.Secret.Service.ReadAlias',
        'string:default',
      ]);
      ready = alias.status === 0 && /collection\/login/.test(alias.stdout);
    }
    if (!ready) await sleep(100);
  }
  const stopBus = () => {
    try {
      process.kill(busPid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  if (!ready) {
    keyring.kill('SIGTERM');
    stopBus();
    project.provide('keyringBus', '');
    project.provide(
      'keyringMissingReason',
      'gnome-keyring did not create its login collection within 30 s',
    );
    return () => rmSync(home, { recursive: true, force: true });
  }
  project.provide('keyringBus', address);
  project.provide('keyringMissingReason', '');
  return () => {
    keyring.kill('SIGTERM');
    stopBus();
    rmSync(home, { recursive: true, force: true });
  };
}
