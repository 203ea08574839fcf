// A go.mod exercising every directive the extractor reads or skips.
module example.com/app

go 1.22.0

toolchain go1.22.5

require (
	github.com/google/go-cmp v0.6.0
	golang.org/x/net v0.17.0
	golang.org/x/text v0.14.0 // indirect
	example.com/forked v1.0.0
	example.com/local v0.0.0-00010101000000-000000000000
	example.com/pinned v1.2.0 // indirect
)

require gopkg.in/yaml.v3 v3.0.1 // indirect

replace (
	// a fork: the replacement is what gets built
	example.com/forked => github.com/someone/forked v1.0.1
	// a local checkout: no version
	example.com/local => ./local
	// only this version is replaced, and an exact-version rule beats a path rule
	example.com/pinned v1.2.0 => example.com/pinned v1.2.1
	example.com/pinned => example.com/pinned v9.9.9
	// not required: ignored
	example.com/unused => example.com/unused v1.0.0
)

exclude golang.org/x/net v0.16.0

retract v0.1.0 // published by mistake
