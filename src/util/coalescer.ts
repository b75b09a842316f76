// Group commit for small statements. Under load most of a request's database cost is the round trip
// (and, for writes, the commit), not the row; requests that arrive while earlier ones are in flight
// wait for a free slot and then go together as one statement. A request is never sent before it
// arrived, so a batch sees everything committed before any of its requests came in — it reads and
// writes exactly what it would have alone, only later by at most one round trip.

/** Runs `items` as one batch; returns one result (or Error) per item, in order. */
export type BatchFn<I, O> = (items: I[]) => Promise<Array<O | Error>>;

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/** Coalesces concurrent requests into batches, with at most `maxInFlight` batches running at once. */
export class Coalescer<I, O> {
  private readonly waiting: Waiting<I, O>[] = [];
  private inFlight = 0;

  constructor(
    private readonly run: BatchFn<I, O>,
    private readonly options: { maxInFlight: number; maxBatch: number },
  ) {}

  /** Queues one item; resolves with its own result, or rejects with its own error. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.options.maxBatch);
      this.inFlight++;
      void this.settle(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async settle(batch: Waiting<I, O>[]): Promise<void> {
    let results: Array<O | Error>;
    try {
      results = await this.run(batch.map((entry) => entry.item));
      if (results.length !== batch.length) throw new Error(`batch returned ${results.length} results for ${batch.length} items`);
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    batch.forEach((entry, i) => {
      const result = results[i] as O | Error;
      if (result instanceof Error) entry.reject(result);
      else entry.resolve(result);
    });
  }
}
