import type { PGliteOptions } from '@electric-sql/pglite';

// PostgreSQL's numeric type oid (pg_type), written out: importing PGlite's `types` for it would load
// the whole PGlite module (~100 ms) wherever these options are merely referenced.
const NUMERIC_OID = 1700;

/**
 * PGlite's default shared_buffers (128 MB) is sized for a server; the embedded RunLog of one machine
 * is small, and 16 MB cut a runner's peak RSS from ~320 MB to ~190 MB and halved open time here.
 */
export const PGLITE_OPTIONS: PGliteOptions = {
  postgresqlconf: ['shared_buffers = 16MB'],
  // pg (with our int8/numeric parsers) returns numbers for avg(), sum(bigint) and numeric columns; so must PGlite.
  parsers: { [NUMERIC_OID]: (value: string) => Number(value) },
};
