package identity

import "context"

// Run says that a change is made by a workflow run, not by the person or
// integration behind the request: which run, and how deep in a chain of
// runs (a run triggered by a person's change is at depth 1, a run
// triggered by that run's change at depth 2, …). Events carry it in their
// origin, so the runner can stop a chain at a fixed depth.
type Run struct {
	ID    string
	Depth int
}

type runKey struct{}

// WithRun returns a context whose writes are made by the run r.
func WithRun(ctx context.Context, r Run) context.Context {
	return context.WithValue(ctx, runKey{}, r)
}

// RunFrom returns the run making the writes of ctx (zero: none).
func RunFrom(ctx context.Context) Run {
	r, _ := ctx.Value(runKey{}).(Run)
	return r
}
