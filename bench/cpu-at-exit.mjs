// Preloaded (`node --import`) into the `kubescribe serve`/`dev` processes bench/serve-start.ts starts:
// appends `<pid>\t<CPU ms when the banner was written>\t<CPU ms at exit>` (user + system) to the file
// named by KUBESCRIBE_BENCH_CPU. The banner is the first stderr write that names KubeScribe.
import { appendFileSync } from 'node:fs';

const file = process.env.KUBESCRIBE_BENCH_CPU;
const cpuMs = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};
let ready = null;
if (file) {
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk, ...rest) => {
    if (ready === null && String(chunk).includes('KubeScribe ')) ready = cpuMs();
    return write(chunk, ...rest);
  };
  process.on('exit', () => appendFileSync(file, `${process.pid}\t${ready ?? -1}\t${cpuMs()}\n`));
}
