import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { isIP } from 'node:net';
// tsyringe (inside @peculiar/x509) needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { AgentSecretsError } from '../core/errors.js';

/**
 * The local certificate authority of the intercepting proxy (issue 13). ECDSA P-256, made on
 * first use; its private key lives only in the vault (a reserved record) and in the memory of
 * the key holder that serves `run`. Leaf certificates are issued per host name, live at most
 * 24 hours, and are cached until an hour before they expire.
 *
 * X.509 comes from @peculiar/x509: maintained, pure TypeScript over WebCrypto (no native
 * binary, no OpenSSL subprocess), with typed extension classes; node-forge would have meant
 * slow pure-JS big-number ECDSA and its own crypto stack.
 */

/** The reserved vault name that holds the CA (cert and PKCS#8 key), never shown by `list`. */
export const CA_RESERVED_NAME = 'intercept-ca';
/** Reserved records are per workspace; the CA belongs to the machine, so it uses this scope. */
export const CA_SCOPE = '*';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const LEAF_LIFETIME_MS = 24 * 60 * 60 * 1000;
const BACKDATE_MS = 5 * 60 * 1000;
const RENEW_BEFORE_MS = 60 * 60 * 1000;

/** Where the CA is kept: the key holder's unlocked vault. */
export interface CaStore {
  read(): Promise<string | undefined>;
  write(value: string): Promise<void>;
}

/** A loaded CA that issues TLS contexts for host names. */
export interface LocalCa {
  /** The CA certificate (public), PEM. */
  readonly certPem: string;
  /** A TLS server context for `host`, from the cache or freshly issued. */
  contextFor(host: string): Promise<SecureContext>;
  /** Issues a leaf for `host` without the cache (benchmarks, tests). */
  issue(host: string): Promise<{ certPem: string; keyPem: string }>;
}

export interface LocalCaOptions {
  store: CaStore;
  now?: () => number;
}

/** Loads the CA from the vault, creating and storing it on first use. */
export async function loadLocalCa(options: LocalCaOptions): Promise<LocalCa> {
  const crypto = webcrypto;
  const now = options.now ?? (() => Date.now());
  const stored = await options.store.read();
  let caCert: x509.X509Certificate;
  let caKey: webcrypto.CryptoKey;
  if (stored === undefined) {
    const keys = (await crypto.subtle.generateKey(ALGORITHM, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const start = now();
    caCert = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: serial(),
        name: `CN=agentsecrets local CA ${randomBytes(4).toString('hex')}, O=agentsecrets`,
        notBefore: new Date(start - BACKDATE_MS),
        notAfter: new Date(start + 10 * 365 * 24 * 60 * 60 * 1000),
        signingAlgorithm: ALGORITHM,
        keys,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(
            x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
            true,
          ),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        ],
      },
      crypto,
    );
    caKey = keys.privateKey;
    const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', caKey)).toString('base64');
    await options.store.write(JSON.stringify({ cert: caCert.toString('pem'), key_pkcs8: pkcs8 }));
  } else {
    let parsed: { cert: string; key_pkcs8: string };
    try {
      parsed = JSON.parse(stored) as { cert: string; key_pkcs8: string };
      caCert = new x509.X509Certificate(parsed.cert);
      caKey = await crypto.subtle.importKey(
        'pkcs8',
        Buffer.from(parsed.key_pkcs8, 'base64'),
        ALGORITHM,
        false,
        ['sign'],
      );
    } catch (cause) {
      throw new AgentSecretsError(
        'corrupt_state',
        'the local CA record in the vault cannot be read; remove it with a new vault, or report a bug',
        { cause },
      );
    }
  }

  // One leaf key pair for the life of this process: issuing is then one signature per host.
  const leafKeys = (await crypto.subtle.generateKey(ALGORITHM, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const leafKeyPem = createPrivateKey({
    key: Buffer.from(await crypto.subtle.exportKey('pkcs8', leafKeys.privateKey)),
    format: 'der',
    type: 'pkcs8',
  })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
  const aki = await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto);
  const certPem = caCert.toString('pem');

  async function issue(host: string): Promise<{ certPem: string; keyPem: string }> {
    const start = now();
    const leaf = await x509.X509CertificateGenerator.create(
      {
        serialNumber: serial(),
        subject: `CN=${host.replace(/[,=+<>#;"\\]/g, '')}`,
        issuer: caCert.subject,
        notBefore: new Date(start - BACKDATE_MS),
        // At most 24 hours in all, backdating included.
        notAfter: new Date(start - BACKDATE_MS + LEAF_LIFETIME_MS),
        signingAlgorithm: ALGORITHM,
        publicKey: leafKeys.publicKey,
        signingKey: caKey,
        extensions: [
          new x509.SubjectAlternativeNameExtension([
            isIP(host) === 0 ? { type: 'dns', value: host } : { type: 'ip', value: host },
          ]),
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          aki,
        ],
      },
      crypto,
    );
    return { certPem: leaf.toString('pem'), keyPem: leafKeyPem };
  }

  const cache = new Map<string, { context: Promise<SecureContext>; renewAt: number }>();
  return {
    certPem,
    issue,
    contextFor(host) {
      const key = host.toLowerCase();
      const hit = cache.get(key);
      if (hit !== undefined && hit.renewAt > now()) return hit.context;
      const context = issue(key).then(({ certPem: cert, keyPem }) =>
        createSecureContext({ key: keyPem, cert, minVersion: 'TLSv1.2' }),
      );
      context.catch(() => cache.delete(key));
      if (cache.size >= 1024) cache.clear();
      cache.set(key, {
        context,
        renewAt: now() + LEAF_LIFETIME_MS - RENEW_BEFORE_MS - BACKDATE_MS,
      });
      return context;
    },
  };
}

/** A positive 16-byte serial number (hex). */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}
