import type { Writable } from 'node:stream';

/** A table column: which field, and its heading. */
export interface Column<T> {
  header: string;
  value: (row: T) => string;
}

/**
 * The CLI's output module: the only code in src/ that writes to stdout. Results go to
 * stdout (a table, a line, or one JSON document); notices, warnings and progress go to
 * stderr, so that `--json` output stays parseable and stdout stays clean for pipes.
 */
export interface Output {
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  /** One JSON document on stdout. */
  json(value: unknown): void;
  /** A line on stdout. */
  line(text?: string): void;
  /** Bytes on stdout, exactly as given. */
  raw(data: string | Uint8Array): void;
  /** A table on stdout; prints `empty` instead when there are no rows. */
  table<T>(rows: readonly T[], columns: readonly Column<T>[], empty?: string): void;
  /** A notice on stderr. */
  notice(text: string): void;
  /** A warning on stderr. */
  warn(text: string): void;
  /**
   * Progress on stderr, only when stderr is a terminal that TERM names: a spinner with `text`,
   * shown once the work has taken 300 ms, until the next output or `endProgress()`.
   */
  progress(text: string): void;
  /** Clears the progress line, if one is shown. */
  endProgress(): void;
  /** Waits until everything written has been handed to the OS. */
  flush(): Promise<void>;
}

/** Work shorter than this shows no spinner. */
export const SPINNER_DELAY_MS = 300;
const SPINNER_FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface OutputStreams {
  stdout: Writable & { isTTY?: boolean; columns?: number };
  stderr: Writable & { isTTY?: boolean };
  /** Show spinners at all (off under CI and with AGENTSECRETS_PROGRESS=0); default on. */
  progress?: boolean;
  /** $TERM: a spinner redraws its line with escapes, which an unknown or dumb terminal lacks. */
  term?: string | undefined;
}

/** Creates the output module over two streams (process.stdout/stderr by default). */
export function createOutput(streams: OutputStreams): Output {
  const { stdout, stderr } = streams;
  const stdoutIsTTY = stdout.isTTY === true;
  const stderrIsTTY = stderr.isTTY === true;
  const spinner =
    stderrIsTTY && streams.term !== undefined && streams.term !== '' && streams.term !== 'dumb';
  let progressShown = false;
  let delay: NodeJS.Timeout | undefined;
  let spin: NodeJS.Timeout | undefined;
  let progressText = '';

  function clearProgress(): void {
    clearTimeout(delay);
    clearInterval(spin);
    delay = spin = undefined;
    if (progressShown) {
      stderr.write('\r\x1b[K');
      progressShown = false;
    }
  }

  return {
    stdoutIsTTY,
    stderrIsTTY,
    json(value) {
      clearProgress();
      stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
    line(text = '') {
      clearProgress();
      stdout.write(`${text}\n`);
    },
    raw(data) {
      clearProgress();
      stdout.write(data);
    },
    table(rows, columns, empty) {
      clearProgress();
      if (rows.length === 0) {
        if (empty !== undefined) stdout.write(`${empty}\n`);
        return;
      }
      // A terminal gets rows that fit its width; a pipe or a file gets them whole.
      const width = stdoutIsTTY && (stdout.columns ?? 0) > 0 ? stdout.columns : undefined;
      stdout.write(renderTable(rows, columns, width));
    },
    notice(text) {
      clearProgress();
      stderr.write(`${text}\n`);
    },
    warn(text) {
      clearProgress();
      stderr.write(`warning: ${text}\n`);
    },
    progress(text) {
      if (!spinner || streams.progress === false) return;
      progressText = text;
      // A running spinner takes the new text; the 300 ms count goes on.
      if (delay !== undefined || spin !== undefined) return;
      let frame = 0;
      const draw = () => {
        stderr.write(`\r\x1b[K${SPINNER_FRAMES[frame++ % SPINNER_FRAMES.length]} ${progressText}`);
        progressShown = true;
      };
      // Timers never keep the process alive: the work they decorate does.
      delay = setTimeout(() => {
        delay = undefined;
        draw();
        spin = setInterval(draw, 100).unref();
      }, SPINNER_DELAY_MS).unref();
    },
    endProgress() {
      clearProgress();
    },
    async flush() {
      clearProgress();
      await Promise.all(
        [stdout, stderr].map(
          (stream) => new Promise<void>((resolve) => stream.write('', () => resolve())),
        ),
      );
    },
  };
}

/** The narrowest a column is squeezed to when a table must fit a terminal. */
const MIN_COLUMN = 6;

/**
 * Renders rows as a left-aligned, space-padded table with a header line. With `maxWidth`
 * (a terminal's width), the widest columns are narrowed until a line fits, and cells that
 * no longer fit end in `…`.
 */
export function renderTable<T>(
  rows: readonly T[],
  columns: readonly Column<T>[],
  maxWidth?: number,
): string {
  const cells = rows.map((row) => columns.map((c) => sanitize(c.value(row))));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((line) => [...line[i]!].length)),
  );
  if (maxWidth !== undefined) fitWidths(widths, maxWidth);
  const format = (line: readonly string[]) => {
    const text = line
      .map((cell, i) => {
        const fitted = clip(cell, widths[i]!);
        return i === line.length - 1 ? fitted : fitted.padEnd(widths[i]!);
      })
      .join('  ')
      .trimEnd();
    // Too many columns to narrow any further: cut the line itself.
    return maxWidth === undefined ? text : clip(text, maxWidth);
  };
  return `${[format(columns.map((c) => c.header)), ...cells.map(format)].join('\n')}\n`;
}

/** Narrows the widest columns, one character at a time, until the line fits `maxWidth`. */
function fitWidths(widths: number[], maxWidth: number): void {
  const total = () => widths.reduce((sum, w) => sum + w, 0) + 2 * (widths.length - 1);
  while (total() > maxWidth) {
    let widest = 0;
    for (let i = 1; i < widths.length; i++) if (widths[i]! > widths[widest]!) widest = i;
    if (widths[widest]! <= MIN_COLUMN) return;
    widths[widest]!--;
  }
}

function clip(cell: string, width: number): string {
  const chars = [...cell];
  return chars.length <= width ? cell : `${chars.slice(0, width - 1).join('')}…`;
}

/** A list of key names for a table cell: at most `max` names, then "+N" for the rest. */
export function keyList(keys: readonly string[], max = 3): string {
  if (keys.length <= max) return keys.join(',');
  return `${keys.slice(0, max).join(',')} +${keys.length - max}`;
}

/** Keeps control characters (terminal escapes) out of tables. */
function sanitize(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ');
}
