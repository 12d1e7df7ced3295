// Runs one command against the real process: stdout, stderr, the clock, the exit code.
import { run } from './run.ts';

const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);

export async function main(argv: string[]): Promise<void> {
  const code = await run(argv, { out: write(process.stdout), err: write(process.stderr), now: () => new Date() });
  // The client's connection pool keeps sockets open: exit once everything written has been flushed.
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((r) => s.write('', () => r()))));
  process.exit(code);
}
