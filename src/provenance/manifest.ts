/**
 * manifest.json: every file of an output folder with its sha256 and size, and manifest.sig, a detached
 * ed25519 signature over the manifest's exact bytes (node:crypto, no extra dependency). The manifest lists
 * only files that are the same bytes on every build of the same recipe and backend, so two builders can
 * compare manifests (and, with one key, signatures: ed25519 is deterministic). The run log and report.html
 * hold this machine's timings; they are named under `unattested` and neither hashed nor signed.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { errnoCode, McbError } from '../errors.js';
import { HTML_FILE, RUN_FILE } from '../report/index.js';
import { sha256Hex } from '../util/hash.js';
import { MCBUILD_VERSION } from '../version.js';

export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'manifest.sig';
/** Files an output folder may hold that depend on the machine and the moment: listed, never hashed. */
export const UNATTESTED: readonly string[] = [RUN_FILE, HTML_FILE];

export interface ManifestEntry {
  name: string;
  sha256: string;
  size: number;
}

export interface Manifest {
  generator: 'mcbuild';
  mcbuild: string;
  /** Sorted by name. */
  files: ManifestEntry[];
  /** Files present but not covered (machine- and moment-dependent). */
  unattested: string[];
}

export function buildManifest(files: ReadonlyMap<string, Uint8Array>): Manifest {
  const names = [...files.keys()].filter((n) => n !== MANIFEST_FILE && n !== SIGNATURE_FILE).sort();
  return {
    generator: 'mcbuild',
    mcbuild: MCBUILD_VERSION,
    files: names
      .filter((n) => !UNATTESTED.includes(n))
      .map((name) => ({ name, sha256: sha256Hex(files.get(name)!), size: files.get(name)!.byteLength })),
    unattested: names.filter((n) => UNATTESTED.includes(n)),
  };
}

export function manifestBytes(m: Manifest): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(m, null, 2)}\n`);
}

/** manifest.sig: base64 of the ed25519 signature over the manifest bytes, and a newline. */
export function signManifest(bytes: Uint8Array, key: KeyObject): Uint8Array {
  return new TextEncoder().encode(`${sign(null, bytes, key).toString('base64')}\n`);
}

export function signatureHolds(manifest: Uint8Array, signature: string, key: KeyObject): boolean {
  const text = signature.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return false;
  try {
    return verify(null, manifest, key, Buffer.from(text, 'base64'));
  } catch {
    return false;
  }
}

const PEM = /-----BEGIN [A-Z ]+-----/;

/**
 * The signing key: `source` is a path to a PEM file or (for MCBUILD_SIGN_KEY, which may hold the secret
 * itself in CI) the PEM text. `from` names where it came from, for the message. Anything but an ed25519
 * private key is an McbError (exit 2) that says how to make one.
 */
export async function loadPrivateKey(source: string, from: string): Promise<KeyObject> {
  const { text, what } = await keyText(source, from);
  let key: KeyObject;
  if (/-----BEGIN (RSA |EC )?PUBLIC KEY-----/.test(text))
    throw badKey(
      what,
      'it is not a PEM private key but a public key (the .pub.pem file); signing needs the private key, mcbuild-sign.pem',
    );
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text))
    throw badKey(
      what,
      'it is encrypted with a passphrase, which mcbuild cannot ask for; it needs an unencrypted PKCS#8 key',
    );
  try {
    key = createPrivateKey(text);
  } catch (e) {
    throw badKey(what, `it is not a PEM private key (${e instanceof Error ? e.message : String(e)})`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw badKey(what, `it is a ${key.asymmetricKeyType ?? 'unknown'} key; mcbuild signs with ed25519`);
  return key;
}

/** The verifying key: a PEM public key file (a private key file works too: its public half is used). */
export async function loadPublicKey(path: string, from: string): Promise<KeyObject> {
  const { text, what } = await keyText(path, from, false);
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (e) {
    throw badKey(
      what,
      `it is not a PEM public key (${e instanceof Error ? e.message : String(e)})`,
      'pass the .pub.pem file `mcbuild keygen` wrote',
    );
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw badKey(
      what,
      `it is a ${key.asymmetricKeyType ?? 'unknown'} key; mcbuild signs with ed25519`,
      'pass the .pub.pem file `mcbuild keygen` wrote',
    );
  return key;
}

async function keyText(source: string, from: string, inline = true): Promise<{ text: string; what: string }> {
  // A CI variable often holds the PEM on one line with literal \n escapes: restore its line breaks.
  if (inline && PEM.test(source))
    return { text: source.includes('\n') ? source : source.replace(/\\n/g, '\n'), what: `the PEM in ${from}` };
  try {
    return { text: await readFile(source, 'utf8'), what: `the key file ${source} (${from})` };
  } catch (e) {
    const code = errnoCode(e);
    throw badKey(
      `the key file ${source} (${from})`,
      code === 'ENOENT' ? 'it does not exist' : `it cannot be read (${code ?? String(e)})`,
    );
  }
}

function badKey(
  what: string,
  why: string,
  fix = 'create a key pair with `mcbuild keygen --out keys/` and pass the private key file (keys/mcbuild-sign.pem)',
): McbError {
  return new McbError('MCB_USAGE', `cannot use ${what}: ${why}. To fix, ${fix}.`);
}

/** A new ed25519 key pair as PEM (PKCS#8 private, SPKI public). */
export function generateKeyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
