// The loss curve as a hand-written SVG: training loss (line) and validation loss (dots) against tokens,
// with an optional horizontal reference line (the unigram entropy of the corpus).
export interface LossPoint {
  tokens: number;
  loss?: number;
  valLoss?: number;
}

export interface LossCurveOptions {
  title?: string;
  reference?: { label: string; value: number };
  width?: number;
  height?: number;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fmt = (v: number) =>
  Math.abs(v) >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : Math.abs(v) >= 1e3 ? `${(v / 1e3).toFixed(0)}k` : v.toFixed(2);

/** Linear map of [d0, d1] onto [r0, r1] (a degenerate domain maps to the middle). */
export function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  if (d1 === d0) return () => (r0 + r1) / 2;
  return (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
}

export function lossCurveSvg(points: readonly LossPoint[], o: LossCurveOptions = {}): string {
  const width = o.width ?? 720;
  const height = o.height ?? 420;
  const m = { left: 60, right: 20, top: 36, bottom: 44 };
  const train = points.filter((p) => p.loss !== undefined && Number.isFinite(p.loss));
  const val = points.filter((p) => p.valLoss !== undefined && Number.isFinite(p.valLoss));
  const ys = [...train.map((p) => p.loss!), ...val.map((p) => p.valLoss!), ...(o.reference ? [o.reference.value] : [])];
  const xs = points.map((p) => p.tokens);
  const yMin = ys.length ? Math.min(...ys) : 0;
  const yMax = ys.length ? Math.max(...ys) : 1;
  const pad = (yMax - yMin) * 0.05 || 0.5;
  const x = scale(0, xs.length ? Math.max(...xs) : 1, m.left, width - m.right);
  const y = scale(yMin - pad, yMax + pad, height - m.bottom, m.top);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${esc(o.title ?? "loss")}</text>`,
    `<line x1="${m.left}" y1="${height - m.bottom}" x2="${width - m.right}" y2="${height - m.bottom}" stroke="black"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${height - m.bottom}" stroke="black"/>`,
    `<text x="${width / 2}" y="${height - 8}" text-anchor="middle">tokens</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const yv = yMin - pad + ((yMax + pad - (yMin - pad)) * i) / 4;
    parts.push(`<text x="${m.left - 6}" y="${y(yv) + 4}" text-anchor="end">${fmt(yv)}</text>`);
    const xv = ((xs.length ? Math.max(...xs) : 1) * i) / 4;
    parts.push(`<text x="${x(xv)}" y="${height - m.bottom + 16}" text-anchor="middle">${fmt(xv)}</text>`);
  }
  if (o.reference) {
    const ry = y(o.reference.value).toFixed(1);
    parts.push(
      `<line class="reference" x1="${m.left}" y1="${ry}" x2="${width - m.right}" y2="${ry}" stroke="gray" stroke-dasharray="6 4"/>`,
    );
    parts.push(`<text x="${width - m.right - 4}" y="${Number(ry) - 4}" text-anchor="end" fill="gray">${esc(o.reference.label)}</text>`);
  }
  if (train.length) {
    const pts = train.map((p) => `${x(p.tokens).toFixed(1)},${y(p.loss!).toFixed(1)}`).join(" ");
    parts.push(`<polyline class="train" fill="none" stroke="steelblue" stroke-width="1.5" points="${pts}"/>`);
  }
  for (const p of val) {
    parts.push(`<circle class="val" cx="${x(p.tokens).toFixed(1)}" cy="${y(p.valLoss!).toFixed(1)}" r="3" fill="darkorange"/>`);
  }
  parts.push(
    `<text x="${m.left + 10}" y="${m.top + 14}" fill="steelblue">training loss</text>`,
    `<text x="${m.left + 10}" y="${m.top + 30}" fill="darkorange">validation loss</text>`,
    `</svg>`,
  );
  return parts.join("\n") + "\n";
}
