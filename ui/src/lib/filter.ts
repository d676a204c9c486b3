// The filter builder's model and the expression it writes: the same
// expr-lang syntax the API takes (README "Filters"), so a list's URL, a
// saved view and an integration all say the same thing. parse() reads back
// what build() writes (and a little more); anything else stays raw text.
import type { Field } from './meta.svelte';

export type Op =
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'
  | 'contains' | 'not_contains' | 'starts' | 'ends'
  | 'in' | 'not_in' | 'has' | 'not_has'
  | 'empty' | 'not_empty' | 'true' | 'false'
  | 'last_days' | 'next_days';

export interface Condition {
  field: string;
  op: Op;
  /** a string, number, or string[] (in / not in) */
  value: unknown;
}

export interface Filter {
  join: 'and' | 'or';
  conditions: Condition[];
}

const textTypes = new Set(['text', 'long_text', 'email', 'phone', 'url', 'auto_number']);
const numberTypes = new Set(['number', 'integer', 'currency', 'percent']);
const dateTypes = new Set(['date', 'datetime']);

/** ops are the operators that make sense for a field's type. */
export function ops(f: Field): Op[] {
  const t = f.type;
  if (textTypes.has(t)) return ['contains', 'eq', 'ne', 'starts', 'ends', 'not_contains', 'empty', 'not_empty'];
  if (numberTypes.has(t)) return ['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'empty', 'not_empty'];
  if (dateTypes.has(t)) return ['eq', 'gt', 'ge', 'lt', 'le', 'last_days', 'next_days', 'empty', 'not_empty'];
  if (t === 'select') return ['eq', 'ne', 'in', 'not_in', 'empty', 'not_empty'];
  if (t === 'multi_select' || t === 'tags') return ['has', 'not_has', 'empty', 'not_empty'];
  if (t === 'boolean') return ['true', 'false'];
  return ['eq', 'ne', 'empty', 'not_empty'];
}

/** needsValue: the operator takes no value (is empty, is true). */
export function needsValue(op: Op): boolean {
  return !['empty', 'not_empty', 'true', 'false'].includes(op);
}

const str = (s: string) => JSON.stringify(s);

function literal(f: Field, v: unknown): string {
  if (numberTypes.has(f.type)) {
    const n = typeof v === 'number' ? v : Number(v);
    if (!Number.isFinite(n)) throw new Error('number');
    return String(n);
  }
  if (f.type === 'date') return `date(${str(String(v))})`;
  if (f.type === 'datetime' || f.name === 'created_at' || f.name === 'updated_at') {
    const d = new Date(String(v));
    if (isNaN(d.getTime())) throw new Error('datetime');
    return `datetime(${str(d.toISOString())})`;
  }
  return str(String(v ?? ''));
}

/** complete: a condition the builder can write (its value filled in). */
export function complete(c: Condition): boolean {
  if (!c.field) return false;
  if (!needsValue(c.op)) return true;
  if (Array.isArray(c.value)) return c.value.length > 0;
  return c.value !== '' && c.value !== null && c.value !== undefined;
}

export function condition(f: Field, c: Condition): string {
  const n = f.name;
  switch (c.op) {
    case 'eq': return `${n} == ${literal(f, c.value)}`;
    case 'ne': return `${n} != ${literal(f, c.value)}`;
    case 'lt': return `${n} < ${literal(f, c.value)}`;
    case 'le': return `${n} <= ${literal(f, c.value)}`;
    case 'gt': return `${n} > ${literal(f, c.value)}`;
    case 'ge': return `${n} >= ${literal(f, c.value)}`;
    case 'contains': return `${n} contains ${str(String(c.value))}`;
    case 'not_contains': return `not (${n} contains ${str(String(c.value))})`;
    case 'starts': return `${n} startsWith ${str(String(c.value))}`;
    case 'ends': return `${n} endsWith ${str(String(c.value))}`;
    case 'in': return `${n} in [${(c.value as string[]).map(str).join(', ')}]`;
    case 'not_in': return `${n} not in [${(c.value as string[]).map(str).join(', ')}]`;
    case 'has': return `${str(String(c.value))} in ${n}`;
    case 'not_has': return `not (${str(String(c.value))} in ${n})`;
    case 'empty': return `${n} == nil`;
    case 'not_empty': return `${n} != nil`;
    case 'true': return `${n} == true`;
    case 'false': return `${n} == false`;
    case 'last_days': return `${n} >= days_ago(${Math.trunc(Number(c.value))})`;
    case 'next_days': return `${n} <= days_ahead(${Math.trunc(Number(c.value))})`;
  }
}

/** build writes the expression of the complete conditions ('' for none). */
export function build(f: Filter, fields: Field[]): string {
  const parts: string[] = [];
  for (const c of f.conditions) {
    const field = fields.find((x) => x.name === c.field);
    if (!field || !complete(c)) continue;
    parts.push(condition(field, c));
  }
  return parts.join(` ${f.join} `);
}

// --- reading an expression back -------------------------------------------

type Tok = { k: 'id' | 'str' | 'num' | 'op' | 'punct'; v: string };

function tokens(s: string): Tok[] | null {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      if (j >= s.length) return null;
      try {
        out.push({ k: 'str', v: JSON.parse(s.slice(i, j + 1)) });
      } catch {
        return null;
      }
      i = j + 1;
      continue;
    }
    const num = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(s.slice(i));
    if (num && (c !== '-' || out.length === 0 || out[out.length - 1].k === 'op')) {
      out.push({ k: 'num', v: num[0] });
      i += num[0].length;
      continue;
    }
    // old.stage: a rule condition's old value (a field only where the caller offers it)
    const id = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?/.exec(s.slice(i));
    if (id) {
      out.push({ k: 'id', v: id[0] });
      i += id[0].length;
      continue;
    }
    const op = /^(==|!=|<=|>=|<|>)/.exec(s.slice(i));
    if (op) {
      out.push({ k: 'op', v: op[0] });
      i += op[0].length;
      continue;
    }
    if ('()[],'.includes(c)) {
      out.push({ k: 'punct', v: c });
      i++;
      continue;
    }
    return null;
  }
  return out;
}

const cmp: Record<string, Op> = { '==': 'eq', '!=': 'ne', '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge' };
const words: Record<string, Op> = { contains: 'contains', startsWith: 'starts', endsWith: 'ends' };

/** parse reads an expression build() could have written, or answers null. */
export function parse(expr: string, fields: Field[]): Filter | null {
  if (!expr.trim()) return { join: 'and', conditions: [] };
  const ts = tokens(expr);
  if (!ts) return null;
  let i = 0;
  const peek = (k?: string, v?: string) => {
    const t = ts[i];
    return t && (!k || t.k === k) && (v === undefined || t.v === v) ? t : null;
  };
  const take = (k?: string, v?: string) => {
    const t = peek(k, v);
    if (t) i++;
    return t;
  };
  const field = (name: string) => fields.find((f) => f.name === name);

  function value(f: Field): unknown | undefined {
    const t = take();
    if (!t) return undefined;
    if (t.k === 'num') return Number(t.v);
    if (t.k === 'str') return t.v;
    if (t.k === 'id' && (t.v === 'date' || t.v === 'datetime')) {
      if (!take('punct', '(')) return undefined;
      const s = take('str');
      if (!s || !take('punct', ')')) return undefined;
      if (t.v === 'datetime') return s.v;
      return f.type === 'date' ? s.v : undefined;
    }
    return undefined;
  }

  function one(): Condition | null {
    if (take('id', 'not')) {
      if (!take('punct', '(')) return null;
      const inner = one();
      if (!inner || !take('punct', ')')) return null;
      if (inner.op === 'contains') return { ...inner, op: 'not_contains' };
      if (inner.op === 'has') return { ...inner, op: 'not_has' };
      return null;
    }
    const s = take('str');
    if (s) {
      if (!take('id', 'in')) return null;
      const id = take('id');
      if (!id || !field(id.v)) return null;
      return { field: id.v, op: 'has', value: s.v };
    }
    const id = take('id');
    if (!id) return null;
    const f = field(id.v);
    if (!f) return null;
    const o = take('op');
    if (o) {
      if (take('id', 'nil')) {
        if (o.v === '==') return { field: f.name, op: 'empty', value: '' };
        if (o.v === '!=') return { field: f.name, op: 'not_empty', value: '' };
        return null;
      }
      if (o.v === '==' && f.type === 'boolean') {
        const b = take('id');
        if (b?.v === 'true') return { field: f.name, op: 'true', value: '' };
        if (b?.v === 'false') return { field: f.name, op: 'false', value: '' };
        return null;
      }
      if ((o.v === '>=' || o.v === '<=') && peek('id', o.v === '>=' ? 'days_ago' : 'days_ahead')) {
        take();
        if (!take('punct', '(')) return null;
        const n = take('num');
        if (!n || !take('punct', ')')) return null;
        return { field: f.name, op: o.v === '>=' ? 'last_days' : 'next_days', value: Number(n.v) };
      }
      const v = value(f);
      if (v === undefined) return null;
      return { field: f.name, op: cmp[o.v], value: v };
    }
    const w = take('id');
    if (!w) return null;
    if (words[w.v]) {
      const s = take('str');
      return s ? { field: f.name, op: words[w.v], value: s.v } : null;
    }
    let neg = false;
    if (w.v === 'not') {
      neg = true;
      if (!take('id', 'in')) return null;
    } else if (w.v !== 'in') return null;
    if (!take('punct', '[')) return null;
    const vals: string[] = [];
    while (!take('punct', ']')) {
      const s = take('str');
      if (!s) return null;
      vals.push(s.v);
      take('punct', ',');
    }
    return { field: f.name, op: neg ? 'not_in' : 'in', value: vals };
  }

  const out: Filter = { join: 'and', conditions: [] };
  let join = '';
  for (;;) {
    const c = one();
    if (!c) return null;
    out.conditions.push(c);
    if (i >= ts.length) break;
    const j = take('id');
    if (!j || (j.v !== 'and' && j.v !== 'or')) return null;
    if (join && join !== j.v) return null; // mixed and/or: raw mode
    join = j.v;
  }
  out.join = (join || 'and') as 'and' | 'or';
  return out;
}

/** position reads where an error points: the API's offset or "(line:column)" in its message. */
export function position(expr: string, e: { message: string; offset?: number; line?: number; column?: number }): number | null {
  if (typeof e.offset === 'number') return e.offset;
  let line = e.line, col = e.column;
  if (line === undefined || col === undefined) {
    const m = /\((\d+):(\d+)\)/.exec(e.message);
    if (!m) return null;
    line = Number(m[1]);
    col = Number(m[2]);
  }
  const lines = expr.split('\n');
  let off = 0;
  for (let k = 0; k < line - 1 && k < lines.length; k++) off += lines[k].length + 1;
  return Math.min(off + col, expr.length);
}
