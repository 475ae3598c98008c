import { describe, expect, it } from 'vitest';
import {
  encodeAad,
  KEY_CHECK_AAD,
  type RecordAddress,
  VAULT_RECORD_AAD,
  vaultRecordAad,
  WRAPPED_KEY_AAD,
} from '../../src/crypto/aad.js';

const ADDRESS: RecordAddress = {
  vault_id: 'vlt_01',
  workspace_id: 'ws_01',
  project_id: 'prj_01',
  environment: 'production',
  key: 'STRIPE_KEY',
  version: 3,
};

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

describe('encodeAad', () => {
  it('writes the label, then each field, each as a 4-byte big-endian length and UTF-8 bytes', () => {
    const encoded = encodeAad('L', ['ab', 7, 'é']);
    expect(hex(encoded)).toBe(
      [
        '00000001',
        Buffer.from('L').toString('hex'),
        '00000002',
        Buffer.from('ab').toString('hex'),
        '00000001',
        Buffer.from('7').toString('hex'),
        '00000002',
        'c3a9',
      ].join(''),
    );
  });

  it('encodes an empty field list as the label alone', () => {
    expect(hex(encodeAad('x', []))).toBe('0000000178');
  });

  it('gives an empty field a zero length rather than dropping it', () => {
    expect(hex(encodeAad('x', ['']))).toBe('000000017800000000');
    expect(hex(encodeAad('x', ['']))).not.toBe(hex(encodeAad('x', [])));
  });

  it('is deterministic', () => {
    expect(hex(encodeAad('label', ['a', 1]))).toBe(hex(encodeAad('label', ['a', 1])));
  });

  // Each row is a pair of inputs a naive concatenation would confuse.
  it.each<{
    name: string;
    a: [string, (string | number)[]];
    b: [string, (string | number)[]];
  }>([
    { name: 'field boundary moved', a: ['L', ['ab', 'c']], b: ['L', ['a', 'bc']] },
    { name: 'field split in two', a: ['L', ['abc']], b: ['L', ['ab', 'c']] },
    { name: 'empty field added at the end', a: ['L', ['a']], b: ['L', ['a', '']] },
    { name: 'empty field added at the start', a: ['L', ['a']], b: ['L', ['', 'a']] },
    { name: 'label boundary moved into the first field', a: ['La', ['b']], b: ['L', ['ab']] },
    { name: 'label differs', a: ['label-a', ['x']], b: ['label-b', ['x']] },
    { name: 'label vs first field swapped', a: ['x', ['y']], b: ['y', ['x']] },
    { name: 'fields reordered', a: ['L', ['a', 'b']], b: ['L', ['b', 'a']] },
    { name: 'number 1 vs number 10', a: ['L', [1]], b: ['L', [10]] },
    { name: 'number 1 vs string "01"', a: ['L', [1]], b: ['L', ['01']] },
    { name: 'number 1 vs string "1.0"', a: ['L', [1]], b: ['L', ['1.0']] },
    {
      name: 'separator-looking bytes inside a field',
      a: ['L', ['a\u0000\u0000\u0000\u0001b']],
      b: ['L', ['a', 'b']],
    },
    { name: 'composed vs decomposed é', a: ['L', ['\u00e9']], b: ['L', ['e\u0301']] },
  ])('distinguishes $name', ({ a, b }) => {
    expect(hex(encodeAad(...a))).not.toBe(hex(encodeAad(...b)));
  });

  it('encodes a number field as its decimal text, the same bytes as that string', () => {
    // The encoding is over text so that any client or server can reproduce it; a field's
    // position, not its JavaScript type, says what it is.
    expect(hex(encodeAad('L', [1]))).toBe(hex(encodeAad('L', ['1'])));
  });
});

describe('vaultRecordAad', () => {
  it('is encodeAad of the vault-record label and the six fields in DESIGN order', () => {
    expect(hex(vaultRecordAad(ADDRESS))).toBe(
      hex(
        encodeAad(VAULT_RECORD_AAD, ['vlt_01', 'ws_01', 'prj_01', 'production', 'STRIPE_KEY', 3]),
      ),
    );
  });

  it.each<{ field: keyof RecordAddress; value: string | number }>([
    { field: 'vault_id', value: 'vlt_02' },
    { field: 'workspace_id', value: 'ws_02' },
    { field: 'project_id', value: 'prj_02' },
    { field: 'environment', value: 'staging' },
    { field: 'key', value: 'STRIPE_KEY_2' },
    { field: 'version', value: 4 },
  ])('changes when $field changes', ({ field, value }) => {
    const altered = { ...ADDRESS, [field]: value };
    expect(hex(vaultRecordAad(altered))).not.toBe(hex(vaultRecordAad(ADDRESS)));
  });

  it('does not let two fields trade characters', () => {
    const a = { ...ADDRESS, project_id: 'prj_0', environment: '1production' };
    const b = { ...ADDRESS, project_id: 'prj_01', environment: 'production' };
    expect(hex(vaultRecordAad(a))).not.toBe(hex(vaultRecordAad(b)));
  });

  it('uses labels distinct from the other AAD contexts', () => {
    expect(new Set([VAULT_RECORD_AAD, WRAPPED_KEY_AAD, KEY_CHECK_AAD]).size).toBe(3);
  });
});
