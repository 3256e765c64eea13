/**
 * dependency-cruiser rules for src/ (`npm run lint` runs `depcruise src`): imports go one way, down the layers.
 *
 * LAYERS is the one drawing of the layer order; every `forbidden` layer rule below is derived from it. Top
 * to bottom, each entry a group of src/ folders (trailing slash) or files: a module may import its own group
 * and the groups below it, never one above. Within a group any import is allowed as long as no cycle forms
 * (no-circular for files, no-circular-folders for folders).
 */
const LAYERS = [
  ['cli/', 'index.ts'],
  ['build/'],
  ['search/'],
  ['pipeline/'],
  ['execute/', 'gate/', 'report/', 'provenance/'],
  ['plan/', 'distributed/', 'language/'],
  ['passes/'],
  ['metrics/'],
  ['engine/'],
  ['data/'],
  ['model/', 'algorithms/'],
  ['recipe/', 'cache/', 'runtime/', 'errors.ts', 'util/', 'version.ts'],
];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The path pattern of one member of a group: a folder and everything in it, or exactly one file. */
const pattern = (member) => `^src/${escape(member)}${member.endsWith('/') ? '' : '$'}`;
const ALL = LAYERS.flat().map(pattern);

const layerRules = LAYERS.slice(1).map((group, i) => ({
  name: `layer-${group[0].replace(/\W+$/, '').replace(/\W/g, '-')}`,
  comment: `${group.join(', ')} may import only their own group and those below it, not ${LAYERS.slice(0, i + 1)
    .map((g) => g.join(', '))
    .join(' / ')} (see LAYERS in .dependency-cruiser.cjs).`,
  severity: 'error',
  from: { path: group.map(pattern) },
  to: {
    path: LAYERS.slice(0, i + 1)
      .flat()
      .map(pattern),
  },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment:
        'Import cycles between files (type-only imports count): move the shared piece into a module both import.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-circular-folders',
      comment: 'Import cycles between folders of src/: one folder must sit below the other.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { path: '^src/', circular: true },
    },
    ...layerRules,
    {
      name: 'in-a-layer',
      comment: 'Every module of src/ belongs to a group of LAYERS in .dependency-cruiser.cjs: add new folders there.',
      severity: 'error',
      from: { path: '^src/', pathNot: ALL },
      to: {},
    },
    {
      name: 'to-a-layer',
      comment: 'Every module of src/ belongs to a group of LAYERS in .dependency-cruiser.cjs: add new folders there.',
      severity: 'error',
      from: {},
      to: { path: '^src/', pathNot: ALL },
    },
    {
      name: 'runtime-self-contained',
      comment:
        'src/runtime/ is the dependency-light loader published as mcbuild/runtime (browsers too): it imports only itself and fflate.',
      severity: 'error',
      from: { path: '^src/runtime/' },
      to: { pathNot: ['^src/runtime/', '^node_modules/fflate/', '^node_modules/@tensorflow/tfjs/'] },
    },
    {
      name: 'runtime-tfjs-types-only',
      comment:
        "src/runtime/ may name TF.js's types (mcbuildLoader returns a tf.io.IOHandler), which compile away; it never imports TF.js code.",
      severity: 'error',
      from: { path: '^src/runtime/' },
      to: { path: '^node_modules/@tensorflow/tfjs/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'tfjs-free',
      comment: "src/model/ and src/algorithms/ are TF.js-free: no '@tensorflow/*' import, not even of a type.",
      severity: 'error',
      from: { path: ['^src/model/', '^src/algorithms/'] },
      to: { path: '(^|/)@tensorflow/' },
    },
    {
      name: 'not-to-tests',
      comment: 'src/ never imports from test/ or bench/.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to nothing on disk.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // import type counts: a type-only import up the layers couples them as much as any other.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    // node_modules may be a symlink (worktrees share one): name packages by where they are imported from.
    preserveSymlinks: true,
    // Resolve imports of packages as Node does for this ESM package.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};

// docs/architecture.md's layer table is generated from LAYERS (scripts/generated.ts); not part of the
// configuration dependency-cruiser validates, so not enumerable.
Object.defineProperty(module.exports, 'LAYERS', { value: LAYERS, enumerable: false });
