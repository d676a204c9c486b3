package forms_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/server/servertest"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
)

// wideForm is a 40-field form over a 40-field entity: every field has a
// show_when, every other a require_when, every fourth a read_only_when,
// and the selects an options_when — 110 conditions evaluated per call.
func wideForm(e *servertest.Env) string {
	fields := []any{}
	formFields := []any{}
	types := []string{"text", "number", "select", "date", "boolean"}
	for i := range 40 {
		f := map[string]any{"name": fmt.Sprintf("f%02d", i), "type": types[i%len(types)]}
		if f["type"] == "select" {
			f["options"] = []any{map[string]any{"value": "a"}, map[string]any{"value": "b"}, map[string]any{"value": "c"}}
		}
		fields = append(fields, f)
		ff := map[string]any{"field": f["name"]}
		prev := fmt.Sprintf("f%02d", (i+39)%40)
		switch types[(i+39)%40%len(types)] {
		case "text":
			ff["show_when"] = prev + ` != "hide"`
		case "number":
			ff["show_when"] = prev + " == nil or " + prev + " < 1000"
		case "select":
			ff["show_when"] = prev + ` in ["a", "b"] or ` + prev + " == nil"
		case "date":
			ff["show_when"] = prev + ` == nil or ` + prev + ` >= date("2026-01-01")`
		default:
			ff["show_when"] = "not (" + prev + " == true)"
		}
		if i%2 == 0 {
			ff["require_when"] = `f02 == "a" and f01 > 10`
		}
		if i%4 == 0 {
			ff["read_only_when"] = `f04 == true or user.id == ""`
		}
		if f["type"] == "select" {
			ff["options_when"] = []any{map[string]any{"when": "f01 > 100", "options": []any{"a", "b"}}}
		}
		formFields = append(formFields, ff)
	}
	e.Do("POST", "/api/v1/meta/entities", map[string]any{"name": "wide", "fields": fields}, 201, nil)
	var f formOut
	e.Do("POST", "/api/v1/meta/forms", map[string]any{"name": "wide", "entity": "wide",
		"sections": []any{map[string]any{"columns": 2, "fields": formFields}}}, 201, &f)
	return f.ID
}

// BenchmarkEvaluate40: the live preview's call for a 40-field form, one
// request at a time through the real HTTP server on SQLite, as a person
// typing sends them. Reports the p50 and p99 of the server's time
// (Server-Timing: reading the form, compiling once, evaluating) and of
// the whole round trip on loopback (authentication and JSON included).
func BenchmarkEvaluate40(b *testing.B) {
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "jimu.db"))
	if err != nil {
		b.Fatal(err)
	}
	e := start(b, st)
	id := wideForm(e)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	body := []byte(`{"values":{"f00":"x","f01":150,"f02":"a","f03":"2026-03-01","f04":false,"f05":"y","f06":7,"f07":"b"}}`)
	server := make([]float64, 0, b.N)
	trip := make([]float64, 0, b.N)
	b.ResetTimer()
	for range b.N {
		req, _ := http.NewRequest("POST", e.Base+"/api/v1/forms/"+id+"/evaluate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.Token)
		t0 := time.Now()
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(res.Body)
		res.Body.Close()
		trip = append(trip, float64(time.Since(t0).Microseconds())/1000)
		if res.StatusCode != 200 || !bytes.Contains(out, []byte(`"visible"`)) || !bytes.Contains(out, []byte(`"errors":[]`)) {
			b.Fatalf("status %d: %s", res.StatusCode, out)
		}
		ms, err := strconv.ParseFloat(strings.TrimPrefix(res.Header.Get("Server-Timing"), "eval;dur="), 64)
		if err != nil {
			b.Fatalf("Server-Timing %q", res.Header.Get("Server-Timing"))
		}
		server = append(server, ms)
	}
	b.StopTimer()
	pct := func(xs []float64, p float64) float64 {
		slices.Sort(xs)
		return xs[min(len(xs)-1, int(float64(len(xs))*p))]
	}
	b.ReportMetric(pct(server, 0.50), "server-p50-ms")
	b.ReportMetric(pct(server, 0.99), "server-p99-ms")
	b.ReportMetric(pct(trip, 0.50), "trip-p50-ms")
	b.ReportMetric(pct(trip, 0.99), "trip-p99-ms")
}
