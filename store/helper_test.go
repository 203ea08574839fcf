package store_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/credence-dev/credence/store"
)

// The kill test re-runs this test binary as a replica: with helperEnv set,
// TestMain runs helperMain instead of the tests.
const (
	helperEnv = "CREDENCE_STORE_TEST_HELPER"
	helperDSN = "CREDENCE_STORE_TEST_DSN"
)

// helperMain is a replica that claims the job, starts completing it (its
// results and the completion in one transaction), says HOLDING on stdout
// and waits inside the transaction to be killed.
func helperMain() int {
	ctx := context.Background()
	s, err := store.Open(ctx, os.Getenv(helperDSN))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	j, err := s.Claim(ctx, "replica-killed", 2*time.Second)
	if err != nil || j == nil {
		fmt.Fprintln(os.Stderr, "helper: claim:", j, err)
		return 1
	}
	err = s.Complete(ctx, j, func(tx *store.Tx) error {
		for i := range 50 {
			if _, err := tx.PutSubject(ctx, subj("shop", fmt.Sprintf("half-%02d", i), float64(i), "sha256:half")); err != nil {
				return err
			}
		}
		if err := tx.SetValue(ctx, "result:"+j.Key, []byte("from the killed replica")); err != nil {
			return err
		}
		fmt.Println("HOLDING")
		time.Sleep(time.Hour) // killed here, mid-transaction
		return nil
	})
	fmt.Fprintln(os.Stderr, "helper: not killed:", err)
	return 1
}
