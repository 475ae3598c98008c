/**
 * The byte strings under which an injected secret could come back in an upstream response,
 * as needles for the redactor (src/core/redactor.ts). Pure: strings in, strings out.
 *
 * Base64 needs more than `base64(value)`. Base64 turns each 3-byte group into 4 characters, so
 * the characters a value produces depend on where it sits in the encoded blob: `Basic
 * base64(user:pass)` starts the value at offset 0, `base64('Bearer ' + value)` at offset 7, a
 * base64-encoded JSON document at whatever offset its key leaves. For each alignment k (0, 1
 * or 2 bytes into a group) we therefore also emit the "core": the characters whose 6 bits all
 * come from the value, dropping the one character at each edge that mixes in unknown
 * neighbouring bits. A matched core leaves at most one mixed character per side, i.e. at most
 * 4 bits of the value.
 */

/** Values shorter than this get no base64 needles: a 4-character needle hits unrelated base64. */
const MIN_BASE64_BYTES = 4;
/** A shorter core would match too much unrelated base64 (from 4 bytes up, no core is shorter). */
const MIN_CORE_CHARS = 4;
/** A Basic pair's parts are scrubbed on their own only from this length (not 'api', 'admin'). */
const MIN_BASIC_PART_CHARS = 8;

/** Left alone by encodeURIComponent, besides ASCII letters and digits. */
const URI_COMPONENT_SAFE = "-_.!~*'()";
/** Left alone by application/x-www-form-urlencoded (URLSearchParams), besides letters and digits. */
const FORM_SAFE = '*-._';

/** Every byte string under which `value` could appear in a response, so that the redactor can scrub it. Deduplicated, longest first. */
export function redactionNeedles(value: string, options: { basic?: boolean } = {}): string[] {
  const sources = [value];
  const colon = value.indexOf(':');
  if (options.basic === true && colon !== -1) {
    // RFC 7617: the user id cannot contain ':', the password can.
    for (const part of [value.slice(0, colon), value.slice(colon + 1)]) {
      if ([...part].length >= MIN_BASIC_PART_CHARS) sources.push(part);
    }
  }
  const needles = new Set(sources.flatMap(formsOf).filter((needle) => needle.length > 0));
  return [...needles].sort((a, b) => Buffer.byteLength(b) - Buffer.byteLength(a));
}

function formsOf(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const hex = bytes.toString('hex');
  const forms = [value, ...percentForms(bytes), ...jsonForms(value), hex, hex.toUpperCase()];
  if (bytes.length >= MIN_BASE64_BYTES) {
    // A value inside a base64-encoded JSON document (a JWT payload, say) is JSON-escaped first.
    const escaped = JSON.stringify(value).slice(1, -1);
    for (const source of new Set([value, escaped])) forms.push(...base64Forms(source));
  }
  return forms;
}

/** encodeURIComponent, every non-alphanumeric byte, and URLSearchParams; upper and lower hex. */
function percentForms(bytes: Uint8Array): string[] {
  return [true, false].flatMap((upper) => [
    percentEncode(bytes, URI_COMPONENT_SAFE, upper),
    percentEncode(bytes, '', upper),
    percentEncode(bytes, FORM_SAFE, upper, true),
  ]);
}

/** Encodes byte by byte, so a lone surrogate cannot make it throw as encodeURIComponent would. */
function percentEncode(
  bytes: Uint8Array,
  safe: string,
  upper: boolean,
  spaceAsPlus = false,
): string {
  let out = '';
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    if (/^[A-Za-z0-9]$/.test(char) || safe.includes(char)) out += char;
    else if (spaceAsPlus && byte === 0x20) out += '+';
    else out += '%' + hex(byte, 2, upper);
  }
  return out;
}

/**
 * JSON string contents as serializers actually write them: JSON.stringify, with '\/' (PHP),
 * with non-ASCII as \uXXXX (Python's ensure_ascii, and PHP with '\/'), and with every
 * non-alphanumeric character escaped. \u hex comes in both cases.
 */
function jsonForms(value: string): string[] {
  const plain = JSON.stringify(value).slice(1, -1);
  const slashed = plain.replaceAll('/', '\\/');
  return [plain, slashed].concat(
    [true, false].flatMap((upper) => [
      escapeUnits(plain, /[\u0080-\uffff]/g, upper),
      escapeUnits(slashed, /[\u0080-\uffff]/g, upper),
      escapeUnits(value, /[^A-Za-z0-9]/g, upper),
    ]),
  );
}

/** Writes each UTF-16 unit matched by `pattern` as \uXXXX (so astral characters become pairs). */
function escapeUnits(text: string, pattern: RegExp, upper: boolean): string {
  return text.replace(pattern, (unit) => '\\u' + hex(unit.charCodeAt(0), 4, upper));
}

/**
 * Standard and URL-safe base64, padded and unpadded, plus the cores at each alignment. Each
 * also as it reads inside a URL (percent-encoded '+/=') and inside PHP-style JSON ('\/').
 */
function base64Forms(source: string): string[] {
  const bytes = Buffer.from(source, 'utf8');
  const padded = bytes.toString('base64');
  const standard = [padded, padded.replace(/=+$/, ''), ...alignedCores(bytes)];
  const both = standard.flatMap((form) => [form, form.replaceAll('+', '-').replaceAll('/', '_')]);
  return both.flatMap((form) => [
    form,
    form.replaceAll('/', '\\/'),
    percentEncode(Buffer.from(form), URI_COMPONENT_SAFE, true),
    percentEncode(Buffer.from(form), URI_COMPONENT_SAFE, false),
  ]);
}

/** For k preceding bytes, the base64 characters fully determined by `bytes` (see the file TSDoc). */
function alignedCores(bytes: Buffer): string[] {
  const cores: string[] = [];
  for (const k of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    // Character i carries bits [6i, 6i + 6); the value owns bits [8k, 8(k + length)).
    const core = encoded.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6));
    if (core.length >= MIN_CORE_CHARS) cores.push(core);
  }
  return cores;
}

function hex(n: number, width: number, upper: boolean): string {
  const digits = n.toString(16).padStart(width, '0');
  return upper ? digits.toUpperCase() : digits;
}
