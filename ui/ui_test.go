package ui

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// budget is the workspace's JavaScript, gzipped, the issue allows.
const budget = 250_000

// TestBundleBudget: all the app's JavaScript together, gzipped, stays
// under the budget (heavier parts must load only where used).
func TestBundleBudget(t *testing.T) {
	if !Built() {
		if os.Getenv("CI") == "true" {
			t.Fatal("the app is not built: run `make ui` (make test does) before the tests")
		}
		t.Skip("the app is not built (make ui)")
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	n := 0
	err := fs.WalkDir(Files(), "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, err := fs.ReadFile(Files(), p)
		if err != nil {
			return err
		}
		n++
		_, err = zw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	zw.Close()
	t.Logf("%d JavaScript files, %d bytes gzipped together (budget %d)", n, buf.Len(), budget)
	if n == 0 || buf.Len() > budget {
		t.Fatalf("the app's JavaScript is %d bytes gzipped in %d files; the budget is %d", buf.Len(), n, budget)
	}
}

// TestPlaceholder: a binary without the build still says how to build it.
func TestPlaceholder(t *testing.T) {
	b, err := fs.ReadFile(dist, "dist/placeholder/index.html")
	if err != nil || !bytes.Contains(b, []byte("make run")) {
		t.Fatalf("placeholder: %v %q", err, b)
	}
}
