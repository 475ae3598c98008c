import { httpStatusOf, toAgentSecretsError, UsageError } from '../../core/errors.js';
import { isValidKeyName } from '../../core/keys.js';
import type { CallResult } from '../../proxy/credential-service.js';
import type { Injection } from '../../proxy/inject.js';
import {
  encodeBody,
  groupHeaders,
  injectionsFrom,
  type InjectionMaps,
  withContentType,
} from '../../app/call-request.js';
import type { CliContext } from '../context.js';
import { credentialService, presentedIdentity } from '../credentials.js';
import { EXIT, exitCodeFor } from '../exit.js';
import type { SelectionOptions } from './secrets.js';

export interface CallOptions extends SelectionOptions {
  url: string;
  method?: string;
  body?: string;
  bearer?: string;
  basic?: string;
  header?: string[];
  query?: string[];
  bodyField?: string[];
  formField?: string[];
  passHeader?: string[];
  agentId?: string;
  token?: string;
  output?: string;
}

/** The `--output json` envelope the AgentSecrets Python SDK parses (DESIGN §7). */
interface Envelope {
  status: number;
  headers: Record<string, string[]>;
  body: string;
  redacted: boolean;
  duration_ms: number;
  error: string | null;
  body_encoding?: 'base64';
}

/** `agentsecrets call`: one authenticated request; prints the (redacted) response. */
export async function call(ctx: CliContext, options: CallOptions): Promise<number> {
  const json = options.output === 'json';
  if (options.output !== undefined && options.output !== 'json' && options.output !== 'text') {
    throw new UsageError('--output must be text or json');
  }
  const started = performance.now();
  let result: CallResult;
  try {
    const injections = collectInjections(options);
    // A malformed name is refused before the vault is opened.
    const identity = presentedIdentity(ctx, options, 'cli');
    const services = ctx.services();
    const current = await services.workspaces.resolve({
      project: options.project,
      environment: options.env,
    });
    const headers = withContentType((options.passHeader ?? []).map(parsePassHeader), options.body);
    const credentials = await credentialService(ctx);
    try {
      result = await credentials.call({
        url: options.url,
        method: (options.method ?? 'GET').toUpperCase(),
        headers,
        body: options.body === undefined ? undefined : Buffer.from(options.body, 'utf8'),
        injections,
        target: current.target,
        identity,
      });
    } finally {
      await credentials.close();
    }
  } catch (err) {
    const error = toAgentSecretsError(err);
    if (json) {
      const body = JSON.stringify({ error: error.code, message: error.message, ...error.context });
      ctx.out.json(
        envelope(
          httpStatusOf(error.code),
          [],
          Buffer.from(body),
          false,
          performance.now() - started,
          error.code,
        ),
      );
    }
    ctx.out.notice(`error: ${error.message} [${error.code}]`);
    return exitCodeFor(error.code);
  }
  if (json) {
    ctx.out.json(
      envelope(
        result.status,
        result.headers,
        result.body,
        result.redacted,
        result.durationMs,
        null,
      ),
    );
  } else {
    ctx.out.line(`HTTP ${result.status}`);
    ctx.out.line('');
    ctx.out.raw(result.body);
    if (result.body.length > 0 && result.body[result.body.length - 1] !== 0x0a) ctx.out.line('');
  }
  return result.status >= 200 && result.status < 400 ? EXIT.ok : EXIT.failed;
}

function envelope(
  status: number,
  headers: [string, string][],
  body: Buffer,
  redacted: boolean,
  durationMs: number,
  error: string | null,
): Envelope {
  const encoded = encodeBody(body);
  return {
    status,
    headers: groupHeaders(headers),
    body: encoded.text,
    redacted,
    duration_ms: Math.round(durationMs * 1000) / 1000,
    error,
    ...(encoded.encoding === 'utf8' ? {} : { body_encoding: 'base64' as const }),
  };
}

/** The injection flags, named like the Go tool's: `--header Name=KEY` and so on. */
function collectInjections(options: CallOptions): Injection[] {
  const pairs: ['header' | 'query' | 'body' | 'form', string[] | undefined, string][] = [
    ['header', options.header, '--header Name=KEY'],
    ['query', options.query, '--query param=KEY'],
    ['body', options.bodyField, '--body-field a.b=KEY'],
    ['form', options.formField, '--form-field field=KEY'],
  ];
  const maps: InjectionMaps = {
    bearer: options.bearer === undefined ? undefined : keyArg('--bearer', options.bearer),
    basic: options.basic === undefined ? undefined : keyArg('--basic', options.basic),
  };
  for (const [style, specs, usage] of pairs) {
    maps[style] = (specs ?? []).map((spec): [string, string] => {
      const eq = spec.lastIndexOf('=');
      if (eq <= 0) throw new UsageError(`expected ${usage}`);
      return [spec.slice(0, eq), keyArg(usage.split(' ')[0]!, spec.slice(eq + 1))];
    });
  }
  const injections = injectionsFrom(maps);
  if (injections.length === 0) {
    throw new UsageError(
      'name at least one secret to inject, e.g. --bearer STRIPE_KEY or --header X-Api-Key=API_KEY',
    );
  }
  return injections;
}

function keyArg(flag: string, key: string): string {
  if (!isValidKeyName(key))
    throw new UsageError(`${flag} takes a key name (letters, digits and _), e.g. STRIPE_KEY`);
  return key;
}

function parsePassHeader(spec: string): [string, string] {
  const colon = spec.indexOf(':');
  if (colon <= 0) throw new UsageError("expected --pass-header 'Name: value'");
  return [spec.slice(0, colon).trim(), spec.slice(colon + 1).trim()];
}
