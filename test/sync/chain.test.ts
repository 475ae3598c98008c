import { describe, expect, it } from 'vitest';
import { toBase64 } from '../../src/crypto/aead.js';
import { boxKeyPair } from '../../src/crypto/seal.js';
import { signKeyPair } from '../../src/crypto/sign.js';
import { loadSodium } from '../../src/crypto/sodium.js';
import {
  checkSignedFreshness,
  docHash,
  signHeartbeat,
  vouchedAt,
  walkChain,
} from '../../src/sync/chain.js';
import { signDoc } from '../../src/sync/crypto.js';
import { type TrustedDoc, verifyDoc, type WorkspaceDoc } from '../../src/sync/doc.js';
import type { SignedDoc } from '../../src/sync/wire.js';
import type { TeamInfo } from '../../src/workspace/model.js';
import { defaultPolicy } from '../../src/workspace/model.js';

const sodium = await loadSodium();
const WS = 'ws_chain0001';

function person(id: string) {
  const sign = signKeyPair(sodium);
  const box = boxKeyPair(sodium);
  return {
    id,
    sign,
    admin: { user_id: id, email: `${id}@example.com`, sign_public: toBase64(sign.publicKey) },
    member: {
      user_id: id,
      email: `${id}@example.com`,
      box_public: toBase64(box.publicKey),
      sign_public: toBase64(sign.publicKey),
    },
  };
}
type Person = ReturnType<typeof person>;
const ada = person('usr_ada00001');
const cy = person('usr_cyy00001');
const bob = person('usr_bob00001');

/** Builds a chain: each step is (signer, admins after it); returns the signed links. */
function chain(steps: [Person, Person[]][], at = 0): SignedDoc[] {
  const links: SignedDoc[] = [];
  let prev: string | null = null;
  steps.forEach(([signer, admins], i) => {
    const doc: WorkspaceDoc = {
      format: 1,
      workspace_id: WS,
      name: 'acme',
      seq: i + 1,
      issued_at: new Date(at + i * 1000).toISOString(),
      prev_hash: prev === null ? null : docHash(prev),
      signer: signer.id,
      max_staleness_s: 3600,
      epoch: 1,
      admins: admins.map((a) => a.admin),
      members: [ada, cy, bob].map((p) => p.member),
      token_public_jwk: null,
      allowlist: [],
      allowlist_log: [],
      policy: defaultPolicy(),
      agents: [],
    };
    const body = JSON.stringify(doc);
    links.push({ body, signature: signDoc(sodium, signer.sign, body), signer: signer.id });
    prev = body;
  });
  return links;
}

function trustedAt(links: SignedDoc[], seq: number): TrustedDoc {
  const body = links[seq - 1]!.body;
  return { seq, body, admins: (JSON.parse(body) as WorkspaceDoc).admins };
}

describe('the document log (F6)', () => {
  // ada makes cy an admin (2), cy removes ada (3), cy changes something (4).
  const handover = chain([
    [ada, [ada]],
    [ada, [ada, cy]],
    [cy, [cy]],
    [cy, [cy]],
  ]);

  it('a member offline across an admin handover walks across it (the head alone was refused)', () => {
    // Without the log: the newest document, checked against the admins trusted at seq 1.
    expect(() => verifyDoc(sodium, WS, handover[3]!, trustedAt(handover, 1))).toThrow(
      /not an admin/,
    );
    const walked = walkChain(sodium, WS, trustedAt(handover, 1), handover.slice(1));
    expect(walked?.doc.seq).toBe(4);
    expect(walked?.doc.admins.map((a) => a.user_id)).toEqual([cy.id]);
  });

  it('a document signed by an admin after their removal is refused', () => {
    // ada, removed at 3, signs a 4th with the server's help.
    const forged = chain([
      [ada, [ada]],
      [ada, [ada, cy]],
      [cy, [cy]],
      [ada, [ada]],
    ]);
    // Without the log, a member who trusted seq 2 (ada still an admin) accepts it.
    expect(verifyDoc(sodium, WS, forged[3]!, trustedAt(forged, 2)).seq).toBe(4);
    expect(() => walkChain(sodium, WS, trustedAt(forged, 2), forged.slice(2))).toThrow(
      /signed by usr_ada00001, who was not an admin at link 3/,
    );
  });

  it.each([
    ['a missing link', (l: SignedDoc[]) => [l[1]!, l[3]!], /link 3 is missing/],
    [
      'a link from another history',
      () =>
        chain(
          [
            [ada, [ada]],
            [ada, [ada, bob]],
            [ada, [ada]],
          ],
          5,
        ).slice(1, 3),
      /does not follow link/,
    ],
    [
      'a signature that does not verify',
      (l: SignedDoc[]) => [{ ...l[1]!, signature: l[0]!.signature }],
      /signature of link 2 does not verify/,
    ],
    [
      'a carried signer other than the named one',
      (l: SignedDoc[]) => [{ ...l[1]!, signer: cy.id }],
      /names another signer/,
    ],
  ] as const)('refuses %s', (_label, links, error) => {
    expect(() => walkChain(sodium, WS, trustedAt(handover, 1), links(handover))).toThrow(error);
  });

  it('walks 1,000 links', () => {
    const long = chain(Array.from({ length: 1000 }, () => [ada, [ada]] as [Person, Person[]]));
    expect(walkChain(sodium, WS, trustedAt(long, 1), long.slice(1))?.doc.seq).toBe(1000);
  });
});

describe('heartbeats and signed freshness (F6)', () => {
  const links = chain([
    [ada, [ada]],
    [ada, [ada]],
  ]);
  const head = { doc: JSON.parse(links[0]!.body) as WorkspaceDoc, body: links[0]!.body };
  const beat = (seq: number, body: string, at: number, who = ada) =>
    signHeartbeat(
      sodium,
      { userId: who.id, sign: who.sign },
      { workspace_id: WS, seq, body },
      new Date(at),
    );

  it('takes the newest valid heartbeat for the head, ignores the unverifiable', () => {
    const at = vouchedAt(sodium, head, [
      beat(1, links[0]!.body, 5000),
      beat(1, links[0]!.body, 9000, bob), // not an admin
      { ...beat(1, links[0]!.body, 9999), signature: beat(1, 'x', 1).signature },
      beat(1, links[0]!.body, 7000),
    ]);
    expect(at).toBe(7000);
  });

  it('a heartbeat for a newer seq exposes a withheld document; another hash, a fork', () => {
    expect(() => vouchedAt(sodium, head, [beat(2, links[1]!.body, 1)])).toThrow(
      /withholding a newer document/,
    );
    expect(() => vouchedAt(sodium, head, [beat(1, '{"other":1}', 1)])).toThrow(/two histories/);
  });

  it('fails closed past max_staleness, naming the age (the clock injected)', () => {
    const team: TeamInfo = {
      server_url: 'http://127.0.0.1:1',
      user_id: bob.id,
      role: 'member',
      epoch: 1,
      doc: links[0]!,
      doc_seq: 1,
      synced_at: new Date().toISOString(),
      heartbeat_at: null,
      pinned: {},
    };
    const issued = Date.parse(head.doc.issued_at);
    // The old check (last successful sync) passes for as long as the server answers.
    expect(() => checkSignedFreshness('acme', team, issued + 3599_000)).not.toThrow();
    expect(() => checkSignedFreshness('acme', team, issued + 2 * 3600_000)).toThrow(
      /nothing an admin signed is newer than 2 h 0 min \(the limit is 1 h 0 min\)/,
    );
    const beaten = {
      ...team,
      heartbeat_at: new Date(issued + 2 * 3600_000 - 60_000).toISOString(),
    };
    expect(() => checkSignedFreshness('acme', beaten, issued + 2 * 3600_000)).not.toThrow();
  });
});
