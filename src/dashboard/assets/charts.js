// Charts as inline SVG built with DOM calls (no library, no markup strings). Each chart carries
// a <title> for screen readers and prints its values as text, so nothing depends on colour.
import { h, s } from './dom.js';

/**
 * Vertical bars: one per item, its value printed above it and its label below.
 * items: [{ label, value, note?, tone? }]
 */
export function barChart(id, title, items) {
  const width = 400;
  const height = 200;
  const top = 24;
  const bottom = 40;
  const max = Math.max(1, ...items.map((i) => i.value));
  const slot = width / Math.max(1, items.length);
  const barWidth = Math.min(60, slot * 0.6);
  const svg = s(
    'svg',
    { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, 'data-chart': id, class: 'chart' },
    s('title', {}, title),
    s('line', { x1: 0, y1: height - bottom, x2: width, y2: height - bottom, class: 'axis' }),
  );
  items.forEach((item, i) => {
    const barHeight = ((height - top - bottom) * item.value) / max;
    const x = slot * i + (slot - barWidth) / 2;
    const y = height - bottom - barHeight;
    svg.appendChild(
      s(
        'g',
        { class: `bar tone-${item.tone ?? 'default'}`, 'data-label': item.label, 'data-value': item.value },
        s('rect', { x, y, width: barWidth, height: Math.max(barHeight, 1) }),
        s('text', { x: x + barWidth / 2, y: y - 6, 'text-anchor': 'middle', class: 'value' }, String(item.value)),
        s(
          'text',
          { x: x + barWidth / 2, y: height - bottom + 16, 'text-anchor': 'middle', class: 'label' },
          item.label,
        ),
        item.note
          ? s(
              'text',
              { x: x + barWidth / 2, y: height - bottom + 32, 'text-anchor': 'middle', class: 'note' },
              item.note,
            )
          : null,
      ),
    );
  });
  return figure(svg, title);
}

/**
 * Horizontal bars, for long labels (user names): label on the left, value at the bar's end.
 * items: [{ label, value }], values on a 0..max scale.
 */
export function hbarChart(id, title, items, max) {
  const width = 400;
  const row = 26;
  const labelWidth = 150;
  const height = Math.max(row, items.length * row) + 4;
  const scale = Math.max(1, max ?? Math.max(...items.map((i) => i.value)));
  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': title,
    'data-chart': id,
    class: 'chart',
  });
  svg.appendChild(s('title', {}, title));
  items.forEach((item, i) => {
    const y = i * row + 4;
    const barWidth = ((width - labelWidth - 40) * item.value) / scale;
    const label = item.label.length > 22 ? `${item.label.slice(0, 21)}…` : item.label;
    svg.appendChild(
      s(
        'g',
        { class: 'bar tone-risk', 'data-label': item.label, 'data-value': item.value },
        s(
          'text',
          { x: labelWidth - 6, y: y + 15, 'text-anchor': 'end', class: 'label' },
          s('title', {}, item.label),
          label,
        ),
        s('rect', { x: labelWidth, y, width: Math.max(barWidth, 1), height: row - 8 }),
        s('text', { x: labelWidth + barWidth + 4, y: y + 15, class: 'value' }, String(item.value)),
      ),
    );
  });
  return figure(svg, title);
}

/**
 * A line over points [{ at, value }] in time order, with the first and last times and the
 * highest value printed, and the latest value as text.
 */
export function lineChart(id, title, points, options = {}) {
  const width = 400;
  const height = 180;
  const left = 36;
  const bottom = 28;
  const top = 12;
  const max = Math.max(1, options.max ?? Math.max(...points.map((p) => p.value)));
  const x = (i) => left + ((width - left - 8) * i) / Math.max(1, points.length - 1);
  const y = (v) => height - bottom - ((height - bottom - top) * v) / max;
  const svg = s(
    'svg',
    { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, 'data-chart': id, class: 'chart' },
    s('title', {}, title),
    s('line', { x1: left, y1: height - bottom, x2: width - 8, y2: height - bottom, class: 'axis' }),
    s('line', { x1: left, y1: top, x2: left, y2: height - bottom, class: 'axis' }),
    s('text', { x: left - 4, y: top + 4, 'text-anchor': 'end', class: 'label' }, String(max)),
    s('text', { x: left - 4, y: height - bottom, 'text-anchor': 'end', class: 'label' }, '0'),
  );
  if (points.length > 0) {
    const path = points.map((p, i) => `${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
    svg.appendChild(s('polyline', { points: path, class: 'line', fill: 'none' }));
    points.forEach((p, i) =>
      svg.appendChild(
        s(
          'circle',
          { cx: x(i), cy: y(p.value), r: points.length > 40 ? 1.5 : 3, class: 'point' },
          s('title', {}, `${p.at}: ${p.value}`),
        ),
      ),
    );
    svg.appendChild(s('text', { x: left, y: height - 8, class: 'label' }, points[0].at));
    svg.appendChild(s('text', { x: width - 8, y: height - 8, 'text-anchor': 'end', class: 'label' }, points.at(-1).at));
  }
  const latest = points.at(-1);
  return figure(svg, latest ? `${title} — latest: ${latest.value}` : `${title} — no data`);
}

function figure(svg, caption) {
  return h('figure', { class: 'chart-figure' }, svg, h('figcaption', {}, caption));
}
