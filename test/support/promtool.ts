// Runs Debian's promtool (package prometheus; .ci/run installs it) on files or on text given on stdin.
import { spawn } from 'node:child_process';

/** Where promtool is looked for: PROMTOOL, else the PATH. */
export const PROMTOOL = process.env.PROMTOOL || 'promtool';

/** Runs `promtool <args>` with `input` on stdin; resolves with its exit code and output (never rejects on a non-zero exit). */
export function promtool(args: string[], input?: string, cwd?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (data: Buffer) => (out += data.toString()));
    child.stderr.on('data', (data: Buffer) => (out += data.toString()));
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new Error(`${PROMTOOL} not found: install Debian's prometheus package (apt-get install prometheus), or set PROMTOOL`) : error));
    child.once('close', (code) => resolve({ code, out }));
    child.stdin.end(input ?? '');
  });
}
