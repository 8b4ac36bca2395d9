import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { aligned, dayLabel, type Columns } from "./dashboard";
import "./insights.css";

// palette is Okabe and Ito's colour-blind-safe set (the yellow left out: too pale on white);
// each series also has its own dash pattern, so that lines differ in more than colour.
export const palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
const dashes: { line: number[]; marker: string }[] = [
  { line: [], marker: "solid" },
  { line: [8, 4], marker: "dashed" },
  { line: [2, 3], marker: "dotted" },
  { line: [10, 3, 2, 3], marker: "dashed" },
];

// styleOf is series i's colour and dash.
export function styleOf(i: number) {
  return { stroke: palette[i % palette.length], dash: dashes[i % dashes.length] };
}

const utc = (ts: number) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
const day = 86400;
const shortDay = (ts: number) => new Date(ts * 1000).toLocaleDateString("en-GB", { timeZone: "UTC", day: "numeric", month: "short" });

// LineChart draws columns with uPlot: one line per series over UTC days, with uPlot's legend
// (the values under the cursor) below. It takes its container's width and follows it
// (ResizeObserver), so it fits a phone. The canvas says nothing to a screen reader: the
// container is labelled with what it shows and DataTable gives the same numbers as text.
export function LineChart({ columns, label, yLabel }: { columns: Columns; label: string; yLabel: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const height = () => (el.clientWidth < 500 ? 220 : 280);
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: height(),
      tzDate: utc,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      axes: [
        // Whole days only, written as the tables write them ("3 Dec"), in UTC.
        {
          stroke: "#1b1f24",
          grid: { stroke: "#e3e7eb" },
          space: 56,
          incrs: [day, 2 * day, 7 * day, 14 * day, 28 * day],
          values: (_u, splits) => splits.map((v) => shortDay(v)),
        },
        // Counts are whole numbers: no grid line between 0 and 1.
        { stroke: "#1b1f24", grid: { stroke: "#e3e7eb" }, label: yLabel, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 1e6] },
      ],
      legend: {
        markers: {
          dash: (_u, i) => (i === 0 ? "solid" : styleOf(i - 1).dash.marker),
        },
      },
      series: [
        { label: "Day (UTC)", value: (_u, v) => (v == null ? "–" : dayLabel(new Date(v * 1000).toISOString().slice(0, 10))) },
        ...columns.series.map((s, i) => {
          const st = styleOf(i);
          return { label: s.label, stroke: st.stroke, width: 2, dash: st.dash.line, points: { show: true, size: 5, fill: st.stroke }, value: (_u: uPlot, v: number | null) => (v == null ? "–" : String(v)) };
        }),
      ],
    };
    const chart = new uPlot(opts, aligned(columns) as uPlot.AlignedData, el);
    // The legend's rows toggle series on a click; a keyboard cannot reach them, and the table
    // below holds every number, so they stay a legend.
    const ro = new ResizeObserver(() => {
      const w = Math.max(280, el.clientWidth);
      if (Math.abs(w - chart.width) > 1) chart.setSize({ width: w, height: height() });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      chart.destroy();
    };
  }, [columns, yLabel]);
  return <div ref={box} className="chart" role="img" aria-label={label} />;
}

export default LineChart;
