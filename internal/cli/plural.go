package cli

import "strconv"

// count writes n with the form of the noun its number needs: "1 finding",
// "2 findings", "0 findings". Every count printed in prose goes through it
// (TestCountsInProse keeps "%d findings" out of the format strings).
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
