// The single-file runner's process entry (bundled by scripts/build-runner.mjs).
import { runnerMain } from './runner-main.ts';

runnerMain(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`kubescribe: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
