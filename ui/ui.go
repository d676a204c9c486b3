// Package ui holds the workspace app's built files, embedded in the binary.
//
// `make ui` (vite) builds the app into dist/app, which git ignores; a clone
// that never built it embeds only dist/placeholder, a page that says how to
// build it, so `go build ./...` works without Node.js. The app's sources are
// in src/ (Svelte 5 + TypeScript).
package ui

import (
	"embed"
	"io/fs"
)

// dist always exists: dist/placeholder is tracked, since go:embed refuses a
// pattern that matches nothing and vite empties the folder it builds into.
//
//go:embed dist
var dist embed.FS

// Files are the files to serve at /: the built app, or the placeholder.
func Files() fs.FS {
	if Built() {
		sub, _ := fs.Sub(dist, "dist/app")
		return sub
	}
	sub, _ := fs.Sub(dist, "dist/placeholder")
	return sub
}

// Built reports whether the binary holds the built app.
func Built() bool {
	_, err := fs.Stat(dist, "dist/app/index.html")
	return err == nil
}
