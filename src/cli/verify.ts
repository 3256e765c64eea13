import { verifyOutput, loadPublicKey, MANIFEST_FILE } from '../provenance/index.js';
import type { Command } from './command.js';

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'check an output folder against its manifest, provenance and signature (exit 0 intact, 1 not)',
  usage: 'mcbuild verify <output-dir> [--pub key.pub.pem] [--json]',
  positionals: { name: '<output-dir>', min: 1, max: 1 },
  options: {
    pub: {
      type: 'string',
      value: 'PEM',
      description: 'the ed25519 public key the output must be signed with (a missing or other signature fails)',
    },
  },
  examples: [
    'mcbuild verify out/mnist-mlp',
    'mcbuild verify out/mnist-mlp --pub keys/mcbuild-sign.pub.pem',
    'mcbuild verify dist/model --json',
  ],
  async run(ctx) {
    const dir = ctx.positionals[0]!;
    const pubPath = ctx.values.pub as string | undefined;
    const pub = pubPath === undefined ? undefined : await loadPublicKey(pubPath, '--pub');
    const r = await verifyOutput(dir, pub);
    if (ctx.out.json) {
      ctx.out.jsonResult({ dir, ...r });
      return r.ok ? 0 : 1;
    }
    for (const p of r.problems) ctx.out.result(`${ctx.out.style('red', 'FAIL')}  ${p.file}: ${p.message}`);
    const sig =
      r.signature === 'valid'
        ? 'signature valid'
        : r.signature === 'present, not checked'
          ? 'signature present, not checked (pass --pub)'
          : r.signature === 'absent'
            ? 'unsigned'
            : `signature ${r.signature}`;
    const skipped = r.unattested.length
      ? `; not covered by ${MANIFEST_FILE}: ${r.unattested.join(', ')} (machine-dependent)`
      : '';
    ctx.out.result(
      r.ok
        ? `${ctx.out.style('green', 'OK')}  ${dir}: ${r.verified} files match ${MANIFEST_FILE}, provenance digest matches, ${sig}${skipped}`
        : `${ctx.out.style('red', 'FAILED')}  ${dir}: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} (${r.verified} files match; ${sig})`,
    );
    return r.ok ? 0 : 1;
  },
};
