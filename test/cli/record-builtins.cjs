// Preloaded with `node --require`: writes the Node built-in modules the process loaded (Node's own
// process.moduleLoadList) into the file named by KUBESCRIBE_RECORD_BUILTINS when it exits.
const { writeFileSync } = require('node:fs');

const file = process.env.KUBESCRIBE_RECORD_BUILTINS;
if (file) {
  process.on('exit', () => {
    const builtins = process.moduleLoadList.filter((entry) => entry.startsWith('NativeModule ')).map((entry) => entry.slice('NativeModule '.length));
    writeFileSync(file, `${builtins.join('\n')}\n`);
  });
}
