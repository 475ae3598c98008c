import { DecryptionFailedError } from '../core/errors.js';
import type { Sodium } from './sodium.js';

/** Length of an XChaCha20-Poly1305 key. */
export const AEAD_KEY_BYTES = 32;

/** A nonce and its ciphertext, both base64 in stored documents. */
export interface Sealed {
  nonce: string;
  ciphertext: string;
}

/** Encrypts with XChaCha20-Poly1305-IETF under a random 24-byte nonce, binding `aad`. */
export function aeadEncrypt(
  sodium: Sodium,
  key: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Sealed {
  const nonce = sodium.randombytes_buf(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  const ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    plaintext,
    aad,
    null,
    nonce,
    key,
  );
  return { nonce: toBase64(nonce), ciphertext: toBase64(ciphertext) };
}

/** Decrypts and authenticates; any failure is one generic DecryptionFailedError. */
export function aeadDecrypt(
  sodium: Sodium,
  key: Uint8Array,
  sealed: Sealed,
  aad: Uint8Array,
): Uint8Array {
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      fromBase64(sealed.ciphertext),
      aad,
      fromBase64(sealed.nonce),
      key,
    );
  } catch {
    // libsodium's own message adds nothing and the cause is never useful to an attacker.
    throw new DecryptionFailedError();
  }
}

/** Standard base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Bytes of standard base64; rejects anything that is not canonical base64. */
export function fromBase64(text: string): Uint8Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) throw new DecryptionFailedError();
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
