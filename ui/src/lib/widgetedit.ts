// What the builder may offer for a widget: the measures it can hold, the
// fields each measure makes sense on, and how its sort is named. The
// server checks the same when it saves (dashboards/check.go); offering
// only what fits keeps a person from building a widget it refuses.
import type { Field } from './meta.svelte';
import type { Measure, Widget } from './dashboards';

export const ops = ['count', 'sum', 'avg', 'min', 'max', 'count_distinct'];
export const buckets = ['', 'hour', 'day', 'week', 'month', 'quarter', 'year'];

const numbers = ['number', 'currency', 'percent', 'integer'];
const dates = ['date', 'datetime'];
// Lists cannot be grouped or measured; JSON has no order or identity the
// stores agree on.
const unmeasurable = ['multi_select', 'tags', 'json', 'formula'];

/** fieldsFor is the fields op measures: numbers for sum and avg, numbers and dates for min and max. */
export function fieldsFor(op: string, fields: Field[]): Field[] {
  switch (op) {
    case 'count':
      return [];
    case 'sum':
    case 'avg':
      return fields.filter((f) => numbers.includes(f.type));
    case 'min':
    case 'max':
      return fields.filter((f) => numbers.includes(f.type) || dates.includes(f.type));
  }
  return fields.filter((f) => !unmeasurable.includes(f.type));
}

/** groupable is the fields a widget may group by. */
export const groupable = (fields: Field[]) => fields.filter((f) => !unmeasurable.includes(f.type));
export const isDate = (f: Field | undefined) => !!f && dates.includes(f.type);

/** measuresOf is the widget's measures, one count when it names none. */
export function measuresOf(w: Widget): Measure[] {
  if (w.query.measures?.length) return w.query.measures;
  return [w.query.measure ?? { op: 'count' }];
}

/** setMeasures stores one measure as measure, several as measures (the API takes either, not both). */
export function setMeasures(w: Widget, ms: Measure[]) {
  if (ms.length === 1) {
    w.query.measure = ms[0];
    delete w.query.measures;
  } else {
    w.query.measures = ms;
    delete w.query.measure;
  }
  // A sort by a measure that is gone falls back to the default.
  const m = /^-?value\.(\d)$/.exec(w.query.sort ?? '');
  if (m && Number(m[1]) >= ms.length) delete w.query.sort;
}

/** severalMeasures: a table, or a bar or line of one grouping, draws each measure; other charts one. */
export function severalMeasures(w: Widget): boolean {
  if (w.type === 'table') return true;
  return ['bar', 'grouped_bar', 'line', 'area'].includes(w.type) && (w.query.group_by?.length ?? 0) < 2;
}

/** sortValues are the sorts a widget offers: by key, or by each of its measures. */
export function sortValues(n: number): { value: string; dir: string; measure: number }[] {
  const out = [{ value: '', dir: 'none', measure: -1 }, { value: 'key', dir: 'key', measure: -1 }, { value: '-key', dir: '-key', measure: -1 }];
  for (let i = 0; i < n; i++) {
    const v = i === 0 ? 'value' : 'value.' + i;
    out.push({ value: '-' + v, dir: '-value', measure: i }, { value: v, dir: 'value', measure: i });
  }
  return out;
}

/** fills says whether the server fills a widget's empty time buckets (dashboards/data.go). */
export function fills(w: Widget): 'yes' | 'no' | '' {
  const g = w.query.group_by ?? [];
  if (g.length !== 1 || !g[0].bucket || !['bar', 'stacked_bar', 'grouped_bar', 'line', 'area', 'table'].includes(w.type)) return '';
  return w.query.sort || w.query.limit ? 'no' : 'yes';
}
