// The status line `trigger --wait` keeps on stderr while it prints the run's log on stdout.

/**
 * The `--wait` status line on stderr. On a terminal it is rewritten in place (and moved out of the way
 * while log lines go by on the same terminal); elsewhere each status change is its own line.
 */
export class StatusLine {
  private text = '';
  private drawn = false;
  private logAtLineStart = true;
  private lastChange = '';

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly live: boolean,
    private readonly sharesTerminal: boolean,
  ) {}

  /** On a terminal shows `live` (with the time so far); elsewhere prints `change` when it differs from the last. */
  update(change: string, live: string): void {
    if (!this.live) {
      if (change !== this.lastChange) this.out.write(`${change}\n`);
      this.lastChange = change;
      return;
    }
    const columns = (this.out as NodeJS.WriteStream).columns || 80;
    // A wrapped line cannot be rewritten with \r, so keep it within one row.
    const text = live.length >= columns ? `${live.slice(0, columns - 2)}…` : live;
    if (text === this.text && this.drawn) return;
    this.text = text;
    this.draw();
  }

  /** Call around every write of log text to stdout. */
  async around(text: string, write: () => Promise<void>): Promise<void> {
    if (this.live && this.sharesTerminal && this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
    await write();
    if (text) this.logAtLineStart = text.endsWith('\n');
    this.draw();
  }

  /** Replaces the status line with a final line that stays. */
  finish(text: string): void {
    if (this.live && this.drawn) this.out.write('\r\x1b[K');
    else if (this.sharesTerminal && !this.logAtLineStart) this.out.write('\n');
    this.drawn = false;
    this.out.write(`${text}\n`);
  }

  private draw(): void {
    if (!this.live || !this.text || (this.sharesTerminal && !this.logAtLineStart)) return;
    this.out.write(`\r${this.text}\x1b[K`);
    this.drawn = true;
  }
}
