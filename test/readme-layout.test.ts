// The README's layout section matches the tree: every path it lists exists, and every package,
// service and top-level folder is listed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '..');

function layoutPaths(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Layout'));
  const block = /```\n([^]*?)```/.exec(section)?.[1] ?? '';
  return block
    .split('\n')
    .filter((line) => /^\S/.test(line))
    .map((line) => (line.split(/\s+/)[0] ?? '').replace(/\/$/, ''));
}

test('every path in the README layout exists, and every package, service and top-level folder is listed', () => {
  const listed = layoutPaths();
  assert.ok(listed.length >= 10, `the layout section lists ${listed.length} paths`);
  for (const p of listed) assert.ok(fs.existsSync(path.join(ROOT, p)), `README layout lists ${p}, which does not exist`);
  const expected = [
    ...['packages', 'services'].flatMap((group) => fs.readdirSync(path.join(ROOT, group), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => `${group}/${d.name}`)),
    ...fs
      .readdirSync(ROOT, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith('.') && !['node_modules', 'packages', 'services'].includes(d.name))
      .map((d) => d.name),
  ];
  for (const p of expected) assert.ok(listed.includes(p), `${p} is missing from the README layout`);
});
