package ui

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// budget is the workspace's JavaScript, gzipped, the issue allows;
// chartsBudget is ECharts' (issue 18), which only dashboard pages load.
const (
	budget       = 250_000
	chartsBudget = 220_000
)

// chartsChunk is ECharts' chunk (ui/src/lib/charts.ts), apart from the
// workspace's budget.
func chartsChunk(p string) bool { return strings.HasPrefix(p, "assets/charts-") }

// TestBundleBudget: all the app's JavaScript together but ECharts,
// gzipped, stays under the budget (heavier parts must load only where
// used).
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
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") || chartsChunk(p) {
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

// TestChartsLoadOnlyOnDashboards: ECharts is one chunk, under its own
// budget, that the page the app starts with neither loads nor preloads:
// only the dashboard pages reach it.
func TestChartsLoadOnlyOnDashboards(t *testing.T) {
	if !Built() {
		if os.Getenv("CI") == "true" {
			t.Fatal("the app is not built: run `make ui` (make test does) before the tests")
		}
		t.Skip("the app is not built (make ui)")
	}
	entries, err := fs.ReadDir(Files(), "assets")
	if err != nil {
		t.Fatal(err)
	}
	var chunk string
	for _, e := range entries {
		p := "assets/" + e.Name()
		if chartsChunk(p) && strings.HasSuffix(p, ".js") {
			chunk = e.Name()
		}
	}
	if chunk == "" {
		t.Fatal("no ECharts chunk (assets/charts-*.js)")
	}
	b, _ := fs.ReadFile(Files(), "assets/"+chunk)
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	t.Logf("ECharts: %d bytes gzipped (budget %d)", buf.Len(), chartsBudget)
	if buf.Len() > chartsBudget {
		t.Errorf("ECharts is %d bytes gzipped; its budget is %d", buf.Len(), chartsBudget)
	}
	// The widget component (the board's and the builder's) imports it,
	// and only the dashboard pages import the widget.
	loadedOnlyBy(t, entries, "charts-", "WidgetView-")
	loadedOnlyBy(t, entries, "WidgetView-", "DashboardPage-", "DashboardBuilder-")
}

// TestGridLoadsOnlyInTheBuilder: gridstack (ui/src/lib/grid.ts) is a
// chunk of its own that only the dashboard builder imports, so neither
// the workspace nor the board loads it.
func TestGridLoadsOnlyInTheBuilder(t *testing.T) {
	if !Built() {
		if os.Getenv("CI") == "true" {
			t.Fatal("the app is not built: run `make ui` (make test does) before the tests")
		}
		t.Skip("the app is not built (make ui)")
	}
	entries, err := fs.ReadDir(Files(), "assets")
	if err != nil {
		t.Fatal(err)
	}
	loadedOnlyBy(t, entries, "grid-", "DashboardBuilder-")
}

// loadedOnlyBy checks that the JavaScript chunk named prefix* exists, that
// index.html neither loads nor preloads it, and that only chunks named by
// one of importers import it ("./chunk"). The entry's map of what each lazy
// page needs ("assets/chunk") fetches it only with the page that lists it.
func loadedOnlyBy(t *testing.T, entries []fs.DirEntry, prefix string, importers ...string) {
	t.Helper()
	var chunk string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && strings.HasSuffix(e.Name(), ".js") {
			chunk = e.Name()
		}
	}
	if chunk == "" {
		t.Fatalf("no chunk assets/%s*.js", prefix)
	}
	index, _ := fs.ReadFile(Files(), "index.html")
	if bytes.Contains(index, []byte(chunk)) {
		t.Errorf("index.html loads %s", chunk)
	}
	var got []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".js") && e.Name() != chunk {
			js, _ := fs.ReadFile(Files(), "assets/"+e.Name())
			if bytes.Contains(js, []byte("./"+chunk)) {
				got = append(got, e.Name())
			}
		}
	}
	if len(got) == 0 {
		t.Errorf("nothing imports %s", chunk)
	}
	for _, g := range got {
		ok := false
		for _, want := range importers {
			ok = ok || strings.HasPrefix(g, want)
		}
		if !ok {
			t.Errorf("%s is imported by %s, want only by %v", chunk, g, importers)
		}
	}
}
