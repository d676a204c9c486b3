package dashboards

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jimu-crm/jimu/metadata"
)

// KindDashboard is the store document kind of dashboards.
const KindDashboard = "dashboard"

// Dashboard is a board of widgets. It is its owner's, and shown also to
// the roles it is shared with, or to everyone.
type Dashboard struct {
	ID          string        `json:"id"`
	Name        metadata.Text `json:"name"`
	Description string        `json:"description,omitempty"`
	TimeZone    string        `json:"timezone,omitempty"` // IANA; "" is UTC
	Sharing     Sharing       `json:"sharing"`
	Filters     []Filter      `json:"filters,omitempty"`
	Widgets     []Widget      `json:"widgets"`
	Owner       string        `json:"owner"`
	Version     int64         `json:"version"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

// Sharing is "private", "everyone" or {"roles": [...]}.
type Sharing struct {
	Everyone bool
	Roles    []string
}

func (s Sharing) MarshalJSON() ([]byte, error) {
	switch {
	case s.Everyone:
		return []byte(`"everyone"`), nil
	case len(s.Roles) > 0:
		return json.Marshal(map[string][]string{"roles": s.Roles})
	}
	return []byte(`"private"`), nil
}

func (s *Sharing) UnmarshalJSON(b []byte) error {
	var word string
	if json.Unmarshal(b, &word) == nil {
		switch word {
		case "private", "":
			*s = Sharing{}
		case "everyone":
			*s = Sharing{Everyone: true}
		default:
			return fmt.Errorf("sharing is \"private\", \"everyone\" or {\"roles\": [...]}, not %q", word)
		}
		return nil
	}
	var r struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("sharing is \"private\", \"everyone\" or {\"roles\": [...]}")
	}
	*s = Sharing{Roles: r.Roles}
	return nil
}

// Filter is a dashboard filter: it applies to every widget whose entity
// has its field. Its value comes with the request (filter.<field>=…) or
// is its Default.
type Filter struct {
	Type    string        `json:"type"`  // date, owner, select
	Field   string        `json:"field"` // date: a date or datetime field; owner: "owner"; select: a select field
	Label   metadata.Text `json:"label,omitempty"`
	Default string        `json:"default,omitempty"` // date: a preset or from..to; owner: "me" or a user id; select: values, comma-separated
}

// Widget is one chart, number or table on a board.
type Widget struct {
	ID         string        `json:"id"`
	Type       string        `json:"type"`
	Title      metadata.Text `json:"title,omitempty"`
	Query      Query         `json:"query"`
	Target     *float64      `json:"target,omitempty"`     // kpi and gauge
	Cumulative bool          `json:"cumulative,omitempty"` // line and area
	Colors     []string      `json:"colors,omitempty"`
	Layout     *Layout       `json:"layout,omitempty"`
}

// Layout places a widget on the board's 12-column grid.
type Layout struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// Query is what a widget measures.
type Query struct {
	Entity   string    `json:"entity"`
	Filter   string    `json:"filter,omitempty"`
	GroupBy  []GroupBy `json:"group_by,omitempty"`
	Measure  *Measure  `json:"measure,omitempty"`  // one measure, or
	Measures []Measure `json:"measures,omitempty"` // several (table, grouped bar)
	Sort     string    `json:"sort,omitempty"`     // key, -key, value, -value (the first measure), value.N, -value.N (measure N)
	Limit    int       `json:"limit,omitempty"`    // top N; the rest is folded into "Other"
	TimeZone string    `json:"timezone,omitempty"` // overrides the dashboard's
}

// GroupBy is a field, or a date bucket of a date or datetime field.
type GroupBy struct {
	Field  string `json:"field"`
	Bucket string `json:"bucket,omitempty"`
}

// Measure is count, or an operation on a field.
type Measure struct {
	Op    string `json:"op"`
	Field string `json:"field,omitempty"`
}

// measures is the query's measures, count when none is given.
func (q *Query) measures() []Measure {
	if len(q.Measures) > 0 {
		return q.Measures
	}
	if q.Measure != nil {
		return []Measure{*q.Measure}
	}
	return []Measure{{Op: "count"}}
}

// WidgetTypes are the widget types, with how many group-bys each takes.
var WidgetTypes = map[string][2]int{
	"kpi": {0, 0}, "gauge": {0, 0},
	"bar": {1, 2}, "stacked_bar": {2, 2}, "grouped_bar": {1, 2},
	"line": {1, 2}, "area": {1, 2},
	"pie": {1, 1}, "donut": {1, 1},
	"funnel": {1, 1},
	"table":  {1, 2},
	"pivot":  {2, 2},
}
