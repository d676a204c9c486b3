package mongo

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// Translate turns a condition of the query IR into a MongoDB filter
// document. Every operator in the result is one this function wrote; a
// user's value only ever appears as the operand of a fixed operator, and
// only scalar values (and lists of them) are accepted, so a value shaped
// like {"$ne": …} is refused rather than sent.
//
// The semantics follow SQL as the SQLite store implements it, so both stores
// answer a filter the same way:
//   - ne and not_in also match records where the field is null or missing;
//   - lt/le/gt/ge never match null;
//   - a comparison with a null value is unknown, hence false: eq null and
//     in [null] match nothing, and ne null / not_in [… null …] match only the
//     records where the field is null (their "IS NULL OR" branch);
//   - not is the complement of its operand ($nor), which is what the SQLite
//     store's NOT coalesce(…, 0) gives.
func Translate(c *store.Cond) (bson.D, error) {
	if c == nil {
		return bson.D{}, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	f, err := node(c)
	if err != nil {
		return nil, err
	}
	return f.doc(), nil
}

// filter is a translated node: a constant, when the IR folds to one, or a
// document. Folding keeps true and false out of $and/$or/$nor, where
// servers disagree on whether an empty document is allowed.
type filter struct {
	konst int // 0: d is the filter; +1 always true; -1 always false
	d     bson.D
}

var (
	always = filter{konst: 1}
	never  = filter{konst: -1}
)

func (f filter) doc() bson.D {
	switch f.konst {
	case 1:
		return bson.D{}
	case -1:
		return matchNothing()
	}
	return f.d
}

// matchNothing is a filter no document passes: every document has an _id,
// and $in of an empty list matches no value.
func matchNothing() bson.D {
	return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}}
}

func docFilter(d bson.D) filter { return filter{d: d} }

// path maps a field of the IR to its place in a record document.
func path(field string) (string, error) {
	if !metadata.ValidName(field) {
		return "", fmt.Errorf("invalid field name %q", field)
	}
	if field == "id" {
		return "_id", nil
	}
	return field, nil
}

func node(c *store.Cond) (filter, error) {
	if c == nil {
		return always, nil
	}
	switch c.Op {
	case store.OpTrue:
		return always, nil
	case store.OpFalse:
		return never, nil
	case store.OpAnd, store.OpOr:
		if len(c.Args) == 0 {
			return filter{}, fmt.Errorf("%s without operands", c.Op)
		}
		// For and, true is neutral and false absorbs; for or, the reverse.
		neutral, absorbing := 1, -1
		key := "$and"
		if c.Op == store.OpOr {
			neutral, absorbing = -1, 1
			key = "$or"
		}
		var parts bson.A
		absorbed := false
		for _, a := range c.Args {
			// Every operand is translated, even after the result is
			// known, so a malformed one is reported rather than hidden.
			f, err := node(a)
			if err != nil {
				return filter{}, err
			}
			switch f.konst {
			case neutral:
			case absorbing:
				absorbed = true
			default:
				parts = append(parts, f.d)
			}
		}
		if absorbed {
			return filter{konst: absorbing}, nil
		}
		switch len(parts) {
		case 0:
			return filter{konst: neutral}, nil
		case 1:
			return docFilter(parts[0].(bson.D)), nil
		}
		return docFilter(bson.D{{Key: key, Value: parts}}), nil
	case store.OpNot:
		if len(c.Args) != 1 {
			return filter{}, fmt.Errorf("not takes one operand")
		}
		f, err := node(c.Args[0])
		if err != nil {
			return filter{}, err
		}
		if f.konst != 0 {
			return filter{konst: -f.konst}, nil
		}
		return docFilter(bson.D{{Key: "$nor", Value: bson.A{f.d}}}), nil
	}
	return leaf(c)
}

// field builds {path: {op: v}}.
func field(p, op string, v any) filter {
	return docFilter(bson.D{{Key: p, Value: bson.D{{Key: op, Value: v}}}})
}

func isNull(p string) filter  { return field(p, "$eq", nil) }
func notNull(p string) filter { return field(p, "$ne", nil) }

func leaf(c *store.Cond) (filter, error) {
	p, err := path(c.Field)
	if err != nil {
		return filter{}, err
	}
	switch c.Op {
	case store.OpIsNull:
		// {$eq: null} matches both a missing field and an explicit null.
		return isNull(p), nil
	case store.OpNotNull:
		return notNull(p), nil
	case store.OpEq, store.OpNe, store.OpLt, store.OpLe, store.OpGt, store.OpGe, store.OpHas:
		v, err := scalar(c.Field, c.Value)
		if err != nil {
			return filter{}, err
		}
		if v == nil {
			if c.Op == store.OpNe {
				return isNull(p), nil
			}
			return never, nil
		}
		op := map[store.Op]string{
			store.OpEq: "$eq", store.OpNe: "$ne",
			store.OpLt: "$lt", store.OpLe: "$lte", store.OpGt: "$gt", store.OpGe: "$gte",
			// $eq on an array field matches when one element equals the
			// value, which is what has means.
			store.OpHas: "$eq",
		}[c.Op]
		// $ne alone already matches missing and null fields, as SQL's
		// "IS NULL OR <>" does.
		return field(p, op, v), nil
	case store.OpIn, store.OpNotIn, store.OpHasAny:
		vals := make(bson.A, 0, len(c.Values))
		sawNull := false
		for _, x := range c.Values {
			v, err := scalar(c.Field, x)
			if err != nil {
				return filter{}, err
			}
			if v == nil {
				sawNull = true
				continue
			}
			vals = append(vals, v)
		}
		if c.Op == store.OpNotIn {
			if sawNull {
				// x NOT IN (…, NULL) is never true in SQL: only the IS
				// NULL branch is left.
				return isNull(p), nil
			}
			if len(vals) == 0 {
				return always, nil
			}
			return field(p, "$nin", vals), nil
		}
		if len(vals) == 0 {
			return never, nil
		}
		return field(p, "$in", vals), nil
	case store.OpContains, store.OpStartsWith, store.OpEndsWith:
		s, ok := c.Value.(string)
		if !ok {
			return filter{}, fmt.Errorf("%s: %s needs a string", c.Field, c.Op)
		}
		if s == "" {
			// Every string contains the empty string; the SQLite store
			// answers IS NOT NULL.
			return notNull(p), nil
		}
		return field(p, "$regex", likePattern(c.Op, s)), nil
	case store.OpContainsFold:
		s, ok := c.Value.(string)
		if !ok {
			return filter{}, fmt.Errorf("%s: %s needs a string", c.Field, c.Op)
		}
		if s == "" {
			return notNull(p), nil
		}
		// (?i) in PCRE folds more than ASCII; every letter is written as a
		// class of its two ASCII cases instead, so both stores agree.
		return field(p, "$regex", foldPattern(s)), nil
	}
	return filter{}, fmt.Errorf("unknown operator %q", c.Op)
}

// likePattern is a regular expression that matches s literally: every
// metacharacter is escaped with regexp.QuoteMeta (whose escapes PCRE reads
// the same way), NUL, which a BSON regex cannot hold, is written as \x00, and
// the anchors are \A and \z, because PCRE's $ would also match before a final
// newline. No options are set, so matching is case-sensitive.
func likePattern(op store.Op, s string) string {
	q := strings.ReplaceAll(regexp.QuoteMeta(s), "\x00", `\x00`)
	switch op {
	case store.OpStartsWith:
		return `\A` + q
	case store.OpEndsWith:
		return q + `\z`
	}
	return q
}

// foldPattern is likePattern's literal substring with every ASCII letter
// as the class of its two cases ([aA]) and nothing else folded: PCRE's (?i)
// folds more than ASCII, and both stores must agree.
func foldPattern(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 128 && unicode.IsLetter(r):
			b.WriteString("[" + string(unicode.ToLower(r)) + string(unicode.ToUpper(r)) + "]")
		case r == 0:
			b.WriteString(`\x00`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	return b.String()
}

// scalar checks a value of the IR and returns it in the form the driver
// encodes. Only strings, numbers and booleans (and null) pass; anything else,
// a map above all, could be read by a server as an operator or a document
// comparison and is refused.
func scalar(field string, v any) (any, error) {
	out, ok, err := plainScalar(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if !ok {
		return nil, fmt.Errorf("%s: a %T cannot be compared", field, v)
	}
	return out, nil
}

// plainScalar returns a scalar in the form the driver encodes (nil,
// string, bool, int64, float64); ok is false for anything else.
func plainScalar(v any) (out any, ok bool, err error) {
	switch x := v.(type) {
	case nil, string, bool, int64, float64:
		return x, true, nil
	case int:
		return int64(x), true, nil
	case int32:
		return int64(x), true, nil
	case float32:
		return float64(x), true, nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, true, nil
		}
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, true, fmt.Errorf("bad number %q", string(x))
		}
		return f, true, nil
	}
	return nil, false, nil
}
