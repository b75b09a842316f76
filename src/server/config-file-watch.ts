// `kubescribe dev` follows its kubescribe.yaml. The file is polled (stat every 250 ms) rather than
// watched with inotify: editors save by writing a new file and renaming it over the old one, which
// ends an inotify watch on the old inode, and a poll of one file costs nothing. A change is reported
// only when the content differs from the last one reported, so touching or re-saving unchanged text
// does nothing.
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';

const POLL_MS = 250;

/** Calls `onChange` after each change of the file's content; returns the function that stops watching. */
export function watchConfigFile(path: string, onChange: () => void): () => void {
  let last = read(path);
  const listener = (current: Stats, previous: Stats) => {
    if (current.mtimeMs === previous.mtimeMs && current.size === previous.size && current.ino === previous.ino) return;
    const text = read(path);
    if (text === last) return;
    last = text;
    onChange();
  };
  watchFile(path, { interval: POLL_MS, persistent: false }, listener);
  return () => unwatchFile(path, listener);
}

// A file deleted or unreadable for a moment (mid-save) reads as null: a change like any other, and
// the reload reports the error while the previous config keeps running.
function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
