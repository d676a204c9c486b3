package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// The outbox and the record tables keep ids as 16-byte blobs, and the
// outbox its times as integer milliseconds: an event row carried three
// UUIDs and a time as 132 bytes of text, a record four UUIDs as 144
// (decision 30). Text that is not a canonical lowercase UUID is kept as it
// came, so every value reads back as written; blobs sort as their text
// does (hex digits sort as their values), so the order of UUIDs is
// unchanged.

// idArg is s as the store keeps an id: 16 bytes for a canonical UUID, the
// text otherwise. uuidSQL makes the same choice in SQL.
func idArg(s string) any {
	if b, ok := uuidBytes(s); ok {
		return b
	}
	return s
}

func uuidBytes(s string) ([]byte, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, false
	}
	b := make([]byte, 16)
	for i, j := 0, 0; i < 36; j++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		b[j] = hi<<4 | lo
		i += 2
	}
	return b, true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// idCol reads an id column: a 16-byte blob as its UUID text, text as it
// is; valid is false for NULL.
type idCol struct {
	s     string
	valid bool
}

func (c *idCol) Scan(v any) error {
	c.valid = v != nil
	switch v := v.(type) {
	case nil:
		c.s = ""
	case string:
		c.s = v
	case []byte:
		if len(v) != 16 {
			return fmt.Errorf("sqlite: an id of %d bytes", len(v))
		}
		c.s = uuidText(v)
	default:
		return fmt.Errorf("sqlite: an id stored as %T", v)
	}
	return nil
}

// uuidText is the UUID text of 16 bytes.
func uuidText(v []byte) string {
	var b [36]byte
	hex.Encode(b[0:8], v[0:4])
	hex.Encode(b[9:13], v[4:6])
	hex.Encode(b[14:18], v[6:8])
	hex.Encode(b[19:23], v[8:10])
	hex.Encode(b[24:36], v[10:16])
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return string(b[:])
}

// blobText is a value read from a record table as the API shows it: a
// blob there is always a compact id (sysCols).
func blobText(v any) any {
	if b, ok := v.([]byte); ok {
		if len(b) == 16 {
			return uuidText(b)
		}
		return string(b)
	}
	return v
}

// idTextSQL is col's id as text, in SQL, for what needs the text: a
// substring test, a range bound that is not a UUID.
func idTextSQL(col string) string {
	return `(CASE WHEN typeof(` + col + `) = 'blob' AND length(` + col + `) = 16 THEN lower(substr(hex(` + col + `), 1, 8) || '-' ||
		substr(hex(` + col + `), 9, 4) || '-' || substr(hex(` + col + `), 13, 4) || '-' || substr(hex(` + col + `), 17, 4) || '-' ||
		substr(hex(` + col + `), 21)) ELSE ` + col + ` END)`
}

// msArg is t as the outbox stores it, in milliseconds since 1970 (UTC):
// the precision its text had.
func msArg(t time.Time) int64 { return t.UnixMilli() }

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// eventsColumns is the outbox's table as this Jimu writes it.
const eventsColumns = `(seq INTEGER PRIMARY KEY, id BLOB NOT NULL, type TEXT NOT NULL, entity TEXT,
	record_id BLOB, version INTEGER, actor BLOB, at INTEGER NOT NULL, flags INTEGER, body TEXT, audit TEXT, ip TEXT)`

var eventsIndexes = []string{
	// The newest event of an entity is its data version as every process
	// on the file sees it (aggCache).
	`CREATE INDEX IF NOT EXISTS events_entity ON events(entity, seq)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS events_audit_id ON events(id) WHERE audit IS NOT NULL`,
	`CREATE INDEX IF NOT EXISTS events_audit_record ON events(record_id) WHERE audit IS NOT NULL`,
}

// uuidSQL is col as idArg stores it.
func uuidSQL(col string) string {
	return `CASE WHEN length(` + col + `) = 36 AND ` + col + ` = lower(` + col + `)
		AND substr(` + col + `, 9, 1) = '-' AND substr(` + col + `, 14, 1) = '-'
		AND substr(` + col + `, 19, 1) = '-' AND substr(` + col + `, 24, 1) = '-'
		AND length(replace(` + col + `, '-', '')) = 32 AND unhex(replace(` + col + `, '-', '')) IS NOT NULL
		THEN unhex(replace(` + col + `, '-', '')) ELSE ` + col + ` END`
}

// compactEvents rewrites an outbox whose ids and times are text (every
// Jimu before decision 30) into eventsColumns, in one transaction. A time
// it cannot read stops the start with the event's seq, and the table is
// left as it was.
func compactEvents(ctx context.Context, db *sql.DB) error {
	var typ string
	err := db.QueryRowContext(ctx, `SELECT type FROM pragma_table_info('events') WHERE name = 'at'`).Scan(&typ)
	if err != nil || !strings.EqualFold(typ, "TEXT") {
		return err
	}
	t0 := time.Now()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var bad sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT min(seq) FROM events WHERE unixepoch(at, 'subsec') IS NULL`).Scan(&bad); err != nil {
		return fmt.Errorf("sqlite: migrate table events: %w", err)
	}
	if bad.Valid {
		return fmt.Errorf("sqlite: migrate table events: event %d has a time that is not one (column at); the outbox is left as it was", bad.Int64)
	}
	for _, q := range []string{
		`CREATE TABLE events_compact ` + eventsColumns,
		// Its bodies keep their flags; none of its events is an audit entry.
		`INSERT INTO events_compact (seq, id, type, entity, record_id, version, actor, at, body)
			SELECT seq, ` + uuidSQL("id") + `, type, entity, ` + uuidSQL("record_id") + `, version, ` + uuidSQL("actor") + `,
				CAST(round(unixepoch(at, 'subsec') * 1000) AS INTEGER), body FROM events`,
		`DROP TABLE events`,
		`ALTER TABLE events_compact RENAME TO events`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlite: migrate table events: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	slog.Info("sqlite: rewrote the outbox with compact ids and times", "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// compactRecords rewrites an entity's record and trash tables whose ids
// are text into tables that keep them as idArg does, column for column,
// inside EnsureEntity's transaction; EnsureEntity then makes their indexes
// again. A table written by a Jimu before decision 30 goes through here
// once.
func compactRecords(ctx context.Context, tx *sql.Tx, entity string) error {
	for _, trash := range []bool{false, true} {
		table := "rec_" + entity
		if trash {
			table = "trash_" + entity
		}
		names, decls, err := tableColumns(ctx, tx, table)
		if err != nil {
			return fmt.Errorf("sqlite: compact %s: %w", table, err)
		}
		if len(names) == 0 {
			continue
		}
		l, err := layoutFromColumns(table, entity, names, decls, trash)
		if err != nil {
			return err
		}
		if !l.textIDs {
			continue
		}
		var cols strings.Builder
		for _, c := range l.cols {
			cols.WriteString(", " + colName(c.field))
		}
		cols.WriteString(", " + extraCol)
		if trash {
			cols.WriteString(", deleted_at, deleted_by")
		}
		tmp := `"cmp_` + table + `"`
		t0 := time.Now()
		for _, q := range []string{
			createTable(tmp, l.cols, trash),
			`INSERT INTO ` + tmp + ` (` + sysCols + cols.String() + `) SELECT ` + sysColsCompacted + cols.String() + ` FROM "` + table + `"`,
			`DROP TABLE "` + table + `"`,
			`ALTER TABLE ` + tmp + ` RENAME TO "` + table + `"`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("sqlite: compact the ids of table %s: %w", table, err)
			}
		}
		slog.Info("sqlite: rewrote a table with compact ids", "table", table, "took", time.Since(t0).Round(time.Millisecond))
	}
	return nil
}
