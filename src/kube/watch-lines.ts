// A watch stream is one JSON event per line, and a chunk off the wire can end anywhere in a line.
export class WatchLines {
  private rest = '';

  /** The lines `chunk` completes, without their newlines; empty lines are skipped. */
  push(chunk: string): string[] {
    const text = this.rest ? this.rest + chunk : chunk;
    const lines: string[] = [];
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      if (end > start) lines.push(text.slice(start, end));
      start = end + 1;
    }
    this.rest = start < text.length ? text.slice(start) : '';
    return lines;
  }
}
