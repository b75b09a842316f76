// The command's output, passed on to the runner's own stdout or stderr. The bytes the runner reads
// are only valid while it handles them (docs/runner.md, "How output is read"), and a write to a slow
// terminal or log pipe may be queued and hold its buffer long after: each write gets a copy.

// The size of one read (output-channel.ts): a larger read would get a copy of its own, allocated.
const COPY_BYTES = 256 * 1024;
// Enough for the backlog the supervisor allows before it stops reading (4 MB), and a little more.
const MAX_FREE_COPIES = 18;

/** Writes copies of transient bytes to one target, in buffers reused once a write is done with them. */
export class PassThrough {
  private readonly free: Buffer[] = [];

  /**
   * `reuse`: the target lets go of a chunk when it calls the write's callback, as the process's own
   * stdout and stderr do. A Transform or a collecting Writable may keep the chunk itself: for those,
   * every write gets a copy of its own.
   */
  constructor(readonly to: NodeJS.WritableStream, private readonly reuse: boolean) {}

  /** Writes a copy of `bytes`; returns what `write()` returned (false: the target is queueing). */
  write(bytes: Buffer): boolean {
    if (!this.reuse || bytes.length > COPY_BYTES) return this.to.write(Buffer.from(bytes));
    const copy = this.free.pop() ?? Buffer.allocUnsafeSlow(COPY_BYTES);
    bytes.copy(copy);
    return this.to.write(copy.subarray(0, bytes.length), () => {
      if (this.free.length < MAX_FREE_COPIES) this.free.push(copy);
    });
  }
}
