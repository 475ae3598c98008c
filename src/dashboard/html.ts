/**
 * Server-rendered HTML for the dashboard. Every piece of data goes through `esc`; pages carry
 * no inline script or style (the CSP forbids both), only /static files.
 */

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML content and quoted attributes. */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** A tagged template whose interpolations are escaped unless wrapped in `raw`. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new Raw(out);
}

/** Already-safe HTML. */
export class Raw {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

function render(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return esc(value);
}

/** The pages, relative to the session's base (`/s/<path secret>`). */
const NAV = [
  ['/', 'Overview'],
  ['/activity', 'Activity'],
  ['/approvals', 'Approvals'],
  ['/agents', 'Agents'],
  ['/allowlist', 'Allowlist'],
] as const;

/**
 * The page frame: navigation, the CSRF token and the session's base path for the client script,
 * our own assets (public, under /static).
 */
export function layout(options: {
  title: string;
  /** The session's base path, `/s/<path secret>` (every link starts with it). */
  base: string;
  /** This page's path relative to `base` (`/`, `/activity`…), for the navigation. */
  path: string;
  csrf: string;
  strict: boolean;
  body: Raw;
  scripts?: string[];
  styles?: string[];
}): string {
  return `<!doctype html>${html`<html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="csrf-token" content="${options.csrf}" />
      <meta name="base-path" content="${options.base}" />
      <meta name="strict-mode" content="${options.strict ? 'on' : 'off'}" />
      <title>${options.title} · agentsecrets</title>
      <link rel="stylesheet" href="/static/app.css" />
      ${(options.styles ?? []).map((s) => html`<link rel="stylesheet" href="${s}" />`)}
    </head>
    <body>
      <header>
        <strong>agentsecrets</strong>
        <nav>
          ${NAV.map(
            ([href, label]) =>
              html`<a
                href="${options.base}${href}"
                ${new Raw(options.path === href ? ' aria-current="page"' : '')}
                >${label}</a
              >`,
          )}
        </nav>
        ${options.strict ? html`<span class="badge">strict mode</span>` : ''}<span
          id="pending-badge"
          class="badge warn"
          hidden
        ></span>
      </header>
      <main>
        <h1>${options.title}</h1>
        ${options.body}
      </main>
      ${(options.scripts ?? []).map((s) => html`<script src="${s}"></script>`)}
      <script src="/static/app.js"></script>
    </body>
  </html>`}`;
}

/** The passphrase field a change needs in strict mode (empty otherwise). */
export function passphraseField(strict: boolean): Raw {
  return strict
    ? html`<input
        type="password"
        name="passphrase"
        placeholder="vault passphrase"
        autocomplete="off"
        required
      />`
    : html``;
}
