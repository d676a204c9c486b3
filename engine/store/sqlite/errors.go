package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jimu-crm/jimu/engine/store"
)

func isConstraint(err error) bool {
	return err != nil && strings.Contains(err.Error(), "constraint failed")
}

// mapErr turns driver errors into the store's errors.
func mapErr(entity string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", entity, store.ErrNotFound)
	}
	msg := err.Error()
	if strings.Contains(msg, "no such table") {
		return fmt.Errorf("entity %s: %w", entity, store.ErrNotFound)
	}
	if strings.Contains(msg, "UNIQUE constraint failed") {
		if i := strings.Index(msg, "ux_"+entity+"_"); i >= 0 {
			f := msg[i+len("ux_"+entity+"_"):]
			f = strings.TrimRight(f, "' )")
			if j := strings.IndexAny(f, "' ()"); j >= 0 {
				f = f[:j]
			}
			return &store.UniqueError{Field: f}
		}
		// A column's unique index reports the column: rec_deal.f_email.
		if i := strings.Index(msg, "rec_"+entity+".f_"); i >= 0 {
			f := msg[i+len("rec_"+entity+".f_"):]
			if j := strings.IndexAny(f, "' ()"); j >= 0 {
				f = f[:j]
			}
			return &store.UniqueError{Field: f}
		}
		if strings.Contains(msg, ".id") {
			return fmt.Errorf("%s: %w", entity, store.ErrExists)
		}
	}
	return err
}
