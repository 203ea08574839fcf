// Command credence answers: can I trust what runs in this cluster, and if one
// container goes bad, how far does the damage reach?
package main

import (
	"os"

	"github.com/credence-dev/credence/internal/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:], os.Stdout, os.Stderr))
}
