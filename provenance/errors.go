package provenance

import "errors"

// ErrNotDigest is returned when Verify is given a reference without a
// digest: a tag can move, so only a digest can be verified.
var ErrNotDigest = errors.New("image reference has no digest")
