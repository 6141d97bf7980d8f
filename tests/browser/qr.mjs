// Reading QR codes the way a phone's camera does: from a picture of a
// screen (a PNG screenshot), or from what `outpost master` drew in a
// terminal (Unicode half blocks, turned into pixels first).

import { readFileSync } from 'node:fs';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';

/** The text of the QR code in a PNG (a path or its bytes), or in the
 * part of it `rect` gives ({x, y, width, height} in pixels); null if none. */
export function decodePng(png, rect) {
  const img = PNG.sync.read(Buffer.isBuffer(png) ? png : readFileSync(png));
  const r = rect ?? { x: 0, y: 0, width: img.width, height: img.height };
  const [x0, y0] = [Math.max(0, Math.round(r.x)), Math.max(0, Math.round(r.y))];
  const w = Math.min(img.width - x0, Math.round(r.width));
  const h = Math.min(img.height - y0, Math.round(r.height));
  const data = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    const from = ((y0 + y) * img.width + x0) * 4;
    data.set(img.data.subarray(from, from + w * 4), y * w * 4);
  }
  return jsQR(data, w, h)?.data ?? null;
}

/** The text of a QR code drawn in a terminal with half blocks (each
 * character two modules high: '█' both, '▀' top, '▄' bottom, ' ' none),
 * drawn as a terminal shows it: blocks light, spaces dark, `scale`
 * pixels a module. */
export function decodeTerminal(lines, scale = 4) {
  const rows = lines.map((l) => [...l]);
  const width = Math.max(...rows.map((r) => r.length)) * scale;
  const height = rows.length * 2 * scale;
  const data = new Uint8ClampedArray(width * height * 4);
  const lit = { '█': [1, 1], '▀': [1, 0], '▄': [0, 1] };
  rows.forEach((chars, y) => {
    chars.forEach((ch, x) => {
      const [top, bottom] = lit[ch] ?? [0, 0];
      for (const [half, on] of [[0, top], [1, bottom]]) {
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const i = (((y * 2 + half) * scale + dy) * width + x * scale + dx) * 4;
            data.fill(on ? 255 : 0, i, i + 3);
            data[i + 3] = 255;
          }
        }
      }
    });
  });
  return jsQR(data, width, height)?.data ?? null;
}

/** The QR code a program printed under `heading` (the lines of blocks
 * after it), read back. */
export function terminalQrAfter(output, heading) {
  const lines = output.split('\n');
  const start = lines.findIndex((l) => l.includes(heading));
  if (start < 0) throw new Error(`no "${heading}" in: ${output}`);
  const block = [];
  for (const l of lines.slice(start + 1)) {
    if (!/^[█▀▄ ]+$/.test(l)) break;
    block.push(l);
  }
  if (block.length === 0) throw new Error(`no QR code under "${heading}" in: ${output}`);
  return decodeTerminal(block);
}
