// Package dashboards holds dashboard and widget metadata and answers a
// widget's data. A widget's query runs as a store aggregate through the
// records service (records.Service.Aggregate), so it is computed in the
// store under the viewer's row rules and field permissions, and kept by
// the store's aggregate cache until the entity is next written.
// go-echarts' option types turn the rows into an ECharts option. It never
// imports forms or workflows.
package dashboards
