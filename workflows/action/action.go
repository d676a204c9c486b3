// Package action is what a workflow action module is written against: the
// Action interface, the Compiler that checks an action's configuration
// when a rule is saved, and the Exec a run hands an action to apply it.
// Actions are plugin modules registered under "actions." (plugins.Register);
// the bundled ones are in workflows/actions, and a third-party module is
// written the same way.
package action

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/plugins"
)

// Namespace is the plugin namespace of actions: a rule's action
// {"type": "set_fields"} is the module "actions.set_fields".
const Namespace = "actions"

// Action is one step of a rule.
type Action interface {
	plugins.Module
	// Prepare checks the action's configuration against the rule it
	// belongs to and compiles its expressions, once per rule version;
	// problems go to c (a 422 when the rule is saved).
	Prepare(c *Compiler)
	// Do applies the action for one run and returns what it did, for the
	// run log. With x.DryRun it changes nothing outside the run (no
	// write, no e-mail, no request) and returns what it would do.
	Do(ctx context.Context, x *Exec) (any, error)
}

// permanent is an error a retry cannot cure.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Permanent marks err as one a retry cannot cure (a refused webhook
// target, a value the record's field refuses): the step fails at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

// Permanentf is Permanent(fmt.Errorf(...)).
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

// IsPermanent reports whether a retry cannot cure err: it was marked so,
// or it is a client error of the write pipeline (a 4xx problem: invalid
// values, no right, not found), which the same input always meets again.
// A conflict (409) is the exception: another write got in between, and a
// retry reads the record afresh.
func IsPermanent(err error) bool {
	var p *permanent
	if errors.As(err, &p) {
		return true
	}
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe.Status >= 400 && pe.Status < 500 && pe.Status != http.StatusConflict && pe.Status != http.StatusTooManyRequests
	}
	return false
}
