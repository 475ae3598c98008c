import {
  applyEdits,
  type FormattingOptions,
  modify,
  type ParseError,
  parse as parseJsonc,
  printParseErrorCode,
  stripComments,
} from 'jsonc-parser';
import { type ConfigFormat, type JsonObject, isObject } from './registry.js';

/** JSON and JSONC config files: parsing with positions, and edits that keep comments. */

/** Where and why a file could not be used. Never quotes the file's content. */
export interface ParseFailure {
  message: string;
  offset: number;
  line: number;
  column: number;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; failure: ParseFailure };

export function failure(
  text: string,
  offset: number,
  what: string,
): { ok: false; failure: ParseFailure } {
  const before = text.slice(0, offset).split('\n');
  const line = before.length;
  const column = before[before.length - 1]!.length + 1;
  return {
    ok: false,
    failure: {
      message: `${what} at line ${line}, column ${column} (offset ${offset})`,
      offset,
      line,
      column,
    },
  };
}

function stripBom(text: string): string {
  return text.startsWith('\ufeff') ? text.slice(1) : text;
}

/**
 * Parses a config file: JSON, or JSONC (also trailing commas). Comments are accepted in
 * both, because users put them in every client's file and they are kept on edit. An empty
 * file is an empty object. The failure names a position and an error kind, never content.
 */
export function parseConfig(text: string | undefined, format: ConfigFormat): Parsed<JsonObject> {
  const body = stripBom(text ?? '');
  if (body.trim() === '') return { ok: true, value: {} };
  const errors: ParseError[] = [];
  const value: unknown = parseJsonc(body, errors, {
    disallowComments: false,
    allowTrailingComma: format === 'jsonc',
    allowEmptyContent: true,
  });
  const first = errors[0];
  const kind = format === 'json' ? 'invalid JSON' : 'invalid JSON with comments';
  // Comments become spaces, so positions in JSON.parse's messages still match the file.
  if (first !== undefined) {
    return failure(body, first.offset, `${kind} (${printParseErrorCode(first.error)})`);
  }
  if (format === 'json') {
    try {
      JSON.parse(stripComments(body, ' '));
    } catch (err) {
      // V8 quotes the text around the error; keep only the position.
      const at = /position (\d+)/.exec(err instanceof Error ? err.message : '');
      return failure(body, at === null ? 0 : Number(at[1]), kind);
    }
  }
  if (!isObject(value)) return failure(body, 0, 'the top level is not a JSON object');
  return { ok: true, value };
}

/** The servers object of a parsed config (`{}` when absent); a failure if it is not an object. */
export function serversOf(
  root: JsonObject,
  rootKey: string,
  text: string | undefined,
): Parsed<JsonObject> {
  if (!Object.hasOwn(root, rootKey)) return { ok: true, value: {} };
  const servers = root[rootKey];
  if (isObject(servers)) return { ok: true, value: servers };
  return failure(stripBom(text ?? ''), 0, `"${rootKey}" is not an object (remove or fix it first)`);
}

/** One change to a JSON document: set `value` at `path`, or delete it when undefined. */
export interface JsonEdit {
  path: string[];
  value: unknown;
}

function setOwn(target: JsonObject, key: string, value: unknown): void {
  // defineProperty, so a key named __proto__ stays an ordinary key.
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function formatting(text: string): FormattingOptions {
  const indent = /^([ \t]+)\S/m.exec(text)?.[1];
  return {
    insertSpaces: indent === undefined || !indent.startsWith('\t'),
    tabSize: indent === undefined || indent.startsWith('\t') ? 2 : indent.length,
    eol: text.includes('\r\n') ? '\r\n' : '\n',
  };
}

/**
 * Applies edits to a config's text. JSON is re-serialized with two spaces; JSONC is edited
 * in place, so comments and formatting elsewhere survive. Both end with a newline.
 */
export function applyJsonEdits(
  text: string | undefined,
  format: ConfigFormat,
  edits: readonly JsonEdit[],
): string {
  const bom = text?.startsWith('\ufeff') ? '\ufeff' : '';
  const body = stripBom(text ?? '');
  const start = body.trim() === '' ? '{}' : body;
  // A JSON file with comments is edited in place too, so that its comments survive.
  if (format === 'jsonc' || stripComments(start) !== start) {
    const formattingOptions = formatting(start);
    let out = start;
    for (const edit of edits) {
      out = applyEdits(out, modify(out, edit.path, edit.value, { formattingOptions }));
    }
    const eol = formattingOptions.eol!;
    return bom + (out.endsWith('\n') ? out : out + eol);
  }
  const root = JSON.parse(start) as JsonObject;
  for (const { path, value } of edits) {
    let node: JsonObject | undefined = root;
    for (const key of path.slice(0, -1)) {
      if (!Object.hasOwn(node, key) || !isObject(node[key])) {
        if (value === undefined) {
          node = undefined;
          break;
        }
        setOwn(node, key, {});
      }
      node = node[key] as JsonObject;
    }
    const last = path[path.length - 1]!;
    if (node === undefined) continue;
    if (value === undefined) delete node[last];
    else setOwn(node, last, value);
  }
  return `${bom}${JSON.stringify(root, null, 2)}\n`;
}

/** Deep equality of JSON values, ignoring key order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, i) => jsonEqual(item, b[i]))
    );
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]))
    );
  }
  return a === b;
}

/**
 * Our entry over the one already there: keys the user added to it (`disabled`, extra env
 * variables, an earlier token) stay; command, args, type and our variables are replaced.
 */
export function mergeEntry(existing: unknown, shaped: JsonObject): JsonObject {
  if (!isObject(existing)) return shaped;
  const env = {
    ...(isObject(existing.env) ? existing.env : {}),
    ...(shaped.env as JsonObject),
  };
  return { ...existing, ...shaped, env };
}
