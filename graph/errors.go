package graph

import "errors"

// ErrNoContainer says a query names a container the snapshot does not have.
var ErrNoContainer = errors.New("no such container")
