/** How a command reports: lines for a person, or one JSON document with --json. */
export interface Output {
  result(value: unknown, lines: readonly string[]): void;
  progress(line: string): void;
}

export function createOutput(json: boolean, write: (s: string) => void = (s) => process.stdout.write(s), writeErr: (s: string) => void = (s) => process.stderr.write(s)): Output {
  return {
    result(value, lines) {
      if (json) write(`${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
      else for (const l of lines) write(`${l}\n`);
    },
    progress(line) {
      // A line starting with a carriage return redraws the terminal's progress bar in place.
      writeErr(line.startsWith('\r') ? line : `${line}\n`);
    },
  };
}

/** A mistake in how the command was called: printed with the command's help, exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly help: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}
