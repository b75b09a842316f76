// `kubescribe run` from tsc's dist/ modules instead of its bundle (dist/cli/run.bundle.cjs): the
// start-up test checks on these which modules each path loads, which one bundled file cannot show.
import { runMain } from '../../dist/cli/run-main.js';

process.exitCode = await runMain(process.argv);
