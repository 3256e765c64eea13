import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, McbError } from '../errors.js';
import { generateKeyPair } from '../provenance/index.js';
import type { Command } from './command.js';

export const PRIVATE_KEY_FILE = 'mcbuild-sign.pem';
export const PUBLIC_KEY_FILE = 'mcbuild-sign.pub.pem';

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'write an ed25519 key pair for signing outputs (--sign-key) and checking them (verify --pub)',
  usage: 'mcbuild keygen [--out DIR]',
  positionals: { name: 'no arguments (the folder is --out)', min: 0, max: 0 },
  options: {
    out: {
      type: 'string',
      value: 'DIR',
      description: `folder for ${PRIVATE_KEY_FILE} (private, mode 600) and ${PUBLIC_KEY_FILE} (default: the current folder)`,
    },
  },
  examples: [
    'mcbuild keygen --out keys/',
    'mcbuild recipes/mnist-mlp.yaml --sign-key keys/mcbuild-sign.pem',
    'mcbuild verify out/mnist-mlp --pub keys/mcbuild-sign.pub.pem',
  ],
  async run(ctx) {
    const dir = (ctx.values.out as string | undefined) ?? '.';
    const { privatePem, publicPem } = generateKeyPair();
    const priv = join(dir, PRIVATE_KEY_FILE);
    const pub = join(dir, PUBLIC_KEY_FILE);
    const exists = () =>
      new McbError(
        'MCB_USAGE',
        `${priv} or ${pub} already exists; mcbuild keygen never overwrites a key (outputs signed with it could no longer be verified). Choose another folder with --out, or remove the old keys first.`,
      );
    // Both are checked first, so a refusal never leaves half a pair behind.
    for (const f of [priv, pub])
      if (
        await stat(f).then(
          () => true,
          () => false,
        )
      )
        throw exists();
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      // EEXIST here means --out names a file, not that a key exists.
      throw new McbError(
        'MCB_OUTPUT',
        `cannot write the key pair to ${dir}: ${errnoCode(e) === 'EEXIST' || errnoCode(e) === 'ENOTDIR' ? 'it (or a folder above it) is a file, not a folder' : `it cannot be created (${errnoCode(e) ?? String(e)})`}. Choose a writable folder with --out.`,
      );
    }
    try {
      // 'wx': an existing key is never overwritten (outputs signed with it could no longer be checked).
      await writeFile(priv, privatePem, { flag: 'wx', mode: 0o600 });
      await writeFile(pub, publicPem, { flag: 'wx' });
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'EEXIST') throw exists();
      throw new McbError(
        'MCB_OUTPUT',
        `cannot write the key pair to ${dir} (${code ?? String(e)}). Choose a writable folder with --out.`,
      );
    }
    if (ctx.out.json) ctx.out.jsonResult({ privateKey: priv, publicKey: pub });
    else
      ctx.out.result(
        `private key: ${priv} (keep it secret: pass it to --sign-key or MCBUILD_SIGN_KEY)\npublic key:  ${pub} (share it: mcbuild verify <dir> --pub ${pub})`,
      );
    return 0;
  },
};
