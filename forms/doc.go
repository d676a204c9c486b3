// Package forms holds saved views and forms: form metadata (layouts of an
// entity's fields with conditional rules, versioned, several per entity),
// the server-side evaluation and enforcement of those rules on every write
// through a form (a records.Hook inside the write pipeline), and public web
// forms at /f/{slug} with their spam protection. It builds on the engine's
// records API and write pipeline; it never imports workflows or
// dashboards.
package forms
