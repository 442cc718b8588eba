// Package errs owns Stowage's domain error: one error type with a Kind that
// every protocol edge (native API, dialects, S3, NBD) maps to its own codes.
// Core packages return *Error; edges never branch on message text.
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it.
type Kind int

const (
	Other        Kind = iota // unclassified; rendered as an internal error
	Invalid                  // the request is malformed or violates a rule
	NotExist                 // the thing does not exist or is not visible to the caller
	Exist                    // the thing already exists
	Permission               // authenticated but not allowed
	Unauthorized             // no or bad credentials
	Conflict                 // the thing is in a state that forbids the operation
	Quota                    // a quota or limit would be exceeded
	TooLarge                 // the request body is too large
	RateLimited              // too many attempts
	Unavailable              // a dependency is down; retry later
	NoSpace                  // the backing store is full
	Internal                 // a bug or an unexpected failure
)

var kindNames = [...]string{
	Other: "other", Invalid: "invalid", NotExist: "not_found", Exist: "already_exists",
	Permission: "permission_denied", Unauthorized: "unauthorized", Conflict: "conflict",
	Quota: "quota_exceeded", TooLarge: "too_large", RateLimited: "rate_limited",
	Unavailable: "unavailable", NoSpace: "no_space", Internal: "internal",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is the domain error. Msg is safe to show to clients; Err carries the
// internal cause, which edges log but never render.
type Error struct {
	Kind  Kind
	Msg   string
	Field string // the offending input field, when there is one
	Err   error
}

func (e *Error) Error() string {
	switch {
	case e.Msg != "" && e.Err != nil:
		return e.Msg + ": " + e.Err.Error()
	case e.Msg != "":
		return e.Msg
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Kind.String()
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an error of kind k with a client-safe message.
func E(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Field builds an Invalid error about one named input field.
func Field(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Wrap classifies an internal cause without exposing it to clients.
func Wrap(k Kind, msg string, err error) *Error {
	return &Error{Kind: k, Msg: msg, Err: err}
}

// KindOf reports the Kind of the first *Error in err's chain, Internal for
// any other non-nil error, and Other for nil.
func KindOf(err error) Kind {
	if err == nil {
		return Other
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Kind == Other {
			return KindOf(e.Err)
		}
		return e.Kind
	}
	return Internal
}

// Is reports whether err carries kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// Message returns the client-safe message of err: the Msg of its first
// *Error, or a generic text for anything else.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Msg != "" {
		return e.Msg
	}
	return "internal error"
}

// FieldOf returns the offending field recorded on err, if any.
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
