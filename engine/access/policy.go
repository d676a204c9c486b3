package access

import (
	"context"
	"log/slog"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
)

// Policy is the records.Policy of roles and teams.
type Policy struct {
	Roles *Roles
	Dir   *Directory
	St    store.Store
	Log   *slog.Logger
}

var _ records.Policy = (*Policy)(nil)

// grant is one role's grant on an entity.
type grant struct {
	role   *Role
	source string // the entity name or "*"
	*Grant
}

// grants returns the principal's grants on e; admin reports an admin role.
func (p *Policy) grants(ctx context.Context, pr *identity.Principal, e *catalog.Entity) (gs []grant, admin bool) {
	for _, name := range pr.Roles {
		r, ok := p.Roles.Get(ctx, name)
		if !ok {
			continue
		}
		if r.Admin {
			return nil, true
		}
		if g := r.Entities[e.Name]; g != nil {
			gs = append(gs, grant{r, e.Name, g})
		} else if g := r.Entities["*"]; g != nil {
			gs = append(gs, grant{r, "*", g})
		}
	}
	return gs, false
}

func (g grant) rule(op string) Rule {
	switch op {
	case records.OpRead:
		return g.Read
	case records.OpUpdate:
		return g.Update
	case records.OpDelete:
		return g.Delete
	case records.OpCreate:
		return Rule{Allow: g.Create}
	}
	return Rule{}
}

// Allowed reports whether any of the principal's roles grants op.
func (p *Policy) Allowed(ctx context.Context, pr *identity.Principal, e *catalog.Entity, op string) bool {
	if p.Permits(ctx, pr, e, op) {
		return true
	}
	p.deny(ctx, pr, e.Name, op)
	return false
}

// Permits reports what Allowed does, without auditing a refusal: it
// answers questions about the caller's rights (which entities to list,
// which schema to publish), not requests to act.
func (p *Policy) Permits(ctx context.Context, pr *identity.Principal, e *catalog.Entity, op string) bool {
	gs, admin := p.grants(ctx, pr, e)
	if admin {
		return true
	}
	for _, g := range gs {
		if g.rule(op).Allow {
			return true
		}
	}
	return false
}

// deny writes the audit entry of a refused operation.
func (p *Policy) deny(ctx context.Context, pr *identity.Principal, entity, op string) {
	err := p.St.AppendAudit(ctx, &store.AuditEntry{ID: store.NewID(), At: time.Now().UTC(),
		Actor: pr.UserID, IP: pr.IP, Action: "access.denied", Entity: entity, Changes: map[string]any{"operation": op}})
	if err != nil && p.Log != nil {
		p.Log.Warn("access: denial not audited", "err", err)
	}
}

// Scope is the union of the row rules of every role granting op, as one
// condition for the store. A rule that cannot be translated for this user
// grants nothing (fail closed) and is logged.
func (p *Policy) Scope(ctx context.Context, pr *identity.Principal, e *catalog.Entity, op string) (*store.Cond, error) {
	gs, admin := p.grants(ctx, pr, e)
	if admin {
		return nil, nil
	}
	var alts []*store.Cond
	for _, g := range gs {
		r := g.rule(op)
		if !r.Allow {
			continue
		}
		if r.Expr == "" {
			return nil, nil // one role sees everything: the union is everything
		}
		c, err := p.compile(ctx, pr, e, r.Expr)
		if err != nil {
			if p.Log != nil {
				p.Log.Warn("access: rule grants nothing", "role", g.role.Name, "entity", e.Name, "op", op, "err", err)
			}
			continue
		}
		alts = append(alts, c)
	}
	if len(alts) == 0 {
		return &store.Cond{Op: store.OpFalse}, nil
	}
	return store.Or(alts...), nil
}

// compile pushes a rule down for this user. Rules are written by admins and
// may read any field, hidden ones included.
func (p *Policy) compile(ctx context.Context, pr *identity.Principal, e *catalog.Entity, src string) (*store.Cond, error) {
	if pr.SubtreeMemberIDs == nil && p.Dir != nil {
		p.Dir.Enrich(ctx, pr)
	}
	res := &expression.EntityResolver{Entity: e.Entity, Vars: map[string]any{"user": pr.Vars()}}
	c, err := expression.Pushdown(src, res, time.Now())
	if c == nil && err == nil {
		c = &store.Cond{Op: store.OpTrue}
	}
	return c, err
}

// Field merges field permissions by union of rights: a field is hidden only
// if every role that lets the user read the entity hides it, and read-only
// only if every role that lets them write it says so.
func (p *Policy) Field(pr *identity.Principal, e *catalog.Entity, field string) (hidden, readOnly bool) {
	gs, admin := p.grants(context.Background(), pr, e)
	if admin {
		return false, false
	}
	hidden, readOnly = true, true
	readers, writers := 0, 0
	for _, g := range gs {
		perm := g.Fields[field]
		if g.Read.Allow {
			readers++
			if perm != Hidden {
				hidden = false
			}
		}
		if g.Create || g.Update.Allow {
			writers++
			if perm == "" {
				readOnly = false
			}
		}
	}
	if readers == 0 {
		hidden = true
	}
	if writers == 0 {
		readOnly = true
	}
	return hidden, readOnly || hidden
}

// CanAssignOwner reports whether a role lets the principal set owners.
func (p *Policy) CanAssignOwner(pr *identity.Principal, e *catalog.Entity) bool {
	for _, name := range pr.Roles {
		if r, ok := p.Roles.Get(context.Background(), name); ok && (r.Admin || r.AssignOwner) {
			return true
		}
	}
	return false
}

// CanExport and CanImport report the bulk rights a later import/export
// module checks.
func (p *Policy) CanExport(ctx context.Context, pr *identity.Principal, e *catalog.Entity) bool {
	return p.bulk(ctx, pr, e, func(g grant) bool { return g.Export })
}

func (p *Policy) CanImport(ctx context.Context, pr *identity.Principal, e *catalog.Entity) bool {
	return p.bulk(ctx, pr, e, func(g grant) bool { return g.Import })
}

func (p *Policy) bulk(ctx context.Context, pr *identity.Principal, e *catalog.Entity, ok func(grant) bool) bool {
	gs, admin := p.grants(ctx, pr, e)
	if admin {
		return true
	}
	for _, g := range gs {
		if ok(g) {
			return true
		}
	}
	return false
}
