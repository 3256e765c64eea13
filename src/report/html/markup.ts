/**
 * Escaping and the page's small templates. Every text reaches the page through escapeHtml, and the data
 * block through scriptJson.
 */

/** Text for HTML element content and attribute values (double-quoted). */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * JSON inside a `<script type="application/json">`: `<` (and `>`, `&`) as \u escapes, so neither `</script>`
 * nor `<!--` in a name can end or change the block; U+2028/2029 escaped for older parsers. JSON.parse reads
 * the escapes back as the same characters.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export function verdictBadge(pass: boolean): string {
  // The word carries the meaning; colour and the mark only help.
  return `<span class="verdict ${pass ? 'pass' : 'fail'}">${pass ? '✔ PASS' : '✘ FAIL'}</span>`;
}

/** A table whose first column heads each row; a cell reading PASS or FAIL gets that class (coloured). */
export function table(head: string[], rows: string[][], cls: string): string {
  const td = (c: string) =>
    c === 'PASS' || c === 'FAIL'
      ? `<td class="${c.toLowerCase()}">${c === 'PASS' ? '✔ PASS' : '✘ FAIL'}</td>`
      : `<td>${escapeHtml(c)}</td>`;
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th scope="row">${escapeHtml(c)}</th>` : td(c))).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

export function canvas(id: string, points: number, label: string, extra: Record<string, number> = {}): string {
  const attrs = Object.entries(extra)
    .map(([k, v]) => ` data-${k}="${v}"`)
    .join('');
  return `<div class="chart"><canvas id="${escapeHtml(id)}" data-points="${points}"${attrs} role="img" aria-label="${escapeHtml(label)}"></canvas></div>`;
}
