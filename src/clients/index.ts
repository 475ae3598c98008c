/**
 * MCP client configurations, without I/O: the client registry and where each reads its
 * config, JSONC editing, install/uninstall plans, and the plaintext-credential scan.
 */
export * from './jsonc.js';
export * from './migrate.js';
export * from './plan.js';
export * from './registry.js';
export * from './scan.js';
