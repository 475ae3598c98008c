import { join } from 'node:path';
import type { Paths } from '../core/config.js';
import { parseSeal, type RightsSeal } from '../core/rights-seal.js';
import { arr, obj, optStr } from '../core/validate.js';
import { createDocumentStore, type DocumentStore } from './document.js';

/**
 * approvals.json (issue 16): its model and store. The rules' meaning lives in
 * src/policy/approvals.ts; the file is here, below strict mode, which seals it.
 */
/** One `approve` rule. */
export interface ApprovalRule {
  id: string;
  /** Workspace name or id; null matches every workspace. */
  workspace: string | null;
  /**
   * Agent name: matches that agent's issued (token-verified) calls, and every anonymous or
   * declared call (which could be that agent); null matches every caller.
   */
  agent: string | null;
  secret: string | null;
  /** An allowlist-style pattern (`api.example.com`, `*.example.com`, `host:8443`). */
  domain: string | null;
  added_at: string;
  added_by: string;
}

/** approvals.json in the state folder. */
export interface ApprovalsFile {
  format: 1;
  /** Ask a human instead of refusing a domain outside the allowlist. */
  ask_unlisted: boolean;
  /** How long a call waits for a decision. */
  timeout_s: number;
  rules: ApprovalRule[];
  /** Strict mode's seal over the rules and settings (src/strict/rights.ts). */
  rights_seal?: RightsSeal;
}

/** Where approvals.json lives. */
export function approvalsPath(paths: Paths): string {
  return join(paths.home, 'approvals.json');
}

/** The default wait for a decision. */
export const DEFAULT_APPROVAL_TIMEOUT_S = 120;
/** The longest wait a human may configure (clients give up long before this). */
export const MAX_APPROVAL_TIMEOUT_S = 3600;

function emptyFile(): ApprovalsFile {
  return { format: 1, ask_unlisted: false, timeout_s: DEFAULT_APPROVAL_TIMEOUT_S, rules: [] };
}

function parseFile(raw: unknown): ApprovalsFile {
  const o = obj(raw, 'approvals');
  const timeout = typeof o.timeout_s === 'number' ? o.timeout_s : DEFAULT_APPROVAL_TIMEOUT_S;
  const sealed = parseSeal(o.rights_seal);
  return {
    ...(sealed === undefined ? {} : { rights_seal: sealed }),
    format: 1,
    ask_unlisted: o.ask_unlisted === true,
    timeout_s: Math.min(Math.max(1, Math.floor(timeout)), MAX_APPROVAL_TIMEOUT_S),
    rules: arr(o.rules ?? [], 'rules').map((r, i) => {
      const rule = obj(r, `rules[${i}]`);
      const field = (name: string) =>
        optStr(rule[name] ?? undefined, `rules[${i}].${name}`) ?? null;
      return {
        id: field('id') ?? `apr_${i}`,
        workspace: field('workspace'),
        agent: field('agent'),
        secret: field('secret'),
        domain: field('domain'),
        added_at: field('added_at') ?? '',
        added_by: field('added_by') ?? '',
      };
    }),
  };
}

/** The approvals document store. */
export interface ApprovalsStore {
  read(): Promise<ApprovalsFile>;
  update(change: (file: ApprovalsFile) => void): Promise<ApprovalsFile>;
}

/** Opens approvals.json (cached by inode, size and mtime: it is read on every call). */
export function createApprovalsStore(paths: Paths): ApprovalsStore {
  const store: DocumentStore<ApprovalsFile> = createDocumentStore({
    path: approvalsPath(paths),
    parse: parseFile,
    cache: true,
  });
  // One object for an absent file, so a reader that remembers verdicts per object (strict
  // mode's guard) judges it once.
  const absent = emptyFile();
  return {
    async read() {
      return (await store.read()) ?? absent;
    },
    update(change) {
      return store.update((current) => {
        const file = structuredClone(current ?? emptyFile());
        change(file);
        return file;
      });
    },
  };
}
