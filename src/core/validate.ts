/**
 * Tiny validators for our own state files. The CLI's startup budget has no room for zod
 * (about 30 ms to import), so local documents are checked by hand with these; wire formats
 * that face other programs use zod.
 */

/** Thrown by the validators; callers turn it into `corrupt_state`. */
export class ShapeError extends Error {
  constructor(path: string, expected: string) {
    super(`${path}: expected ${expected}`);
    this.name = 'ShapeError';
  }
}

/** `value` as a plain object, or a ShapeError. */
export function obj(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ShapeError(path, 'an object');
  }
  return value as Record<string, unknown>;
}

/** `value` as an array, or a ShapeError. */
export function arr(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new ShapeError(path, 'an array');
  return value;
}

/** `value` as a string, or a ShapeError. */
export function str(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new ShapeError(path, 'a string');
  return value;
}

/** `value` as a string or undefined/null (→ undefined). */
export function optStr(value: unknown, path: string): string | undefined {
  return value === undefined || value === null ? undefined : str(value, path);
}

/** `value` as a finite number, or a ShapeError. */
export function num(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ShapeError(path, 'a number');
  return value;
}

/** `value` as a boolean, or a ShapeError. */
export function bool(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new ShapeError(path, 'a boolean');
  return value;
}

/** `value` as an array of strings, or a ShapeError. */
export function strArr(value: unknown, path: string): string[] {
  return arr(value, path).map((item, i) => str(item, `${path}[${i}]`));
}

/** `value` as one of `choices`, or a ShapeError. */
export function oneOf<const T extends string>(
  value: unknown,
  choices: readonly T[],
  path: string,
): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new ShapeError(path, `one of ${choices.join(', ')}`);
  }
  return value as T;
}
