/**
 * The soak's resource curves as one SVG: a small panel per series (its own y range, min and max
 * written beside it), cycles along x. Plain SVG text, no library: a dozen polylines are less code
 * than adapting a charting package to run headless, and @resvg/resvg-js (already kinda's, for
 * `kinda graph -f png`) turns it into a PNG.
 */
export interface Series {
  name: string;
  values: number[];
  color: string;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

export function renderSvg(title: string, series: readonly Series[], cols = 3): string {
  const pw = 380;
  const ph = 150;
  const pad = { l: 48, r: 12, t: 24, b: 22 };
  const rows = Math.ceil(series.length / cols);
  const W = cols * pw;
  const H = 40 + rows * ph;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="12" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  series.forEach((s, i) => {
    const x0 = (i % cols) * pw;
    const y0 = 40 + Math.floor(i / cols) * ph;
    const iw = pw - pad.l - pad.r;
    const ih = ph - pad.t - pad.b;
    const vals = s.values;
    const min = Math.min(...vals, 0);
    const max = Math.max(...vals, min + 1);
    const n = Math.max(vals.length - 1, 1);
    const pts = vals
      .map((v, k) => `${(x0 + pad.l + (k / n) * iw).toFixed(1)},${(y0 + pad.t + ih - ((v - min) / (max - min)) * ih).toFixed(1)}`)
      .join(" ");
    out.push(
      `<text x="${x0 + pad.l}" y="${y0 + 14}" font-weight="bold">${esc(s.name)}: first ${fmt(vals[0] ?? 0)}, last ${fmt(vals[vals.length - 1] ?? 0)}</text>`,
      `<rect x="${x0 + pad.l}" y="${y0 + pad.t}" width="${iw}" height="${ih}" fill="none" stroke="#bbb"/>`,
      `<text x="${x0 + pad.l - 4}" y="${y0 + pad.t + 9}" text-anchor="end">${fmt(max)}</text>`,
      `<text x="${x0 + pad.l - 4}" y="${y0 + pad.t + ih}" text-anchor="end">${fmt(min)}</text>`,
      `<text x="${x0 + pad.l}" y="${y0 + ph - 6}">0</text>`,
      `<text x="${x0 + pad.l + iw}" y="${y0 + ph - 6}" text-anchor="end">cycle ${vals.length - 1}</text>`,
      `<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
