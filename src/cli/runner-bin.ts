// The single-file runner's process entry (bundled by scripts/build-runner.mjs). Started with
// WATCHDOG_ARG it is the orphan watchdog of a job (src/runner/orphan-watchdog.ts) in an image without /bin/sh.
import { runWatchdog, WATCHDOG_ARG } from '../runner/orphan-watchdog.ts';
import { runnerMain } from './runner-main.ts';

if (process.argv[2] === WATCHDOG_ARG) {
  runWatchdog(Number(process.argv[3]), Number(process.argv[4]));
} else {
  runnerMain(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`kubescribe: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
