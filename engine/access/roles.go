// Package access is Jimu's access control: roles that grant, per entity,
// create/read/update/delete/import/export with a row rule per operation,
// field permissions (hidden, read-only), teams forming an org tree, and the
// records.Policy that pushes all of it into every store query. Deny by
// default; several roles merge by union.
package access

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

const roleKind = "role"

// Built-in role names.
const (
	Admin    = "admin"
	Manager  = "manager"
	SalesRep = "sales_rep"
	ReadOnly = "read_only"
)

// Field permissions.
const (
	Hidden       = "hidden"
	ReadOnlyPerm = "read_only"
)

// Permissions a role may carry besides its grants on entities: rights to
// parts of Jimu that are not records. An admin role has them all.
const (
	// DesignForms lets a role's holders build, change, publish and delete
	// forms (/api/v1/meta/forms) for the entities they may use.
	DesignForms = "design_forms"
)

// KnownPermissions are the permissions a role may name.
var KnownPermissions = []string{DesignForms}

// Rule is a permission: true, false, or an expression over the record and
// user that is pushed down into the store's query.
type Rule struct {
	Allow bool   // when Expr is empty
	Expr  string // a row condition
}

// UnmarshalJSON reads true, false or an expression string.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*r = Rule{Allow: x}
	case string:
		switch strings.TrimSpace(x) {
		case "true":
			*r = Rule{Allow: true}
		case "false", "":
			*r = Rule{}
		default:
			*r = Rule{Allow: true, Expr: strings.TrimSpace(x)}
		}
	case nil:
		*r = Rule{}
	default:
		return fmt.Errorf("a rule is true, false or an expression, not %s", bytes.TrimSpace(b))
	}
	return nil
}

// MarshalJSON writes the rule back as true, false or the expression.
func (r Rule) MarshalJSON() ([]byte, error) {
	if r.Expr != "" {
		return json.Marshal(r.Expr)
	}
	return json.Marshal(r.Allow)
}

// Grant is what a role allows on one entity.
type Grant struct {
	Create bool              `json:"create"`
	Read   Rule              `json:"read"`
	Update Rule              `json:"update"`
	Delete Rule              `json:"delete"`
	Import bool              `json:"import"`
	Export bool              `json:"export"`
	Fields map[string]string `json:"fields,omitempty"` // field → hidden | read_only
}

// Role is a named set of grants. Entities["*"] applies to every entity
// without a grant of its own.
type Role struct {
	Name        string `json:"name"`
	Label       string `json:"label"`
	Description string `json:"description,omitempty"`
	Admin       bool   `json:"admin,omitempty"`        // everything, metadata included
	AssignOwner bool   `json:"assign_owner,omitempty"` // may set and change record owners
	Require2FA  bool   `json:"require_second_factor,omitempty"`
	// Permissions are rights beyond records (KnownPermissions).
	Permissions []string          `json:"permissions,omitempty"`
	Entities    map[string]*Grant `json:"entities"`
	BuiltIn     bool              `json:"built_in,omitempty"`
	Version     int64             `json:"version"`
}

// BuiltIns are created on first start; admins may change all but admin.
func BuiltIns() []*Role {
	own := "owner == user.id"
	subtree := "owner in user.subtree_member_ids"
	return []*Role{
		{Name: Admin, Label: "Admin", Admin: true, AssignOwner: true, BuiltIn: true,
			Description: "Everything, metadata, users and roles included.", Entities: map[string]*Grant{}},
		{Name: Manager, Label: "Manager", AssignOwner: true, BuiltIn: true,
			Description: "Records owned by anyone in the teams they manage.",
			Entities: map[string]*Grant{"*": {Create: true, Read: Rule{true, subtree}, Update: Rule{true, subtree},
				Delete: Rule{true, subtree}, Import: true, Export: true}}},
		{Name: SalesRep, Label: "Sales Rep", BuiltIn: true, Description: "Their own records.",
			Entities: map[string]*Grant{"*": {Create: true, Read: Rule{true, own}, Update: Rule{true, own}, Delete: Rule{true, own}}}},
		{Name: ReadOnly, Label: "Read-only", BuiltIn: true, Description: "Reads every record, changes nothing.",
			Entities: map[string]*Grant{"*": {Read: Rule{Allow: true}}}},
	}
}

// Roles keeps the roles, cached from the store.
type Roles struct {
	st  store.Store
	cat *catalog.Catalog

	mu     sync.RWMutex
	roles  map[string]*Role
	loaded time.Time
}

// NewRoles returns the role service; call Load.
func NewRoles(st store.Store, cat *catalog.Catalog) *Roles {
	return &Roles{st: st, cat: cat, roles: map[string]*Role{}}
}

// refreshEvery bounds how stale another node's role change can be here.
const refreshEvery = 10 * time.Second

// Load reads the roles, creating the built-in ones that are missing.
func (rs *Roles) Load(ctx context.Context) error {
	docs, err := rs.st.ListDocs(ctx, roleKind)
	if err != nil {
		return err
	}
	m := map[string]*Role{}
	for _, d := range docs {
		var r Role
		if err := json.Unmarshal(d.Data, &r); err != nil {
			return fmt.Errorf("role %s: %w", d.ID, err)
		}
		r.Version = d.Version
		m[r.Name] = &r
	}
	for _, b := range BuiltIns() {
		if m[b.Name] != nil {
			continue
		}
		data, _ := json.Marshal(b)
		err := rs.st.PutDoc(ctx, &store.Doc{Kind: roleKind, ID: b.Name, Version: 1, Data: data}, store.Sides{})
		if err != nil && !errors.Is(err, store.ErrExists) {
			return err
		}
		b.Version = 1
		m[b.Name] = b
	}
	rs.mu.Lock()
	rs.roles, rs.loaded = m, time.Now()
	rs.mu.Unlock()
	return nil
}

func (rs *Roles) fresh(ctx context.Context) {
	rs.mu.RLock()
	stale := time.Since(rs.loaded) > refreshEvery
	rs.mu.RUnlock()
	if stale {
		_ = rs.Load(ctx) // on error keep serving the roles we have
	}
}

// Get returns a role.
func (rs *Roles) Get(ctx context.Context, name string) (*Role, bool) {
	rs.fresh(ctx)
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	r, ok := rs.roles[name]
	return r, ok
}

// List returns every role by name.
func (rs *Roles) List(ctx context.Context) []*Role {
	rs.fresh(ctx)
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	out := make([]*Role, 0, len(rs.roles))
	for _, r := range rs.roles {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Exist reports the first of names that is not a role.
func (rs *Roles) Exist(ctx context.Context, names []string) error {
	for _, n := range names {
		if _, ok := rs.Get(ctx, n); !ok {
			return problem.Invalid(problem.FieldError{Field: "roles", Code: "unknown_role", Message: fmt.Sprintf("no role %q", n)})
		}
	}
	return nil
}

// Put creates or replaces a role after checking every rule compiles and
// names only fields that exist.
func (rs *Roles) Put(ctx context.Context, p *identity.Principal, name string, r *Role) (*Role, error) {
	if !metadata.ValidName(name) {
		return nil, problem.Invalid(problem.FieldError{Field: "name", Code: "pattern", Message: "a role name is lower-case letters, digits and _"})
	}
	r.Name = name
	if r.Label == "" {
		r.Label = name
	}
	if r.Entities == nil {
		r.Entities = map[string]*Grant{}
	}
	old, exists := rs.Get(ctx, name)
	if exists && old.Admin && name == Admin && !r.Admin {
		return nil, problem.Invalid(problem.FieldError{Field: "admin", Code: "immutable", Message: "the admin role keeps admin rights"})
	}
	if errs := rs.check(r); len(errs) > 0 {
		return nil, problem.Invalid(errs...)
	}
	r.BuiltIn = exists && old.BuiltIn
	r.Version = 1
	if exists {
		r.Version = old.Version + 1
	}
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	changes := map[string]any{"after": json.RawMessage(data)}
	if exists {
		before, _ := json.Marshal(old)
		changes["before"] = json.RawMessage(before)
	}
	err = rs.st.PutDoc(ctx, &store.Doc{Kind: roleKind, ID: name, Version: r.Version, Data: data}, store.Sides{
		Audit: &store.AuditEntry{ID: store.NewID(), At: now, Actor: p.UserID, IP: p.IP,
			Action: "role.put", Entity: "role", RecordID: name, Changes: changes},
	})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) {
		return nil, problem.Conflict("role %s was changed at the same time; try again", name)
	}
	if err != nil {
		return nil, err
	}
	rs.mu.Lock()
	rs.roles[name] = r
	rs.mu.Unlock()
	return r, nil
}

// Delete removes a role that is not built in.
func (rs *Roles) Delete(ctx context.Context, p *identity.Principal, name string) error {
	r, ok := rs.Get(ctx, name)
	if !ok {
		return problem.NotFound("no role %q", name)
	}
	if r.BuiltIn {
		return problem.New(http.StatusConflict, "built-in role %s cannot be deleted", name)
	}
	err := rs.st.DeleteDoc(ctx, roleKind, name, store.Sides{Audit: &store.AuditEntry{ID: store.NewID(),
		At: time.Now().UTC(), Actor: p.UserID, IP: p.IP, Action: "role.delete", Entity: "role", RecordID: name}})
	if err != nil {
		return err
	}
	rs.mu.Lock()
	delete(rs.roles, name)
	rs.mu.Unlock()
	return nil
}

// CheckRule reports whether src can be a row rule of e: an expression the
// store can run for any user (user.<attribute> reads as a text).
func CheckRule(e *metadata.Entity, src string) error {
	res := &expression.EntityResolver{Entity: e, Vars: probeVars(src)}
	_, err := expression.Pushdown(src, res, time.Now())
	return err
}

// probeUser is the user a rule is compiled against when a role is saved.
var probeUser = (&identity.Principal{UserID: "00000000-0000-7000-8000-000000000000", Attributes: map[string]string{}}).Vars()

func (rs *Roles) check(r *Role) []problem.FieldError {
	var errs []problem.FieldError
	for i, perm := range r.Permissions {
		if !slices.Contains(KnownPermissions, perm) {
			errs = append(errs, problem.FieldError{Field: fmt.Sprintf("permissions.%d", i), Code: "enum",
				Message: fmt.Sprintf("no permission %q (known: %s)", perm, strings.Join(KnownPermissions, ", "))})
		}
	}
	for ename, g := range r.Entities {
		path := "entities." + ename
		if g == nil {
			errs = append(errs, problem.FieldError{Field: path, Code: "required", Message: "a grant is an object"})
			continue
		}
		var e *metadata.Entity
		if ename == "*" {
			// Rules for every entity may use the system fields only.
			e = &metadata.Entity{Name: "*", Ownership: true}
		} else {
			ce, err := rs.cat.Get(ename)
			if err != nil {
				errs = append(errs, problem.FieldError{Field: path, Code: "unknown_entity", Message: fmt.Sprintf("no entity %q", ename)})
				continue
			}
			e = ce.Entity
		}
		for op, rule := range map[string]Rule{"read": g.Read, "update": g.Update, "delete": g.Delete} {
			if rule.Expr == "" {
				continue
			}
			if err := CheckRule(e, rule.Expr); err != nil {
				errs = append(errs, problem.FieldError{Field: path + "." + op, Code: "invalid_rule", Message: err.Error()})
			}
		}
		for f, perm := range g.Fields {
			if perm != Hidden && perm != ReadOnlyPerm {
				errs = append(errs, problem.FieldError{Field: path + ".fields." + f, Code: "enum", Message: "a field permission is hidden or read_only"})
			}
			if ename != "*" && e.Field(f) == nil && f != "owner" {
				errs = append(errs, problem.FieldError{Field: path + ".fields." + f, Code: "unknown_field", Message: fmt.Sprintf("%s has no field %q", ename, f)})
			}
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return errs
}

var userAttrRE = regexp.MustCompile(`\buser\.([a-z_][a-z0-9_]*)`)

// probeVars is the user a rule is compiled against when a role is saved:
// attributes differ per user, so any user.<name> the rule reads exists
// here. At run time a user without that attribute is denied (the rule does
// not compile for them, and a rule that does not compile grants nothing).
func probeVars(src string) map[string]any {
	u := map[string]any{}
	for k, v := range probeUser {
		u[k] = v
	}
	for _, m := range userAttrRE.FindAllStringSubmatch(src, -1) {
		if _, ok := u[m[1]]; !ok {
			u[m[1]] = ""
		}
	}
	return map[string]any{"user": u}
}

// AdminRoles reports whether any of these roles has admin rights;
// auth.Options.AdminRoles takes it, so the flag the policy grants
// everything by is the one the HTTP layer's admin routes check.
func (rs *Roles) AdminRoles(roles []string) bool {
	ctx := context.Background()
	for _, name := range roles {
		if r, ok := rs.Get(ctx, name); ok && r.Admin {
			return true
		}
	}
	return false
}

// Grants reports whether any of these roles carries perm; an admin role
// carries every permission.
func (rs *Roles) Grants(ctx context.Context, roles []string, perm string) bool {
	for _, n := range roles {
		if r, ok := rs.Get(ctx, n); ok && (r.Admin || slices.Contains(r.Permissions, perm)) {
			return true
		}
	}
	return false
}

// PermissionsOf lists the permissions these roles carry together, sorted.
func (rs *Roles) PermissionsOf(ctx context.Context, roles []string) []string {
	out := []string{}
	for _, perm := range KnownPermissions {
		if rs.Grants(ctx, roles, perm) {
			out = append(out, perm)
		}
	}
	return out
}

// RequireSecondFactor reports whether any of these roles asks its holders
// for a second factor; auth.Options.RequireSecondFactor takes it.
func (rs *Roles) RequireSecondFactor(roles []string) bool {
	ctx := context.Background()
	for _, n := range roles {
		if r, ok := rs.Get(ctx, n); ok && r.Require2FA {
			return true
		}
	}
	return false
}
