// Package plugins is the module registry: every bundled and third-party
// module (workflow actions, dashboard widgets, templates) registers here by
// a namespaced ID with a constructor, as Caddy's modules do. It imports
// nothing of Jimu, so every layer may use it.
//
// Field types have their own registry (metadata.RegisterType), because the
// metadata layer needs them to compile schemas; a plugin that adds a field
// type calls metadata.RegisterType from its init.
package plugins

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Module is what a plugin provides.
type Module interface {
	// ID is the module's namespaced ID, e.g. "actions.webhook".
	ID() string
}

// Info registers a module: its ID and how to make a new instance.
type Info struct {
	ID  string
	New func() Module
}

// Provisioner is implemented by modules that need set-up after decoding.
type Provisioner interface{ Provision() error }

// Validator is implemented by modules that check their configuration.
type Validator interface{ Validate() error }

// Cleaner is implemented by modules that release resources.
type Cleaner interface{ Cleanup() error }

var (
	mu      sync.RWMutex
	modules = map[string]Info{}
	idRE    = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
)

// Register adds a module. It panics on a malformed or duplicate ID, so a
// bad build fails at start-up, never later.
func Register(info Info) {
	if !idRE.MatchString(info.ID) {
		panic(fmt.Sprintf("plugins: malformed module ID %q (want namespace.name)", info.ID))
	}
	if info.New == nil {
		panic("plugins: module " + info.ID + " has no constructor")
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := modules[info.ID]; dup {
		panic("plugins: module registered twice: " + info.ID)
	}
	modules[info.ID] = info
}

// Get returns a registered module's info.
func Get(id string) (Info, bool) {
	mu.RLock()
	defer mu.RUnlock()
	m, ok := modules[id]
	return m, ok
}

// Namespace lists the IDs registered under a namespace ("actions"), sorted.
func Namespace(ns string) []string {
	mu.RLock()
	defer mu.RUnlock()
	var out []string
	for id := range modules {
		if strings.HasPrefix(id, ns+".") {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Load makes a new instance and runs its lifecycle: Provision, then
// Validate. A module that fails validation is cleaned up.
func Load(id string) (Module, error) {
	info, ok := Get(id)
	if !ok {
		return nil, fmt.Errorf("plugins: unknown module %q", id)
	}
	return lifecycle(id, info.New())
}

// lifecycle runs Provision, then Validate, cleaning up a module that
// fails validation.
func lifecycle(id string, m Module) (Module, error) {
	if p, ok := m.(Provisioner); ok {
		if err := p.Provision(); err != nil {
			return nil, fmt.Errorf("plugins: provision %s: %w", id, err)
		}
	}
	if v, ok := m.(Validator); ok {
		if err := v.Validate(); err != nil {
			if c, ok := m.(Cleaner); ok {
				_ = c.Cleanup()
			}
			return nil, fmt.Errorf("plugins: validate %s: %w", id, err)
		}
	}
	return m, nil
}

// Decode makes a new instance configured from raw JSON, as Caddy's modules
// are: a strict decode (an unknown key is an error, so a misspelt option
// is never silently ignored), then Provision and Validate. raw may be
// empty (no configuration).
func Decode(id string, raw []byte) (Module, error) {
	info, ok := Get(id)
	if !ok {
		return nil, fmt.Errorf("plugins: unknown module %q", id)
	}
	m := info.New()
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(m); err != nil {
			return nil, &DecodeError{ID: id, Err: err}
		}
		if dec.More() {
			return nil, &DecodeError{ID: id, Err: fmt.Errorf("data after the JSON object")}
		}
	}
	return lifecycle(id, m)
}

// DecodeError is a module configuration that does not decode.
type DecodeError struct {
	ID  string
	Err error
}

func (e *DecodeError) Error() string { return fmt.Sprintf("plugins: configure %s: %v", e.ID, e.Err) }
func (e *DecodeError) Unwrap() error { return e.Err }
