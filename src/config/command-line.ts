// Splits `command: "python3 script.py --name 'a b'"` the way a POSIX shell would tokenise it, but
// without running a shell: no variable expansion, globbing, pipes or redirection. The child is spawned
// directly, so what the user sees in the config is exactly the argv the process gets.

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
// Inside double quotes POSIX only lets a backslash escape these; elsewhere it stays literal.
const DOUBLE_QUOTE_ESCAPABLE = new Set(['"', '\\', '$', '`', '\n']);

/** Splits a command string into argv with shell-style quoting ('..', "..", backslash); throws on unterminated quotes. */
export function splitCommandLine(s: string): string[] {
  const args: string[] = [];
  let current = '';
  // Separate from `current !== ''` so that `""` still yields an (empty) argument.
  let inWord = false;
  let i = 0;

  while (i < s.length) {
    const ch = s[i] as string;
    if (WHITESPACE.has(ch)) {
      if (inWord) {
        args.push(current);
        current = '';
        inWord = false;
      }
      i++;
      continue;
    }
    inWord = true;
    if (ch === "'") {
      const end = s.indexOf("'", i + 1);
      if (end === -1) throw new Error(`unterminated single quote (') at character ${i + 1} of the command`);
      current += s.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      const start = i;
      i++;
      let closed = false;
      while (i < s.length) {
        const c = s[i] as string;
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === '\\' && i + 1 < s.length && DOUBLE_QUOTE_ESCAPABLE.has(s[i + 1] as string)) {
          // Backslash-newline is a line continuation and vanishes, as in sh.
          if (s[i + 1] !== '\n') current += s[i + 1];
          i += 2;
          continue;
        }
        current += c;
        i++;
      }
      if (!closed) throw new Error(`unterminated double quote (") at character ${start + 1} of the command`);
    } else if (ch === '\\') {
      if (i + 1 >= s.length) throw new Error('the command ends with a lone backslash');
      const next = s[i + 1] as string;
      if (next === '\n') {
        // A line continuation joins the two lines without adding a character or ending the word.
        if (current === '') inWord = false;
      } else {
        current += next;
      }
      i += 2;
    } else {
      current += ch;
      i++;
    }
  }
  if (inWord) args.push(current);
  return args;
}
