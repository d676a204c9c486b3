// Package problem is the one error type of Jimu's API: an HTTP status, a
// safe title and detail, and the fields concerned. It is written as
// application/problem+json (RFC 9457). Services return it; the HTTP layer
// only serialises it.
package problem

import (
	"fmt"
	"net/http"
)

// FieldError names one field and what is wrong with it; for an
// expression, where in it (an editor underlines it there).
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Params are the numbers a translated message needs ({"min": 12}).
	Params map[string]any `json:"params,omitempty"`
	*Position
}

// Position is a place in an expression: Offset and Column count runes from
// 0, Line from 1.
type Position struct {
	Offset int `json:"offset"`
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Error is an API error.
type Error struct {
	Status int          `json:"status"`
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
	// RetryAfter, in seconds, is sent as the Retry-After header of a 429
	// or 503.
	RetryAfter int `json:"-"`
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Title + ": " + e.Detail
	}
	return e.Title
}

// New returns an error with a status and a detail message.
func New(status int, format string, args ...any) *Error {
	return &Error{Status: status, Type: "about:blank", Title: http.StatusText(status), Detail: fmt.Sprintf(format, args...)}
}

// Invalid is a 422 listing field errors.
func Invalid(errs ...FieldError) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Type: "about:blank", Title: "Validation failed",
		Detail: summary(errs), Errors: errs}
}

// BadRequest is a 400 about one input (a query parameter, the body).
func BadRequest(field, code, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Status: http.StatusBadRequest, Type: "about:blank", Title: "Bad request", Detail: msg,
		Errors: []FieldError{{Field: field, Code: code, Message: msg}}}
}

// NotFound is a 404.
func NotFound(format string, args ...any) *Error { return New(http.StatusNotFound, format, args...) }

// TooMany is a 429 telling the client when to try again.
func TooMany(retryAfter int, format string, args ...any) *Error {
	e := New(http.StatusTooManyRequests, format, args...)
	e.RetryAfter = max(1, retryAfter)
	return e
}

// Conflict is a 409.
func Conflict(format string, args ...any) *Error { return New(http.StatusConflict, format, args...) }

func summary(errs []FieldError) string {
	if len(errs) == 0 {
		return ""
	}
	s := errs[0].Field
	if s != "" {
		s += ": "
	}
	s += errs[0].Message
	if len(errs) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(errs)-1)
	}
	return s
}
