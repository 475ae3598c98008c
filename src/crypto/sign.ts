import type { Sodium } from './sodium.js';

/** An Ed25519 key pair. `privateKey` is libsodium's 64-byte form (seed + public key). */
export interface SignKeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

/** A fresh Ed25519 key pair. */
export function signKeyPair(sodium: Sodium): SignKeyPair {
  const { publicKey, privateKey } = sodium.crypto_sign_keypair();
  return { publicKey, privateKey };
}

/** A detached Ed25519 signature of `message`. */
export function sign(sodium: Sodium, privateKey: Uint8Array, message: Uint8Array): Uint8Array {
  return sodium.crypto_sign_detached(message, privateKey);
}

/** True only when `signature` is a valid Ed25519 signature of `message` by `publicKey`. */
export function verify(
  sodium: Sodium,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    return sodium.crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false;
  }
}

/** A short, human-comparable fingerprint of a public key (SHA-256, grouped hex). */
export function fingerprint(sodium: Sodium, publicKey: Uint8Array): string {
  const digest = sodium.crypto_hash_sha256(publicKey);
  const hex = Buffer.from(digest.subarray(0, 16)).toString('hex').toUpperCase();
  return hex.match(/.{4}/g)!.join(' ');
}
