package java

// Hooks for the external tests.
var (
	MatchCoordinate = coordinate.MatchString
	MatchVersion    = version.MatchString
)
