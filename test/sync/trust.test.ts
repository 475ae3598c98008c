import { describe, expect, it } from 'vitest';
import { toBase64 } from '../../src/crypto/aead.js';
import { boxKeyPair } from '../../src/crypto/seal.js';
import { signKeyPair } from '../../src/crypto/sign.js';
import { loadSodium } from '../../src/crypto/sodium.js';
import { encryptTeamRecord, memberFingerprint, signDoc } from '../../src/sync/crypto.js';
import { type WorkspaceDoc, verifyDoc } from '../../src/sync/doc.js';
import { checkedRecords } from '../../src/sync/secrets.js';
import {
  anchorFor,
  checkOwnKeys,
  checkTypedFingerprint,
  formatInviteCode,
  parseInviteCode,
} from '../../src/sync/trust.js';
import type { RefusedRecord } from '../../src/sync/types.js';
import { defaultPolicy } from '../../src/workspace/model.js';

const sodium = await loadSodium();

function person(id: string, email: string) {
  const box = boxKeyPair(sodium);
  const sign = signKeyPair(sodium);
  return {
    keys: { box, sign },
    entry: {
      user_id: id,
      email,
      box_public: toBase64(box.publicKey),
      sign_public: toBase64(sign.publicKey),
    },
    fingerprint: memberFingerprint(sodium, box.publicKey, sign.publicKey),
  };
}

const ada = person('usr_ada00001', 'ada@example.com');
const bob = person('usr_bob00001', 'bob@example.com');
const operator = person('usr_op000001', 'ada@example.com');

function doc(admin: typeof ada, members: (typeof ada)['entry'][]): WorkspaceDoc {
  return {
    format: 1,
    workspace_id: 'ws_test0001',
    name: 'acme',
    seq: 4,
    issued_at: new Date(0).toISOString(),
    prev_hash: null,
    signer: null,
    max_staleness_s: 86400,
    epoch: 2,
    admins: [
      {
        user_id: admin.entry.user_id,
        email: admin.entry.email,
        sign_public: admin.entry.sign_public,
      },
    ],
    members,
    token_public_jwk: null,
    allowlist: [],
    allowlist_log: [],
    policy: defaultPolicy(),
    agents: [],
  };
}

function signedBy(signer: typeof ada, d: WorkspaceDoc) {
  const body = JSON.stringify(d);
  return { body, signature: signDoc(sodium, signer.keys.sign, body), signer: signer.entry.user_id };
}

describe('typed fingerprints (F4)', () => {
  const compact = bob.fingerprint.replace(/ /g, '');
  it.each([
    ['the first 8, compact', compact.slice(0, 8), 'ok'],
    [
      'the first 8 with the grouping space, lower-case',
      bob.fingerprint.slice(0, 9).toLowerCase(),
      'ok',
    ],
    ['the whole fingerprint', bob.fingerprint, 'ok'],
    ['7 characters', compact.slice(0, 7), /at least the first 8/],
    ['nothing (as with --yes and an empty answer)', '', /at least the first 8/],
    ["the operator's keys' fingerprint", operator.fingerprint.slice(0, 9), /does not match/],
  ])('%s', (_label, typed, outcome) => {
    const run = () => checkTypedFingerprint(typed, bob.fingerprint, bob.entry.email);
    if (outcome === 'ok') expect(run).not.toThrow();
    else expect(run).toThrow(outcome);
  });
});

describe("the invitee's own keys in the document (F4)", () => {
  const swapped = { ...bob.entry, box_public: operator.entry.box_public };
  it.each([
    ['listed with its keys', [ada.entry, bob.entry], true, 'ok'],
    ['listed with a swapped box key', [ada.entry, swapped], false, /keys that are not yours/],
    [
      'listed under its email with another id',
      [ada.entry, { ...operator.entry, email: bob.entry.email }],
      false,
      /keys that are not yours/,
    ],
    ['not listed, when it must be', [ada.entry], true, /does not name you/],
    ['not listed, after a removal', [ada.entry], false, 'ok'],
  ] as const)('%s', (_label, members, mustBeListed, outcome) => {
    const run = () => checkOwnKeys(sodium, doc(ada, [...members]), bob.entry, { mustBeListed });
    if (outcome === 'ok') expect(run).not.toThrow();
    else expect(run).toThrow(outcome);
  });
});

describe('the first join anchor (F3)', () => {
  const forged = doc(operator, [operator.entry, ada.entry, bob.entry]);
  const genuine = doc(ada, [ada.entry, bob.entry]);
  it('without the defence, trust on first use accepts a forged document', () => {
    expect(
      verifyDoc(sodium, 'ws_test0001', signedBy(operator, forged), null).admins[0]!.user_id,
    ).toBe(operator.entry.user_id);
  });
  it.each([
    ['a forgery signed by the operator', operator, forged, /not signed by the admin you were told/],
    ['the genuine document of the pinned admin', ada, genuine, 'ok'],
  ] as const)('pinned to ada: %s', (_label, signer, d, outcome) => {
    const incoming = signedBy(signer, d);
    const run = () =>
      verifyDoc(
        sodium,
        'ws_test0001',
        incoming,
        anchorFor(sodium, d, incoming.signer, ada.fingerprint),
      );
    if (outcome === 'ok') expect(run().seq).toBe(4);
    else expect(run).toThrow(outcome);
  });
  it('an admin entry whose sign key differs from its member entry is not an anchor', () => {
    const d = doc(ada, [{ ...ada.entry, sign_public: operator.entry.sign_public }, bob.entry]);
    expect(() => anchorFor(sodium, d, ada.entry.user_id, ada.fingerprint)).toThrow(/not signed/);
  });
});

describe('invite codes', () => {
  it('round-trips and refuses anything else', () => {
    const code = formatInviteCode({ workspaceId: 'ws_abc12345', fingerprint: ada.fingerprint });
    expect(parseInviteCode(` ${code} `)).toEqual({
      workspaceId: 'ws_abc12345',
      fingerprint: ada.fingerprint.replace(/ /g, ''),
    });
    for (const bad of ['', 'asinv1.ws_abc12345', `${code}x`, code.replace('asinv1', 'asinv2')])
      expect(() => parseInviteCode(bad)).toThrow(/not an invite code/);
  });
});

describe('records a pull refuses (F1, F8)', () => {
  const key = new Uint8Array(32).fill(1);
  const record = (name: string, epoch: number) => ({
    key: name,
    version: 2,
    epoch,
    ...encryptTeamRecord(
      sodium,
      key,
      {
        workspace_id: 'ws_test0001',
        project_id: 'prj_test0001',
        environment: 'development',
        key: name,
        version: 2,
        epoch,
      },
      'value',
    ),
    updated_at: new Date(0).toISOString(),
    updated_by: 'usr_ada00001',
  });
  it('keeps current-epoch records and names the others', () => {
    const refused: RefusedRecord[] = [];
    const kept = checkedRecords(
      [
        record('GOOD', 3),
        record('OLD', 2),
        record('AHEAD', 4),
        { ...record('BROKEN', 3), ciphertext: 'not base64!' },
        { key: '\u001b[2JEVIL' },
        null,
      ],
      3,
      refused,
    );
    expect(kept.map((r) => r.key)).toEqual(['GOOD']);
    expect(refused).toEqual([
      { key: 'OLD', reason: expect.stringMatching(/epoch 2.*epoch 3/) },
      { key: 'AHEAD', reason: expect.stringMatching(/epoch 4.*epoch 3/) },
      { key: 'BROKEN', reason: 'it is malformed' },
      { key: '?[2JEVIL', reason: 'it is malformed' },
      { key: '#6', reason: 'it is malformed' },
    ]);
  });
});
