import { DecryptionFailedError } from '../core/errors.js';
import type { Sodium } from './sodium.js';

/** An X25519 key pair for sealed boxes. */
export interface BoxKeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

/** A fresh X25519 key pair. */
export function boxKeyPair(sodium: Sodium): BoxKeyPair {
  const { publicKey, privateKey } = sodium.crypto_box_keypair();
  return { publicKey, privateKey };
}

/** Encrypts `message` so that only the holder of `publicKey`'s private half can read it. */
export function sealTo(sodium: Sodium, publicKey: Uint8Array, message: Uint8Array): Uint8Array {
  return sodium.crypto_box_seal(message, publicKey);
}

/** Opens a sealed box; any failure is one generic DecryptionFailedError. */
export function openSealed(sodium: Sodium, keys: BoxKeyPair, sealed: Uint8Array): Uint8Array {
  try {
    return sodium.crypto_box_seal_open(sealed, keys.publicKey, keys.privateKey);
  } catch {
    throw new DecryptionFailedError();
  }
}
