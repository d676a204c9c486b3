package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/jimu-crm/jimu/"

// allowed lists, per top-level folder, the Jimu folders its packages may
// import (ARCHITECTURE.md). Imports inside the same folder are always fine.
var allowed = map[string][]string{
	"plugins":      {},
	"metadata":     {"plugins"},
	"engine/store": {"metadata", "engine/store"},
	"engine":       {"metadata", "plugins", "engine"},
	"forms":        {"engine", "metadata", "plugins"},
	"workflows":    {"engine", "metadata", "plugins"},
	"dashboards":   {"engine", "metadata", "plugins"},
	"templates":    {"engine", "metadata", "forms", "workflows", "dashboards", "plugins"},
	"cmd":          {"engine", "metadata", "forms", "workflows", "dashboards", "plugins", "templates", "ui", "cmd"},
	"ui":           {},
}

// drivers may be imported only by their store package.
var drivers = map[string]string{
	"modernc.org/sqlite":          "engine/store/sqlite",
	"go.mongodb.org/mongo-driver": "engine/store/mongo",
}

func area(pkg string) string {
	rel := strings.TrimPrefix(pkg, mod)
	if strings.HasPrefix(rel, "engine/store") {
		return "engine/store"
	}
	return strings.SplitN(rel, "/", 2)[0]
}

// TestImportDirection fails when an import breaks the layering: imports
// point one way, and forms, workflows and dashboards never import each
// other.
func TestImportDirection(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "../../...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(out)
	n := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		from := area(p.ImportPath)
		rel := strings.TrimPrefix(p.ImportPath, mod)
		for _, imp := range p.Imports {
			for drv, owner := range drivers {
				if strings.HasPrefix(imp, drv) && !strings.HasPrefix(rel, owner) {
					t.Errorf("%s imports %s; only %s may", rel, imp, owner)
				}
			}
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			to := area(imp)
			if to == from {
				continue
			}
			ok := false
			for _, a := range allowed[from] {
				if to == a || (a == "engine" && to == "engine/store") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s: %s may import only %v", rel, strings.TrimPrefix(imp, mod), from, allowed[from])
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("listed only %d packages", n)
	}
}
