// The shape of a stored log for the output-order tests: consecutive chunks of one stream are one
// stretch of output, shown as `stdout:<text>` or `stderr:<length>`.

/** Consecutive chunks of one stream joined: the stretches of output, in stored order. */
export function mergedByStream(chunks: ReadonlyArray<{ stream: string; text: string }>): Array<{ stream: string; text: string }> {
  const stretches: Array<{ stream: string; text: string }> = [];
  for (const chunk of chunks) {
    const last = stretches.at(-1);
    if (last?.stream === chunk.stream) last.text += chunk.text;
    else stretches.push({ stream: chunk.stream, text: chunk.text });
  }
  return stretches;
}

/** The log's stretches, in stored order. */
export function logStretches(chunks: ReadonlyArray<{ stream: string; text: string }>): string[] {
  return mergedByStream(chunks).map((stretch) => (stretch.stream === 'stdout' ? `stdout:${stretch.text.trim()}` : `stderr:${stretch.text.length}`));
}

/** What `rounds` rounds of emit.py's `err-bytes:100000`, `out:line <i>` store when the order is kept. */
export function alternatingStretches(rounds: number): string[] {
  return Array.from({ length: rounds }, (_, i) => ['stderr:100000', `stdout:line ${i}`]).flat();
}
