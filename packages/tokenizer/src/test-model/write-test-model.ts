/**
 * Writes the test tokenizer model to a file, for callers that need a path (a CLI flag, Python
 * cross-checks). Run directly to refresh the committed fixture:
 *
 *   cd packages/tokenizer && pnpm write-test-model [path]
 *
 * (default path: test/fixtures/tokenizer/test-tokenizer.model at the repository root).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTestTokenizerModel } from './build-test-model.ts';

/** Repository-relative path of the committed copy of the test model. */
export const TEST_TOKENIZER_FIXTURE = 'test/fixtures/tokenizer/test-tokenizer.model';

export async function writeTestTokenizerModel(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, buildTestTokenizerModel());
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
  const target = resolve(process.argv[2] ?? resolve(repoRoot, TEST_TOKENIZER_FIXTURE));
  await writeTestTokenizerModel(target);
  console.log(`wrote ${target}`);
}
