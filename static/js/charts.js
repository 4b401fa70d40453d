// The one chart module: every page's lightweight-charts setup (UTC time axis, no attribution
// logo, auto size, prices at a given precision) comes from here, so the pages differ only in the
// series they draw.
//
//   const chart = timeChart(el, {decimals: 2});
//   const line = chart.line({color: "#1f6feb", title: "equity"});
//   line.setData(points);  chart.fit();

import { utc } from "./format.js";

export const COLORS = ["#1f6feb", "#cf222e", "#1a7f37", "#bf8700", "#8250df", "#0a3069", "#953800"];

const LC = () => window.LightweightCharts;

const priceFormat = (decimals) => ({ type: "price", precision: decimals, minMove: 10 ** -decimals });

export function timeChart(el, { decimals = 2, seconds = false, dateOnly = false, ...options } = {}) {
  const chart = LC().createChart(el, {
    autoSize: true,
    layout: { attributionLogo: false },
    timeScale: { timeVisible: !dateOnly, secondsVisible: seconds },
    localization: {
      timeFormatter: (t) => utc(t * 1000).slice(0, seconds ? 19 : 16),
      priceFormatter: (p) => p.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals }),
    },
    ...options,
  });
  const add = (kind, seriesOptions, pane) => chart.addSeries(LC()[kind], { priceFormat: priceFormat(decimals), ...seriesOptions }, pane);
  return {
    chart,
    // A single point still shows (as a dot): a line needs two points to be seen.
    line: (opts = {}, pane) => add("LineSeries", { lineWidth: 2, pointMarkersVisible: true, pointMarkersRadius: 3, ...opts }, pane),
    area: (opts = {}, pane) => add("AreaSeries", opts, pane),
    histogram: (opts = {}, pane) => add("HistogramSeries", opts, pane),
    candles: (opts = {}) => add("CandlestickSeries", {
      upColor: "#1a7f37", downColor: "#cf222e", wickUpColor: "#1a7f37", wickDownColor: "#cf222e", borderVisible: false, ...opts,
    }),
    markers: (series, list = []) => LC().createSeriesMarkers(series, list),
    fit: () => chart.timeScale().fitContent(),
  };
}

// [{ts, value}] -> [{time (s), value}] sorted, one point per second (the later wins).
export function toPoints(rows, { ts = (r) => r.ts, value = (r) => r.value } = {}) {
  const bySecond = new Map();
  for (const row of rows) bySecond.set(Math.floor(new Date(ts(row)).getTime() / 1000), Number(value(row)));
  return [...bySecond.entries()].sort((a, b) => a[0] - b[0]).map(([time, v]) => ({ time, value: v }));
}
