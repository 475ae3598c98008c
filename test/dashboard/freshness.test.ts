import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_KDF_COST } from '../../src/crypto/kdf.js';
import { type RunningServer, startServer } from '../../src/server/runtime.js';
import { createFileStore } from '../../src/server/store-file.js';
import type { ServerStore } from '../../src/server/store.js';
import { signup } from '../../src/sync/account.js';
import { checkSignedFreshness } from '../../src/sync/chain.js';
import { createTeamWorkspace, teamContext } from '../../src/sync/team.js';
import { tempDir } from '../helpers/tmp.js';
import { type Harness, startHarness } from './harness.js';

/**
 * Team freshness on the Overview (issue 16): for a team workspace, the last successful sync
 * (what `status` prints) and the age of the newest thing an admin signed, stale exactly when
 * the key holder refuses agent tokens with `sync_stale`. A real sync server, a real team
 * workspace made by the client's own code, and an injected clock for the dashboard.
 */

const HOUR = 3600_000;

describe('team freshness on the Overview', () => {
  let store: ServerStore;
  let server: RunningServer;
  let team: Harness;
  let local: Harness;
  let clock = Date.now();

  beforeAll(async () => {
    store = await createFileStore({ dir: await tempDir() });
    await store.init();
    server = await startServer({
      store,
      port: 0,
      host: '127.0.0.1',
      signup: 'open',
      logger: pino({ level: 'silent' }),
    });
    team = await startHarness({
      now: () => clock,
      async prepare(services) {
        const vault = await services.vault.unlock();
        const session = await signup(services, vault, {
          server: server.url,
          email: 'ada@example.com',
          password: 'ada-password-1234',
          kdfCost: TEST_KDF_COST,
        });
        // Made by the client's own code, and selected as the current workspace.
        await createTeamWorkspace(await teamContext(services, vault, session), 'acme');
        vault.close();
      },
    });
    local = await startHarness();
  });
  afterAll(async () => {
    await team?.close();
    await local?.close();
    await server?.close();
    await store?.close();
  });

  const freshness = async (h: Harness) => {
    const body = (await (await h.login()).get('/')).body;
    const at = body.indexOf('<h2>Team freshness</h2>');
    expect(at).toBeGreaterThan(0);
    return body.slice(at, body.indexOf('</section>', at));
  };

  it('says a local workspace does not sync', async () => {
    const text = await freshness(local);
    expect(text).toContain('local workspace, no sync');
    expect(text).not.toContain('STALE');
  });

  it("shows a team workspace's last sync and newest signature, and stale exactly when calls are refused", async () => {
    const workspace = await team.services.workspaces.currentWorkspace();
    expect(workspace.kind).toBe('team');
    const synced = workspace.team!.synced_at!;
    clock = Date.parse(synced) + 5 * 60_000;
    const fresh = await freshness(team);
    expect(fresh).toContain('Workspace acme');
    expect(fresh).toContain('data-stale="no"');
    // The last sync as `status` reports it (team.synced_at), with its age.
    expect(fresh).toContain(`5 min ago (${new Date(Date.parse(synced)).toISOString()})`);
    expect(fresh).toContain('24 h 0 min');
    expect(() => checkSignedFreshness('acme', workspace.team!, clock)).not.toThrow();

    // A day and an hour later with no sync: past the 24 h limit, as the key holder judges it.
    clock = Date.parse(synced) + 25 * HOUR;
    expect(() => checkSignedFreshness('acme', workspace.team!, clock)).toThrow(/sync_stale|limit/);
    const stale = await freshness(team);
    expect(stale).toContain('data-stale="yes"');
    expect(stale).toContain('STALE');
    expect(stale).toContain('25 h 0 min ago');
    expect(stale).toContain('agentsecrets proxy sync');
  });
});
