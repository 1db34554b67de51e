// A store-only (uncompressed) zip writer: folders picked in the browser go to POST /v1/imports,
// which takes one zip. Photos are already compressed, so storing them loses nothing.

const TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(bytes) {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i += 1) crc = TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function header(size) {
  const buffer = new ArrayBuffer(size);
  return { buffer, view: new DataView(buffer) };
}

const DOS_DATE = 33; // 1980-01-01: the photos' own dates are not the archive's business
const LIMIT = 0xffffffff; // no zip64: a bigger upload is past any import cap anyway

// entries: [{name: "obama/1.jpg", file: File}] → a Blob (application/zip).
export async function storeZip(entries) {
  const encoder = new TextEncoder();
  const parts = [];
  const central = [];
  let offset = 0;
  for (const { name, file } of entries) {
    const data = new Uint8Array(await file.arrayBuffer());
    const path = encoder.encode(name);
    const crc = crc32(data);
    const local = header(30);
    const l = local.view;
    l.setUint32(0, 0x04034b50, true); l.setUint16(4, 20, true); l.setUint16(6, 0x0800, true);
    l.setUint16(12, DOS_DATE, true);
    l.setUint32(14, crc, true); l.setUint32(18, data.length, true); l.setUint32(22, data.length, true);
    l.setUint16(26, path.length, true);
    parts.push(local.buffer, path, data);
    const entry = header(46);
    const c = entry.view;
    c.setUint32(0, 0x02014b50, true); c.setUint16(4, 20, true); c.setUint16(6, 20, true);
    c.setUint16(8, 0x0800, true); c.setUint16(14, DOS_DATE, true);
    c.setUint32(16, crc, true); c.setUint32(20, data.length, true);
    c.setUint32(24, data.length, true); c.setUint16(28, path.length, true); c.setUint32(42, offset, true);
    central.push(entry.buffer, path);
    offset += 30 + path.length + data.length;
    if (offset > LIMIT || entries.length > 0xffff) throw new RangeError("too many or too large photos for one zip");
  }
  const size = central.reduce((sum, part) => sum + part.byteLength, 0);
  const end = header(22);
  const e = end.view;
  e.setUint32(0, 0x06054b50, true); e.setUint16(8, entries.length, true);
  e.setUint16(10, entries.length, true); e.setUint32(12, size, true); e.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end.buffer], { type: "application/zip" });
}
