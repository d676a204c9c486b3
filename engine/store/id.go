package store

import "github.com/google/uuid"

// NewID returns a new record, document, audit or event id: a UUIDv7, so
// ids sort by creation time and are the same kind on every store.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }
