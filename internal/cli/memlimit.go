//go:build !node && !scan

package cli

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// cgroupMemoryMax is the cgroup v2 file that holds a container's memory
// limit ("max" when there is none).
var cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// setMemoryLimit gives the Go runtime a soft memory limit, so that the
// garbage collector works harder before the process outgrows it instead of
// letting the heap double: flag ("450Mi", "1G"; "0" for none) when given,
// else $GOMEMLIMIT (which the runtime already applied), else 80 % of the
// container's cgroup memory limit when there is one: the Go limit does not
// count the executable's mapped pages (50-100 MiB of the full build once its
// packages are initialised) nor memory outside Go's, which the container's
// limit does. It returns what it set, for the log ("" when no limit applies).
func setMemoryLimit(flag string) (string, error) {
	switch {
	case flag == "0":
		debug.SetMemoryLimit(math.MaxInt64) // no limit
		return "", nil
	case flag != "":
		q, err := resource.ParseQuantity(flag)
		if err != nil || q.Sign() <= 0 {
			return "", fmt.Errorf("--memory-limit %q: want a size such as 450Mi or 1G", flag)
		}
		debug.SetMemoryLimit(q.Value())
		return q.String(), nil
	case os.Getenv("GOMEMLIMIT") != "":
		return "$GOMEMLIMIT=" + os.Getenv("GOMEMLIMIT"), nil
	}
	b, err := os.ReadFile(cgroupMemoryMax)
	if err != nil {
		return "", nil
	}
	limit, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || limit <= 0 {
		return "", nil // "max": no limit
	}
	soft := limit / 10 * 8
	debug.SetMemoryLimit(soft)
	size := func(n int64) string { return resource.NewQuantity(n>>20<<20, resource.BinarySI).String() }
	return size(soft) + " (80% of the container's " + size(limit) + ")", nil
}
