/* Clickstream dashboards: the Shiny output binding that draws the chart specs R/charts.R builds
 * (chart_timeseries, chart_bars, chart_funnel, chart_heatmap, chart_sankey, chart_empty) with
 * Apache ECharts. The look lives here, once: palette, units, tooltips, zoom, click-to-filter,
 * aria, empty states and PNG export. Formatting matches R/format.R (fmt_int, fmt_pct, fmt_money). */
(function () {
  'use strict';

  // Okabe & Ito's palette: told apart with the common colour-vision deficiencies.
  const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'];
  // One hue, light to dark, for heatmaps (ordered by lightness, so readable without hue).
  const SEQUENTIAL = ['#eef5fb', '#b9d7ee', '#6baed6', '#2f7fbf', '#0b4f8a'];
  const EXIT_COLOUR = '#b0b7c3';
  const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
  const TEXT = '#334155';
  const MUTED = '#64748b';
  const GRID = '#e5e7eb';

  // ---- numbers and times ---------------------------------------------------------------------

  const formats = new Map();
  function fixed(digits) {
    if (!formats.has(digits)) {
      formats.set(digits, new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));
    }
    return formats.get(digits);
  }

  function missing(v) {
    return v === null || v === undefined || Number.isNaN(v);
  }

  // A value as tables and value boxes show it: 1,234 / $1,234.50 / 12.5% / 1,234.5.
  function formatValue(v, unit) {
    if (missing(v)) return '\u2013';
    switch (unit.type) {
      case 'money': return '$' + fixed(unit.digits).format(v);
      case 'percent': return (100 * v).toFixed(unit.digits) + '%';
      case 'number': return fixed(unit.digits).format(v);
      default: return fixed(0).format(Math.round(v));
    }
  }

  function withSuffix(v, unit) {
    const text = formatValue(v, unit);
    return unit.suffix && !missing(v) ? text + ' ' + unit.suffix : text;
  }

  // Axis ticks: the same units, without decimals where the tick is whole.
  function formatTick(v, unit) {
    const whole = Math.abs(v - Math.round(v)) < 1e-9;
    switch (unit.type) {
      case 'money': return '$' + fixed(whole ? 0 : 2).format(v);
      case 'percent': {
        const p = 100 * v;
        return (Math.abs(p - Math.round(p)) < 1e-9 ? p.toFixed(0) : p.toFixed(1)) + '%';
      }
      default: return fixed(whole ? 0 : 1).format(v);
    }
  }

  // Every time in the dashboards is UTC (the warehouse's days and hours).
  function formatTime(ms, grain) {
    const iso = new Date(ms).toISOString();
    return grain === 'hour' ? iso.slice(0, 10) + ' ' + iso.slice(11, 16) + ' UTC' : iso.slice(0, 10);
  }

  // Time axis ticks by level: the first tick of a day shows the day, the others the hour.
  const TIME_LABELS = { year: '{yyyy}', month: '{MMM} {yyyy}', day: '{MMM} {d}', hour: '{HH}:{mm}', minute: '{HH}:{mm}' };

  const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]);
  }

  function line(marker, name, value) {
    return (marker || '') + (name ? esc(name) + ': ' : '') + '<b>' + esc(value) + '</b>';
  }

  // ---- options per kind ----------------------------------------------------------------------

  function base(spec, decals) {
    return {
      color: PALETTE,
      useUTC: true,
      // No animation: a chart is final on its first frame, so a page counts as drawn as soon as
      // its data is in (the grow-in took 0.3 s of every chart page's load) and a filter's redraw
      // is as quick. 'finished' still fires, on that frame (see draw()).
      animation: false,
      textStyle: { fontFamily: FONT, color: TEXT },
      // ECharts writes a description of the data into the chart's aria-label; decals (patterns)
      // tell series apart without colour.
      aria: {
        enabled: true,
        label: spec.description ? { description: spec.description } : {},
        decal: { show: Boolean(decals) },
      },
      tooltip: {
        confine: true,
        className: 'chart-tooltip',
        backgroundColor: '#ffffff',
        borderColor: GRID,
        textStyle: { color: TEXT, fontSize: 13, fontFamily: FONT },
      },
    };
  }

  function valueAxis(unit, extra) {
    return Object.assign({
      type: 'value',
      name: unit.axis || '',
      nameTextStyle: { color: MUTED },
      axisLabel: { color: TEXT, formatter: (v) => formatTick(v, unit) },
      splitLine: { lineStyle: { color: GRID } },
    }, extra);
  }

  function categoryAxis(categories, extra) {
    return Object.assign({
      type: 'category',
      data: categories,
      nameTextStyle: { color: MUTED },
      axisTick: { alignWithLabel: true },
      axisLabel: { color: TEXT, overflow: 'truncate' },
      axisLine: { lineStyle: { color: '#94a3b8' } },
    }, extra);
  }

  function legend(spec) {
    return spec.series.length > 1 ? { top: 0, left: 0, icon: 'roundRect', textStyle: { color: TEXT } } : { show: false };
  }

  const BUILDERS = {
    timeseries(spec) {
      const unit = spec.unit;
      const multi = spec.series.length > 1;
      const option = base(spec, spec.area && multi);
      return Object.assign(option, {
        legend: legend(spec),
        grid: { left: 16, right: 24, top: multi ? 56 : 36, bottom: 72 },
        xAxis: {
          type: 'time',
          // No ticks between the points of a daily series (a few days would get hourly ticks).
          minInterval: spec.grain === 'day' ? 86400000 : 3600000,
          name: spec.x_label,
          nameLocation: 'middle',
          nameGap: 28,
          nameTextStyle: { color: MUTED },
          axisLabel: { color: TEXT, hideOverlap: true, formatter: TIME_LABELS },
          axisLine: { lineStyle: { color: '#94a3b8' } },
        },
        yAxis: valueAxis(unit, { nameLocation: 'end', nameTextStyle: { color: MUTED, align: 'left' }, min: spec.stacked ? 0 : undefined }),
        dataZoom: [
          { type: 'inside', filterMode: 'none' },
          {
            type: 'slider', filterMode: 'none', height: 18, bottom: 6,
            labelFormatter: (v) => formatTime(v, spec.grain),
            textStyle: { color: MUTED },
          },
        ],
        tooltip: Object.assign(option.tooltip, {
          trigger: 'axis',
          formatter: (params) => {
            // Each series' own word after its value where it has one ("4 distinct browsers").
            const rows = params.map((p) => line(p.marker, multi ? p.seriesName : '',
              withSuffix(p.value[1], Object.assign({}, unit, { suffix: spec.series[p.seriesIndex].suffix }))));
            return '<div class="chart-tooltip-title">' + esc(formatTime(params[0].value[0], spec.grain)) + '</div>' +
              rows.join('<br>');
          },
        }),
        series: spec.series.map((s) => ({
          name: s.name,
          type: 'line',
          stack: spec.stacked ? 'total' : undefined,
          areaStyle: spec.area ? { opacity: multi && !spec.stacked ? 0.12 : 0.3 } : undefined,
          showSymbol: spec.time.length <= 62,
          symbolSize: 6,
          lineStyle: { width: 2 },
          emphasis: { focus: 'series' },
          data: spec.time.map((t, i) => [t, s.values[i]]),
        })),
      });
    },

    bar(spec, width) {
      const unit = spec.unit;
      const multi = spec.series.length > 1;
      const option = base(spec, multi);
      const cats = categoryAxis(spec.categories, {
        name: spec.category_label,
        inverse: spec.horizontal,
        nameLocation: spec.horizontal ? 'end' : 'middle',
        nameGap: spec.horizontal ? 12 : 30,
      });
      // Every category labelled: across, cut to 160 px; under vertical bars, wrapped to the
      // bar's slot.
      cats.axisLabel.interval = 0;
      cats.axisLabel.width = spec.horizontal ? 160 : Math.max(36, (width - 80) / spec.categories.length - 6);
      cats.axisLabel.overflow = spec.horizontal ? 'truncate' : 'break';
      const values = valueAxis(unit, spec.horizontal
        ? { nameLocation: 'middle', nameGap: 30 }
        : { nameLocation: 'end', nameTextStyle: { color: MUTED, align: 'left' } });
      return Object.assign(option, {
        legend: legend(spec),
        grid: { left: 16, right: 28, top: multi ? 56 : 36, bottom: spec.horizontal ? 48 : 56 },
        xAxis: spec.horizontal ? values : cats,
        yAxis: spec.horizontal ? cats : values,
        tooltip: Object.assign(option.tooltip, {
          trigger: 'item',
          formatter: (p) => '<div class="chart-tooltip-title">' + esc(p.name) + '</div>' +
            line(multi ? p.marker : '', multi ? p.seriesName : '', withSuffix(p.value, unit)) +
            (spec.clickable ? '<div class="chart-tooltip-hint">Click to filter by it</div>' : ''),
        }),
        series: spec.series.map((s) => ({
          name: s.name,
          type: 'bar',
          barMaxWidth: 44,
          cursor: spec.clickable ? 'pointer' : 'default',
          data: s.values.map((v, i) => ({
            value: v,
            itemStyle: spec.selected !== null && spec.categories[i] !== spec.selected ? { opacity: 0.35 } : undefined,
          })),
        })),
      });
    },

    funnel(spec) {
      const unit = spec.unit;
      const share = { type: 'percent', digits: 1, suffix: '' };
      const option = base(spec, false);
      const first = spec.steps[0];
      return Object.assign(option, {
        grid: { left: 16, right: 120, top: 16, bottom: 48 },
        xAxis: valueAxis(unit, { nameLocation: 'middle', nameGap: 30 }),
        yAxis: categoryAxis(spec.steps, { inverse: true, axisLabel: { color: TEXT, width: 140, overflow: 'truncate', interval: 0 } }),
        tooltip: Object.assign(option.tooltip, {
          trigger: 'item',
          formatter: (p) => {
            const i = p.dataIndex;
            const parts = [line('', '', withSuffix(p.value, unit))];
            if (i > 0) {
              parts.push(esc(formatValue(spec.share_of_first[i], share) + ' of ' + first));
              parts.push(esc(formatValue(spec.share_of_previous[i], share) + ' of the step before'));
            }
            return '<div class="chart-tooltip-title">' + esc(p.name) + '</div>' + parts.join('<br>');
          },
        }),
        series: [{
          type: 'bar',
          barMaxWidth: 36,
          cursor: spec.clickable ? 'pointer' : 'default',
          itemStyle: { color: PALETTE[0] },
          label: {
            show: true,
            position: 'right',
            color: TEXT,
            formatter: (p) => formatValue(p.value, unit) + (p.dataIndex > 0 ? '  (' + formatValue(spec.share_of_first[p.dataIndex], share) + ')' : ''),
          },
          data: spec.values,
        }],
      });
    },

    heatmap(spec) {
      const unit = spec.unit;
      const cellUnit = Object.assign({}, unit, { digits: 0 });
      const max = spec.cells.reduce((m, c) => (missing(c[2]) ? m : Math.max(m, c[2])), 0) || 1;
      const option = base(spec, false);
      return Object.assign(option, {
        grid: { left: 16, right: 16, top: 36, bottom: 76 },
        xAxis: categoryAxis(spec.columns, {
          name: spec.column_label, nameLocation: 'middle', nameGap: 28, splitArea: { show: false },
          axisLabel: { color: TEXT, interval: 0 },
        }),
        yAxis: categoryAxis(spec.rows, {
          // inverse (first row on top), so "start" puts the title above the rows
          name: spec.row_label, nameLocation: 'start', inverse: true, nameTextStyle: { color: MUTED, align: 'left' },
          axisLabel: { color: TEXT, interval: 0 },
        }),
        visualMap: {
          min: 0, max: max, dimension: 2, calculable: false, orient: 'horizontal', left: 'center', bottom: 0,
          itemWidth: 12, itemHeight: 160, inRange: { color: SEQUENTIAL }, textStyle: { color: MUTED },
          text: [formatTick(max, unit), formatTick(0, unit)],
        },
        tooltip: Object.assign(option.tooltip, {
          trigger: 'item',
          formatter: (p) => {
            const [ci, ri, v, count] = p.value;
            const row = spec.rows[ri];
            const total = spec.row_totals ? spec.row_totals[ri] : null;
            const title = (spec.row_label ? spec.row_label + ': ' : '') + row +
              (missing(total) ? '' : ' (' + fixed(0).format(total) + ' ' + spec.count_label + ')');
            const column = (spec.column_label ? spec.column_label + ': ' : '') + spec.columns[ci];
            let counted = '';
            if (!missing(count)) {
              counted = ' (' + fixed(0).format(count) + (missing(total) ? '' : ' of ' + fixed(0).format(total)) + ' ' + spec.count_label + ')';
            }
            return '<div class="chart-tooltip-title">' + esc(title) + '</div>' + esc(column) + '<br>' +
              '<b>' + esc(withSuffix(v, unit)) + '</b>' + esc(counted);
          },
        }),
        series: [{
          type: 'heatmap',
          itemStyle: { borderColor: '#ffffff', borderWidth: 1 },
          emphasis: { itemStyle: { borderColor: '#0f172a', borderWidth: 1 } },
          label: { show: true, formatter: (p) => formatValue(p.value[2], cellUnit) },
          data: spec.cells.map((c) => ({ value: c, label: { color: c[2] > 0.55 * max ? '#ffffff' : TEXT } })),
        }],
      });
    },

    sankey(spec) {
      const unit = spec.unit;
      const nodes = spec.nodes;
      const index = new Map(nodes.id.map((id, i) => [id, i]));
      const colours = new Map();
      nodes.label.forEach((label) => {
        if (!colours.has(label)) colours.set(label, label === '(exit)' ? EXIT_COLOUR : PALETTE[colours.size % PALETTE.length]);
      });
      const nodeName = (i) => nodes.label[i] + (nodes.step ? ' (step ' + nodes.step[i] + ')' : '');
      const option = base(spec, false);
      return Object.assign(option, {
        tooltip: Object.assign(option.tooltip, {
          trigger: 'item',
          formatter: (p) => {
            if (p.dataType === 'edge') {
              return esc(nodeName(index.get(p.data.source)) + ' \u2192 ' + nodeName(index.get(p.data.target))) + '<br>' +
                line('', '', withSuffix(p.value, unit));
            }
            return esc(nodeName(p.dataIndex)) + '<br>' + line('', '', withSuffix(p.value, unit));
          },
        }),
        series: [{
          type: 'sankey',
          left: 8, right: 120, top: 12, bottom: 12,
          nodeGap: 10,
          // Each step in its own column, also where a path ends early.
          nodeAlign: 'left',
          draggable: false,
          emphasis: { focus: 'adjacency' },
          lineStyle: { color: 'gradient', opacity: 0.35, curveness: 0.5 },
          label: { color: TEXT, formatter: (p) => nodes.label[p.dataIndex] },
          data: nodes.id.map((id, i) => ({ name: id, itemStyle: { color: colours.get(nodes.label[i]) } })),
          links: spec.links.source.map((s, i) => ({
            source: nodes.id[s], target: nodes.id[spec.links.target[i]], value: spec.links.value[i],
          })),
        }],
      });
    },
  };

  // ---- the output binding --------------------------------------------------------------------

  const observed = new WeakSet();

  function canvasOf(el) {
    return el.querySelector('.chart-canvas');
  }

  function chartOf(el) {
    const canvas = canvasOf(el);
    return canvas ? echarts.getInstanceByDom(canvas) : undefined;
  }

  function setState(el, state) {
    el.dataset.state = state;
    el.querySelector('.chart-png').disabled = state !== 'rendered';
  }

  function showMessage(el, title, hint) {
    const chart = chartOf(el);
    if (chart) chart.dispose();
    canvasOf(el).hidden = true;
    const box = el.querySelector('.chart-empty');
    box.querySelector('.empty-state-title').textContent = title;
    box.querySelector('.empty-state-hint').textContent = hint || '';
    box.hidden = false;
  }

  function draw(el, spec) {
    if (!spec) {
      showMessage(el, '', '');
      setState(el, 'cleared');
      return;
    }
    el.dataset.kind = spec.kind;
    if (spec.kind === 'empty') {
      showMessage(el, spec.message, spec.hint);
      setState(el, 'empty');
      return;
    }
    const build = BUILDERS[spec.kind];
    if (!build) throw new Error('clickstream chart: unknown kind ' + spec.kind);
    el.querySelector('.chart-empty').hidden = true;
    const canvas = canvasOf(el);
    canvas.hidden = false;
    let chart = echarts.getInstanceByDom(canvas);
    if (!chart) {
      chart = echarts.init(canvas, null, { locale: 'EN' });
      // Set once per chart: the last render's end marks the chart as drawn (tests and the
      // benchmark wait for it).
      chart.on('finished', () => {
        if (el.dataset.state === 'drawing') setState(el, 'rendered');
      });
    }
    if (!observed.has(canvas)) {
      observed.add(canvas);
      // Cards change size (full screen, tabs, the window): follow them.
      new ResizeObserver(() => {
        const c = echarts.getInstanceByDom(canvas);
        if (c) c.resize();
      }).observe(canvas);
    }
    chart.off('click');
    if (spec.clickable) {
      chart.on('click', (p) => {
        if (p.componentType === 'series') Shiny.setInputValue(el.id + '_click', p.name, { priority: 'event' });
      });
    }
    setState(el, 'drawing');
    chart.setOption(build(spec, canvas.clientWidth), { notMerge: true });
  }

  function savePng(el) {
    const chart = chartOf(el);
    if (!chart) return;
    const link = document.createElement('a');
    link.href = chart.getDataURL({ type: 'png', pixelRatio: 2, backgroundColor: '#ffffff', excludeComponents: ['dataZoom'] });
    link.download = (el.dataset.pngName || el.id || 'chart') + '.png';
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  document.addEventListener('click', (event) => {
    const button = event.target.closest('.clickstream-chart .chart-png');
    if (button) savePng(button.closest('.clickstream-chart'));
  });

  const binding = new Shiny.OutputBinding();
  Object.assign(binding, {
    find: (scope) => $(scope).find('.clickstream-chart'),
    renderValue: (el, spec) => draw(el, spec),
    renderError: (el, err) => {
      if (err.message === '') { // req() not met: nothing to show yet
        showMessage(el, '', '');
        setState(el, 'cleared');
        return;
      }
      const validation = [].concat(err.type || []).includes('validation');
      showMessage(el, err.message, validation ? el.dataset.emptyHint : 'The chart could not be drawn.');
      setState(el, validation ? 'empty' : 'error');
    },
  });
  Shiny.outputBindings.register(binding, 'clickstream.chart');
}());
