import type { AuditEntry } from '../audit/format.js';
import type { LocatedEntry } from '../audit/locate.js';
import type { AgentRecord } from '../identity/agents.js';
import type { ApprovalsFile } from '../policy/approvals.js';
import type { PendingApproval } from '../policy/approvals-queue.js';
import type { RecordMeta } from '../vault/vault.js';
import type { Workspace } from '../workspace/model.js';
import { type ActivityPage, encodeCursor } from './activity.js';
import type { TeamFreshness } from './freshness.js';
import { html, passphraseField, Raw } from './html.js';
import type { UsageRow } from './index.js';

/** The filter fields of the Activity page, named as `log`'s flags. */
export const FILTER_FIELDS = [
  'agent',
  'identity',
  'token',
  'secret',
  'domain',
  'method',
  'status',
  'statusClass',
  'project',
  'env',
  'since',
  'until',
] as const;

/** The Overview: numbers rendered here, charts drawn by the client from /api/overview. */
export function overviewBody(
  chain: { text: string; ok: boolean | null },
  freshness: TeamFreshness,
): Raw {
  return html`<section class="cards" id="cards"><p>Loading…</p></section>
    <section>
      <h2>Team freshness</h2>
      ${freshnessBody(freshness)}
    </section>
    <section>
      <h2>Calls per hour, by agent</h2>
      <div id="chart-calls" class="chart"></div>
    </section>
    <section>
      <h2>Blocks and redactions per hour</h2>
      <div id="chart-blocks" class="chart"></div>
    </section>
    <section class="two">
      <div>
        <h2>Top domains</h2>
        <table id="top-domains">
          <tbody></tbody>
        </table>
      </div>
      <div>
        <h2>Identity levels</h2>
        <table id="levels">
          <tbody></tbody>
        </table>
      </div>
    </section>
    <section>
      <h2>Audit chain</h2>
      <p id="chain" class="${chain.ok === false ? 'bad' : chain.ok === true ? 'good' : ''}">
        ${chain.text}
      </p>
    </section>`;
}

/** One row of the Activity table (the client builds the same cells for live rows). */
function row(base: string, e: AuditEntry): Raw {
  return html`<tr data-id="${e.id}" class="${e.status.toLowerCase()}">
    <td><a href="${base}/activity/${e.id}">${e.timestamp.replace('T', ' ').slice(0, 19)}</a></td>
    <td>${e.agent_id ?? '—'}</td>
    <td>${e.identity_level}</td>
    <td>${e.source}</td>
    <td>${e.method}</td>
    <td>${e.domain ?? ''}</td>
    <td>${e.secret_keys.join(', ')}</td>
    <td>${e.status}</td>
    <td>${e.status_code ?? ''}</td>
    <td>${e.reason ?? ''}</td>
    <td>${e.redacted ? 'yes' : ''}</td>
  </tr>`;
}

/** The Activity page: filters, one page of rows, live rows added by the client. */
export function activityBody(
  base: string,
  filters: Record<string, string>,
  page: ActivityPage,
  query: string,
): Raw {
  const input = (name: string, placeholder: string) =>
    html`<label
      >${name}<input name="${name}" value="${filters[name] ?? ''}" placeholder="${placeholder}"
    /></label>`;
  const next =
    page.next === null
      ? html``
      : html`<a
          class="button"
          id="older"
          href="${base}/activity?${query}${query === '' ? '' : '&'}before=${encodeCursor(page.next)}"
          >Older entries</a
        >`;
  return html`<form method="get" action="${base}/activity" class="filters">
      ${input('agent', 'name')}${input('identity', 'issued')}${input('status', 'OK, BLOCKED, ERROR')}${input('domain', 'api.example.com')}${input('secret', 'KEY')}${input('method', 'GET')}${input('since', '1h, 7d')}${input('until', '2026-11-20')}
      <button type="submit">Filter</button> <a href="${base}/activity">Clear</a>
    </form>
    <p class="muted">
      <span id="live-state">Live updates on.</span> Showing the newest ${page.entries.length}
      matching entries.
    </p>
    <table class="log">
      <thead>
        <tr>
          <th>Time (UTC)</th>
          <th>Agent</th>
          <th>Identity</th>
          <th>Source</th>
          <th>Method</th>
          <th>Domain</th>
          <th>Secrets</th>
          <th>Status</th>
          <th>HTTP</th>
          <th>Reason</th>
          <th>Redacted</th>
        </tr>
      </thead>
      <tbody
        id="activity-rows"
        data-query="${query}"
        data-live="${filters.until === undefined ? 'on' : 'off'}"
      >
        ${page.entries.map((e) => row(base, e))}
      </tbody>
    </table>
    ${page.entries.length === 0 ? html`<p id="empty">No entries match.</p>` : ''}${next}`;
}

/** One entry in full, with its place in the chain. */
export function entryBody(base: string, found: LocatedEntry): Raw {
  const e = found.entry;
  const fields = Object.entries(e).filter(([k]) => k !== 'hash' && k !== 'prev_hash');
  return html`<table class="detail">
      <tbody>
        ${fields.map(
          ([k, v]) =>
            html`<tr>
              <th>${k}</th>
              <td>${Array.isArray(v) ? v.join(', ') : v === null ? '—' : String(v)}</td>
            </tr>`,
        )}
        <tr>
          <th>segment</th>
          <td>${found.segment}, line ${found.line}</td>
        </tr>
        <tr>
          <th>hash</th>
          <td>
            <code>${e.hash}</code>
            ${found.hashValid ? '(matches its bytes)' : '(DOES NOT MATCH its bytes)'}
          </td>
        </tr>
        <tr>
          <th>previous</th>
          <td><code>${e.prev_hash}</code></td>
        </tr>
        <tr>
          <th>next entry links back</th>
          <td>
            ${found.next === null ? 'no next entry yet' : found.next.linksBack ? 'yes' : 'NO'}
          </td>
        </tr>
        <tr>
          <th>signed checkpoint</th>
          <td>${found.checkpointed ? 'yes' : 'not on this entry'}</td>
        </tr>
      </tbody>
    </table>
    <p><a href="${base}/activity">Back to activity</a></p>`;
}

/** The Agents page: each agent's tokens with issue and revoke forms. */
export function agentsBody(
  base: string,
  workspace: Workspace,
  agents: AgentRecord[],
  usage: {
    token(id: string): UsageRow;
    agent(name: string): UsageRow & { perDay: Record<string, number> };
  },
  csrf: string,
  strict: boolean,
  now: Date,
): Raw {
  if (agents.length === 0)
    return html`<p>
      Workspace ${workspace.name} has no agents yet. Create one at a terminal:
      <code>agentsecrets agent create NAME</code>.
    </p>`;
  return html`<p class="muted">
      Workspace ${workspace.name}. A new token is shown once, here, and stored nowhere.
    </p>
    ${agents.map((a) => {
      const use = usage.agent(a.name);
      const days = Object.entries(use.perDay).sort().slice(-7);
      return html`<section class="agent" data-agent="${a.name}">
        <h2>${a.name}</h2>
        <p>
          ${a.description} · last use ${use.last ?? 'never'} · ${use.calls}
          calls${days.length > 0 ? html` · per day: ${days.map(([d, n]) => `${d.slice(5)}: ${n}`).join(', ')}` : ''}
        </p>
        <p>
          Rules:
          ${a.rules === null ? 'workspace defaults' : `secrets ${a.rules.allow_secrets.join(', ') || 'any'}; deny ${a.rules.deny_secrets.join(', ') || 'none'}; domains ${a.rules.allow_domains.join(', ') || 'any listed'}; methods ${a.rules.methods.join(', ') || 'any'}; rate ${a.rules.rate ?? 'none'}`}
        </p>
        <table>
          <thead>
            <tr>
              <th>Token</th>
              <th>Label</th>
              <th>Expires</th>
              <th>Last used</th>
              <th>Calls</th>
              <th>Status</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${a.tokens.map((t) => {
              const u = usage.token(t.id);
              const status =
                t.revoked_at !== null
                  ? 'revoked'
                  : Date.parse(t.expires_at) < now.getTime()
                    ? 'expired'
                    : 'active';
              return html`<tr data-token="${t.id}">
                <td><code>${t.id}</code></td>
                <td>${t.label}</td>
                <td>${t.expires_at.slice(0, 10)}</td>
                <td>${u.last ?? 'never'}</td>
                <td>${u.calls}</td>
                <td>${status}</td>
                <td>
                  ${
                    status === 'active'
                      ? html`<form method="post" action="${base}/agents/revoke">
                          <input type="hidden" name="_csrf" value="${csrf}" /><input
                            type="hidden"
                            name="agent"
                            value="${a.name}"
                          /><input
                            type="hidden"
                            name="token"
                            value="${t.id}"
                          />${passphraseField(strict)}<button type="submit" class="danger">
                            Revoke
                          </button>
                        </form>`
                      : ''
                  }
                </td>
              </tr>`;
            })}
          </tbody>
        </table>
        <form method="post" action="${base}/agents/issue" class="inline">
          <input type="hidden" name="_csrf" value="${csrf}" /><input
            type="hidden"
            name="agent"
            value="${a.name}"
          /><input name="label" placeholder="label" /><input
            name="ttl"
            placeholder="30d"
          />${passphraseField(strict)}<button type="submit">Issue a token</button>
        </form>
      </section>`;
    })}`;
}

/** Team freshness: a team workspace's last sync and newest admin signature, or "local". */
function freshnessBody(f: TeamFreshness): Raw {
  if (f.kind === 'local')
    return html`<p id="freshness" class="muted">
      Workspace ${f.workspace}: local workspace, no sync.
    </p>`;
  return html`<p
      id="freshness"
      class="${f.stale ? 'bad' : 'good'}"
      data-stale="${f.stale ? 'yes' : 'no'}"
    >
      Workspace ${f.workspace}:
      ${f.stale ? 'STALE: agent tokens are refused (sync_stale) until this machine syncs a newer signed document or heartbeat' : 'fresh'}.
    </p>
    <table id="freshness-detail">
      <tbody>
        <tr>
          <th>Last successful sync</th>
          <td>${f.syncedAt === null ? 'never' : `${f.syncedAge} ago (${f.syncedAt})`}</td>
        </tr>
        <tr>
          <th>Newest admin signature (document or heartbeat)</th>
          <td>${f.signedAt === null ? 'none' : `${f.signedAge} ago (${f.signedAt})`}</td>
        </tr>
        <tr>
          <th>Max staleness</th>
          <td>
            ${f.limit ?? 'unknown'}${f.problem === null ? '' : ` (the signed document: ${f.problem})`}
          </td>
        </tr>
      </tbody>
    </table>
    ${f.stale ? html`<p class="muted">Run <code>agentsecrets proxy sync</code> at a terminal (is the server reachable, is an admin's machine online?).</p>` : ''}`;
}

/** The Allowlist page: the workspace's allowlist and its secrets' bindings. */
export function allowlistBody(
  base: string,
  workspace: Workspace,
  records: RecordMeta[],
  csrf: string,
  strict: boolean,
): Raw {
  const projects = new Map(workspace.projects.map((p) => [p.id, p.name]));
  const rows = records
    .map((r) => ({ ...r, project: projects.get(r.project_id) ?? r.project_id }))
    .sort((a, b) =>
      `${a.project}\0${a.environment}\0${a.key}`.localeCompare(
        `${b.project}\0${b.environment}\0${b.key}`,
      ),
    );
  const target = (r: { project: string; environment: string; key: string }) =>
    html`<input type="hidden" name="_csrf" value="${csrf}" /><input
        type="hidden"
        name="project"
        value="${r.project}"
      /><input type="hidden" name="environment" value="${r.environment}" /><input
        type="hidden"
        name="key"
        value="${r.key}"
      />`;
  return html`<p class="muted">
      Workspace ${workspace.name}. Credentials are sent only to these domains;
      <code>*.example.com</code> matches one label.
    </p>
    <table>
      <thead>
        <tr>
          <th>Domain</th>
          <th>Added by</th>
          <th>Added at</th>
          <th></th>
        </tr>
      </thead>
      <tbody id="allowlist">
        ${workspace.allowlist.map(
          (e) =>
            html`<tr data-pattern="${e.pattern}">
              <td>${e.pattern}</td>
              <td>${e.added_by}</td>
              <td>${e.added_at}</td>
              <td>
                <form method="post" action="${base}/allowlist/remove">
                  <input type="hidden" name="_csrf" value="${csrf}" /><input
                    type="hidden"
                    name="domain"
                    value="${e.pattern}"
                  />${passphraseField(strict)}<button type="submit" class="danger">Remove</button>
                </form>
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <form method="post" action="${base}/allowlist/add" class="inline" id="allowlist-add">
      <input type="hidden" name="_csrf" value="${csrf}" /><input
        name="domain"
        placeholder="api.example.com"
        required
      />${passphraseField(strict)}<button type="submit">Add</button>
    </form>
    <h2>Bindings</h2>
    <p class="muted">
      A bound secret is sent only to its own domains (and only in the listed injection styles, if
      any), even when another domain is in the allowlist. Same rules as
      <code>agentsecrets secrets bind</code> and <code>secrets unbind</code>.
    </p>
    <table>
      <thead>
        <tr>
          <th>Project</th>
          <th>Environment</th>
          <th>Secret</th>
          <th>Bound to</th>
          <th>Styles</th>
          <th></th>
        </tr>
      </thead>
      <tbody id="bindings">
        ${rows.map(
          (r) =>
            html`<tr
              data-key="${r.key}"
              data-environment="${r.environment}"
              data-project="${r.project}"
            >
              <td>${r.project}</td>
              <td>${r.environment}</td>
              <td>${r.key}</td>
              <td class="bound">
                ${r.binding === null ? 'not bound' : r.binding.domains.join(', ')}
              </td>
              <td>${r.binding === null ? '' : r.binding.styles.join(', ') || 'any'}</td>
              <td>
                <form method="post" action="${base}/bindings/set" class="bind">
                  ${target(r)}<input name="domains" placeholder="api.example.com" required /><input
                    name="styles"
                    placeholder="styles (optional)"
                  />${passphraseField(strict)}<button type="submit">Bind</button>
                </form>
                ${
                  r.binding === null
                    ? ''
                    : html`<form method="post" action="${base}/bindings/remove" class="unbind">
                        ${target(r)}${passphraseField(strict)}<button type="submit" class="danger">
                          Unbind
                        </button>
                      </form>`
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${rows.length === 0 ? html`<p class="muted">This workspace has no secrets yet.</p>` : ''}
    <h2>Recent changes</h2>
    <ul>
      ${workspace.allowlist_log
        .slice(-10)
        .reverse()
        .map((c) => html`<li>${c.at} ${c.by} ${c.action} ${c.pattern}</li>`)}
    </ul>`;
}

/** The Approvals page: what waits now (kept live by the client), and the rules. */
export function approvalsBody(
  base: string,
  pending: { shown: PendingApproval[]; total: number },
  file: ApprovalsFile,
  csrf: string,
  strict: boolean,
): Raw {
  const more = pending.total - pending.shown.length;
  return html`<section>
      <h2>Waiting for you</h2>
      <div id="pending" data-strict="${strict ? 'on' : 'off'}">
        ${pending.total === 0 ? html`<p class="muted" id="none-pending">Nothing is waiting.</p>` : ''}${pending.shown.map((p) => pendingCard(base, p, csrf, strict))}
      </div>
      <p id="more-pending" class="muted" ${new Raw(more > 0 ? '' : 'hidden')}>
        ${more > 0 ? `${more} more waiting (shown as these are decided).` : ''}
      </p>
    </section>
    <section>
      <h2>Rules</h2>
      <form method="post" action="${base}/approval-config" class="inline" id="approval-config">
        <input type="hidden" name="_csrf" value="${csrf}" /><label
          >Domains outside the allowlist
          <select name="ask_unlisted">
            <option value="on" ${new Raw(file.ask_unlisted ? 'selected' : '')}>ask a human</option>
            <option value="off" ${new Raw(file.ask_unlisted ? '' : 'selected')}>refuse</option>
          </select></label
        ><label
          >Wait up to (s)
          <input name="timeout" type="number" min="1" max="3600" value="${file.timeout_s}" /></label
        >${passphraseField(strict)}<button type="submit">Save</button>
      </form>
      <p id="approval-settings">
        Calls wait up to ${file.timeout_s} s. Domains outside the allowlist are
        ${file.ask_unlisted ? 'asked about' : 'refused'}.
      </p>
      <table>
        <thead>
          <tr>
            <th>Rule</th>
            <th>Workspace</th>
            <th>Agent</th>
            <th>Secret</th>
            <th>Domain</th>
            <th></th>
          </tr>
        </thead>
        <tbody id="approval-rules">
          ${file.rules.map(
            (r) =>
              html`<tr data-rule="${r.id}">
                <td>${r.id}</td>
                <td>${r.workspace ?? 'any'}</td>
                <td>${r.agent ?? 'any'}</td>
                <td>${r.secret ?? 'any'}</td>
                <td>${r.domain ?? 'any'}</td>
                <td>
                  <form method="post" action="${base}/approval-rules/remove">
                    <input type="hidden" name="_csrf" value="${csrf}" /><input
                      type="hidden"
                      name="rule"
                      value="${r.id}"
                    />${passphraseField(strict)}<button type="submit" class="danger">Remove</button>
                  </form>
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
      <p class="muted">
        A new rule holds every call that matches all the fields given (an empty field matches
        anything; the domain is an allowlist pattern such as <code>*.example.com</code>). As
        <code>agentsecrets approvals rule add</code>.
      </p>
      <form method="post" action="${base}/approval-rules/add" class="inline" id="approval-rule-add">
        <input type="hidden" name="_csrf" value="${csrf}" /><input
          name="workspace"
          placeholder="workspace"
        /><input name="agent" placeholder="agent" /><input
          name="secret"
          placeholder="SECRET_NAME"
        /><input name="domain" placeholder="api.example.com" />${passphraseField(strict)}<button
          type="submit"
        >
          Add a rule
        </button>
      </form>
    </section>`;
}

/** One waiting call with its three buttons (the client builds the same for live ones). */
export function pendingCard(base: string, p: PendingApproval, csrf: string, strict: boolean): Raw {
  const button = (decision: string, label: string, cls: string) =>
    html`<form method="post" action="${base}/approvals/${p.id}">
      <input type="hidden" name="_csrf" value="${csrf}" /><input
        type="hidden"
        name="decision"
        value="${decision}"
      />${passphraseField(strict)}<button type="submit" class="${cls}" data-decision="${decision}">
        ${label}
      </button>
    </form>`;
  return html`<article class="pending" data-id="${p.id}">
    <p>
      <strong>${p.agent ?? '(anonymous)'}</strong> (${p.identity_level}, via ${p.source}) wants
      <strong>${p.method} ${p.host}${p.path}</strong> with
      ${p.secret_keys.length === 0 ? 'no secret' : html`<strong>${p.secret_keys.join(', ')}</strong> of <strong>${p.project}/${p.environment}</strong>`}.
    </p>
    <p class="muted">
      In workspace <strong>${p.workspace}</strong>.
      ${p.reason === 'unlisted' ? 'The domain is not in its allowlist.' : `Rule ${p.reason.slice(5)} asks for approval.`}
      Waits until ${p.expires_at.slice(11, 19)} UTC.
    </p>
    <div class="actions">
      ${button('approve_once', 'Approve once', '')}${p.reason === 'unlisted' ? button('approve_and_allow', 'Approve and add to the allowlist', '') : ''}${p.secret_keys.length > 0 ? button('approve_and_bind', `Approve and bind ${p.secret_keys.join(', ')} (${p.project}/${p.environment}) to this host`, '') : ''}${button('deny', 'Deny', 'danger')}
    </div>
  </article>`;
}

/** A short result page after a change (a new token is shown here, once). */
export function resultBody(title: string, lines: string[], back: string, secretLike?: string): Raw {
  return html`${lines.map((l) => html`<p>${l}</p>`)}${
      secretLike === undefined
        ? ''
        : html`<p>Copy it now; it is not shown again:</p>
            <pre id="new-token">${secretLike}</pre>`
    }
    <p><a href="${back}">Back</a></p>
    <p class="muted">${title}</p>`;
}
