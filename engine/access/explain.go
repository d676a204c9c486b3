package access

import (
	"context"
	"slices"
	"sort"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// RuleCheck is one role's rule for one operation and whether the record
// matches it.
type RuleCheck struct {
	Role    string `json:"role"`
	Source  string `json:"grant"` // the entity the grant is for, or "*"
	Rule    Rule   `json:"rule"`
	Matches bool   `json:"matches"`
	Error   string `json:"error,omitempty"`
}

// Explanation answers why a user can or cannot act on a record.
type Explanation struct {
	User     string                 `json:"user"`
	Roles    []string               `json:"roles"`
	Entity   string                 `json:"entity"`
	RecordID string                 `json:"record_id,omitempty"`
	Exists   bool                   `json:"record_exists"`
	Admin    bool                   `json:"admin"`
	Can      map[string]bool        `json:"can"`
	Rules    map[string][]RuleCheck `json:"rules"`
	Fields   map[string]string      `json:"fields"` // field → hidden | read_only (only restricted ones)
}

// Explain evaluates every role of pr against the record id of entity e,
// running each rule as a query so the answer is what the store would do.
func (p *Policy) Explain(ctx context.Context, pr *identity.Principal, e *catalog.Entity, id string) (*Explanation, error) {
	// The report's roles are sorted; the principal's stay as they are.
	x := &Explanation{User: pr.UserID, Roles: slices.Clone(pr.Roles), Entity: e.Name, RecordID: id,
		Can: map[string]bool{}, Rules: map[string][]RuleCheck{}, Fields: map[string]string{}}
	idc := &store.Cond{Op: store.OpEq, Field: "id", Kind: metadata.KindString, Value: id}
	if id != "" {
		rs, err := p.St.Find(ctx, e.Name, store.Query{Filter: idc, Limit: 1})
		if err != nil {
			return nil, err
		}
		x.Exists = len(rs) == 1
	}
	gs, admin := p.grants(ctx, pr, e)
	x.Admin = admin
	ops := []string{records.OpCreate, records.OpRead, records.OpUpdate, records.OpDelete}
	for _, op := range ops {
		x.Can[op] = admin // every operation is answered, true or false
		if admin {
			continue
		}
		for _, g := range gs {
			r := g.rule(op)
			rc := RuleCheck{Role: g.role.Name, Source: g.source, Rule: r}
			switch {
			case !r.Allow:
			case op == records.OpCreate || id == "":
				rc.Matches = true
			case r.Expr == "":
				rc.Matches = x.Exists
			default:
				c, err := p.compile(ctx, pr, e, r.Expr)
				if err != nil {
					rc.Error = err.Error()
					break
				}
				rs, err := p.St.Find(ctx, e.Name, store.Query{Filter: store.And(idc, c), Limit: 1})
				if err != nil {
					return nil, err
				}
				rc.Matches = len(rs) == 1
			}
			x.Rules[op] = append(x.Rules[op], rc)
			if rc.Matches {
				x.Can[op] = true
			}
		}
	}
	if !admin {
		for _, f := range e.LiveFields() {
			h, ro := p.Field(pr, e, f.Name)
			switch {
			case h:
				x.Fields[f.Name] = Hidden
			case ro:
				x.Fields[f.Name] = ReadOnlyPerm
			}
		}
	}
	sort.Strings(x.Roles)
	return x, nil
}

// ForUser builds the principal of another user, for Explain.
func ForUser(ctx context.Context, d *Directory, id, email, name string, roles, teams []string, attrs map[string]string) *identity.Principal {
	pr := &identity.Principal{UserID: id, Email: email, Name: name, Roles: roles, Teams: teams, Attributes: attrs}
	if d != nil {
		d.Enrich(ctx, pr)
	}
	return pr
}
