package records

import (
	"context"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// Hit is one record a search found, named by its title field.
type Hit struct {
	Entity string `json:"entity"`
	ID     string `json:"id"`
	Title  string `json:"title"`
}

// MaxSearch bounds the hits of one search.
const MaxSearch = 50

// Search finds records whose title field contains q, ignoring ASCII case,
// across every entity p may read, under p's row rules — each entity one
// query inside the store, all of them one heavy read. Titles that start
// with q come first, then shorter ones.
func (s *Service) Search(ctx context.Context, p *identity.Principal, q string, limit int) ([]Hit, error) {
	q = strings.TrimSpace(q)
	if utf8.RuneCountInString(q) < 2 {
		return nil, problem.BadRequest("q", "too_short", "search for at least 2 characters")
	}
	if utf8.RuneCountInString(q) > 200 {
		return nil, problem.BadRequest("q", "too_long", "search for at most 200 characters")
	}
	if limit <= 0 || limit > MaxSearch {
		limit = 20
	}
	release, err := s.admit(ctx, p)
	if err != nil {
		return nil, err
	}
	defer release()
	hits := []Hit{}
	for _, e := range s.cat.List() {
		title := e.TitleFieldOf()
		if title == "" || !s.policy.Permits(ctx, p, e, OpRead) {
			continue
		}
		if hidden, _ := s.policy.Field(p, e, title); hidden {
			continue
		}
		scope, err := s.policy.Scope(ctx, p, e, OpRead)
		if err != nil {
			return nil, err
		}
		match := &store.Cond{Op: store.OpContainsFold, Field: title, Kind: metadata.KindString, Value: q}
		rs, err := s.st.Find(ctx, e.Name, store.Query{Filter: store.And(match, scope), Fields: []string{title},
			Sort: []store.SortKey{{Field: "id", Desc: true}}, Limit: limit})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			t, _ := r.Data[title].(string)
			hits = append(hits, Hit{Entity: e.Name, ID: r.ID, Title: t})
		}
	}
	fold := strings.ToLower(q)
	sort.SliceStable(hits, func(i, j int) bool {
		pi, pj := strings.HasPrefix(strings.ToLower(hits[i].Title), fold), strings.HasPrefix(strings.ToLower(hits[j].Title), fold)
		if pi != pj {
			return pi
		}
		return len(hits[i].Title) < len(hits[j].Title)
	})
	if len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, nil
}
