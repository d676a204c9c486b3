// Package dashboards will hold dashboard and widget metadata. A widget's
// query runs as a store aggregate (store.Store.Aggregate) under the viewer's
// access rules, and go-echarts renders the result. It never imports forms or
// workflows.
package dashboards
