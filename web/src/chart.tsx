/**
 * A uPlot chart: created once per series layout (`layout`), given new data as it comes,
 * and resized with its box. The canvas is decorative for screen readers (role img with a
 * label); each page also shows the numbers as text.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartProps {
  testid: string;
  /** Caption shown above the chart and used as its accessible name. */
  title: string;
  /** Anything that changes the series or axes: the chart is rebuilt when it changes. */
  layout: string;
  options: () => Omit<uPlot.Options, 'width' | 'height'>;
  data: uPlot.AlignedData;
  height?: number;
  /** Shown instead of the canvas when there is nothing to draw. */
  empty?: string;
  /** Shown under the chart, inside its figure (the numbers as text). */
  children?: ComponentChildren;
}

export function Chart({ testid, title, layout, options, data, height = 220, empty, children }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(data);
  latest.current = data;
  const hasData = data.length > 0 && (data[0]?.length ?? 0) > 0;

  useEffect(() => {
    const el = box.current;
    if (!el || !hasData) return;
    const width = Math.max(200, el.clientWidth || 600);
    const u = new uPlot({ ...options(), width, height }, latest.current, el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [layout, hasData, height]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return (
    <figure class="chart" data-testid={testid}>
      <figcaption>{title}</figcaption>
      {hasData ? <div class="chart-canvas" ref={box} role="img" aria-label={title} /> : <p class="empty">{empty ?? 'Nothing measured yet.'}</p>}
      {children}
    </figure>
  );
}

/** Colours for series, readable on white, told apart without red/green alone. */
export const PALETTE = ['#1f5fbf', '#b35900', '#6a3d9a', '#0f7b6c', '#a3195b', '#4d5b00', '#5c5c5c', '#8c2d04'];

export function color(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}

/** uPlot x values are seconds. */
export const toSec = (ms: number) => ms / 1000;

export const timeAxis: uPlot.Axis = { stroke: '#333', grid: { stroke: '#e3e3e3' }, ticks: { stroke: '#ccc' } };
export const valueAxis = (label?: string, values?: uPlot.Axis['values']): uPlot.Axis => ({
  stroke: '#333',
  grid: { stroke: '#e3e3e3' },
  ticks: { stroke: '#ccc' },
  ...(label ? { label } : {}),
  ...(values ? { values } : {}),
  size: 56,
});
