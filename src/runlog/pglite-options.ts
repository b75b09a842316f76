import { types, type PGliteOptions } from '@electric-sql/pglite';

/**
 * PGlite's default shared_buffers (128 MB) is sized for a server; the embedded RunLog of one machine
 * is small, and 16 MB cut a runner's peak RSS from ~320 MB to ~190 MB and halved open time here.
 */
export const PGLITE_OPTIONS: PGliteOptions = {
  postgresqlconf: ['shared_buffers = 16MB'],
  // pg (with our int8/numeric parsers) returns numbers for avg(), sum(bigint) and numeric columns; so must PGlite.
  parsers: { [types.NUMERIC]: (value: string) => Number(value) },
};
