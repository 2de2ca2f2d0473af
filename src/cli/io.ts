/** Where the CLI writes and reads; tests pass their own. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** Reads all of standard input (for `--from-stdin`). */
  readStdin(): Promise<string>;
  /** Whether a progress bar may be drawn. */
  isTTY: boolean;
}

export const processIO: CliIO = {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  },
  isTTY: !!process.stderr.isTTY,
};
