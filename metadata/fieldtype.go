package metadata

import (
	"fmt"
	"sort"
	"sync"
)

// Kind is how a field's value is stored and compared. Stores and the filter
// pushdown work on kinds; they never need to know field types.
type Kind int

const (
	KindString   Kind = iota + 1 // text, e-mail, url, select, lookup, …
	KindNumber                   // float64
	KindInteger                  // int64
	KindBoolean                  // bool
	KindDate                     // "2006-01-02", compares as a string
	KindDateTime                 // "2006-01-02T15:04:05.000Z" (UTC), compares as a string
	KindList                     // []any of strings (multi-select, tags)
	KindJSON                     // any JSON value; not filterable
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindNumber:
		return "number"
	case KindInteger:
		return "integer"
	case KindBoolean:
		return "boolean"
	case KindDate:
		return "date"
	case KindDateTime:
		return "datetime"
	case KindList:
		return "list"
	case KindJSON:
		return "json"
	}
	return "unknown"
}

// FieldType is one kind of field. Plugins add their own with RegisterType.
type FieldType interface {
	// Name is the type's name in metadata, e.g. "email".
	Name() string
	// Kind is how its values are stored and compared.
	Kind() Kind
	// Check validates a field definition of this type (options, format, …).
	Check(e *Entity, f *Field) error
	// Schema returns the JSON Schema of one value of the field.
	Schema(f *Field) map[string]any
	// Normalize turns a decoded JSON value into its stored form (trimmed,
	// lower-cased e-mail, E.164 phone, UTC datetime, …). A value it cannot
	// read is returned unchanged, so the JSON Schema reports the type error.
	Normalize(f *Field, v any) (any, error)
}

// ReadOnly is implemented by field types whose values only the engine
// writes (formula, auto-number).
type ReadOnly interface{ ReadOnly() bool }

var (
	typesMu sync.RWMutex
	types   = map[string]FieldType{}
)

// RegisterType adds a field type. It panics on an empty or duplicate name,
// so a bad plugin fails at start-up, never later.
func RegisterType(t FieldType) {
	typesMu.Lock()
	defer typesMu.Unlock()
	name := t.Name()
	if name == "" {
		panic("metadata: field type with empty name")
	}
	if _, dup := types[name]; dup {
		panic("metadata: field type registered twice: " + name)
	}
	types[name] = t
}

// LookupType returns the field type called name.
func LookupType(name string) (FieldType, bool) {
	typesMu.RLock()
	defer typesMu.RUnlock()
	t, ok := types[name]
	return t, ok
}

// TypeNames lists the registered field types, sorted.
func TypeNames() []string {
	typesMu.RLock()
	defer typesMu.RUnlock()
	out := make([]string, 0, len(types))
	for n := range types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// IsReadOnly reports whether values of f are written only by the engine.
func IsReadOnly(f *Field) bool {
	t, ok := LookupType(f.Type)
	if !ok {
		return false
	}
	r, ok := t.(ReadOnly)
	return ok && r.ReadOnly()
}

func fieldErr(f *Field, code, format string, args ...any) error {
	return &FieldError{Field: f.Name, Code: code, Message: fmt.Sprintf(format, args...)}
}
