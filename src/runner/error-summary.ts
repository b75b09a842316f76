/** A failed run's error, as stored in runs.error_type / error_message / error_tail. */
export interface ErrorSummary {
  type: string;
  message: string;
  tail: string | null;
}

const TRACEBACK = 'Traceback (most recent call last):';
const EXCEPTION_LINE = /^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Group|[A-Z]\w*))(?::\s?(.*))?$/;
const TAIL_LINES = 20;
const MAX_TAIL_CHARS = 8000;

/**
 * Finds the last Python traceback in a run's stderr and returns its exception (type and message) with
 * the traceback itself; null when there is none.
 */
export function extractPythonTraceback(stderr: string): ErrorSummary | null {
  let start = stderr.lastIndexOf(TRACEBACK);
  if (start === -1) {
    // A syntax error in the script itself is printed without the "Traceback" header:
    //   File "x.py", line 3 / the line / a caret / SyntaxError: invalid syntax
    const frame = /^ {2}File "[^"\n]*", line \d+\n(?:[ \t][^\n]*\n)*(?:SyntaxError|IndentationError|TabError)\b[^\n]*$/m.exec(stderr);
    if (!frame) return null;
    start = frame.index;
  }
  const lines = stderr.slice(start).split('\n');
  // Frames are indented; the exception is the first unindented line after the header.
  for (let i = lines[0]!.startsWith(TRACEBACK) ? 1 : 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line === '' || /^\s/.test(line)) continue;
    const match = EXCEPTION_LINE.exec(line);
    if (!match) return null;
    const traceback = lines.slice(0, i + 1).join('\n');
    return { type: match[1]!, message: (match[2] ?? '').trim(), tail: clip(traceback) };
  }
  return null;
}

/** The last lines of stderr, for a failure that left no traceback. */
export function lastLines(text: string, count: number = TAIL_LINES): string | null {
  const lines = text.replace(/\n+$/, '').split('\n');
  const tail = lines.slice(-count).join('\n');
  return tail.trim() ? clip(tail) : null;
}

function clip(text: string): string {
  return text.length > MAX_TAIL_CHARS ? `…${text.slice(-MAX_TAIL_CHARS)}` : text;
}

/** Keeps the last `limit` characters of a stream, for error extraction after the child exits. */
export class TailBuffer {
  private text = '';
  constructor(private readonly limit: number = 64 * 1024) {}
  /** Appends text, dropping the oldest beyond the limit. */
  push(text: string): void {
    this.text += text;
    if (this.text.length > this.limit * 2) this.text = this.text.slice(-this.limit);
  }
  /** The kept text. */
  toString(): string {
    return this.text.length > this.limit ? this.text.slice(-this.limit) : this.text;
  }
}
