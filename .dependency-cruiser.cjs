// @ts-check
/**
 * The layer rules of agentsecrets, checked by `npm run lint` (DESIGN: one service layer, faces at the edges).
 *
 * Faces: the CLI, the MCP server with its tools and prompts, the SDK, `run` and the dashboard. The service layer
 * is src/app/ (use cases and process runtimes) over src/services.ts (the base wiring: config, vault, workspaces,
 * key providers), which core modules may take as a parameter type. Everything else under src/ is the core.
 */
const FACES = '^(src/(cli|mcp|sdk|dashboard|run)/|src/index\\.ts$|tools/|prompts/)';
const APP = '^src/app/';
const SERVICE_LAYER = '^src/(services\\.ts$|app/)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-imports-no-face',
      comment:
        'The core (every src/ folder that is not a face or the service layer) must not import a face.',
      severity: 'error',
      from: { path: '^src/', pathNot: `${FACES}|${SERVICE_LAYER}` },
      to: { path: `${FACES}|${APP}` },
    },
    {
      name: 'tools-use-only-services',
      comment:
        'MCP tools and prompts are thin adapters: they import the service layer, the MCP helpers (src/mcp/) and the shared vocabulary of src/core/ only.',
      severity: 'error',
      from: { path: '^(tools|prompts)/' },
      to: {
        path: '^(src|tools|prompts)/',
        pathNot: `${SERVICE_LAYER}|^src/(mcp|core)/|^tools/|^prompts/`,
      },
    },
    {
      name: 'server-has-no-vault',
      comment:
        'The team server holds ciphertext only: it never imports the vault or a key provider.',
      severity: 'error',
      from: { path: '^src/server/' },
      to: { path: '^src/vault/' },
    },
    {
      name: 'proxy-imports-no-face',
      comment: 'The proxy is core: it never imports a face or the service layer.',
      severity: 'error',
      from: { path: '^src/proxy/' },
      to: { path: `${FACES}|${SERVICE_LAYER}` },
    },
    {
      name: 'no-folder-cycles',
      comment: 'Folders form a directed graph: move the shared type to the lower folder instead.',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // src/index.ts is the package entry (`export * from './sdk/index.js'`). It shares the folder `src/` with
    // src/services.ts, so folder-level cycle detection would see sdk → proxy → sync → services as a cycle
    // through it.
    exclude: { path: '^(dist|node_modules)/|^src/index\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.js'],
      conditionNames: ['import', 'node', 'default'],
    },
  },
};
