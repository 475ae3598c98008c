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
  /** Progress on stderr, only when stderr is a terminal. */
  progress(text: string): void;
  /** Waits until everything written has been handed to the OS. */
  flush(): Promise<void>;
}

export interface OutputStreams {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
}

/** Creates the output module over two streams (process.stdout/stderr by default). */
export function createOutput(streams: OutputStreams): Output {
  const { stdout, stderr } = streams;
  const stdoutIsTTY = stdout.isTTY === true;
  const stderrIsTTY = stderr.isTTY === true;
  let progressShown = false;

  function clearProgress(): void {
    if (progressShown) {
      stderr.write('\r\x1b[K');
      progressShown = false;
    }
  }

  return {
    stdoutIsTTY,
    stderrIsTTY,
    json(value) {
      stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
    line(text = '') {
      stdout.write(`${text}\n`);
    },
    raw(data) {
      stdout.write(data);
    },
    table(rows, columns, empty) {
      if (rows.length === 0) {
        if (empty !== undefined) stdout.write(`${empty}\n`);
        return;
      }
      stdout.write(renderTable(rows, columns));
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
      if (!stderrIsTTY) return;
      stderr.write(`\r\x1b[K${text}`);
      progressShown = true;
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

/** Renders rows as a left-aligned, space-padded table with a header line. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => sanitize(c.value(row))));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((line) => line[i]!.length)),
  );
  const format = (line: readonly string[]) =>
    line
      .map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[format(columns.map((c) => c.header)), ...cells.map(format)].join('\n')}\n`;
}

/** Keeps control characters (terminal escapes) out of tables. */
function sanitize(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ');
}
