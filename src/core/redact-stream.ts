import { Transform } from 'node:stream';
import { createRedactor, PLACEHOLDER } from './redactor.js';

/** A Transform stream that redacts every needle, across chunk boundaries too. */
export function createRedactStream(
  needles: readonly (Uint8Array | string)[],
  placeholder: string = PLACEHOLDER,
): Transform & { readonly redactions: number } {
  const redactor = createRedactor(needles, placeholder);
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
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
