package dashboards

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
)

// Module serves the dashboards' routes; cmd/jimu hands it to the server
// (server.Deps.Modules).
type Module struct {
	Dashboards *Service
}

// Routes mounts the dashboards under /api/v1 (signed in).
func (m *Module) Routes(public, api fiber.Router) {
	api.Get("/dashboards", m.list)
	api.Post("/dashboards", m.create)
	api.Get("/dashboards/schema", m.schema)
	api.Post("/dashboards/preview", m.preview)
	api.Get("/dashboards/:id", m.get)
	api.Put("/dashboards/:id", m.put)
	api.Delete("/dashboards/:id", m.delete)
	api.Get("/dashboards/:id/widgets/:wid/data", m.data)
	api.Get("/dashboards/:id/widgets/:wid/data.csv", m.csv)
}

func who(c *fiber.Ctx) *identity.Principal { return identity.From(c.UserContext()) }

func (m *Module) list(c *fiber.Ctx) error {
	ds, err := m.Dashboards.List(c.UserContext(), who(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": ds})
}

func (m *Module) schema(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/schema+json")
	return c.Send(Schema)
}

func (m *Module) get(c *fiber.Ctx) error {
	d, err := m.Dashboards.Get(c.UserContext(), who(c), c.Params("id"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, strconv.Quote(strconv.FormatInt(d.Version, 10)))
	return c.JSON(d)
}

// decode validates the body against the schema, then reads it; id,
// owner, version and times are the server's.
func decode(body []byte) (*Dashboard, error) {
	if err := validate(body); err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, problem.BadRequest("body", "malformed_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	d.ID, d.Owner, d.Version = "", "", 0
	return &d, nil
}

func (m *Module) create(c *fiber.Ctx) error {
	in, err := decode(c.Body())
	if err != nil {
		return err
	}
	d, err := m.Dashboards.Save(c.UserContext(), who(c), in, 0)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(d)
}

func (m *Module) put(c *fiber.Ctx) error {
	in, err := decode(c.Body())
	if err != nil {
		return err
	}
	in.ID = c.Params("id")
	var expected int64
	if h := strings.Trim(strings.TrimPrefix(strings.TrimSpace(c.Get(fiber.HeaderIfMatch)), "W/"), `"`); h != "" && h != "*" {
		if expected, err = strconv.ParseInt(h, 10, 64); err != nil || expected < 1 {
			return problem.BadRequest("If-Match", "invalid", "If-Match must be a dashboard version such as \"3\"")
		}
	}
	d, err := m.Dashboards.Save(c.UserContext(), who(c), in, expected)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

func (m *Module) delete(c *fiber.Ctx) error {
	if err := m.Dashboards.Delete(c.UserContext(), who(c), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// filterValues are the dashboard filters' values: filter.<field>=….
func filterValues(c *fiber.Ctx) map[string]string {
	out := map[string]string{}
	for k, v := range c.Queries() {
		if f, ok := strings.CutPrefix(k, "filter."); ok {
			out[f] = v
		}
	}
	return out
}

func (m *Module) data(c *fiber.Ctx) error {
	get := m.Dashboards.Data
	if c.Query("board") == "1" {
		get = m.Dashboards.BoardData // the app, asking every widget at once
	}
	res, err := get(c.UserContext(), who(c), c.Params("id"), c.Params("wid"), filterValues(c))
	if err != nil {
		return err
	}
	return c.JSON(res)
}

// preview answers a widget of a dashboard being built: the body is the
// dashboard (as POST takes it) and ?widget= names the widget to answer.
func (m *Module) preview(c *fiber.Ctx) error {
	d, err := decode(c.Body())
	if err != nil {
		return err
	}
	id := c.Query("widget")
	for i := range d.Widgets {
		if d.Widgets[i].ID == id {
			res, err := m.Dashboards.Preview(c.UserContext(), who(c), d, &d.Widgets[i], filterValues(c))
			if err != nil {
				return err
			}
			return c.JSON(res)
		}
	}
	return problem.BadRequest("widget", "unknown_widget", "the dashboard has no widget %q", id)
}

// csv exports a widget's rows: the keys, the measures, the drill filter.
// A cell that a spreadsheet would run as a formula is prefixed with '.
func (m *Module) csv(c *fiber.Ctx) error {
	res, err := m.Dashboards.Data(c.UserContext(), who(c), c.Params("id"), c.Params("wid"), filterValues(c))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	head := append(append([]string{}, res.GroupBy...), res.Measures...)
	_ = w.Write(append(head, "drill"))
	for _, r := range res.Rows {
		var line []string
		for _, l := range r.Labels {
			line = append(line, cell(l))
		}
		vals := r.Values
		if vals == nil {
			vals = []any{r.Value}
		}
		for _, v := range vals {
			if v == nil {
				line = append(line, "")
			} else {
				line = append(line, fmt.Sprint(v))
			}
		}
		_ = w.Write(append(line, cell(r.Drill)))
	}
	w.Flush()
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+res.Widget+`.csv"`)
	return c.Send(buf.Bytes())
}

func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
