package forms_test

import (
	"context"
	"testing"

	"github.com/jimu-crm/jimu/engine/server/servertest"
	"github.com/jimu-crm/jimu/engine/store"
)

// allEvents reads the whole outbox, in commit order.
func allEvents(t *testing.T, e *servertest.Env) []*store.Event {
	t.Helper()
	var out []*store.Event
	var cur store.Cursor
	for {
		evs, err := e.Deps.Store.Events(context.Background(), cur, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
		cur = evs[len(evs)-1].Cursor
	}
}
