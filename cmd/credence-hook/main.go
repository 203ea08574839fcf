// Command credence-hook is credence's OCI createRuntime hook on its own: the
// same as `credence agent hook`, in a small binary that starts in a few
// milliseconds (the runtime waits for it on every container start).
//
//	credence-hook [--socket /run/credence/agent.sock] [--timeout 8s] < state.json
//
// It exits 1 when the start could not be measured; the runtime then refuses
// the container. Install it with: credence agent install-hook --binary /path/to/credence-hook.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/credence-dev/credence/agent/ocihook"
)

func main() {
	socket := flag.String("socket", "/run/credence/agent.sock", "the agent's unix socket")
	timeout := flag.Duration("timeout", 8*time.Second, "give up (and refuse the container) after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := ocihook.Run(ctx, os.Stdin, *socket, *timeout); err != nil {
		fmt.Fprintf(os.Stderr, "credence-hook: %v\n", err)
		os.Exit(1)
	}
}
