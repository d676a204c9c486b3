package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
)

const teamKind = "team"

// Team is one node of the org tree. Members are the users whose teams list
// holds the team's id; the manager's scope is the team's whole subtree.
type Team struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Parent  string   `json:"parent,omitempty"`
	Manager string   `json:"manager,omitempty"`
	Members []string `json:"members"` // derived from the users, for reading
	Version int64    `json:"version"`
}

// Directory is the org tree and who is in it, cached from the store and
// rebuilt at most every refreshEvery (at once after a change here).
type Directory struct {
	st    store.Store
	users *auth.Service

	mu      sync.RWMutex
	teams   map[string]*Team
	members map[string][]string // team → user ids
	userTms map[string][]string // user → team ids
	loaded  time.Time
}

// NewDirectory returns the team service.
func NewDirectory(st store.Store, users *auth.Service) *Directory {
	return &Directory{st: st, users: users}
}

// Load rebuilds the cache.
func (d *Directory) Load(ctx context.Context) error {
	docs, err := d.st.ListDocs(ctx, teamKind)
	if err != nil {
		return err
	}
	teams := map[string]*Team{}
	for _, doc := range docs {
		var t Team
		if err := json.Unmarshal(doc.Data, &t); err != nil {
			return fmt.Errorf("team %s: %w", doc.ID, err)
		}
		t.ID, t.Version = doc.ID, doc.Version
		teams[t.ID] = &t
	}
	users, err := d.users.ListUsers(ctx)
	if err != nil {
		return err
	}
	members := map[string][]string{}
	userTms := map[string][]string{}
	for _, u := range users {
		if !u.Active {
			continue
		}
		for _, tid := range u.Teams {
			if teams[tid] != nil {
				members[tid] = append(members[tid], u.ID)
				userTms[u.ID] = append(userTms[u.ID], tid)
			}
		}
	}
	for id, t := range teams {
		t.Members = members[id]
		if t.Members == nil {
			t.Members = []string{}
		}
	}
	d.mu.Lock()
	d.teams, d.members, d.userTms, d.loaded = teams, members, userTms, time.Now()
	d.mu.Unlock()
	return nil
}

func (d *Directory) fresh(ctx context.Context) {
	d.mu.RLock()
	stale := d.teams == nil || time.Since(d.loaded) > refreshEvery
	d.mu.RUnlock()
	if stale {
		_ = d.Load(ctx)
	}
}

// Invalidate makes the next read rebuild the cache (after a user's teams
// changed).
func (d *Directory) Invalidate() {
	d.mu.Lock()
	d.loaded = time.Time{}
	d.mu.Unlock()
}

// Enrich fills the principal's team-derived ids: members of its own teams,
// and everyone in the subtrees of the teams it manages.
func (d *Directory) Enrich(ctx context.Context, p *identity.Principal) {
	d.fresh(ctx)
	d.mu.RLock()
	defer d.mu.RUnlock()
	seen := map[string]bool{p.UserID: true}
	team, subtree := []string{}, []string{}
	for _, tid := range d.userTms[p.UserID] {
		for _, m := range d.members[tid] {
			if !seen[m] {
				seen[m] = true
				team = append(team, m)
			}
		}
	}
	sub := map[string]bool{p.UserID: true}
	for _, t := range d.teams {
		if t.Manager != p.UserID {
			continue
		}
		for _, tid := range d.subtree(t.ID) {
			for _, m := range d.members[tid] {
				sub[m] = true
			}
			if m := d.teams[tid].Manager; m != "" {
				sub[m] = true
			}
		}
	}
	for m := range sub {
		if m != p.UserID {
			subtree = append(subtree, m)
		}
	}
	sort.Strings(subtree)
	p.TeamMemberIDs, p.SubtreeMemberIDs = team, subtree
}

// subtree lists a team and its descendants (caller holds the lock).
func (d *Directory) subtree(root string) []string {
	out := []string{root}
	for i := 0; i < len(out); i++ {
		for id, t := range d.teams {
			if t.Parent == out[i] && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// List returns the teams by name.
func (d *Directory) List(ctx context.Context) []*Team {
	d.fresh(ctx)
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]*Team, 0, len(d.teams))
	for _, t := range d.teams {
		c := *t
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns one team.
func (d *Directory) Get(ctx context.Context, id string) (*Team, error) {
	d.fresh(ctx)
	d.mu.RLock()
	defer d.mu.RUnlock()
	t := d.teams[id]
	if t == nil {
		return nil, problem.NotFound("no team %q", id)
	}
	c := *t
	return &c, nil
}

// Exist checks team ids (for a user's teams).
func (d *Directory) Exist(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if _, err := d.Get(ctx, id); err != nil {
			return problem.Invalid(problem.FieldError{Field: "teams", Code: "unknown_team", Message: fmt.Sprintf("no team %q", id)})
		}
	}
	return nil
}

// TeamInput creates or changes a team; a nil field is left as it is.
type TeamInput struct {
	Name    *string `json:"name"`
	Parent  *string `json:"parent"`
	Manager *string `json:"manager"`
}

// Save creates (id == "") or changes a team, refusing unknown parents,
// unknown managers and cycles.
func (d *Directory) Save(ctx context.Context, p *identity.Principal, id string, in TeamInput) (*Team, error) {
	var t Team
	creating := id == ""
	if creating {
		t.ID = store.NewID()
	} else {
		cur, err := d.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		t = *cur
	}
	if in.Name != nil {
		t.Name = strings.TrimSpace(*in.Name)
	}
	if in.Parent != nil {
		t.Parent = *in.Parent
	}
	if in.Manager != nil {
		t.Manager = *in.Manager
	}
	var errs []problem.FieldError
	if t.Name == "" || len(t.Name) > 200 {
		errs = append(errs, problem.FieldError{Field: "name", Code: "required", Message: "a team needs a name of at most 200 characters"})
	}
	if t.Parent != "" {
		if _, err := d.Get(ctx, t.Parent); err != nil {
			errs = append(errs, problem.FieldError{Field: "parent", Code: "unknown_team", Message: fmt.Sprintf("no team %q", t.Parent)})
		} else if !creating {
			d.mu.RLock()
			cycle := slices.Contains(d.subtree(t.ID), t.Parent)
			d.mu.RUnlock()
			if cycle {
				errs = append(errs, problem.FieldError{Field: "parent", Code: "cycle", Message: "a team cannot be inside its own subtree"})
			}
		}
	}
	if t.Manager != "" {
		if _, err := d.users.GetUser(ctx, t.Manager); err != nil {
			errs = append(errs, problem.FieldError{Field: "manager", Code: "unknown_user", Message: fmt.Sprintf("no user %q", t.Manager)})
		}
	}
	if len(errs) > 0 {
		return nil, problem.Invalid(errs...)
	}
	t.Version++
	stored := t
	stored.Members = nil
	data, err := json.Marshal(stored)
	if err != nil {
		return nil, err
	}
	action := "team.update"
	if creating {
		action = "team.create"
	}
	err = d.st.PutDoc(ctx, &store.Doc{Kind: teamKind, ID: t.ID, Version: t.Version, Data: data}, store.Sides{
		Audit: &store.AuditEntry{ID: store.NewID(), At: time.Now().UTC(), Actor: p.UserID, IP: p.IP,
			Action: action, Entity: "team", RecordID: t.ID, Changes: map[string]any{"after": json.RawMessage(data)}},
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, problem.Conflict("team %s was changed at the same time; try again", t.ID)
	}
	if err != nil {
		return nil, err
	}
	if err := d.Load(ctx); err != nil {
		return nil, err
	}
	return d.Get(ctx, t.ID)
}

// Delete removes a team without sub-teams.
func (d *Directory) Delete(ctx context.Context, p *identity.Principal, id string) error {
	if _, err := d.Get(ctx, id); err != nil {
		return err
	}
	d.mu.RLock()
	kids := len(d.subtree(id)) > 1
	d.mu.RUnlock()
	if kids {
		return problem.Conflict("team %s has sub-teams; move or delete them first", id)
	}
	err := d.st.DeleteDoc(ctx, teamKind, id, store.Sides{Audit: &store.AuditEntry{ID: store.NewID(),
		At: time.Now().UTC(), Actor: p.UserID, IP: p.IP, Action: "team.delete", Entity: "team", RecordID: id}})
	if err != nil {
		return err
	}
	return d.Load(ctx)
}
