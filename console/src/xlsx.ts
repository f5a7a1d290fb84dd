/** The first worksheet of an .xlsx file as CSV text (loaded only when a spreadsheet is chosen):
 * the file is a zip of XML parts; shared strings, inline strings, numbers and booleans are read. */
import { unzipSync, strFromU8 } from "fflate";
import { csvCell } from "./csv";

function xml(text: string): Document {
  return new DOMParser().parseFromString(text, "application/xml");
}

function columnIndex(ref: string): number {
  let n = 0;
  for (const ch of ref.replace(/[0-9]/g, "")) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n - 1;
}

function firstSheetPath(files: Record<string, Uint8Array>): string {
  const wb = files["xl/workbook.xml"];
  const rels = files["xl/_rels/workbook.xml.rels"];
  if (wb && rels) {
    const sheet = xml(strFromU8(wb)).getElementsByTagName("sheet")[0];
    const rid = sheet?.getAttribute("r:id") ?? sheet?.getAttributeNS("http://schemas.openxmlformats.org/officeDocument/2006/relationships", "id");
    for (const rel of Array.from(xml(strFromU8(rels)).getElementsByTagName("Relationship"))) {
      if (rel.getAttribute("Id") === rid) {
        const target = rel.getAttribute("Target") ?? "";
        return target.startsWith("/") ? target.slice(1) : `xl/${target}`;
      }
    }
  }
  const any = Object.keys(files).filter((k) => k.startsWith("xl/worksheets/") && k.endsWith(".xml")).sort()[0];
  if (!any) throw new Error("no worksheet");
  return any;
}

export function xlsxToCsv(data: ArrayBuffer): string {
  const files = unzipSync(new Uint8Array(data));
  const shared: string[] = [];
  const ss = files["xl/sharedStrings.xml"];
  if (ss) {
    for (const si of Array.from(xml(strFromU8(ss)).getElementsByTagName("si"))) {
      shared.push(Array.from(si.getElementsByTagName("t"), (t) => t.textContent ?? "").join(""));
    }
  }
  const sheet = files[firstSheetPath(files)];
  if (!sheet) throw new Error("no worksheet");
  const lines: string[] = [];
  for (const row of Array.from(xml(strFromU8(sheet)).getElementsByTagName("row"))) {
    const cells: string[] = [];
    for (const c of Array.from(row.getElementsByTagName("c"))) {
      const ref = c.getAttribute("r");
      const at = ref ? columnIndex(ref) : cells.length;
      const type = c.getAttribute("t");
      const v = c.getElementsByTagName("v")[0]?.textContent ?? "";
      let value: string;
      if (type === "s") value = shared[Number(v)] ?? "";
      else if (type === "inlineStr") value = Array.from(c.getElementsByTagName("t"), (t) => t.textContent ?? "").join("");
      else if (type === "b") value = v === "1" ? "TRUE" : "FALSE";
      else value = v;
      while (cells.length < at) cells.push("");
      cells[at] = value;
    }
    if (cells.some((x) => x.trim() !== "")) lines.push(cells.map(csvCell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}
