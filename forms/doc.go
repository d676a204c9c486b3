// Package forms will hold form and view metadata, layout rendering, the
// drag-and-drop form builder and public web forms (web-to-lead). It builds on
// the engine's records API and write pipeline; it never imports workflows or
// dashboards.
package forms
