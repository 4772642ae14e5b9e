// Runs every *.test.ts file under packages/*/test, services/*/test and test/ with node's test
// runner through tsx (Node 20 has no glob support in --test; a bare `node --test` finds no .ts files).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const roots = [];
for (const group of ['packages', 'services']) {
  for (const pkg of fs.readdirSync(path.join(root, group))) roots.push(path.join(root, group, pkg, 'test'));
}
roots.push(path.join(root, 'test'));

function collect(dir, out) {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules' && entry.name !== 'fixtures') collect(full, out);
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) out.push(path.relative(root, full));
  }
  return out;
}

const filter = process.argv.slice(2);
let files = roots.flatMap((d) => collect(d, [])).sort();
if (filter.length) files = files.filter((f) => filter.some((p) => f.includes(p)));
if (files.length === 0) {
  console.error(`no test files found${filter.length ? ` matching ${filter.join(' ')}` : ''}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...files], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
