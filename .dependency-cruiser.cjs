// Which layer may import which (docs/architecture.md, "Layers"). `npm run lint:deps` checks
// src/ against these rules; .ci/run runs it through `npm run lint`.
const layer = (...names) => `^src/(${names.join('|')})/`;
const ALL = ['core', 'util', 'spec', 'analysis', 'hooks', 'http', 'engine', 'experiments', 'migrations', 'pipelines', 'router', 'dataplane', 'platform', 'kube', 'store', 'api', 'cli', 'daemon'];
const except = (...allowed) => ALL.filter((n) => !allowed.includes(n));

/** [folder, folders it may import besides itself]. */
const MAY_IMPORT = [
  ['util', []],
  ['core', ['util']],
  ['http', ['util']],
  ['spec', ['core', 'util', 'analysis', 'dataplane', 'flags']],
  ['flags', ['core', 'util', 'http']],
  ['analysis', ['core', 'util']],
  ['hooks', ['core', 'util']],
  ['experiments', ['core', 'util']],
  ['migrations', ['core', 'util']],
  ['pipelines', ['core', 'util']],
  ['router', ['core', 'util', 'http', 'flags', 'experiments']],
  ['kube', ['util']],
  ['platform', ['core', 'util', 'kube']],
  ['store', ['core', 'util']],
  ['dataplane', ['core', 'util', 'http', 'router', 'spec', 'flags', 'kube']],
  ['engine', ['core', 'util', 'spec', 'analysis', 'hooks', 'flags', 'experiments', 'pipelines']],
  ['api', ['core', 'util', 'http', 'spec', 'engine', 'flags', 'experiments', 'migrations', 'pipelines']],
];

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'an import cycle: move the shared part to src/core/', from: {}, to: { circular: true } },
    ...MAY_IMPORT.map(([name, allowed]) => ({
      name: `${name}-imports`,
      severity: 'error',
      comment: `src/${name}/ may import only ${allowed.length ? allowed.map((a) => `src/${a}/`).join(', ') : 'nothing else in src/'} (docs/architecture.md, "Layers")`,
      from: { path: layer(name) },
      to: { path: layer(...except(name, ...allowed)) },
    })),
  ],
  options: {
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
