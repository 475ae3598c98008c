import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
export default function setup(project: TestProject): () => void {
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
  keyring.stdin.end('agentsecrets-test-keyring');
  // Wait until the Secret Service answers on the bus.
  for (let i = 0; i < 50; i++) {
    const ping = spawnSync(
      'dbus-send',
      [
        '--session',
        '--print-reply',
        '--dest=org.freedesktop.secrets',
        '/org/freedesktop/secrets',
        'org.freedesktop.DBus.Peer.Ping',
      ],
      { env },
    );
    if (ping.status === 0) break;
    spawnSync('sleep', ['0.1']);
  }
  project.provide('keyringBus', address);
  project.provide('keyringMissingReason', '');
  return () => {
    keyring.kill('SIGTERM');
    try {
      process.kill(busPid, 'SIGTERM');
    } catch {
      // already gone
    }
    rmSync(home, { recursive: true, force: true });
  };
}
