package index

import "errors"

// Errors returned by this package, tested with errors.Is. A query string
// the user mistyped is returned wrapped twice, as ErrBadRequest and as the
// *querystring.Error that says where, so that errors.As finds the position.
var (
	// ErrBadRequest means a search request is invalid: a size above
	// MaxSize, an unknown sort, a malformed cursor or query string, a
	// malformed month name.
	ErrBadRequest = errors.New("index: bad request")
	// ErrNotFound means no version of a message id is indexed.
	ErrNotFound = errors.New("index: not found")
	// ErrClosed means the Index or Follower was closed.
	ErrClosed = errors.New("index: closed")
	// ErrNotEmpty means Rebuild was asked to build into a directory that
	// already holds something.
	ErrNotEmpty = errors.New("index: directory not empty")
)
