// What a benchmark reports: each figure beside its target, as a table on the terminal and, with
// `--json FILE`, as a JSON list that a reader (or a script) can check.
import fs from 'node:fs';
import path from 'node:path';

export interface BenchFigure {
  /** The benchmark part (decode, batch, prefill, cluster, memory). */
  part: string;
  name: string;
  measured: number;
  unit: string;
  /** The target, in `unit`, and which way it points; absent for figures that only inform. */
  target?: { value: number; atMost: boolean; what: string };
  /** measured / target.value. */
  ratio?: number;
  met?: boolean;
  /** How the figure was obtained when not measured directly (e.g. extrapolated from fewer layers). */
  note?: string;
}

/** A figure checked against its target. */
export function figure(part: string, name: string, measured: number, unit: string, target?: BenchFigure['target'], note?: string): BenchFigure {
  const f: BenchFigure = { part, name, measured, unit, ...(note !== undefined && { note }) };
  if (!target) return f;
  return { ...f, target, ratio: measured / target.value, met: target.atMost ? measured <= target.value : measured >= target.value };
}

const round = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));

export function printFigures(figures: BenchFigure[]): void {
  console.log('\n| part | figure | measured | target | ratio | met |\n|---|---|---|---|---|---|');
  for (const f of figures) {
    const target = f.target ? `${f.target.atMost ? '<=' : '>='} ${round(f.target.value)} ${f.unit} (${f.target.what})` : '';
    const met = f.met === undefined ? '' : f.met ? 'yes' : 'no';
    console.log(`| ${f.part} | ${f.name}${f.note ? ` (${f.note})` : ''} | ${round(f.measured)} ${f.unit} | ${target} | ${f.ratio === undefined ? '' : f.ratio.toFixed(2)} | ${met} |`);
  }
}

export function writeFigures(file: string, figures: BenchFigure[]): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`wrote ${figures.length} figures to ${file}`);
}
