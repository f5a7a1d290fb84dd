/** The header row of a CSV file, read as the API reads it: `,` `;` or tab (the one the first line
 * has most of outside quotes), quoted fields, a BOM ignored. */
export function csvHeader(text: string): string[] {
  const body = text.replace(/^\uFEFF/, "");
  const counts: Record<string, number> = { ",": 0, ";": 0, "\t": 0 };
  let quoted = false;
  for (const ch of body) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === "\n" || ch === "\r")) break;
    else if (!quoted && ch in counts) counts[ch]++;
  }
  const delimiter = Object.entries(counts).sort((a, b) => b[1] - a[1])[0][0];
  const fields: string[] = [];
  let field = "";
  quoted = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (quoted) {
      if (ch === '"' && body[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === delimiter) {
      fields.push(field.trim());
      field = "";
    } else if (ch === "\n" || ch === "\r") break;
    else field += ch;
  }
  fields.push(field.trim());
  return fields.filter((f, i) => f !== "" || i < fields.length - 1);
}

/** One CSV cell, quoted when it must be. */
export function csvCell(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}
