/** Inline SVG charts: enough for a few dozen points, no library. Each carries a text alternative. */

import { axisMax } from './axis';
import { formatAxisTick } from './format';

export interface Point {
  label: string;
  value: number;
  /** Unique among the chart's points when labels may not be (a day's full date); else the label is the key. */
  key?: string;
}

const W = 640;
const H = 220;
const PAD = { left: 56, right: 28, top: 12, bottom: 36 };

function Axes({
  max,
  labels,
  x,
  unit,
}: {
  max: number;
  labels: string[];
  x: (i: number) => number;
  unit: 'usd' | undefined;
}) {
  const every = Math.max(1, Math.ceil(labels.length / 8));
  return (
    <g class="axes">
      {[0, 0.5, 1].map((f) => {
        const y = PAD.top + (1 - f) * (H - PAD.top - PAD.bottom);
        return (
          <g key={f}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y} y2={y} class="grid" />
            <text x={PAD.left - 6} y={y + 4} text-anchor="end">
              {formatAxisTick(max * f, unit)}
            </text>
          </g>
        );
      })}
      {labels.map((l, i) =>
        i % every === 0 ? (
          <text key={l + String(i)} x={x(i)} y={H - PAD.bottom + 16} text-anchor="middle">
            {l}
          </text>
        ) : null,
      )}
    </g>
  );
}

interface ChartProps {
  title: string;
  points: Point[];
  format: (v: number) => string;
  /** `usd`: the values are dollars (the axis says `$`); otherwise they are counts (whole ticks). */
  unit?: 'usd';
}

/** Values over time (one point per bucket). */
export function LineChart({ title, points, format, unit }: ChartProps) {
  // Dollars are fractions; the other values (requests, tokens) are counts, with whole ticks.
  const max = axisMax(Math.max(0, ...points.map((p) => p.value)), unit !== 'usd');
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (points.length <= 1 ? innerW / 2 : (i / (points.length - 1)) * innerW);
  const y = (v: number) => PAD.top + (1 - v / max) * innerH;
  const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
  const desc = points.map((p) => `${p.label}: ${format(p.value)}`).join('; ');
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}. ${desc}`} data-chart="line">
        <Axes max={max} labels={points.map((p) => p.label)} x={x} unit={unit} />
        <path d={path} class="line" />
        {points.map((p, i) => (
          <circle key={p.key ?? p.label} cx={x(i)} cy={y(p.value)} r={3.5} class="point">
            <title>{`${p.label}: ${format(p.value)}`}</title>
          </circle>
        ))}
      </svg>
    </figure>
  );
}

/** One bar per category (providers, models). */
export function BarChart({ title, points, format, unit }: ChartProps) {
  // Dollars are fractions; the other values (requests, tokens) are counts, with whole ticks.
  const max = axisMax(Math.max(0, ...points.map((p) => p.value)), unit !== 'usd');
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const slot = innerW / Math.max(1, points.length);
  const x = (i: number) => PAD.left + slot * (i + 0.5);
  const desc = points.map((p) => `${p.label}: ${format(p.value)}`).join('; ');
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}. ${desc}`} data-chart="bar">
        <Axes max={max} labels={points.map((p) => p.label)} x={x} unit={unit} />
        {points.map((p, i) => {
          const h = (p.value / max) * innerH;
          return (
            <rect
              key={p.key ?? p.label}
              x={x(i) - slot * 0.3}
              width={slot * 0.6}
              y={PAD.top + innerH - h}
              height={h}
              class="bar"
            >
              <title>{`${p.label}: ${format(p.value)}`}</title>
            </rect>
          );
        })}
      </svg>
    </figure>
  );
}

/** Recent probe results, oldest first: a bar per check, tall when it succeeded. */
export function Sparkline({ checks, label }: { checks: { ok: boolean; at: string }[]; label: string }) {
  const n = checks.length;
  const w = 4;
  const okCount = checks.filter((c) => c.ok).length;
  return (
    <svg
      class="sparkline"
      width={Math.max(1, n) * w + 2}
      height={18}
      role="img"
      aria-label={`${label}: ${okCount} of ${n} recent checks succeeded`}
    >
      {checks.map((c, i) => (
        <rect
          key={c.at + String(i)}
          x={1 + i * w}
          width={w - 1}
          y={c.ok ? 2 : 10}
          height={c.ok ? 14 : 6}
          class={c.ok ? 'ok' : 'fail'}
        />
      ))}
    </svg>
  );
}
