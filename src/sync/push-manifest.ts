import { AgentSecretsError } from '../core/errors.js';
import { parseDocBody } from './doc.js';
import {
  type Manifest,
  indexManifest,
  type IndexedManifest,
  manifestMismatch,
  parseManifest,
  type SignedManifest,
  signManifest,
  verifyManifest,
  withheldKeys,
} from './manifest.js';
import type { TeamContext } from './team.js';

/**
 * A client's side of the signed push manifests (F10): the newest manifest seq this machine
 * has seen per project environment (kept in the vault, next to the workspace keys), checking
 * what the server served against it, and signing the next one.
 */

const SEEN_NAME = 'manifest-seen';

export interface ManifestTarget {
  workspace: { id: string; team?: { doc: { body: string }; epoch: number } };
  project: { id: string; name: string };
  environment: string;
}

const placeKey = (t: ManifestTarget) => `${t.project.id}/${t.environment}`;

async function seenMap(ctx: TeamContext, t: ManifestTarget): Promise<Record<string, number>> {
  const raw = await ctx.vault.getReserved(t.workspace.id, SEEN_NAME);
  if (raw === undefined) return {};
  try {
    return JSON.parse(raw) as Record<string, number>;
  } catch {
    return {};
  }
}

/** The newest manifest seq this machine has seen for the target (0 if none). */
export async function seenSeq(ctx: TeamContext, t: ManifestTarget): Promise<number> {
  return (await seenMap(ctx, t))[placeKey(t)] ?? 0;
}

/** Remembers that manifest `seq` was seen (never goes back). */
export async function noteSeen(ctx: TeamContext, t: ManifestTarget, seq: number): Promise<void> {
  const map = await seenMap(ctx, t);
  if ((map[placeKey(t)] ?? 0) >= seq) return;
  map[placeKey(t)] = seq;
  await ctx.vault.setReserved(t.workspace.id, SEEN_NAME, JSON.stringify(map));
}

export interface ServedRecord {
  key: string;
  version: number;
  epoch: number;
  digest: string;
}

export interface CheckedServe {
  /** The verified manifest, or null when the environment has none yet (nothing pushed). */
  manifest: Manifest | null;
  /** Records that do not match the manifest, with why (never a value). */
  mismatched: { key: string; reason: string }[];
  /** Keys the manifest lists that the server did not send. */
  withheld: string[];
}

/**
 * Checks what the server served for the target against its signed manifest: signed by a
 * member of the trusted document, not older than one seen here, and every record as listed.
 * Throws when the manifest itself is wrong (rolled back, unsigned, missing after one was
 * seen): then nothing from the server can be trusted for this environment.
 */
export async function checkServed(
  ctx: TeamContext,
  t: ManifestTarget,
  served: { records: readonly ServedRecord[]; manifest: SignedManifest | null },
): Promise<CheckedServe> {
  const seen = await seenSeq(ctx, t);
  const where = `${t.project.name}/${t.environment}`;
  if (served.manifest === null) {
    if (seen > 0)
      throw new AgentSecretsError(
        'signature_invalid',
        `the sync server sent the records of ${where} without their signed push manifest, although this machine has seen manifest ${seen}: it withheld or rolled it back. Nothing was applied; tell the server's operator and a workspace admin`,
      );
    // Before the first push that carries a manifest there is nothing to check against.
    return { manifest: null, mismatched: [], withheld: [] };
  }
  const doc = parseDocBody(t.workspace.team!.doc.body);
  const manifest = verifyManifest(
    ctx.sodium,
    served.manifest,
    { workspace_id: t.workspace.id, project_id: t.project.id, environment: t.environment },
    doc,
    seen,
  );
  const mismatched: { key: string; reason: string }[] = [];
  const indexed = indexManifest(manifest);
  for (const r of served.records) {
    const reason = manifestMismatch(indexed, r);
    if (reason !== undefined) mismatched.push({ key: r.key, reason });
  }
  const withheld = withheldKeys(manifest, new Set(served.records.map((r) => r.key)));
  return { manifest, mismatched, withheld };
}

/**
 * The manifest after a change: the verified current one (or the served records when there is
 * none yet) with `changes` applied and `deletions` turned into tombstones, signed by this
 * member as the next seq.
 */
export function nextManifest(
  ctx: TeamContext,
  t: ManifestTarget,
  current: { manifest: Manifest | null; records: readonly ServedRecord[] },
  changes: readonly { key: string; version: number; digest: string }[],
  deletions: readonly { key: string; version: number }[],
): { signed: SignedManifest; seq: number } {
  const entries = new Map(
    current.records.map((r) => [r.key, { key: r.key, version: r.version, digest: r.digest }]),
  );
  const deleted = new Map((current.manifest?.deleted ?? []).map((d) => [d.key, d]));
  for (const c of changes) {
    entries.set(c.key, { key: c.key, version: c.version, digest: c.digest });
    deleted.delete(c.key);
  }
  for (const d of deletions) {
    entries.delete(d.key);
    deleted.set(d.key, { key: d.key, version: d.version });
  }
  const seq = (current.manifest?.seq ?? 0) + 1;
  const signed = signManifest(
    ctx.sodium,
    { userId: ctx.session.account.userId, sign: ctx.session.keys.sign },
    {
      format: 1,
      workspace_id: t.workspace.id,
      project_id: t.project.id,
      environment: t.environment,
      seq,
      epoch: t.workspace.team!.epoch,
      signer: ctx.session.account.userId,
      issued_at: new Date().toISOString(),
      entries: [...entries.values()],
      deleted: [...deleted.values()],
    },
  );
  return { signed, seq };
}

/** Refuses to build on a served state that does not match its signed manifest. */
export function requireConsistent(checked: CheckedServe, where: string): void {
  const problems = [
    ...checked.mismatched.map((m) => `${m.key} (${m.reason})`),
    ...checked.withheld.map((k) => `${k} (listed in the signed push manifest, not sent)`),
  ];
  if (problems.length > 0)
    throw new AgentSecretsError(
      'signature_invalid',
      `the sync server's records of ${where} do not match their signed push manifest: ${problems.join(', ')}; nothing was pushed. Tell the server's operator and a workspace admin`,
    );
}

/**
 * The manifests a rotation sends (F10): every project environment's current manifest is
 * checked (signed by a member of the trusted document, not rolled back, every record as
 * listed) and signed afresh by the rotating admin under the new epoch with the new digests,
 * so no manifest is left signed by a removed member or with digests of a retired key.
 */
export async function rotationManifests(
  ctx: TeamContext,
  workspace: { id: string; team?: { doc: { body: string }; epoch: number } },
  served: {
    manifests: readonly SignedManifest[];
    records: readonly (ServedRecord & { project_id: string; environment: string })[];
  },
  reencrypted: readonly {
    project_id: string;
    environment: string;
    key: string;
    version: number;
    digest: string;
  }[],
  epoch: number,
): Promise<SignedManifest[]> {
  const doc = parseDocBody(workspace.team!.doc.body);
  const place = (p: string, e: string) => JSON.stringify([p, e]);
  const current = new Map<string, IndexedManifest>();
  for (const signed of served.manifests) {
    const body = parseManifest(signed.body);
    const target = {
      workspace,
      project: { id: body.project_id, name: body.project_id },
      environment: body.environment,
    };
    const m = verifyManifest(
      ctx.sodium,
      signed,
      { workspace_id: workspace.id, project_id: body.project_id, environment: body.environment },
      doc,
      await seenSeq(ctx, target),
    );
    current.set(place(m.project_id, m.environment), indexManifest(m));
  }
  for (const r of served.records) {
    const m = current.get(place(r.project_id, r.environment));
    const reason = m === undefined ? undefined : manifestMismatch(m, r);
    if (reason !== undefined)
      throw new AgentSecretsError(
        'signature_invalid',
        `${r.key} on the sync server does not match its signed push manifest (${reason}); nothing was rotated. Tell the server's operator`,
      );
  }
  const places = new Set([
    ...current.keys(),
    ...reencrypted.map((r) => place(r.project_id, r.environment)),
  ]);
  const issued = new Date().toISOString();
  return [...places].map((p) => {
    const [project_id, environment] = JSON.parse(p) as [string, string];
    const before = current.get(p)?.manifest;
    return signManifest(
      ctx.sodium,
      { userId: ctx.session.account.userId, sign: ctx.session.keys.sign },
      {
        format: 1,
        workspace_id: workspace.id,
        project_id,
        environment,
        seq: (before?.seq ?? 0) + 1,
        epoch,
        signer: ctx.session.account.userId,
        issued_at: issued,
        entries: reencrypted
          .filter((r) => r.project_id === project_id && r.environment === environment)
          .map((r) => ({ key: r.key, version: r.version, digest: r.digest })),
        deleted: before?.deleted ?? [],
      },
    );
  });
}
