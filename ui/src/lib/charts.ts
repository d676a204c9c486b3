// ECharts, loaded only by the dashboard pages (a dynamic import keeps it
// out of the workspace bundle), with the charts and components the
// server's options use. Options arrive from the server as data: record
// text is drawn on a canvas, and tooltips are rich text drawn there too
// (renderMode 'richText'), so no record text is ever parsed as HTML.
import * as echarts from 'echarts/core';
import { BarChart, LineChart, PieChart, FunnelChart, GaugeChart } from 'echarts/charts';
import { TooltipComponent, LegendComponent, GridComponent, TitleComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([BarChart, LineChart, PieChart, FunnelChart, GaugeChart, TooltipComponent, LegendComponent, GridComponent, TitleComponent, CanvasRenderer]);

export type Chart = echarts.ECharts;

/** draw renders an option into el; onclick gets the clicked item's drill filter. */
export function draw(el: HTMLElement, option: Record<string, unknown>, onclick: (drill: string) => void): Chart {
  const chart = echarts.init(el, undefined, { renderer: 'canvas' });
  const tooltip = { ...((option.tooltip as object) ?? {}), renderMode: 'richText', confine: true };
  chart.setOption({ ...option, tooltip, grid: { left: 48, right: 16, top: 32, bottom: 32, containLabel: true } });
  chart.on('click', (p: { data?: unknown }) => {
    const d = p.data as { drill?: string } | null;
    if (d && typeof d.drill === 'string') onclick(d.drill);
  });
  return chart;
}
