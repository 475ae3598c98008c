import { isValidKeyName } from './keys.js';

/** One problem found while parsing a .env file. Never carries the line's text. */
export interface DotenvProblem {
  line: number;
  reason: string;
}

/** What a .env file held: entries in order (later duplicates win), and problems by line. */
export interface DotenvResult {
  entries: { key: string; value: string; line: number }[];
  problems: DotenvProblem[];
}

/**
 * Parses .env text. Accepts `KEY=value`, `export KEY=value`, blank lines, `#` comments,
 * single quotes (literal), double quotes (with \n, \r, \t, \", \\ escapes, and spanning
 * lines), and ` #` comments after unquoted values. Malformed lines are reported by line
 * number and skipped; the rest is kept. Pure: no I/O.
 */
export function parseDotenv(text: string): DotenvResult {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const entries: DotenvResult['entries'] = [];
  const problems: DotenvProblem[] = [];
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const body = trimmed.startsWith('export ') ? trimmed.slice(7).trimStart() : trimmed;
    const eq = body.indexOf('=');
    if (eq === -1) {
      problems.push({ line: lineNo, reason: 'no = sign' });
      continue;
    }
    const key = body.slice(0, eq).trim();
    if (!isValidKeyName(key)) {
      problems.push({ line: lineNo, reason: 'invalid key name' });
      continue;
    }
    const afterEq = body.slice(eq + 1);
    let rest = afterEq.trimStart();
    let value: string;
    if (rest.startsWith('"')) {
      // A double-quoted value may continue on the following lines.
      let consumed = i;
      let closing = findClosingQuote(rest, 1);
      while (closing === -1 && consumed + 1 < lines.length) {
        consumed++;
        rest += `\n${lines[consumed]}`;
        closing = findClosingQuote(rest, 1);
      }
      if (closing === -1) {
        problems.push({ line: lineNo, reason: 'unterminated double quote' });
        continue;
      }
      if (!isTrailingOk(rest.slice(closing + 1))) {
        problems.push({ line: lineNo, reason: 'text after the closing quote' });
        i = consumed;
        continue;
      }
      value = unescapeDouble(rest.slice(1, closing));
      i = consumed;
    } else if (rest.startsWith("'")) {
      const closing = rest.indexOf("'", 1);
      if (closing === -1) {
        problems.push({ line: lineNo, reason: 'unterminated single quote' });
        continue;
      }
      if (!isTrailingOk(rest.slice(closing + 1))) {
        problems.push({ line: lineNo, reason: 'text after the closing quote' });
        continue;
      }
      value = rest.slice(1, closing);
    } else {
      // ` #` starts a comment; look before trimming so that `KEY= # note` is an empty value
      // while `COLOR=#ff0000` keeps its value.
      const comment = afterEq.search(/\s#/);
      value = (comment === -1 ? afterEq : afterEq.slice(0, comment)).trim();
    }
    entries.push({ key, value, line: lineNo });
  }
  return { entries, problems };
}

function findClosingQuote(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}

function isTrailingOk(rest: string): boolean {
  const t = rest.trim();
  return t === '' || t.startsWith('#');
}

function unescapeDouble(text: string): string {
  return text.replace(/\\([nrt"\\$])/g, (_m, c: string) => {
    switch (c) {
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      default:
        return c;
    }
  });
}
