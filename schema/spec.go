package schema

import (
	"fmt"
	"strings"
)

// Spec returns a CUE spec of n members on 10.0.<i/250>.<i%250+1>, for
// benchmarks and tests that need clusters of a given size.
func Spec(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: \"bench-%d\"\nmembers: [\n", n)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\t{name: \"etcd%d\", ip: \"10.0.%d.%d\", hostnames: [\"etcd%d.example.com\"]},\n", i+1, i/250, i%250+1, i+1)
	}
	b.WriteString("]\n")
	return b.String()
}
