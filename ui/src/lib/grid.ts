// Gridstack, loaded only by the dashboard builder (a dynamic import keeps
// it, and its stylesheet, out of the board and the workspace): widgets
// are arranged and resized by drag on the board's 12-column grid, and each
// move reports the new places so the dashboard's layouts follow.
import { GridStack, type GridStackNode } from 'gridstack';
import 'gridstack/dist/gridstack.min.css';

export type Grid = GridStack;
export interface Place { id: string; x: number; y: number; w: number; h: number }

/** mountGrid makes el's .grid-stack-item children draggable and resizable; onchange gets every item that moved. */
export function mountGrid(el: HTMLElement, onchange: (places: Place[]) => void): Grid {
  const grid = GridStack.init({ column: 12, cellHeight: 60, margin: 6, mode: 'float', handle: '.drag-handle', alwaysShowResizeHandle: true, resizable: { handles: 'se' } }, el)!;
  grid.on('change', (_e: Event, nodes: GridStackNode[]) => {
    onchange(nodes.filter((n) => n.el?.dataset.wid).map((n) => ({ id: n.el!.dataset.wid!, x: n.x ?? 0, y: n.y ?? 0, w: n.w ?? 1, h: n.h ?? 1 })));
  });
  return grid;
}
