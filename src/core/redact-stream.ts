import { Transform } from 'node:stream';
import { type CompiledNeedles, createRedactor, PLACEHOLDER } from './redactor.js';

export interface RedactStreamOptions {
  placeholder?: string;
  /** Fail the stream once more than this many bytes have come in. */
  maxBytes?: number;
  /** The error to fail with when `maxBytes` is passed. */
  tooLarge?: () => Error;
}

/** A Transform stream that redacts every needle, across chunk boundaries too. */
export function createRedactStream(
  needles: readonly (Uint8Array | string)[] | CompiledNeedles,
  options: RedactStreamOptions | string = {},
): Transform & { readonly redactions: number } {
  const opts = typeof options === 'string' ? { placeholder: options } : options;
  const redactor = createRedactor(needles, opts.placeholder ?? PLACEHOLDER);
  const max = opts.maxBytes ?? Infinity;
  let seen = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > max) {
        callback(opts.tooLarge?.() ?? new Error('stream larger than allowed'));
        return;
      }
      const out = redactor.push(chunk);
      callback(null, out.length > 0 ? out : undefined);
    },
    flush(callback) {
      const out = redactor.end();
      callback(null, out.length > 0 ? out : undefined);
    },
  });
  return Object.defineProperty(stream, 'redactions', { get: () => redactor.count }) as Transform & {
    readonly redactions: number;
  };
}
