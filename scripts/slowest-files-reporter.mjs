// A node:test reporter that prints the slowest test files when the suite ends, so that CI logs
// show where the suite's time goes. A file's time is the sum of its top-level tests' durations:
// the files of one process run their top-level tests one after another.
export default async function* slowestFiles(source) {
  const perFile = new Map();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { file, nesting, details } = event.data;
    if (nesting !== 0 || !file || !details) continue;
    perFile.set(file, (perFile.get(file) ?? 0) + (details.duration_ms ?? 0));
  }
  const cwd = process.cwd() + '/';
  // The files run compiled, from run-tests.mjs's mirror of the checkout: named here by their sources.
  const build = process.env.KUBESCRIBE_TEST_BUILD ? process.env.KUBESCRIBE_TEST_BUILD + '/' : null;
  const name = (file) => {
    if (build && file.startsWith(build)) return file.slice(build.length).replace(/\.js$/, '.ts');
    return file.startsWith(cwd) ? file.slice(cwd.length) : file;
  };
  const rows = [...perFile].sort((a, b) => b[1] - a[1]).slice(0, 15);
  if (rows.length === 0) return;
  yield '\n# slowest test files\n';
  for (const [file, ms] of rows) {
    yield `# ${(ms / 1000).toFixed(1).padStart(7)} s  ${name(file)}\n`;
  }
}
