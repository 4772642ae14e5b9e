// Drives `chatglm chat` as a real child process over its stdin/stdout.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const MAIN = path.join(ROOT, 'services', 'cli', 'src', 'main.ts');

export class ChatProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'chat', ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** Resolves once stdout matches (searching from `from`), or rejects after `timeoutMs`. */
  async waitFor(pattern: RegExp, from = 0, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stdout.slice(from))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; stdout so far:\n${this.stdout}\nstderr:\n${this.stderr}`);
      if (this.child.exitCode !== null) throw new Error(`chat exited (${this.child.exitCode}) before ${pattern}; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }
}

/** The replies in a chat transcript, in order. */
export function replies(stdout: string): string[] {
  return [...stdout.matchAll(/ChatGLM-6B：(.*?)\n\n用户：/gs)].map((m) => m[1] as string);
}
