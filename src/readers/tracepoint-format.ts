/** Parses a tracefs `format` file: the byte layout of a classic tracepoint's record. */

export interface TracepointField {
  readonly name: string;
  /** The C declaration's type, e.g. `unsigned long` or `__data_loc char[]`. */
  readonly type: string;
  readonly offset: number;
  readonly size: number;
  readonly signed: boolean;
}

export interface TracepointFormat {
  readonly name: string;
  readonly id: number;
  readonly fields: ReadonlyMap<string, TracepointField>;
}

const FIELD_LINE = /^\s*field:(.+?);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);/;

export function parseTracepointFormat(text: string): TracepointFormat {
  let name = '';
  let id = -1;
  const fields = new Map<string, TracepointField>();
  for (const line of text.split('\n')) {
    if (line.startsWith('name:')) name = line.slice(5).trim();
    else if (line.startsWith('ID:')) id = Number(line.slice(3).trim());
    const m = FIELD_LINE.exec(line);
    if (!m) continue;
    const decl = m[1]!.trim();
    // The field name is the declaration's last identifier, before any array suffix.
    const nm = /([A-Za-z_][A-Za-z0-9_]*)\s*(\[[^\]]*\])?$/.exec(decl);
    if (!nm) continue;
    const fieldName = nm[1]!;
    const type = (decl.slice(0, nm.index).trim() + (nm[2] ?? '')).trim();
    fields.set(fieldName, {
      name: fieldName,
      type,
      offset: Number(m[2]),
      size: Number(m[3]),
      signed: m[4] === '1',
    });
  }
  if (!name || fields.size === 0) throw new Error('not a tracepoint format file');
  return { name, id, fields };
}

/** The byte offset of a field, or -1 when this kernel's tracepoint lacks it. */
export function fieldOffset(format: TracepointFormat, field: string, size?: number): number {
  const f = format.fields.get(field);
  if (!f) return -1;
  if (size !== undefined && f.size !== size && !f.type.startsWith('__data_loc')) return -1;
  return f.offset;
}
