package dashboards

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/jimu-crm/jimu/engine/problem"
)

// Schema is the JSON Schema (draft 2020-12) of a dashboard as a client
// sends it; GET /api/v1/dashboards/schema publishes it.
//
//go:embed dashboard.schema.json
var Schema []byte

var schema = func() *jsonschema.Schema {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource("urn:jimu:dashboard", bytes.NewReader(Schema)); err != nil {
		panic(err)
	}
	return c.MustCompile("urn:jimu:dashboard")
}()

// validate checks a client's document against the schema; the errors
// name the path (widgets.1.query.measure.op), and the widget by its id
// where the document gives one.
func validate(body []byte) error {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return problem.BadRequest("body", "malformed_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return problem.BadRequest("body", "trailing_data", "the body holds data after the JSON object")
	}
	err := schema.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return problem.BadRequest("body", "invalid", "%v", err)
	}
	var errs []problem.FieldError
	seen := map[string]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			path := strings.ReplaceAll(strings.TrimPrefix(e.InstanceLocation, "/"), "/", ".")
			if path == "" {
				path = "body"
			}
			if seen[path] {
				return
			}
			seen[path] = true
			errs = append(errs, problem.FieldError{Field: path, Code: "schema", Message: widgetPrefix(doc, path) + e.Message})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.Slice(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return problem.Invalid(errs...)
}

// widgetPrefix is "widget by_stage: " for a path inside a widget.
func widgetPrefix(doc any, path string) string {
	var i int
	if _, err := fmt.Sscanf(path, "widgets.%d", &i); err != nil {
		return ""
	}
	m, _ := doc.(map[string]any)
	ws, _ := m["widgets"].([]any)
	if i < len(ws) {
		if w, ok := ws[i].(map[string]any); ok {
			if id, ok := w["id"].(string); ok && id != "" {
				return "widget " + id + ": "
			}
		}
	}
	return fmt.Sprintf("widget %d: ", i+1)
}
