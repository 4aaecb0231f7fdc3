(() => {
  "use strict";
  const body = document.body;
  const fail = (err) => { body.dataset.chartError = String((err && err.message) || err); };
  window.addEventListener("error", (ev) => fail(ev.error || ev.message));
  const HEIGHT = 240, PRINT_WIDTH = 680, AXIS = 64;
  const num = (v, d) => v.toLocaleString("en-US", {minimumFractionDigits: d, maximumFractionDigits: d});
  const FMT = {
    ms: (v) => num(v, Math.abs(v) < 10 ? 2 : Math.abs(v) < 100 ? 1 : 0) + " ms",
    per_s: (v) => num(v, Math.abs(v) < 1 ? 2 : Math.abs(v) < 1000 ? 1 : 0) + "/s",
    ratio: (v) => num(v * 100, Math.abs(v) < 0.1 ? 2 : 1) + "%",
    count: (v) => num(v, Number.isInteger(v) ? 0 : 1),
  };
  const fmt = (v, unit) => (v == null ? "—" : (FMT[unit] || FMT.count)(v));
  const tick = (v, unit) => (unit === "ratio" ? num(v * 100, 1) + "%" : num(v, Number.isInteger(v) ? 0 : 1));
  const pad = (n) => String(n).padStart(2, "0");
  const clock = (s) => {
    const t = Math.round(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60);
    return h ? `${h}:${pad(m)}:${pad(t % 60)}` : `${m}:${pad(t % 60)}`;
  };
  // Whole seconds, minutes and hours read better on an elapsed-time axis than 1-2-5 steps.
  const X_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400];
  // Counts have no fractions: integer-only ticks.
  const COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 1e6, 1e7];

  // Phase boundaries as dashed lines, so a latency rise can be read against the ramp that caused it.
  const phaseLines = (phases) => ({hooks: {draw: [(u) => {
    const ctx = u.ctx, px = uPlot.pxRatio, b = u.bbox;
    ctx.save();
    ctx.strokeStyle = "#8c959f"; ctx.fillStyle = "#59636e"; ctx.lineWidth = px;
    ctx.setLineDash([4 * px, 4 * px]); ctx.font = `${11 * px}px system-ui, sans-serif`;
    ctx.textBaseline = "top"; ctx.textAlign = "left";
    const xs = phases.map((p) => Math.round(u.valToPos(p.start_s, "x", true)));
    phases.forEach((p, i) => {
      const x = xs[i], next = i + 1 < xs.length ? xs[i + 1] : b.left + b.width;
      if (x < b.left || x > b.left + b.width) return;
      if (x > b.left + 1) {
        ctx.beginPath(); ctx.moveTo(x, b.top); ctx.lineTo(x, b.top + b.height); ctx.stroke();
      }
      // A short phase gets no label rather than one written over its neighbour's.
      if (ctx.measureText(p.name).width + 8 * px < next - x) ctx.fillText(p.name, x + 4 * px, b.top + 4 * px);
    });
    ctx.restore();
  }]}});

  // Check targets (horizontal, dashed) and instants such as a recovery's (vertical), with labels.
  const guides = (spec) => ({hooks: {draw: [(u) => {
    const ctx = u.ctx, px = uPlot.pxRatio, b = u.bbox;
    ctx.save();
    ctx.lineWidth = px; ctx.font = `${11 * px}px system-ui, sans-serif`; ctx.setLineDash([2 * px, 3 * px]);
    for (const lv of spec.levels || []) {
      if (!u.scales[lv.scale]) continue;
      const y = Math.round(u.valToPos(lv.value, lv.scale, true));
      if (y > b.top + b.height) continue;
      ctx.strokeStyle = lv.color; ctx.fillStyle = lv.color;
      if (y < b.top) {  // a target far above the data: named at the top edge, the axis kept on the data
        ctx.textAlign = "right"; ctx.textBaseline = "top";
        ctx.fillText("↑ " + lv.label + " (above)", b.left + b.width - 4 * px, b.top + 2 * px);
        continue;
      }
      ctx.beginPath(); ctx.moveTo(b.left, y); ctx.lineTo(b.left + b.width, y); ctx.stroke();
      ctx.textAlign = "right"; ctx.textBaseline = "bottom";
      ctx.fillText(lv.label, b.left + b.width - 4 * px, y - 2 * px);
    }
    for (const m of spec.marks || []) {
      const x = Math.round(u.valToPos(m.t, "x", true));
      if (x < b.left || x > b.left + b.width) continue;
      ctx.strokeStyle = m.color; ctx.fillStyle = m.color;
      ctx.beginPath(); ctx.moveTo(x, b.top); ctx.lineTo(x, b.top + b.height); ctx.stroke();
      ctx.textAlign = "left"; ctx.textBaseline = "bottom";
      ctx.fillText(m.label, x + 4 * px, b.top + b.height - 4 * px);
    }
    ctx.restore();
  }]}});

  const scalesAndAxes = (spec) => {
    const scales = {x: {time: false}};
    const axes = [{values: (u, ticks) => ticks.map(clock), incrs: X_INCRS}];
    for (const a of spec.axes) {
      scales[a.scale] = {range: (u, lo, hi) => [0, a.max != null ? a.max : hi > 0 ? hi * 1.1 : 1]};
      axes.push({scale: a.scale, label: a.label, side: a.side === "right" ? 1 : 3, size: AXIS,
        grid: {show: a.side !== "right"}, values: (u, ticks) => ticks.map((v) => tick(v, a.unit)),
        incrs: a.unit === "count" ? COUNT_INCRS : undefined});
    }
    // An empty right axis where a chart has none: every plot area then has the same left edge and
    // width, and one instant is at the same x on every chart of the page.
    if (!spec.axes.some((a) => a.side === "right")) {
      axes.push({scale: spec.axes[0].scale, side: 1, size: AXIS, label: "", grid: {show: false},
        ticks: {show: false}, stroke: "transparent", values: (u, ticks) => ticks.map(() => "")});
    }
    return [scales, axes];
  };

  const seriesAndColumns = (spec, data) => {
    const columns = spec.columns || data.columns, x = spec.t || data.t;
    const raws = spec.series.map((s) => columns[s.key]);
    const hold = spec.series.map((s) => s.stack || s.step);
    const [xs, drawn] = spanRun(x, stackColumns(spec.series, raws), hold, data.x_max);
    const own = spanRun(x, raws, hold, data.x_max)[1];
    const series = [{label: "elapsed", value: (u, v) => (v == null ? "—" : clock(v))}];
    spec.series.forEach((s, j) => {
      series.push({label: s.label, scale: s.scale, stroke: s.color, width: 1.5, points: {show: false},
        dash: s.dash ? [6, 4] : undefined, fill: s.stack ? s.color + "99" : undefined,
        paths: s.stack || s.step ? uPlot.paths.stepped({align: 1}) : undefined,
        // Stacked series plot running sums; the legend must still show the series' own value.
        value: (u, v, si, i) => fmt(i == null ? v : own[j][i], s.unit)});
    });
    return [series, [xs, ...drawn]];
  };

  // Each stacked series plots itself plus every stacked series after it, so the first is the top
  // of the stack; drawn first, it is then covered by the smaller ones in turn.
  const stackColumns = (specs, raws) => {
    const cols = raws.slice();
    let acc = null;
    for (let i = specs.length - 1; i >= 0; i--) {
      if (!specs[i].stack) continue;
      const own = cols[i].map((v) => v || 0);
      acc = acc ? acc.map((a, j) => a + own[j]) : own;
      cols[i] = acc;
    }
    return cols;
  };

  // Every chart spans the run, 0 to x_max, so charts stacked on the page line up in time: a service's
  // CPU spike sits under the load phase that caused it. Steps hold their last value to the end.
  const spanRun = (x, cols, hold, xMax) => {
    const head = x.length > 0 && x[0] > 0, tail = x.length > 0 && x[x.length - 1] < xMax;
    const xs = [...(head ? [0] : []), ...x, ...(tail ? [xMax] : [])];
    const out = cols.map((c, j) =>
      [...(head ? [null] : []), ...c, ...(tail ? [hold[j] ? c[c.length - 1] : null] : [])]);
    return [xs, out];
  };

  const widthOf = (el) => Math.max(el.clientWidth, 280);

  // The plot area in CSS pixels and the x range shown, on the element: the tests check alignment.
  const geometry = (el) => ({hooks: {draw: [(u) => {
    const b = u.bbox, px = uPlot.pxRatio;
    el.dataset.plot = [b.left / px, b.width / px, u.scales.x.min, u.scales.x.max].map(Math.round).join(",");
  }]}});

  const build = (spec, data, el, height) => {
    const [scales, axes] = scalesAndAxes(spec);
    const [series, cols] = seriesAndColumns(spec, data);
    const plugins = [phaseLines(data.phases), guides(spec), geometry(el)];
    const opts = {width: widthOf(el), height, scales, axes, series, plugins};
    return new uPlot(opts, cols, el);
  };

  try {
    const data = JSON.parse(document.getElementById("surge-data").textContent).charts;
    const plots = [...data.charts, ...data.service_charts].map((spec) => {
      const el = document.getElementById(spec.id), height = spec.height || HEIGHT;
      return {el, height, plot: build(spec, data, el, height), width: widthOf(el)};
    });
    const fit = (width) => {
      for (const p of plots) {
        const w = width || widthOf(p.el);
        // Only a width change resizes: the chart's own height change must not loop the observer.
        if (w !== p.width) { p.width = w; p.plot.setSize({width: w, height: p.height}); }
      }
    };
    if (window.ResizeObserver) new ResizeObserver(() => fit()).observe(document.querySelector("main"));
    window.addEventListener("resize", () => fit());
    window.addEventListener("beforeprint", () => fit(PRINT_WIDTH));
    window.addEventListener("afterprint", () => fit());
    body.dataset.chartsReady = String(plots.length);
  } catch (err) {
    fail(err);
  }
})();
