package plan

import "strings"

// Quote is the one escaping rule of plan.sh: every value that comes from a
// spec is a single-quoted bash word, so it is data, never code. Inside
// single quotes bash interprets nothing; a single quote itself is written
// as '\” (close, escaped quote, reopen).
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// words quotes each value and joins them with spaces.
func words(vals ...string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = Quote(v)
	}
	return strings.Join(q, " ")
}
