package cluster

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

type item struct {
	key, seq int
	pad      [64]byte
}

// sortStable gives what slices.SortStableFunc gives, equal keys in their
// first order included, for every length up to 200 and many permutations.
func TestSortStable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	byKey := func(x, y item) int { return cmp.Compare(x.key, y.key) }
	for n := range 200 {
		for range 5 {
			items := make([]item, n)
			for i := range items {
				items[i] = item{key: rng.IntN(max(1, n/3)), seq: i}
			}
			want := slices.Clone(items)
			slices.SortStableFunc(want, byKey)
			sortStable(items, func(x, y *item) int { return byKey(*x, *y) })
			if !slices.Equal(items, want) {
				t.Fatalf("n=%d: got %v, want %v", n, order(items), order(want))
			}
		}
	}
}

// order lists the items as key/first-position pairs.
func order(items []item) string {
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprintf("%d/%d", it.key, it.seq))
	}
	return fmt.Sprint(out)
}
