// The house's layering as a check (`npm run lint` runs it; docs/architecture.md explains it).
//
// Folders of src/ by level, top first. A folder may import folders on LOWER levels only:
// never a folder above it, never a peer on its own level. Type-only imports count too.
const LEVELS = [
  ['cli'],
  ['server'],
  ['hub'],
  ['registry'],
  ['engine', 'auth'],
  ['storage', 'client', 'runtime'],
  ['metadata'],
  ['oci'],
  ['archive'],
];

const folders = LEVELS.flat();

/** One rule per folder: it imports nothing on its level or above (except itself). */
const layerRules = LEVELS.flatMap((level, i) =>
  level.map((folder) => {
    const forbidden = LEVELS.slice(0, i + 1)
      .flat()
      .filter((f) => f !== folder);
    return {
      name: `layer-${folder}`,
      comment: `src/${folder}/ imports only folders below it: ${
        LEVELS.slice(i + 1)
          .flat()
          .join(', ') || 'none'
      }`,
      severity: 'error',
      from: { path: `^src/${folder}/` },
      to: { path: `^src/(${forbidden.join('|')})/` },
    };
  }),
);

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'No import circles, inside a folder or across folders.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-unknown-folder',
      comment: 'A new top-level folder of src/ gets a level here (and in docs/architecture.md) first.',
      severity: 'error',
      from: { path: '^src/', pathNot: `^src/(${folders.join('|')})/` },
      to: {},
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import the checker cannot resolve would escape every rule above.',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // TypeScript 7 has no JavaScript API for dependency-cruiser's tsc parser; swc reads the same imports.
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    moduleSystems: ['es6'],
  },
};
